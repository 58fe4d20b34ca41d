"""`ganforge export --format onnx|torchscript`: onnxruntime's and TorchScript's outputs equal PyTorch's (1e-4) on
the same inputs, at a batch size other than the traced one, with the inputs named as declared; the TorchScript file
runs in a fresh Python where ganforge cannot be imported."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile

import pytest
import torch

import ganforge
from ganforge.cli import main
from ganforge.portable import example_inputs

from serve_fixtures import export_untrained

KINDS = ("dcgan", "cgan", "pix2pix")  # noise only; noise and a class; an input image


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    root = tmp_path_factory.mktemp("portable")
    return {kind: export_untrained(kind, root / kind) for kind in KINDS}


def reference(export, batch: int = 3):
    network = ganforge.load_generator(export)
    values = example_inputs(network.inputs, batch, seed=7)
    with torch.inference_mode():
        return network, values, network(**values)


@pytest.mark.parametrize("kind", [pytest.param("dcgan", marks=pytest.mark.slow), "cgan",
                                  pytest.param("pix2pix", marks=pytest.mark.slow)])
def test_onnx_matches_pytorch(exports, tmp_path, kind):
    ort = pytest.importorskip("onnxruntime", reason="onnxruntime is not installed: pip install onnxruntime")
    pytest.importorskip("onnxscript", reason="the export extra is not installed: pip install 'ganforge[export]'")
    out = tmp_path / "g.onnx"
    assert main(["export", str(exports[kind]), "--format", "onnx", "--out", str(out)]) == 0
    network, values, expected = reference(exports[kind])
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == list(network.inputs), "inputs named and ordered as declared"
    assert [o.name for o in session.get_outputs()] == ["generated"]
    (got,) = session.run(None, {name: value.numpy() for name, value in values.items()})
    assert got.shape == tuple(expected.shape)
    assert abs(torch.from_numpy(got) - expected).max() <= 1e-4
    meta = json.loads(session.get_modelmeta().custom_metadata_map["ganforge"])
    assert meta["inputs"] == network.inputs.describe() and meta["order"] == list(network.inputs)


BLOCKED_RUN = r"""
import importlib.abc, importlib.util, json, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "ganforge":
            raise ImportError("ganforge is blocked in this interpreter")
sys.meta_path.insert(0, Block())
try:
    import ganforge
    raise SystemExit("ganforge was importable")
except ImportError:
    pass
import torch
files = {"ganforge.json": ""}
module = torch.jit.load(sys.argv[1], _extra_files=files)
meta = json.loads(files["ganforge.json"])
inputs = torch.load(sys.argv[2], weights_only=True)
with torch.inference_mode():
    image = module(*[inputs[name] for name in meta["order"]])
torch.save(image, sys.argv[3])
assert not any(name.split(".")[0] == "ganforge" for name in sys.modules)
"""


@pytest.mark.parametrize("kind", KINDS)
def test_torchscript_matches_pytorch_in_process(exports, tmp_path, kind):
    out = tmp_path / "g.pt"
    assert main(["export", str(exports[kind]), "--format", "torchscript", "--out", str(out)]) == 0
    network, values, expected = reference(exports[kind])
    files = {"ganforge.json": ""}
    module = torch.jit.load(str(out), _extra_files=files)
    assert json.loads(files["ganforge.json"])["order"] == list(network.inputs)
    with torch.inference_mode():
        got = module(*values.values())
    assert got.shape == expected.shape and (got - expected).abs().max() <= 1e-4
    assert zipfile.is_zipfile(out)


def test_torchscript_runs_without_ganforge(exports, tmp_path):
    export = exports["cgan"]
    out = tmp_path / "g.pt"
    assert main(["export", str(export), "--format", "torchscript", "--out", str(out)]) == 0
    _, values, expected = reference(export, batch=5)
    torch.save(values, tmp_path / "inputs.pt")
    script = tmp_path / "run.py"
    script.write_text(BLOCKED_RUN)
    result = subprocess.run([sys.executable, "-I", str(script), str(out), str(tmp_path / "inputs.pt"),
                             str(tmp_path / "image.pt")], capture_output=True, text=True, timeout=120,
                            cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    got = torch.load(tmp_path / "image.pt", weights_only=True)
    assert (got - expected).abs().max() <= 1e-4


def test_export_format_errors(exports, tmp_path, capsys):
    assert main(["export", str(exports["dcgan"]), "--format", "onnx"]) == 2
    assert "--out" in capsys.readouterr().err
    assert main(["export", str(exports["dcgan"]), "--format", "torchscript", "--out", str(tmp_path)]) == 2
    assert "is a folder" in capsys.readouterr().err
    assert main(["export", str(tmp_path / "missing"), "--format", "torchscript", "--out", str(tmp_path / "g.pt")]) == 2
