"""Shared fixtures: tiny, fast configs on the built-in data (no downloads anywhere)."""

from __future__ import annotations

import os
import subprocess
import sys
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
