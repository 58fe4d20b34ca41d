"""Shared fixtures: tiny, fast configs on the built-in data (no downloads anywhere)."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest

# Tiny DCGAN on the built-in MNIST: a training step takes a few milliseconds.
TINY_DCGAN = ["model.g_width=8", "model.d_width=8", "model.latent_dim=16", "train.batch_size=16",
              "train.num_samples=16"]
TINY_MLP = ["train.num_samples=16"]


def run_cli(*args: str, cwd: Path | None = None, timeout: float = 180) -> subprocess.CompletedProcess:
    """Run `ganforge ...` as a user would, in a real process."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.run([sys.executable, "-m", "ganforge", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=timeout, env=env)


def run_cli_here(*args: str) -> subprocess.CompletedProcess:
    """`ganforge ...` through the CLI's own entry point in this process, its output captured: for bad-input checks
    and variations of a command, where a fresh interpreter only adds its 3-6 s of imports. Each command also has a
    test that runs it in a real process (`run_cli`)."""
    import torch

    from ganforge.cli import main

    out, err, threads = io.StringIO(), io.StringIO(), torch.get_num_threads()
    with redirect_stdout(out), redirect_stderr(err):
        try:
            code = main(list(args))
        except SystemExit as exc:  # argparse's usage errors
            code = exc.code if isinstance(exc.code, int) else 1
        finally:
            torch.set_num_threads(threads)
    return subprocess.CompletedProcess(["ganforge", *args], code, out.getvalue(), err.getvalue())


def wait_for_checkpoint(proc: subprocess.Popen, run_dir: Path, min_step: int, timeout: float = 120) -> None:
    """Poll until the run has a checkpoint at min_step or later (to kill it there); fail if it ended first."""
    from ganforge.checkpoints import list_checkpoints

    deadline = time.time() + timeout
    while time.time() < deadline and proc.poll() is None:
        found = list_checkpoints(run_dir)
        if found and int(found[-1].stem.split("-")[1]) >= min_step:
            return
        time.sleep(0.02)
    pytest.fail(f"the run {'ended' if proc.poll() is not None else 'timed out'} before checkpoint {min_step}")


def kill_tree(pid: int) -> None:
    """SIGKILL a process and all its descendants (torchrun starts its workers in sessions of their own)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    doomed, queue = [], [pid]
    while queue:
        current = queue.pop()
        doomed.append(current)
        queue += children.get(current, [])
    for victim in doomed:
        try:
            os.kill(victim, signal.SIGKILL)
        except ProcessLookupError:
            pass


@pytest.fixture(autouse=True)
def run_in_tmp_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Commands that write runs/ by default write into the test's own folder, never the repo."""
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def tiny_dcgan_overrides() -> list[str]:
    return list(TINY_DCGAN)


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One short real run of the default model family on mnist-5k, shared by the sample/export tests."""
    from ganforge.training.trainer import train

    out = tmp_path_factory.mktemp("runs") / "tiny-dcgan"
    train("mnist-dcgan", out=out, overrides=[*TINY_DCGAN, "train.steps=6", "train.checkpoint_every=3",
                                             "train.sample_every=3", "train.log_every=2"], quiet=True)
    return out
