"""Bad input, one class at a time: each is exit code 2 and one line that names what to fix, never a traceback
(unless --debug), never a run overwritten, never an allocation the request could not afford."""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from ganforge.cli import main
from ganforge.errors import GanforgeError

from conftest import TINY_DCGAN, run_cli


def one_line_error(capsys, args: list[str], expected: str) -> str:
    code = main(args)
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error: "), (args, err)
    assert expected in lines[0], (args, lines[0])
    return lines[0]


# ------------------------------------------------------------------------------------------ config values
CONFIG_CASES = [
    ("train.steps=abc", "train.steps' must be a whole number"),
    ("train.epochs=.inf", "train.epochs must be a finite number"),
    ("loss.ls_a=.nan", "loss.ls_a must be a finite number"),
    ("optim.lr=1e999", "optim.lr must be a finite number"),
    ("model.latent_dim=1000000000000", "model.latent_dim must be <= 16384 (latent dimensions)"),
    ("train.num_samples=10000000000", "train.num_samples must be <= 4096"),
    ("train.batch_size=100000000000", "train.batch_size must be <= 65536 (one batch must fit in memory)"),
    ("train.steps=-5", "train.steps must be >= 1, got -5"),
    ("train.steps=10000000000", "train.steps must be <= 1_000_000_000"),
    ("train.seed=100000000000000000000000", "train.seed must be in [0, 9_223_372_036_854_775_807]"),
    ("train.seed=-1", "train.seed must be in [0,"),
    ("model.num_classes=100000", "model.num_classes must be <= 4096"),
    ("model.label_classes=5000", "model.label_classes must be <= 4096"),
    ("algorithm.d_steps=100000000", "algorithm.d_steps must be in [1, 1000]"),
    ("eval.n=100000000", "eval.n must be <= 1_000_000"),
    ("train.steps=" + "9" * 5000, "train.steps' must be a whole number, got '99999"),
    ("model=3", "config section 'model' must be a mapping"),
    ("train.ema=maybe", "train.ema' must be true or false"),
    ("nosuch.key=1", "unknown config key 'nosuch'"),
    ("train.device=mps", "train.device is 'mps', a device that does not exist here"),
    ("train.device=tpu:0", "unknown device 'tpu:0'"),
    ("model.resolution=37", "model.resolution must be a multiple of 4 (at least 8), got 37"),
    ("train.batch_size=60000", "make one tensor of"),
]


@pytest.mark.parametrize("override,expected", CONFIG_CASES, ids=[c[0][:40] for c in CONFIG_CASES])
def test_bad_config_values_name_the_key(override, expected, capsys):
    extra = ["--set", "model.resolution=256", "--set", "data.resize=true"] if "60000" in override else []
    one_line_error(capsys, ["train", "--set", override, *extra, "--dry-run"], expected)


def test_cuda_without_cuda_is_one_line(capsys):
    if torch.cuda.is_available():
        one_line_error(capsys, ["train", "--set", f"train.device=cuda:{torch.cuda.device_count()}", "--dry-run"],
                       "CUDA device(s)")
    else:
        one_line_error(capsys, ["train", "--set", "train.device=cuda", "--dry-run"], "CUDA is not available here")


def test_bad_config_files(tmp_path, capsys):
    latin = tmp_path / "latin.yaml"
    latin.write_bytes("train:\n  steps: 5 # d\xe9j\xe0\n".encode("latin-1"))
    one_line_error(capsys, ["train", "--config", str(latin), "--dry-run"], "is not UTF-8 text")
    one_line_error(capsys, ["train", "--config", str(tmp_path), "--dry-run"], "does not exist")
    deep = tmp_path / "deep.yaml"
    deep.write_text("[" * 5000)
    one_line_error(capsys, ["train", "--config", str(deep), "--dry-run"], "deep.yaml")
    typed = tmp_path / "typed.yaml"
    typed.write_text("train:\n  steps: lots\n")
    one_line_error(capsys, ["train", "--config", str(typed), "--dry-run"], "train.steps' must be a whole number")
    scalar = tmp_path / "scalar.yaml"
    scalar.write_text("train: 5\n")
    one_line_error(capsys, ["train", "--config", str(scalar), "--dry-run"], "config section 'train' must be a mapping")


# ------------------------------------------------------------------------------------------ CLI arguments
CLI_CASES = [
    (["sample", "x", "--n", "abc"], "--n must be a whole number in [1, 1_000_000], got 'abc'"),
    (["sample", "x", "--n", "0"], "--n must be >= 1, got 0"),
    (["sample", "x", "--seed", "-1"], "--seed must be >= 0, got -1"),
    (["sample", "x", "--seed", str(2**70)], "--seed must be <= 9_223_372_036_854_775_807 (the seeds torch accepts)"),
    (["sample", "x", "--truncation", "nan"], "--truncation must be a finite number > 0"),
    (["sample", "x", "--nrow", "100000"], "--nrow must be <= 4096"),
    (["interpolate", "x", "--steps", "10000000000"], "--steps must be <= 1024 (images in one interpolation strip)"),
    (["eval", "x", "--n", "1000000000"], "--n must be <= 1_000_000 (images compared by one evaluation)"),
    (["eval", "x", "--batch-size", "0"], "--batch-size must be >= 1"),
    (["lab", ","], "no dataset in ','"),
    (["lab", "ring8", "--seeds", "100000"], "--seeds must be <= 1000 (seeds per algorithm)"),
    (["train", "--nproc", "0", "--dry-run"], "--nproc must be >= 1"),
    (["train", "--resume", "x", "--overwrite"], "drop --out/--overwrite"),
    (["sample"], "the following arguments are required: MODEL"),
    (["bogus"], "invalid choice: 'bogus'"),
    (["train", "--no-such-flag"], "unrecognized arguments: --no-such-flag"),
    (["sample", "x", "--device", "mps"], "--device is 'mps', a device that does not exist here"),
]


@pytest.mark.parametrize("args,expected", CLI_CASES, ids=[" ".join(a)[:40] for a, _ in CLI_CASES])
def test_bad_arguments_are_one_line_exit_2(args, expected, capsys):
    try:
        one_line_error(capsys, args, expected)
    except SystemExit as exc:  # argparse's own exits go through Parser.error: code 2, one line
        assert exc.code == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and expected in err and err.startswith("error: "), err


def test_names_that_are_not_utf8(tmp_path, capsys):
    bad = os.fsdecode(b"run-\xff\xfe")
    one_line_error(capsys, ["train", "--out", str(tmp_path / bad), "--dry-run"], "is not valid UTF-8")
    one_line_error(capsys, ["train", "--set", "data.data_dir=" + os.fsdecode(b"\xff"), "--dry-run"],
                   "--set 'data.data_dir=\\xff' is not valid UTF-8")


def test_paths_the_os_refuses(tmp_path, trained_run, capsys):
    long_name = "x" * 300
    one_line_error(capsys, ["sample", str(trained_run), "--n", "4", "--out", str(tmp_path / long_name / "g.png")],
                   "is too long for the file system")
    afile = tmp_path / "afile"
    afile.write_text("")
    one_line_error(capsys, ["sample", str(trained_run), "--n", "4", "--out", str(afile / "g.png")],
                   "has a file where a folder belongs")
    one_line_error(capsys, ["sample", str(trained_run), "--n", "4", "--out", str(tmp_path / "g.unknownext")],
                   "unknown extension")


def test_a_traceback_only_with_debug(tmp_path):
    result = run_cli("sample", str(tmp_path / "missing"), "--n", "0")
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    result = run_cli("train", "--set", "train.device=mps", "--dry-run")
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    result = run_cli("--debug", "train", "--set", "train.device=mps", "--dry-run")
    assert result.returncode != 0 and "Traceback" in result.stderr


# ------------------------------------------------------------------------------------------ runs never overwritten
def tiny_train(out: Path, *extra: str) -> list[str]:
    sets = [arg for item in [*TINY_DCGAN, "train.steps=2", "train.checkpoint_every=2", "train.sample_every=2"]
            for arg in ("--set", item)]
    return ["train", *sets, "--quiet", "--out", str(out), *extra]


def test_train_refuses_a_folder_that_holds_a_run_and_overwrite_moves_it_aside(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(tiny_train(run)) == 0
    before = (run / "checkpoints" / "state-00000002.pt").read_bytes()
    capsys.readouterr()
    line = one_line_error(capsys, tiny_train(run), "already holds a run (config.json, 1 checkpoint")
    assert "--resume" in line and "--overwrite" in line
    assert (run / "checkpoints" / "state-00000002.pt").read_bytes() == before, "the refused run changed nothing"
    assert main(tiny_train(run, "--overwrite")) == 0
    moved = [p for p in tmp_path.iterdir() if p.name.startswith("run.replaced-")]
    assert len(moved) == 1 and (moved[0] / "checkpoints" / "state-00000002.pt").read_bytes() == before
    assert (run / "checkpoints" / "state-00000002.pt").is_file()


def test_a_run_folder_is_claimed_atomically(tmp_path):
    from ganforge.files import claim_run_dir, release_claim

    folder, created, moved = claim_run_dir(tmp_path / "r", b"{}\n")
    assert created and moved is None and (folder / "config.json").read_bytes() == b"{}\n"
    with pytest.raises(GanforgeError, match="already holds a run"):
        claim_run_dir(tmp_path / "r", b"{}\n")
    release_claim(folder, created)
    assert not folder.exists(), "a run that failed to start leaves nothing behind"
    empty = tmp_path / "empty"
    empty.mkdir()
    folder, created, _ = claim_run_dir(empty, b"{}\n")  # an empty folder is taken as it is
    assert not created and (empty / "config.json").is_file()


def test_a_run_that_fails_to_start_leaves_its_folder_as_it_was(tmp_path, capsys):
    run = tmp_path / "run"
    one_line_error(capsys, ["train", "--set", "data.dataset=folder:/definitely/missing", "--out", str(run)],
                   "does not exist")
    assert not run.exists()


def test_export_never_writes_into_a_run_nor_over_an_export(trained_run, tmp_path, capsys):
    one_line_error(capsys, ["export", str(trained_run), str(trained_run)], "is the run itself")
    other_run = tmp_path / "other"
    other_run.mkdir()
    (other_run / "config.json").write_text("{}")
    (other_run / "checkpoints").mkdir()
    one_line_error(capsys, ["export", str(trained_run), str(other_run)], "already holds a run")
    one_line_error(capsys, ["export", str(trained_run), str(tmp_path / "g.safetensors")], "is a folder name")
    out = tmp_path / "export"
    assert main(["export", str(trained_run), str(out)]) == 0
    first = (out / "generator.safetensors").read_bytes()
    capsys.readouterr()
    one_line_error(capsys, ["export", str(trained_run), str(out)], "already holds an export (step 6)")
    assert main(["export", str(trained_run), str(out), "--overwrite"]) == 0
    assert (out / "generator.safetensors").read_bytes() == first
    one_line_error(capsys, ["sample", str(trained_run), "--out", str(trained_run / "config.json")],
                   "would replace a file of the run")
    one_line_error(capsys, ["sample", str(trained_run), "--separate", "--out", str(out)], "holds a run or export")


# ------------------------------------------------------------------------------------------ exports as untrusted input
def broken_export(trained_run: Path, tmp_path: Path, name: str) -> Path:
    out = tmp_path / name
    assert main(["export", str(trained_run), str(out)]) == 0
    return out


def test_export_descriptions_are_checked_before_building(trained_run, tmp_path, capsys):
    cases = [
        (lambda d: [d], "must be a mapping of sections"),
        (lambda d: {k: v for k, v in d.items() if k != "config"}, "without its config"),
        (lambda d: {**d, "image": {"channels": 1, "resolution": -28}}, "image.resolution is -28"),
        (lambda d: {**d, "version": 99}, "of version 99"),
        (lambda d: {**d, "step": "six"}, "'step' is six"),
        (lambda d: {**d, "inputs": {"z": {"kind": "latent", "dim": "many"}}}, "declares inputs"),
        (lambda d: {**d, "config": {**d["config"], "model": {**d["config"]["model"], "latent_dim": -1}}},
         "model.latent_dim must be >= 1, got -1"),
    ]
    for i, (change, expected) in enumerate(cases):
        out = broken_export(trained_run, tmp_path, f"e{i}")
        description = json.loads((out / "config.json").read_text())
        changed = change(description)
        if isinstance(changed, list):  # a list holds no format marker: read as a run's config
            (out / "config.json").write_text(json.dumps(changed))
        else:
            (out / "config.json").write_text(json.dumps(changed))
        capsys.readouterr()
        one_line_error(capsys, ["sample", str(out), "--n", "4", "--out", str(tmp_path / "g.png")], expected)
    out = broken_export(trained_run, tmp_path, "latin")
    (out / "config.json").write_bytes(b'{"format": "\xff"}')
    capsys.readouterr()
    one_line_error(capsys, ["sample", str(out), "--out", str(tmp_path / "g.png")], "is not UTF-8 text")


def test_export_weights_are_checked_against_the_network(trained_run, tmp_path, capsys):
    from safetensors.torch import load_file, save_file

    out = broken_export(trained_run, tmp_path, "weights")
    weights = load_file(str(out / "generator.safetensors"))
    first = next(iter(weights))
    save_file({**weights, first: weights[first].half()}, str(out / "generator.safetensors"))
    capsys.readouterr()
    one_line_error(capsys, ["sample", str(out), "--out", str(tmp_path / "g.png")], "is float16, the network holds")
    save_file({k: v for k, v in weights.items() if k != first}, str(out / "generator.safetensors"))
    one_line_error(capsys, ["sample", str(out), "--out", str(tmp_path / "g.png")], f"{first} is missing")
    (out / "generator.safetensors").write_bytes((out / "config.json").read_bytes()[:50])
    one_line_error(capsys, ["sample", str(out), "--out", str(tmp_path / "g.png")], "it is damaged")


# ------------------------------------------------------------------------------------------ checkpoints
def copied_run(trained_run: Path, tmp_path: Path) -> tuple[Path, Path]:
    import shutil

    run = tmp_path / "copy"
    shutil.copytree(trained_run, run)
    return run, sorted((run / "checkpoints").glob("state-*.pt"))[-1]


def test_checkpoints_are_checked_before_use(trained_run, tmp_path, capsys):
    run, latest = copied_run(trained_run, tmp_path)
    state = torch.load(latest, weights_only=True)
    torch.save({"format_version": 2}, latest)
    one_line_error(capsys, ["sample", str(run), "--out", str(tmp_path / "g.png")], "the state lacks config")
    torch.save({**state, "nets": {"D": state["nets"]["D"]}, "ema": {}}, latest)
    one_line_error(capsys, ["sample", str(run), "--out", str(tmp_path / "g.png")], "has no nets state for network 'G'")
    torch.save({**state, "config": "not json"}, latest)
    one_line_error(capsys, ["sample", str(run), "--out", str(tmp_path / "g.png")], "not a JSON mapping")
    shrunk = {k: v[..., :1] if v.dim() else v for k, v in state["nets"]["G"].items()}
    torch.save({**state, "nets": {**state["nets"], "G": shrunk}}, latest)
    one_line_error(capsys, ["train", "--resume", str(run), "--set", "train.steps=8"], "does not fit network G")
    latest.write_bytes(b"PK\x03\x04 truncated")
    one_line_error(capsys, ["train", "--resume", str(run), "--set", "train.steps=8"], "is damaged")


def test_resume_reads_its_config_as_untrusted(trained_run, tmp_path, capsys):
    run, _ = copied_run(trained_run, tmp_path)
    (run / "config.json").write_bytes(b"\xff\xfe{}")
    one_line_error(capsys, ["train", "--resume", str(run)], "is not UTF-8 text")
    (run / "config.json").write_text("[1, 2]")
    one_line_error(capsys, ["train", "--resume", str(run)], "must be a mapping")


# ------------------------------------------------------------------------------------------ statistics files
def test_damaged_statistics_files(tmp_path, capsys):
    from ganforge.metrics.stats import load_stats

    zipped = tmp_path / "ok.npz"
    np.savez(zipped, mu=np.zeros(4), sigma=np.eye(4))
    raw = zipped.read_bytes()
    cases = {"truncated.npz": raw[: len(raw) // 2], "text.npz": b"not an archive at all",
             "empty.npz": b""}
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(GanforgeError, match="cannot read statistics file"):
            load_stats(tmp_path / name)
    np.save(tmp_path / "single.npy", np.zeros(3))
    with pytest.raises(GanforgeError, match="not an npz archive"):
        load_stats(tmp_path / "single.npy")
    np.savez(tmp_path / "shape.npz", mu=np.zeros(4), sigma=np.eye(3))
    with pytest.raises(GanforgeError, match="sigma has shape"):
        load_stats(tmp_path / "shape.npz")
    np.savez(tmp_path / "nan.npz", mu=np.full(2, np.nan), sigma=np.eye(2))
    with pytest.raises(GanforgeError, match="NaN"):
        load_stats(tmp_path / "nan.npz")
    assert load_stats(zipped).features.mu.shape == (4,)


def test_an_npz_is_refused_by_its_declared_sizes_before_inflating(tmp_path, monkeypatch):
    from ganforge.metrics import stats

    bomb = tmp_path / "bomb.npz"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:  # 1 MB of zeros deflates to ~1 kB
        archive.writestr("mu.npy", b"\0" * 2**20)
    assert bomb.stat().st_size < 10_000
    monkeypatch.setattr(stats, "MAX_NPZ_BYTES", 2**19)
    with pytest.raises(GanforgeError, match="'mu.npy' would take"):
        stats.load_stats(bomb)


# ------------------------------------------------------------------------------------------ bounded work
def test_requests_over_the_caps_fail_before_any_allocation(trained_run, tmp_path, capsys, monkeypatch):
    from ganforge.sampling import Sampler

    def refuse(*args, **kwargs):
        raise AssertionError("nothing may be generated for a refused request")

    monkeypatch.setattr(Sampler, "decode_batches", refuse)
    one_line_error(capsys, ["sample", str(trained_run), "--n", "5000", "--out", str(tmp_path / "g.png")],
                   "--n must be <= 4096 (images in one grid PNG; use --separate")
    one_line_error(capsys, ["sample", str(trained_run), "--n", "1000000", "--out", str(tmp_path / "g.png")],
                   "--n must be <= 4096")


def test_separate_streams_the_same_images_in_batches(trained_run, tmp_path, capsys, monkeypatch):
    from PIL import Image

    from ganforge.sampling import Sampler

    sizes = []
    original = Sampler.decode_batches

    def counted(self, values):
        for batch in original(self, values):
            sizes.append(len(batch))
            yield batch

    monkeypatch.setattr(Sampler, "decode_batches", counted)
    folder = tmp_path / "sep"
    assert main(["sample", str(trained_run), "--n", "10", "--seed", "4", "--separate", "--batch-size", "4",
                 "--out", str(folder)]) == 0
    assert sizes == [4, 4, 2], "generated four at a time, never all at once"
    files = sorted(folder.glob("*.png"))
    assert len(files) == 10
    import ganforge

    grid = ganforge.Sampler(ganforge.load_generator(trained_run)).grid(10, 4)[0]
    assert np.array_equal(np.asarray(Image.open(files[7])), grid[7, 0].numpy()), "the grid's images, in order"
