"""DDP on CPU (gloo) through torchrun: 2 processes compute what 1 process computes with the same global batch."""

import json
import os
import socket
import subprocess
import sys

import pytest
import torch

from ganforge.checkpoints import list_checkpoints

from conftest import kill_tree, run_cli, run_cli_here, wait_for_checkpoint

LAUNCH_TIMEOUT = 240  # a hung or aborted rank must fail the test, not stall the suite


def train_cli(*args):
    try:
        return run_cli("train", *args, timeout=LAUNCH_TIMEOUT)
    except subprocess.TimeoutExpired:
        pytest.fail(f"torchrun did not finish within {LAUNCH_TIMEOUT}s (a rank hung at rendezvous or collective)")


def final_state(run):
    return torch.load(list_checkpoints(run)[-1], weights_only=True)


def losses(run):
    return [(r["step"], r["loss_d"], r["loss_g"]) for r in map(json.loads, (run / "metrics.jsonl").read_text().splitlines())]


def test_two_processes_match_one_with_the_same_global_batch(tmp_path):
    common = ["digits-mlp", "--set", "train.steps=5", "--set", "train.batch_size=64", "--set", "train.log_every=1",
              "--quiet"]
    single, double = tmp_path / "single", tmp_path / "double"
    assert train_cli(*common, "--out", str(single)).returncode == 0
    result = train_cli(*common, "--nproc", "2", "--out", str(double))
    assert result.returncode == 0, result.stderr
    a, b = final_state(single), final_state(double)
    for net in ("G", "D"):
        for key in a["nets"][net]:
            torch.testing.assert_close(b["nets"][net][key], a["nets"][net][key], rtol=1e-4, atol=1e-5,
                                       msg=f"{net}.{key}")
    # rank 0 alone writes: one line per step, one event file, one config
    assert [s for s, _, _ in losses(double)] == [1, 2, 3, 4, 5]
    assert len(list((double / "tensorboard").iterdir())) == 1
    assert len(b["rng"]) == 2, "each rank's RNG state is in the checkpoint"


def test_two_process_run_killed_and_resumed_continues_exactly(tmp_path):
    args = ["digits-mlp", "--nproc", "2", "--set", "train.steps=300", "--set", "train.log_every=1",
            "--set", "train.checkpoint_every=50", "--quiet"]
    reference, killed = tmp_path / "reference", tmp_path / "killed"
    assert train_cli(*args, "--out", str(reference)).returncode == 0

    proc = subprocess.Popen([sys.executable, "-m", "ganforge", "train", *args, "--out", str(killed)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for_checkpoint(proc, killed, 100, timeout=LAUNCH_TIMEOUT)
    kill_tree(proc.pid)  # the launcher, torchrun and both ranks
    proc.wait()
    killed_at = int(list_checkpoints(killed)[-1].stem.split("-")[1])

    result = train_cli("--resume", str(killed), "--nproc", "2", "--quiet")
    assert result.returncode == 0, result.stderr
    after = [row for row in losses(killed) if row[0] > killed_at]
    assert after == [row for row in losses(reference) if row[0] > killed_at]
    assert after[-1][0] == 300


def test_growing_networks_train_through_a_fade_in_on_two_processes(tmp_path):
    """ProGAN's G and D grow 4x4 -> 8x8 mid-run: DDP wraps them again, and the faded-out toRGB/fromRGB of the
    smaller stage (unused once alpha reaches 1) must not stall the gradient reduction."""
    run = tmp_path / "progan"
    result = train_cli("mnist-progan", "--nproc", "2", "--set", "model.resolution=8", "--set", "model.g_width=2",
                       "--set", "model.d_width=2", "--set", "model.latent_dim=8", "--set", "algorithm.stage_images=32",
                       "--set", "algorithm.fade_images=32", "--set", "train.steps=12", "--set", "train.batch_size=8",
                       "--set", "train.log_every=1", "--set", "eval.every=0", "--out", str(run), "--quiet")
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == list(range(1, 13))
    assert [r["alpha"] for r in rows if r["resolution"] == 8.0][-1] == 1.0  # stable at 8x8 after the fade-in
    assert final_state(run)["structure"] == {"G": {"stage": 1}, "D": {"stage": 1}}


def test_world_size_must_divide_the_global_batch(tmp_path):
    result = run_cli_here("train", "digits-mlp", "--nproc", "3", "--out", str(tmp_path / "r"))
    assert result.returncode == 2
    assert "train.batch_size 64 (the global batch) is not divisible by --nproc 3" in result.stderr


@pytest.mark.parametrize("setting,message", [
    ("train.backend=nccl", "train.backend is nccl but training runs on the CPU"),
    ("train.sync_batchnorm=true", "train.sync_batchnorm needs GPUs"),
])
def test_gpu_only_settings_are_refused_on_cpu(tmp_path, setting, message):
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA, so the setting is valid")
    result = train_cli("mnist-dcgan", "--nproc", "2", "--set", setting, "--set", "train.steps=2",
                       "--out", str(tmp_path / "r"))
    assert result.returncode == 2
    assert message in result.stderr
    assert result.stderr.rstrip().endswith("the first error is printed above") and "Traceback" not in result.stderr


def test_resume_with_another_world_size_warns_about_data_order(tmp_path):
    run = tmp_path / "run"
    assert train_cli("digits-mlp", "--set", "train.steps=4", "--out", str(run), "--quiet").returncode == 0
    result = train_cli("--resume", str(run), "--nproc", "2", "--set", "train.steps=6", "--quiet")
    assert result.returncode == 0, result.stderr
    assert "resuming a 1-process run with 2 process(es)" in result.stderr
    assert list_checkpoints(run)[-1].name == "state-00000006.pt"


def test_unreachable_rendezvous_is_one_line(tmp_path):
    with socket.socket() as probe:  # a port on loopback that nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = dict(os.environ, RANK="1", WORLD_SIZE="2", LOCAL_RANK="1", MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    result = subprocess.run([sys.executable, "-m", "ganforge", "train", "digits-mlp", "--set", "train.dist_timeout=2",
                             "--out", str(tmp_path / "r")], capture_output=True, text=True, env=env,
                            timeout=LAUNCH_TIMEOUT)
    assert result.returncode == 2
    assert result.stderr.startswith("error: rank 1 could not join the process group")
    assert result.stderr.count("\n") == 1


def test_two_process_ada_keeps_one_p_and_resumes_exactly(tmp_path):
    """r_t sums every rank's reals, so the ranks keep one p; each rank's ADA generator is in the checkpoint."""
    args = ["digits-mlp", "--nproc", "2", "--set", "train.log_every=1", "--set", "train.checkpoint_every=6",
            "--set", "augment.ada=true", "--set", "augment.ada_p=0.5", "--set", "augment.ada_kimg=1",
            "--set", "augment.ada_interval=2", "--quiet"]
    whole, split = tmp_path / "whole", tmp_path / "split"
    assert train_cli(*args, "--set", "train.steps=12", "--out", str(whole)).returncode == 0
    assert train_cli(*args, "--set", "train.steps=6", "--out", str(split)).returncode == 0
    assert len(final_state(split)["algorithm"]["ada"]["rng"]) == 2
    result = train_cli("--resume", str(split), "--nproc", "2", "--set", "train.steps=12", "--quiet")
    assert result.returncode == 0, result.stderr
    records = {name: [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
               for name, run in (("whole", whole), ("split", split))}
    keys = ("step", "loss_d", "loss_g", "ada_p", "ada_rt")
    assert [[r.get(k) for k in keys] for r in records["split"]] == [[r.get(k) for k in keys] for r in records["whole"]]
    assert records["whole"][-1]["ada_p"] != 0.5
