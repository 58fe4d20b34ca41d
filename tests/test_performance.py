"""The speed switches (train.channels_last, train.compile, train.threads, optim.fused) and the joint D forward change
how, never what, is computed."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from ganforge.configure import build_config
from ganforge.training import performance
from ganforge.training.trainer import Trainer, train

from conftest import TINY_DCGAN, run_cli, run_cli_here

REPO = Path(__file__).resolve().parents[1]
TINY = [*TINY_DCGAN, "train.ema=false", "train.steps=4"]


def losses(trainer: Trainer, steps: int) -> list[dict[str, float]]:
    return [{k: float(v) for k, v in trainer.train_step().items()} for _ in range(steps)]


def trainer_with(tmp_path: Path, name: str, *overrides: str) -> Trainer:
    return Trainer(build_config("mnist-dcgan", overrides=[*TINY, *overrides]), tmp_path / name, quiet=True)


def test_channels_last_trains_the_same_numbers_in_nhwc(tmp_path):
    default = trainer_with(tmp_path, "nchw")
    nhwc = trainer_with(tmp_path, "nhwc", "train.channels_last=true")
    conv_weights = [p for p in nhwc.nets["G"].parameters() if p.dim() == 4]
    assert conv_weights and all(p.is_contiguous(memory_format=torch.channels_last) for p in conv_weights)
    assert not all(p.is_contiguous() for p in conv_weights)
    for a, b in zip(losses(default, 4), losses(nhwc, 4)):
        assert b == pytest.approx(a, rel=1e-5)


@pytest.mark.parametrize("preset, overrides, joint", [
    ("mnist-mlp", [], True),
    ("mnist-mlp", ["model.pack=2"], True),  # one logit per pack: the split follows the packs
    ("mnist-dcgan", TINY, False),  # BatchNorm mixes the batch: the textbook's two forwards
    ("mnist-hinge", TINY, False),  # spectral norm's power iteration runs once per forward
])
def test_one_d_forward_over_both_batches_gives_the_separate_logits(tmp_path, preset, overrides, joint):
    trainer = Trainer(build_config(preset, overrides=list(overrides)), tmp_path / "run", quiet=True)
    algorithm = trainer.family
    assert algorithm.joint_forward is joint
    torch.manual_seed(0)
    real, fake = torch.rand(2, 8, 1, 28, 28) * 2 - 1
    trainer.nets["D"].eval()  # the same BatchNorm/SN state for both ways of scoring
    with torch.no_grad():
        together = algorithm.score_real_and_fake(real, fake, {}, {})
        apart = trainer.nets["D"](real), trainer.nets["D"](fake)
    for a, b in zip(together, apart):
        assert a.shape == b.shape and torch.allclose(a, b, rtol=1e-5, atol=1e-6)


def test_fused_and_foreach_adam_train_the_same_numbers(tmp_path):
    def run(name: str, fused: str) -> list[dict[str, float]]:
        trainer = Trainer(build_config("mnist-mlp", overrides=["train.steps=5", f"optim.fused={fused}"]),
                          tmp_path / name, quiet=True)
        return losses(trainer, 5)

    for a, b in zip(run("foreach", "false"), run("fused", "true")):
        assert b == pytest.approx(a, rel=1e-5)


def test_direct_fused_adam_step_equals_torch_fused_adam_bit_for_bit():
    """Including a channels-last conv weight, stepped through NHWC views of it and its gradient and moments."""
    from ganforge.training.optim import FusedAdam

    def net() -> torch.nn.Sequential:
        return torch.nn.Sequential(torch.nn.Conv2d(2, 3, 3).to(memory_format=torch.channels_last),
                                   torch.nn.Flatten(), torch.nn.Linear(12, 5), torch.nn.Linear(5, 2))

    torch.manual_seed(0)
    ours, stock = net(), net()
    stock.load_state_dict(ours.state_dict())
    assert not ours[0].weight.is_contiguous()
    opt_ours = FusedAdam(ours.parameters(), lr=1e-2, betas=(0.5, 0.9), weight_decay=1e-3)
    opt_stock = torch.optim.Adam(stock.parameters(), lr=1e-2, betas=(0.5, 0.9), weight_decay=1e-3, fused=True)
    x = torch.randn(8, 2, 4, 4)
    for step in range(6):
        for net, opt in ((ours, opt_ours), (stock, opt_stock)):
            opt.zero_grad(set_to_none=True)
            out = net(x) if step != 3 else net[:3](x)  # step 3: the last layer gets no gradient and must not move
            out.square().mean().backward()
            for group in opt.param_groups:
                group["lr"] = 1e-2 / (step + 1)
            opt.step()
        for a, b in zip(ours.parameters(), stock.parameters()):
            assert torch.equal(a, b)
    assert all(torch.equal(opt_ours.state[a]["exp_avg_sq"], opt_stock.state[b]["exp_avg_sq"])
               for a, b in zip(ours.parameters(), stock.parameters()))


def test_fused_adam_pairs_a_gradient_laid_out_unlike_its_weight_correctly():
    """A user-assigned NCHW gradient for a channels-last weight: torch's fused CPU kernel pairs elements in memory
    order (measured wrong by 0.4 after two steps); FusedAdam matches the for-loop Adam."""
    from ganforge.training.optim import FusedAdam

    torch.manual_seed(0)
    ours = torch.randn(3, 2, 3, 3).contiguous(memory_format=torch.channels_last).requires_grad_()
    reference = ours.detach().clone().contiguous(memory_format=torch.channels_last).requires_grad_()
    opt_ours = FusedAdam([ours], lr=0.1, betas=(0.9, 0.999), weight_decay=0.0)
    opt_reference = torch.optim.Adam([reference], lr=0.1, foreach=False)
    for _ in range(3):
        grad = torch.randn(3, 2, 3, 3)  # NCHW
        ours.grad, reference.grad = grad.clone(), grad.clone()
        opt_ours.step()
        opt_reference.step()
    assert torch.allclose(ours, reference, atol=1e-6)


def test_fused_adam_runs_step_hooks_closures_and_profiler_scopes_like_torch():
    """FusedAdam skips torch's step wrapper only while nothing would notice: hooks, closures and profilers see it."""
    from torch.profiler import profile

    from ganforge.training.optim import FusedAdam

    net = torch.nn.Linear(3, 1)
    opt = FusedAdam(net.parameters(), lr=0.1, betas=(0.5, 0.9), weight_decay=0.0)
    calls: list[str] = []
    opt.register_step_pre_hook(lambda *_: calls.append("pre"))
    opt.register_step_post_hook(lambda *_: calls.append("post"))

    def closure() -> float:
        opt.zero_grad()
        loss = net(torch.ones(2, 3)).sum()
        loss.backward()
        return float(loss.detach())

    before = net.weight.detach().clone()
    first_loss = float(net(torch.ones(2, 3)).sum().detach())
    assert opt.step(closure) == first_loss  # the closure's loss, computed before the update
    closure()
    opt.step()  # state exists now: the direct kernel call, still inside the hooks
    assert calls == ["pre", "post", "pre", "post"] and not torch.equal(before, net.weight)
    closure()
    with profile() as prof:
        opt.step()
    assert any(e.name == "Optimizer.step#FusedAdam.step" for e in prof.events())


def test_channels_last_is_the_default_for_convolutional_nets_only(tmp_path):
    conv = Trainer(build_config("mnist-dcgan", overrides=TINY), tmp_path / "conv", quiet=True)
    assert conv.memory_format == torch.channels_last
    weight = next(p for p in conv.nets["D"].parameters() if p.dim() == 4 and p.shape[1] > 1)
    assert weight.is_contiguous(memory_format=torch.channels_last) and not weight.is_contiguous()
    dense = Trainer(build_config("digits-mlp", overrides=["train.steps=1"]), tmp_path / "dense", quiet=True)
    assert dense.memory_format == torch.contiguous_format and dense.stream.tensors["image"].is_contiguous()


def test_channels_last_run_resumes_exactly(tmp_path):
    settings = [*TINY, "train.channels_last=true", "train.log_every=1", "train.checkpoint_every=2"]
    train("mnist-dcgan", out=tmp_path / "whole", overrides=settings, quiet=True)
    train("mnist-dcgan", out=tmp_path / "split", overrides=[*settings, "train.steps=2"], quiet=True)
    train(resume=tmp_path / "split", overrides=["train.steps=4"], quiet=True)
    logged = [[json.loads(line) for line in (tmp_path / run / "metrics.jsonl").read_text().splitlines()]
              for run in ("whole", "split")]
    keys = ("step", "loss_d", "loss_g", "d_real", "d_fake")
    assert [[r[k] for k in keys] for r in logged[0]] == [[r[k] for k in keys] for r in logged[1]]


def _compile_raises(*args, **kwargs):
    raise RuntimeError("Dynamo is not supported on this Python\nsecond line of detail")


def _compile_returns_a_failing_call(fn, *args, **kwargs):
    def compiled(*a, **k):
        raise OSError("C++ compiler not found")

    return compiled


@pytest.mark.parametrize("broken_compile", [_compile_raises, _compile_returns_a_failing_call])
def test_compile_failure_falls_back_to_eager_with_one_warning(tmp_path, monkeypatch, caplog, broken_compile):
    eager = trainer_with(tmp_path, "eager")
    monkeypatch.setattr(torch, "compile", broken_compile)
    with caplog.at_level(logging.WARNING, logger="ganforge"):
        fallback = trainer_with(tmp_path, "fallback", "train.compile=true")
    warnings = [r.getMessage() for r in caplog.records if "train.compile" in r.getMessage()]
    assert len(warnings) == 2 and all("\n" not in w and "training it eagerly instead" in w for w in warnings)
    assert fallback.nets["G"]._compiled_call_impl is None and fallback.nets["D"]._compiled_call_impl is None
    # the failed warm-up left weights, BatchNorm statistics and gradients as an eager run has them
    for a, b in ((eager.nets["G"], fallback.nets["G"]), (eager.nets["D"], fallback.nets["D"])):
        assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))
        assert all(p.grad is None for p in b.parameters())
    assert losses(eager, 3) == losses(fallback, 3)


def test_threads_setting_is_applied_and_validated(tmp_path):
    before = torch.get_num_threads()
    try:
        trainer_with(tmp_path, "one-thread", "train.threads=1")
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
    result = run_cli_here("train", "--set", "train.threads=-1", "--dry-run")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == ["error: train.threads must be >= 0 (0 = PyTorch's default), got -1"]


def test_cli_trains_with_the_speed_switches(tmp_path):
    args = ["train", "mnist-dcgan", "--out", str(tmp_path / "run"), "--quiet"]
    for setting in [*TINY, "train.channels_last=true", "train.threads=1", "train.steps=2"]:
        args += ["--set", setting]
    result = run_cli(*args)
    assert result.returncode == 0, result.stderr
    assert json.loads((tmp_path / "run" / "config.json").read_text())["train"]["channels_last"] is True


@pytest.mark.slow
def test_compiled_training_matches_eager(tmp_path):
    eager = trainer_with(tmp_path, "eager")
    compiled = trainer_with(tmp_path, "compiled", "train.compile=true")
    assert compiled.compile_seconds > 0 and compiled.nets["G"]._compiled_call_impl is not None
    for a, b in zip(losses(eager, 4), losses(compiled, 4)):
        assert b == pytest.approx(a, rel=1e-4)


@pytest.mark.slow
@pytest.mark.parametrize("name, mode", [("train_step", []), ("train_step", ["--layers"]), ("mlp_epoch", []),
                                        ("sample", []), ("scaling", [])])
def test_benchmark_runs_in_quick_mode(name, mode):
    result = subprocess.run([sys.executable, "-m", f"benchmarks.{name}", *mode, "--quick", "--no-write", "--reps", "1"],
                            cwd=REPO, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "| " in result.stdout  # the results table


def test_compile_networks_restores_state_and_reports_time(monkeypatch):
    """The warm-up runs real forward/backward passes; afterwards the network is exactly as before."""
    monkeypatch.setattr(torch, "compile", lambda fn, *a, **k: fn)  # an identity 'compiler': eager semantics
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.BatchNorm2d(4))
    before = {k: v.clone() for k, v in net.state_dict().items()}
    rng_before = torch.get_rng_state()
    seconds = performance.compile_networks([performance.CompileTarget("net", net, torch.ones(2, 1, 5, 5),
                                                                      scored_frozen=True)])
    assert seconds >= 0
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())
    assert all(p.grad is None and p.requires_grad for p in net.parameters())
    assert torch.equal(torch.get_rng_state(), rng_before)
