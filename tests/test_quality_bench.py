"""The time-to-quality benchmark's machinery on a tiny budget, and the default preset as a user first runs it."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the benchmarks package lives at the repo root

from benchmarks.common import main_for, write_result  # noqa: E402
from benchmarks.quality import Contestant, plot, race, summarise  # noqa: E402
from ganforge.cli import main  # noqa: E402
from ganforge.configure import build_config  # noqa: E402
from ganforge.errors import GanforgeError  # noqa: E402
from ganforge.presets import DEFAULT_PRESET  # noqa: E402
from ganforge.training.trainer import train  # noqa: E402

from conftest import TINY_DCGAN  # noqa: E402


class FakeClock:
    """A clock that only moves when told (in binary-exact steps, so sums are exact)."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_the_training_clock_excludes_evaluation():
    clock = FakeClock()
    generator = nn.Identity()

    def step() -> None:
        clock.now += 0.25

    def evaluate(net: nn.Module) -> dict:
        clock.now += 64.0  # far longer than the marks: counted, it would swallow every later mark
        return {"fid": 100.0, "class_kl": 0.5, "modes": 10}

    rows = race(Contestant("fake", step, lambda: generator), [1.0, 3.0], evaluate, clock)
    assert [r["steps"] for r in rows] == [4, 12]  # 1 s and 3 s of steps, whatever the evaluations took
    assert [r["train_s"] for r in rows] == [1.0, 3.0]
    assert all(r["eval_s"] == 64.0 for r in rows)
    assert clock.now == 3.0 + 2 * 64.0  # the wall went on during evaluations


def test_a_preset_stops_at_its_steps_and_later_marks_evaluate_its_final_weights():
    clock = FakeClock()

    def step() -> None:
        clock.now += 0.25

    rows = race(Contestant("short", step, nn.Identity, max_steps=5), [0.5, 8.0], lambda net: {"fid": 1.0}, clock)
    assert [r["steps"] for r in rows] == [2, 5]


def test_the_benchmark_on_a_tiny_budget(tmp_path, capsys):
    result = main_for("quality", ["--presets", DEFAULT_PRESET, "no-such-preset", "--marks", "0.05", "0.1",
                                  "--n", "32", "--textbook-width", "4", "--no-write", "--threads", "1",
                                  *[arg for item in TINY_DCGAN for arg in ("--set", item)]])
    out = capsys.readouterr().out
    assert "skipping preset 'no-such-preset'" in out and "Time to quality" in out
    rows = result["rows"]
    assert [(r["contestant"], r["mark_s"]) for r in rows] == [(DEFAULT_PRESET, 0.05), (DEFAULT_PRESET, 0.1),
                                                              ("textbook", 0.05), ("textbook", 0.1)]
    for row in rows:
        assert row["train_s"] >= row["mark_s"] and row["steps"] >= 1 and row["eval_s"] > 0
        assert row["fid"] > 0 and 0 <= row["class_kl"] and 1 <= row["modes"] <= 10
    assert set(result["summary"]) == {"reference", "reference_fid", "reference_s", DEFAULT_PRESET}
    path = write_result("quality", result, directory=tmp_path)
    assert json.loads(path.read_text())["rows"] == rows
    plot(rows, tmp_path / "plot.png")
    assert (tmp_path / "plot.png").stat().st_size > 1000


def test_32x32_contestants_are_evaluated_against_the_digits_resized_to_32():
    args = ["--presets", "mnist-msggan", "--no-textbook", "--marks", "0.05", "--n", "32", "--no-write", "--threads",
            "1", "--set", "model.g_width=2", "--set", "model.d_width=2", "--set", "train.batch_size=8"]
    with pytest.raises(GanforgeError, match="are 1x28x28 but the generated ones"):
        main_for("quality", args)
    result = main_for("quality", [*args, "--eval-set", "data.resize=true", "--eval-set", "model.resolution=32"])
    (row,) = result["rows"]
    assert row["contestant"] == "mnist-msggan" and row["steps"] >= 1 and row["fid"] > 0


def test_summary_finds_when_each_contestant_reaches_the_reference():
    rows = [{"contestant": "textbook", "train_s": t, "fid": f} for t, f in [(30, 90.0), (300, 40.0)]]
    rows += [{"contestant": "fast", "train_s": t, "fid": f} for t, f in [(30, 60.0), (60, 35.0), (300, 10.0)]]
    rows += [{"contestant": "slow", "train_s": t, "fid": f} for t, f in [(30, 95.0), (300, 41.0)]]
    summary = summarise(rows)
    assert summary["reference_fid"] == 40.0
    assert summary["fast"] == {"reached_s": 60, "fraction_of_reference": 0.2}
    assert summary["slow"] == {"reached_s": None, "fraction_of_reference": None}


def test_the_default_preset_dry_runs_and_trains_two_steps(tmp_path, capsys):
    assert main(["train", "--dry-run"]) == 0
    assert json.loads(capsys.readouterr().out)["preset"] == DEFAULT_PRESET
    assert build_config().preset == DEFAULT_PRESET
    result = train(out=tmp_path / "run", overrides=["train.steps=2", "eval.every=0"], quiet=True)
    assert result.steps == 2
    assert (tmp_path / "run" / "checkpoints" / "state-00000002.pt").is_file()
    losses = [value for key, value in result.last.items() if key.startswith("loss_")]
    assert losses and all(math.isfinite(value) for value in losses)


def test_the_ema_copies_the_generator_until_ema_start_then_averages(tmp_path):
    from ganforge.training.trainer import Trainer

    config = build_config(overrides=[*TINY_DCGAN, "train.steps=3", "train.ema_start=2", "eval.every=0"])
    trainer = Trainer(config, tmp_path / "run", progress=False, quiet=True)
    pairs = lambda: list(zip(trainer.sampling_network().parameters(), trainer.raw("G").parameters()))  # noqa: E731
    for _ in range(2):
        trainer.train_step()
        assert all(torch.equal(ema, g) for ema, g in pairs())
    trainer.train_step()
    assert not all(torch.equal(ema, g) for ema, g in pairs())
