"""The mode-collapse lab: coverage metrics on hand-made samples, and `ganforge lab` end to end."""

from __future__ import annotations

import json

import pytest
import torch

from conftest import run_cli, run_cli_here
from ganforge.lab import TOY_DATASETS, mode_coverage, train_toy


def test_ring_and_grid_geometry():
    ring, grid = TOY_DATASETS.get("ring8"), TOY_DATASETS.get("grid25")
    assert torch.allclose(ring.centres.norm(dim=1), torch.full((8,), 2.0))
    assert ring.std == 0.02 and grid.std == 0.05 and len(grid.centres) == 25
    assert grid.centres.min() == -4 and grid.centres.max() == 4
    samples = ring.sample(4000, torch.Generator().manual_seed(0))
    coverage = mode_coverage(samples, ring)
    assert coverage.modes == 8 and coverage.high_quality > 0.99  # real data scores as the papers' ideal


def test_coverage_of_all_modes_one_mode_and_noise():
    ring = TOY_DATASETS.get("ring8")
    all_modes = ring.centres.repeat(2500 // 8 + 1, 1)[:2500]
    coverage = mode_coverage(all_modes, ring)
    assert coverage.modes == 8 and coverage.high_quality == 1.0 and sum(coverage.per_mode) == 2500

    one_mode = ring.centres[3].repeat(2500, 1) + 0.01
    coverage = mode_coverage(one_mode, ring)
    assert coverage.modes == 1 and coverage.high_quality == 1.0 and coverage.per_mode[3] == 2500

    far = torch.full((2500, 2), 10.0)
    coverage = mode_coverage(far, ring)
    assert coverage.modes == 0 and coverage.high_quality == 0.0


def test_capture_threshold_is_twenty_samples_within_three_std():
    ring = TOY_DATASETS.get("ring8")
    inside = ring.centres[0] + torch.tensor([0.059, 0.0])  # just inside 3 std (0.06)
    outside = ring.centres[1] + torch.tensor([0.061, 0.0])
    samples = torch.cat([inside.repeat(19, 1), outside.repeat(100, 1), ring.centres[2].repeat(20, 1)])
    coverage = mode_coverage(samples, ring)
    assert coverage.per_mode[:3] == [19, 0, 20] and coverage.modes == 1


def test_train_toy_runs_the_shared_algorithms():
    outcome = train_toy("pacgan", "ring8", seed=0, steps=5, snapshots=2)
    assert outcome.coverage is not None and len(outcome.snapshots) == 2
    assert len(outcome.snapshots[0][1]) == 500


def test_lab_cli_end_to_end(tmp_path):
    out = tmp_path / "lab"
    result = run_cli("lab", "ring8", "--algorithms", "gan,unrolled", "--seeds", "2", "--steps", "6",
                     "--set", "train.batch_size=64", "--out", str(out))
    assert result.returncode == 0, result.stderr
    table = json.loads((out / "lab.json").read_text())["table"]
    assert [row["algorithm"] for row in table] == ["gan", "unrolled"]
    assert all(row["seeds"] == 2 and len(row["runs"]) == 2 and row["modes_mean"] is not None for row in table)
    assert (out / "ring8-samples.png").stat().st_size > 1000
    assert "| ring8 | unrolled |" in result.stdout and "| ring8 | unrolled |" in (out / "lab.md").read_text()


@pytest.mark.parametrize("args, message", [
    (["ring9"], "unknown lab dataset 'ring9'"),
    (["ring8", "--algorithms", "gan,bogus"], "unknown lab algorithm 'bogus'"),
    (["ring8", "--seeds", "0"], "--seeds must be >= 1"),
    (["ring8", "--set", "model.pack=3"], "model.pack=3 does not divide train.batch_size="),
    ([], "name a lab dataset"),
])
def test_lab_bad_input(tmp_path, args, message):
    result = run_cli_here("lab", *args, "--out", str(tmp_path / "lab"))
    assert result.returncode == 2 and message in result.stderr and result.stderr.startswith("error:")
    assert not (tmp_path / "lab").exists()


def test_every_recipe_trains_a_few_steps():
    from ganforge.lab.recipes import RECIPES

    for name in RECIPES.names():
        outcome = train_toy(name, "ring8", seed=0, steps=3, snapshots=0)
        assert outcome.failure is None and outcome.coverage.total_modes == 8, name
