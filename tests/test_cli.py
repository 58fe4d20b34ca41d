"""Every foundation command end to end, as a user runs it, and every bad input as one line with exit code 2."""

import json
import os
import re
from pathlib import Path

import pytest
import torch
from PIL import Image

import ganforge
from ganforge.cli import COMMANDS, main

from conftest import TINY_DCGAN, run_cli

ROOT = Path(__file__).resolve().parents[1]


def sets(overrides):
    return [arg for item in overrides for arg in ("--set", item)]


def test_version_help_and_presets(capsys):
    assert run_cli("--version").stdout.strip() == f"ganforge {ganforge.__version__}"
    for name in COMMANDS:
        result = run_cli(name, "--help")
        assert result.returncode == 0 and "example:" in result.stdout, name
    assert main(["presets"]) == 0
    out = capsys.readouterr().out
    assert "mnist-dcgan" in out and "(default)" in out and "cifar10-dcgan" in out


def test_train_writes_the_run_directory(tmp_path):
    run = tmp_path / "run"
    result = run_cli("train", *sets([*TINY_DCGAN, "train.steps=4", "train.log_every=2", "train.sample_every=2"]),
                     "--out", str(run))
    assert result.returncode == 0, result.stderr
    assert json.loads((run / "config.json").read_text())["preset"] == "mnist-default"  # the default
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [2, 4]
    assert {"loss_d", "loss_g", "d_real", "d_fake", "lr_G", "lr_D", "images_per_s"} <= set(records[0])
    assert (run / "samples" / "step_000004.png").is_file() and (run / "losses.png").is_file()
    assert any((run / "tensorboard").iterdir())
    assert (run / "checkpoints" / "state-00000004.pt").is_file()


def test_dry_run_prints_resolved_config(capsys):
    assert main(["train", "mnist-mlp", "--set", "train.epochs=3", "--dry-run"]) == 0
    config = json.loads(capsys.readouterr().out)
    assert config["preset"] == "mnist-mlp" and config["train"]["epochs"] == 3


def test_sample_interpolate_export_round_trip(tmp_path, trained_run):
    grid = tmp_path / "grid.png"
    assert main(["sample", str(trained_run), "--n", "9", "--seed", "3", "--out", str(grid)]) == 0
    assert Image.open(grid).size == (3 * 30 + 2, 3 * 30 + 2)
    assert main(["sample", str(trained_run), "--n", "3", "--separate", "--out", str(tmp_path / "sep")]) == 0
    assert len(list((tmp_path / "sep").glob("*.png"))) == 3
    assert main(["interpolate", str(trained_run), "--seeds", "1", "2", "--steps", "5",
                 "--out", str(tmp_path / "strip.png")]) == 0
    assert Image.open(tmp_path / "strip.png").size == (5 * 30 + 2, 32)

    export = tmp_path / "export"
    assert main(["export", str(trained_run), str(export)]) == 0
    assert sorted(p.name for p in export.iterdir()) == ["config.json", "generator.safetensors"]
    reference = json.loads((export / "config.json").read_text())["reference"]  # what `ganforge serve` drifts from
    assert reference["images"] == 512 and len(reference["channel_mean"]) == len(reference["channel_std"]) == 1
    from_run = ganforge.Sampler(ganforge.load_generator(trained_run)).sample(8, seed=5)
    from_export = ganforge.Sampler(ganforge.load_generator(export)).sample(8, seed=5)
    assert torch.equal(from_run, from_export), "export/load round trip gives identical images"
    again = ganforge.Sampler(ganforge.load_generator(export)).sample(8, seed=5)
    assert torch.equal(from_export, again), "same seed, same images"


def corrupt_folder(tmp_path):
    folder = tmp_path / "corrupt"
    folder.mkdir()
    (folder / "a.png").write_bytes(b"\x89PNG garbage")
    return folder


BAD_INPUTS = [
    (["train", "mnist-dcgn"], "unknown preset 'mnist-dcgn'"),
    (["train", "--set", "data.dataset=cifar100"], "unknown dataset 'cifar100'"),
    (["train", "--set", "loss.name=wasserstien"], "unknown loss"),
    (["train", "--set", "model.generator=unets"], "unknown generator 'unets' (did you mean 'unet'?)"),
    (["train", "--set", "model.generator=unet"], "model.generator 'unet' translates an input image"),
    (["train", "--set", "data.dataset=folder:/definitely/missing"], "does not exist"),
    (["train", "--set", "model.resolution=32", "--set", "train.steps=1"], "but the model loads 32x32 (model.resolution"),
    (["train", "--set", "model.channels=3", "--set", "train.steps=1"], "model.channels is 3"),
    (["sample", "/definitely/missing/run"], "does not exist"),
    (["export", "/definitely/missing/run", "/tmp/x"], "does not exist"),
    (["train", "--set", "train.steps"], "section.key=value"),
]


@pytest.mark.parametrize("args,message", BAD_INPUTS, ids=[" ".join(a) for a, _ in BAD_INPUTS])
def test_bad_input_is_one_line_and_exit_2(args, message, capsys):
    assert main(args) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and err.startswith("error: ")
    assert not list(Path("runs").glob("*")), "a run that failed to start leaves no folder behind"


def test_bad_files_and_folders(tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["train", "--set", f"data.dataset=folder:{empty}"]) == 2
    assert main(["train", "--set", f"data.dataset=folder:{corrupt_folder(tmp_path)}"]) == 2
    readonly = tmp_path / "readonly"
    readonly.mkdir()
    os.chmod(readonly, 0o500)
    if not os.access(readonly, os.W_OK):  # root can write anywhere; the check only means something otherwise
        assert main(["train", "digits-mlp", "--out", str(readonly / "run")]) == 2
    assert main(["train", "digits-mlp", "--out", "/proc/ganforge-run"]) == 2
    err = capsys.readouterr().err
    assert "holds no .jpg/.png/.webp" in err and "could be read" in err and "cannot write" in err
    assert "Traceback" not in err


def test_nan_loss_stops_with_one_line(tmp_path):
    run = tmp_path / "run"
    result = run_cli("train", "digits-mlp", "--quiet", "--set", "train.steps=200", "--set", "optim.lr=1e30",
                     "--out", str(run))
    assert result.returncode == 2
    assert re.search(r"^error: the [DG] loss became (nan|inf|-inf) at step \d+; training stopped", result.stderr)
    assert "Traceback" not in result.stderr and result.stderr.count("\n") == 1


def test_nan_loss_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
    """A loss that turns NaN at step 5: nothing non-finite is stepped or saved; checkpoint 4 survives."""
    from ganforge.losses import LOSSES, GANLoss, bce_discriminator_loss, non_saturating_generator_loss
    from ganforge.training.trainer import NonFiniteLoss, train

    calls = {"n": 0}

    def poisoned(real_logits, fake_logits, real_target=1.0):
        calls["n"] += 1
        loss = bce_discriminator_loss(real_logits, fake_logits, real_target)
        return loss * float("nan") if calls["n"] == 5 else loss

    monkeypatch.setitem(LOSSES._entries, "poisoned", GANLoss("poisoned", poisoned, non_saturating_generator_loss))
    with pytest.raises(NonFiniteLoss, match="the D loss became nan at step 5.*last good checkpoint is .*state-00000004"):
        train("digits-mlp", out=tmp_path / "run", overrides=["loss.name=poisoned", "train.steps=10",
                                                             "train.checkpoint_every=2"], quiet=True)
    checkpoints = sorted((tmp_path / "run" / "checkpoints").glob("state-*.pt"))
    assert checkpoints[-1].name == "state-00000004.pt"
    state = torch.load(checkpoints[-1], weights_only=True)
    assert all(torch.isfinite(v).all() for v in state["nets"]["D"].values())


def test_debug_shows_the_traceback():
    result = run_cli("--debug", "train", "mnist-dcgn")
    assert result.returncode != 0 and "Traceback" in result.stderr


def test_readme_python_example_runs_as_written(tmp_path):
    readme = (ROOT / "README.md").read_text()
    match = re.search(r"<!-- python-example -->\n```python\n(.*?)```", readme, re.S)
    assert match, "README must hold the Python API example"
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        exec(compile(match.group(1), "README.md", "exec"), {})
    finally:
        os.chdir(cwd)
    assert (tmp_path / "readme-grid.png").is_file()
