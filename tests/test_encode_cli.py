"""`ganforge encode MODEL image.png`: the encoder's latent of an image, from a run or its export, as JSON or
safetensors; bad input is one line and exit code 2."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from conftest import TINY_DCGAN, run_cli, run_cli_here
from ganforge import load_encoder
from ganforge.data.images import normalize
from ganforge.training.trainer import train


@pytest.fixture(scope="module")
def bigan_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "tiny-bigan"
    train("mnist-bigan", out=out, overrides=[*TINY_DCGAN, "train.steps=3", "train.checkpoint_every=3",
                                             "eval.every=0"], quiet=True)
    return out


def digit(path, size=28, seed=0):
    pixels = np.random.default_rng(seed).integers(0, 256, (size, size), dtype=np.uint8)
    Image.fromarray(pixels).save(path)
    return torch.from_numpy(pixels)


def test_encode_a_run_and_its_export_as_json_and_safetensors(bigan_run, tmp_path):
    pixels = digit(tmp_path / "digit.png")
    with torch.no_grad():
        expected = load_encoder(bigan_run)(normalize(pixels[None, None]))[0]
    exported = tmp_path / "exported"
    assert run_cli("export", str(bigan_run), str(exported)).returncode == 0
    assert (exported / "encoder.safetensors").is_file()
    assert json.loads((exported / "config.json").read_text())["encoder"] == {"network": "E",
                                                                            "file": "encoder.safetensors"}
    printed = run_cli("encode", str(bigan_run), str(tmp_path / "digit.png"))
    assert printed.returncode == 0, printed.stderr
    z = json.loads(printed.stdout)["z"]
    assert len(z) == 16  # the tiny run's latent
    torch.testing.assert_close(torch.tensor(z), expected)
    for model in (bigan_run, exported):
        for suffix in (".json", ".safetensors"):
            out = tmp_path / f"z-{model.name}{suffix}"
            done = run_cli_here("encode", str(model), str(tmp_path / "digit.png"), "--out", str(out))
            assert done.returncode == 0, done.stderr
            got = (torch.tensor(json.loads(out.read_text())["z"]) if suffix == ".json"
                   else load_file(str(out))["z"])
            torch.testing.assert_close(got, expected)


@pytest.mark.parametrize("case", ["missing file", "wrong size", "no encoder", "bad output"])
def test_bad_input_is_one_line_and_exit_2(case, bigan_run, trained_run, tmp_path):
    digit(tmp_path / "digit.png")
    digit(tmp_path / "big.png", size=32)
    args = {"missing file": (bigan_run, tmp_path / "nope.png"),
            "wrong size": (bigan_run, tmp_path / "big.png"),
            "no encoder": (trained_run, tmp_path / "digit.png"),
            "bad output": (bigan_run, tmp_path / "digit.png", "--out", "z.txt")}[case]
    done = run_cli_here("encode", *map(str, args))
    expected = {"missing file": "does not exist", "wrong size": "32x32 pixels; this model's encoder takes 28x28",
                "no encoder": "has no encoder", "bad output": ".json or .safetensors"}[case]
    assert done.returncode == 2 and done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0], done.stderr
