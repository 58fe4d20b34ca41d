"""Exact resume: a run killed with SIGKILL and resumed logs the same numbers as an uninterrupted run."""

import json
import os
import signal
import subprocess
import sys

from ganforge.checkpoints import list_checkpoints

from conftest import run_cli, run_cli_here, wait_for_checkpoint

RUN = ["train", "digits-mlp", "--set", "train.steps=800", "--set", "train.log_every=1",
       "--set", "train.checkpoint_every=100", "--set", "train.sample_every=100000", "--quiet"]
COMPARED = ("loss_d", "loss_g", "d_real", "d_fake", "d_fake_g")


def kill_and_resume(tmp_path, run: list[str], kill_after: int, steps: int) -> tuple[dict, dict, int]:
    """Train `run` uninterrupted and again killed with SIGKILL once a checkpoint past `kill_after` exists, resume the
    killed run; return both runs' metrics.jsonl records by step and the step the resume started from."""
    reference, killed = tmp_path / "reference", tmp_path / "killed"
    assert run_cli(*run, "--out", str(reference)).returncode == 0

    proc = subprocess.Popen([sys.executable, "-m", "ganforge", *run, "--out", str(killed)])
    wait_for_checkpoint(proc, killed, kill_after)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    killed_at = int(list_checkpoints(killed)[-1].stem.split("-")[1])
    assert killed_at < steps

    result = run_cli("train", "--resume", str(killed), "--quiet")
    assert result.returncode == 0, result.stderr
    expected, got = ({r["step"]: r for r in map(json.loads, (path / "metrics.jsonl").read_text().splitlines())}
                     for path in (reference, killed))
    assert sorted(got) == sorted(expected) == list(range(1, steps + 1))
    return expected, got, killed_at


def test_sigkill_and_resume_reproduce_the_uninterrupted_run(tmp_path):
    expected, got, killed_at = kill_and_resume(tmp_path, RUN, 200, 800)
    assert [[got[s][k] for k in COMPARED] for s in range(killed_at + 1, 801)] == \
        [[expected[s][k] for k in COMPARED] for s in range(killed_at + 1, 801)]


def test_resume_refuses_a_different_model_and_allows_more_steps(tmp_path, trained_run):
    changed = run_cli_here("train", "--resume", str(trained_run), "--set", "model.g_width=16")
    assert changed.returncode == 2
    assert "cannot resume with a different config: model.g_width: 8 -> 16" in changed.stderr
    longer = run_cli("train", "--resume", str(trained_run), "--set", "train.steps=8", "--quiet")
    assert longer.returncode == 0, longer.stderr
    assert list_checkpoints(trained_run)[-1].name == "state-00000008.pt"


def test_damaged_checkpoint_is_kept_and_the_previous_one_named(tmp_path):
    run = tmp_path / "run"
    assert run_cli("train", "digits-mlp", "--set", "train.steps=6", "--set", "train.checkpoint_every=3",
                   "--out", str(run), "--quiet").returncode == 0
    latest = list_checkpoints(run)[-1]
    data = latest.read_bytes()
    latest.write_bytes(data[: len(data) // 2])
    result = run_cli_here("train", "--resume", str(run), "--set", "train.steps=9")
    assert result.returncode == 2
    assert "damaged" in result.stderr and "state-00000003.pt" in result.stderr
    assert "Traceback" not in result.stderr
    assert latest.stat().st_size == len(data) // 2, "the damaged file is left in place"
    fallback = run_cli("train", "--resume", str(run), "--checkpoint", str(list_checkpoints(run)[0]),
                       "--set", "train.steps=9", "--quiet")
    assert fallback.returncode == 0, fallback.stderr


def test_resume_of_missing_run(tmp_path):
    result = run_cli_here("train", "--resume", str(tmp_path / "nope"))
    assert result.returncode == 2 and "does not exist" in result.stderr


def test_sigkill_and_resume_with_ada_reproduce_p_and_the_losses(tmp_path):
    """ADA's p, its interval's sums and its generator are algorithm state: a killed run resumes onto the same p."""
    run = [*RUN[:2], "--set", "train.steps=400", *RUN[4:], "--set", "augment.ada=true", "--set", "augment.ada_kimg=2",
           "--set", "augment.ada_interval=3"]
    expected, got, killed_at = kill_and_resume(tmp_path, run, 100, 400)
    keys = (*COMPARED, "ada_p", "ada_rt")
    for step in range(killed_at + 1, 401):
        assert [got[step][k] for k in keys] == [expected[step][k] for k in keys], step
    assert len({r["ada_p"] for r in expected.values()}) > 10, "p moved through the run"
