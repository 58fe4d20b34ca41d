"""Stacked MNIST: the dataset, the 1,000-mode counter on constructed samples, and the lab and eval end to end."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from ganforge.cli import main
from ganforge.data import load_dataset
from ganforge.errors import GanforgeError
from ganforge.lab.stacked import EVAL_SEED, STACKED_RECIPES, train_stacked
from ganforge.metrics.extractors import ExtractorOptions, build_extractor
from ganforge.metrics.stacked import stacked_mode_histogram, stacked_mode_scores

TINY = ["--set", "model.g_width=8", "--set", "model.d_width=8", "--set", "train.batch_size=8",
        "--set", "eval.n=200"]


@pytest.fixture(scope="module")
def stacked():
    return load_dataset("stacked-mnist")


@pytest.fixture(scope="module")
def lenet():
    return build_extractor("lenet-mnist", ExtractorOptions(device="cpu"))


def test_dataset_shape_keys_balance_and_determinism(stacked):
    assert stacked.images.shape == (30000, 3, 28, 28) and stacked.images.dtype == torch.uint8
    assert stacked.keys() == ("image", "label") and stacked.num_classes == 1000
    assert torch.equal(torch.bincount(stacked.labels, minlength=1000), torch.full((1000,), 30))
    again = load_dataset("stacked-mnist")
    assert torch.equal(again.images, stacked.images) and torch.equal(again.labels, stacked.labels)
    digits = load_dataset("mnist-5k")
    flat = digits.images[:, 0].reshape(len(digits), -1)
    for row in range(5):  # each channel is a built-in digit of the class the label's place names
        for channel, place in enumerate((100, 10, 1)):
            found = (flat == stacked.images[row, channel].reshape(1, -1)).all(dim=1).nonzero().flatten()
            assert len(found) and int(digits.labels[found[0]]) == int(stacked.labels[row]) // place % 10


def test_scores_of_histograms_uniform_one_mode_and_finite_samples():
    uniform = stacked_mode_scores(np.full(1000, 26))
    assert uniform["stacked_modes"] == 1000 and uniform["stacked_kl"] == pytest.approx(0.0, abs=1e-12)
    one = stacked_mode_scores(np.bincount([417] * 26000, minlength=1000))
    assert one["stacked_modes"] == 1 and one["stacked_kl"] == pytest.approx(math.log(1000))
    # a perfect generator sampled 26,000 times: E[KL] ~ (K - 1) / (2n) = 0.0192, not 0
    drawn = np.random.default_rng(0).integers(0, 1000, 26000)
    assert stacked_mode_scores(np.bincount(drawn, minlength=1000))["stacked_kl"] == pytest.approx(
        999 / (2 * 26000), rel=0.15)


def test_real_stacked_digits_cover_all_thousand_modes(stacked, lenet):
    first_two = torch.cat([torch.nonzero(stacked.labels == mode).flatten()[:2] for mode in range(1000)])
    counts = stacked_mode_histogram(stacked.images[first_two], lenet)
    scores = stacked_mode_scores(counts)
    # exactly 2 images of each triple: KL 0 with a perfect classifier; lenet misreads a few of the 6,000 digits
    assert counts.sum() == 2000 and scores["stacked_modes"] == 1000 and scores["stacked_kl"] < 0.01


def test_one_repeated_image_is_one_mode(stacked, lenet):
    counts = stacked_mode_histogram(stacked.images[:1].repeat(300, 1, 1, 1), lenet)
    scores = stacked_mode_scores(counts)
    assert scores["stacked_modes"] == 1 and counts[int(stacked.labels[0])] == 300
    assert scores["stacked_kl"] == pytest.approx(math.log(1000))


def test_counter_refuses_gray_images_and_non_digit_extractors(stacked, lenet):
    with pytest.raises(GanforgeError, match="model.channels=3"):
        stacked_mode_histogram(stacked.images[:4, :1], lenet)
    with pytest.raises(GanforgeError, match="--extractor lenet-mnist"):
        stacked_mode_histogram(stacked.images[:4], build_extractor("random-conv"))


def test_lab_and_eval_on_stacked_mnist_through_the_cli(tmp_path, capsys):
    out = tmp_path / "lab"
    assert main(["lab", "stacked-mnist", "--algorithms", "stacked-dcgan", "--seeds", "1", "--steps", "2",
                 "--workers", "1", "--out", str(out), *TINY]) == 0
    row = json.loads((out / "lab.json").read_text())["table"][0]
    assert row["algorithm"] == "stacked-dcgan" and row["steps"] == 2 and row["eval_samples"] == 200
    assert 1 <= row["modes_mean"] <= 200 and len(row["runs"][0]["counts"]) == 1000
    assert "| stacked-mnist | stacked-dcgan |" in (out / "lab.md").read_text()
    assert "PacDCGAN2 | 1000 | 0.06" in (out / "lab.md").read_text()
    assert (out / "stacked-mnist-samples.png").stat().st_size > 0

    # the lab's run is an ordinary run: `ganforge eval` judges it by the dataset's own default (lenet-mnist,
    # stacked-modes) and, on the lab's evaluation noise, counts exactly what the lab counted
    run = out / "runs" / "stacked-dcgan-seed0"
    assert main(["eval", str(run), "--n", "200", "--seed", str(EVAL_SEED), "--out", str(tmp_path / "eval.json")]) == 0
    values = json.loads((tmp_path / "eval.json").read_text())["metrics"]
    assert values["stacked_counts"] == row["runs"][0]["counts"] and "fid" not in values
    assert json.loads((run / "stacked-modes.json").read_text())["stacked_counts"] == values["stacked_counts"]
    assert values["stacked_kl"] == pytest.approx(row["runs"][0]["kl"], abs=1e-4)


def test_lab_refuses_a_2d_recipe_on_stacked_mnist_and_back(tmp_path, capsys):
    assert main(["lab", "stacked-mnist", "--algorithms", "gan", "--out", str(tmp_path / "lab")]) == 2
    assert "unknown stacked-MNIST lab algorithm 'gan'" in capsys.readouterr().err
    assert main(["lab", "ring8", "--algorithms", "stacked-dcgan", "--out", str(tmp_path / "lab")]) == 2
    assert "unknown lab algorithm 'stacked-dcgan'" in capsys.readouterr().err
    assert not (tmp_path / "lab").exists()


@pytest.mark.parametrize("recipe", STACKED_RECIPES.names())
def test_every_stacked_recipe_trains_a_few_steps_and_is_counted(tmp_path, recipe):
    outcome = train_stacked(recipe, "stacked-mnist", seed=0, steps=2,
                            overrides=["model.g_width=8", "model.d_width=8", "train.batch_size=8", "eval.n=64"],
                            snapshots=0, out=str(tmp_path))
    assert outcome.failure is None and outcome.steps == 2, recipe
    assert sum(outcome.coverage.counts) == 64 and 1 <= outcome.coverage.modes <= 64
