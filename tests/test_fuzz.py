"""Property-based fuzzing of the input boundary: config overrides, CLI arguments, and the image, npz and export
readers on random bytes. Every outcome must be a success or a one-line error with exit code 2 (GanforgeError in
the Python API), never a traceback. Examples are bounded and derandomised, so the suite stays seconds long and
gives the same cases on every machine."""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import typing
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ganforge.cli import main
from ganforge.config import Config
from ganforge.configure import build_config
from ganforge.errors import GanforgeError

FUZZ = settings(max_examples=60, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def config_keys(cls: type = Config, prefix: str = "") -> list[str]:
    """Every key of the config schema (section.key), from the dataclasses themselves."""
    keys = []
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if dataclasses.is_dataclass(hints[f.name]):
            keys += config_keys(hints[f.name], f"{prefix}{f.name}.")
        elif not f.metadata.get("flatten"):
            keys.append(f"{prefix}{f.name}")
    return keys


KEYS = config_keys() + ["algorithm.d_steps", "algorithm.g_steps", "optim.D.lr", "optim.G.beta1", "optim.lr_g",
                        "regularize.penalties.r1", "regularize.every.r1"]
EDGES = ["", "~", "[", "]", "{", "{a: 1}", "[1, 2]", ".nan", ".inf", "-.inf", "1e999", "-0", "0x10", "1_000",
         "9" * 5000, "2**63", "true", "null", "!!python/object:os.system", "&a [*a]", "\u00e9\u6f22\U0001f600", "\\x00",
         "a\nb", "-1", "0", "1", "4097", "65537", "1e-30", "3.5"]
VALUES = st.one_of(
    st.sampled_from(EDGES),
    st.integers(min_value=-2**80, max_value=2**80).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.text(max_size=24),
    st.lists(st.integers(min_value=-5, max_value=10**6), max_size=4).map(str),
)
KEYS_ANY = st.one_of(st.sampled_from(KEYS), st.text(min_size=1, max_size=16),
                     st.lists(st.sampled_from(["train", "model", "steps", "", "x"]), min_size=1, max_size=4)
                     .map(".".join))


def one_line(text: str) -> bool:
    lines = [line for line in text.splitlines() if line.strip()]
    return len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in text


def run_main(args: list[str]) -> tuple[int, str]:
    err, out = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        try:
            code = main(args)
        except SystemExit as exc:  # argparse's usage errors
            code = exc.code
    return code, err.getvalue()


@FUZZ
@given(key=KEYS_ANY, value=VALUES)
def test_any_override_is_a_config_or_one_line(key, value):
    try:
        config = build_config(overrides=[f"{key}={value}"])
    except GanforgeError:
        return
    t = config.train
    assert 1 <= t.batch_size <= 65536 and 1 <= t.num_samples <= 4096 and 0 <= t.seed < 2**63
    assert 1 <= config.model.latent_dim <= 16384 and 1 <= config.model.resolution <= 4096


@FUZZ
@given(key=st.sampled_from(KEYS), value=VALUES)
def test_any_override_through_the_cli_exits_0_or_2_with_one_line(key, value):
    code, err = run_main(["train", "--set", f"{key}={value}", "--dry-run"])
    assert code in (0, 2), (key, value, err)
    assert code == 0 or one_line(err), (key, value, err)


INT_FLAGS = {"sample": ["--n", "--seed", "--nrow", "--batch-size"], "interpolate": ["--steps", "--seeds"],
             "eval": ["--n", "--n-real", "--seed", "--batch-size"], "lab": ["--seeds", "--steps", "--workers"]}


@FUZZ
@given(command=st.sampled_from(sorted(INT_FLAGS)), data=st.data())
def test_any_cli_count_exits_2_with_one_line(command, data, tmp_path):
    flag = data.draw(st.sampled_from(INT_FLAGS[command]))
    value = data.draw(VALUES)
    args = [command, "ring8" if command == "lab" else str(tmp_path / "missing"), flag, value]
    if flag == "--seeds" and command == "interpolate":
        args.append("1")
    if command == "lab":
        args += ["--list"]  # a valid count ends in the listing, not a training run
    code, err = run_main(args)
    assert code in (0, 2) and (code == 0 or one_line(err)), (args, err)


MAGIC = [b"", b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff\xe0", b"RIFF\x00\x00\x00\x00WEBP", b"PK\x03\x04",
         b"\x93NUMPY\x01\x00", b"GIF89a", b"BM"]


def png_bytes() -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.arange(64, dtype=np.uint8).reshape(8, 8)).save(buffer, format="PNG")
    return buffer.getvalue()


def npz_bytes() -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, mu=np.zeros(3), sigma=np.eye(3))
    return buffer.getvalue()


def damaged(valid: bytes) -> st.SearchStrategy[bytes]:
    """A valid file cut short, with bytes flipped, or random bytes behind a real magic number."""
    cut = st.integers(min_value=0, max_value=len(valid)).map(lambda n: valid[:n])
    flipped = st.lists(st.tuples(st.integers(0, len(valid) - 1), st.integers(0, 255)), min_size=1, max_size=8).map(
        lambda edits: bytes(b if i not in dict(edits) else dict(edits)[i] for i, b in enumerate(valid)))
    noise = st.tuples(st.sampled_from(MAGIC), st.binary(max_size=512)).map(lambda p: p[0] + p[1])
    return st.one_of(cut, flipped, noise)


@FUZZ
@given(data=damaged(png_bytes()))
def test_image_readers_on_random_bytes(data, tmp_path):
    from ganforge.data.folder import load_folder
    from ganforge.data.translation import read_label_map
    from ganforge.inputs import ImageInput
    from ganforge.translate import read_source

    folder = tmp_path / "images"
    folder.mkdir(exist_ok=True)
    path = folder / "x.png"
    path.write_bytes(data)
    for read in (lambda: load_folder(folder, 8, 1), lambda: read_label_map(path),
                 lambda: read_source(path, ImageInput(1, 8))):
        try:
            read()
        except GanforgeError as exc:
            assert "\n" not in str(exc)


@FUZZ
@given(data=damaged(npz_bytes()))
def test_statistics_reader_on_random_bytes(data, tmp_path):
    from ganforge.metrics.stats import load_stats

    path = tmp_path / "ref.npz"
    path.write_bytes(data)
    try:
        real = load_stats(path)
    except GanforgeError:
        return
    assert real.features.mu.ndim == 1 and real.features.sigma.shape == (real.features.mu.size,) * 2


JSON = st.recursive(st.none() | st.booleans() | st.integers(min_value=-2**70, max_value=2**70) | st.floats()
                    | st.text(max_size=12),
                    lambda children: st.lists(children, max_size=4)
                    | st.dictionaries(st.sampled_from(["config", "model", "train", "format", "version", "image",
                                                       "inputs", "step", "weights", "family", "resolution", "kind",
                                                       "z", "dim", "algorithm", "name"]), children, max_size=5),
                    max_leaves=20)


@FUZZ
@given(description=JSON, marked=st.booleans())
def test_export_descriptions_on_random_json(description, marked, tmp_path):
    from ganforge.export import load_generator

    folder = tmp_path / "export"
    folder.mkdir(exist_ok=True)
    if marked and isinstance(description, dict):
        description = {**description, "format": "ganforge-generator"}
    (folder / "config.json").write_text(json.dumps(description))
    (folder / "generator.safetensors").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}      ")
    with pytest.raises(GanforgeError):
        load_generator(folder)
