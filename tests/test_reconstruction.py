"""Reconstruction error of an encoder/generator pair, the missing-classes count, and the held-out MNIST split."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the benchmarks package lives at the repo root

from benchmarks.missing_modes import DATASET, finished, summarise  # noqa: E402
from ganforge.data import load_dataset  # noqa: E402
from ganforge.data.registry import mnist_5k_held_out, mnist_5k_split  # noqa: E402
from ganforge.errors import GanforgeError  # noqa: E402
from ganforge.inputs import GeneratorInputs, Latent, latent_only  # noqa: E402
from ganforge.metrics.extractors import build_extractor  # noqa: E402
from ganforge.metrics.reconstruction import reconstruction_error  # noqa: E402
from ganforge.metrics.scores import missing_classes  # noqa: E402

PIXELS = 28 * 28


class Flatten(nn.Module):
    """E(x) = x as a 784-d latent."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(1)


class Unflatten(nn.Module):
    """G(z) = z as a 28x28 image, times `scale`: with Flatten, G(E(x)) = scale * x."""

    def __init__(self, scale: float = 1.0) -> None:
        super().__init__()
        self.inputs, self.scale = latent_only(PIXELS), scale

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.scale * z.view(-1, 1, 28, 28)


def corner_class(images: torch.Tensor) -> np.ndarray:
    """A classifier of the top-left pixel: class = pixel % 10, as one-hot logits."""
    return np.eye(10)[(images[:, 0, 0, 0].long() % 10).numpy()]


def test_identity_pair_reconstructs_exactly_and_keeps_every_label() -> None:
    images = torch.randint(0, 256, (30, 1, 28, 28), dtype=torch.uint8)
    labels = images[:, 0, 0, 0].long() % 10
    out = reconstruction_error(Unflatten(), Flatten(), images, labels, corner_class, chunk=7)
    assert out["n"] == 30
    assert out["mse"] == 0.0
    assert out["label_agreement"] == 1.0 == out["classifier_accuracy"]
    assert out["random_mse"] > 0.5  # N(0, 1) noise, clamped by nothing, against pixels in [-1, 1]


def test_mse_matches_a_hand_computation() -> None:
    """x all white (1.0 in [-1, 1]), G(E(x)) = 0.5 x: every pixel is off by 0.5, MSE 0.25; a white x against random
    z: G(z) = 0.5 z, E[(0.5 z - 1)^2] = 0.25 + 1 = 1.25 per pixel, the sample mean within a few percent."""
    images = torch.full((50, 1, 28, 28), 255, dtype=torch.uint8)
    labels = torch.full((50,), 5)
    out = reconstruction_error(Unflatten(0.5), Flatten(), images, labels, corner_class)
    assert out["mse"] == pytest.approx(0.25, abs=1e-7)
    assert out["random_mse"] == pytest.approx(1.25, rel=0.03)
    assert out["classifier_accuracy"] == 1.0  # 255 % 10 = 5
    assert out["label_agreement"] == 0.0  # 0.5 -> uint8 191, class 1


def test_on_real_digits_with_lenet_the_identity_pair_agrees_as_often_as_lenet_is_right() -> None:
    images, labels = mnist_5k_held_out()
    images, labels = images[:200], labels[:200]
    classify = build_extractor("lenet-mnist").logits
    out = reconstruction_error(Unflatten(), Flatten(), images, labels, classify)
    assert out["mse"] == 0.0
    assert out["label_agreement"] == out["classifier_accuracy"] > 0.95
    assert out["random_agreement"] < 0.5  # noise is not a digit of the right class


def test_bad_models_and_images_are_one_line_errors() -> None:
    images, labels = torch.zeros(4, 1, 28, 28, dtype=torch.uint8), torch.zeros(4, dtype=torch.long)
    conditional = Unflatten()
    conditional.inputs = GeneratorInputs({"z": Latent(PIXELS), "w": Latent(3)})
    with pytest.raises(GanforgeError, match="one latent input"):
        reconstruction_error(conditional, Flatten(), images, labels, corner_class)
    with pytest.raises(GanforgeError, match="uint8"):
        reconstruction_error(Unflatten(), Flatten(), images.float(), labels, corner_class)
    with pytest.raises(GanforgeError, match="one class per image"):
        reconstruction_error(Unflatten(), Flatten(), images, labels[:3], corner_class)
    with pytest.raises(GanforgeError, match="model's size"):
        reconstruction_error(Unflatten(), Flatten(), torch.zeros(4, 1, 14, 14, dtype=torch.uint8), labels,
                             corner_class)


def test_missing_classes_counts_zero_classes_and_those_under_a_share() -> None:
    counts = np.array([0, 5, 100, 895, 0, 1000, 1000, 1000, 1000, 1000])  # 6,000 samples
    assert missing_classes(counts) == 2
    assert missing_classes(counts, 0.01) == 3  # 5 / 6000 < 1 %; 100 / 6000 = 1.7 % is not
    assert missing_classes(counts, 0.02) == 4
    assert missing_classes(np.full(10, 7)) == 0
    assert missing_classes(np.zeros(10)) == 10  # no samples: every class missing, at any share
    assert missing_classes(np.zeros(10), 0.5) == 10
    for bad in (-0.1, 1.0):
        with pytest.raises(GanforgeError, match="min_share"):
            missing_classes(counts, bad)
    with pytest.raises(GanforgeError, match="class counts"):
        missing_classes(np.array([3, -1]))


def test_missing_modes_summary_averages_over_seeds() -> None:
    runs = [{"preset": "a", "missing": m, "under_min_share": u, "class_kl": k, "train_cpu_s": 10.0}
            for m, u, k in ((0, 1, 0.1), (2, 3, 0.3))] + \
           [{"preset": "b", "missing": 0, "under_min_share": 0, "class_kl": 0.05, "train_cpu_s": 20.0}]
    a, b = summarise(runs, ["a", "b"])
    assert (a["runs"], a["missing"], a["missing_std"], a["under_min_share"], a["runs_missing_any"]) == (2, 1.0, 1.0,
                                                                                                       2.0, 1)
    assert a["class_kl"] == pytest.approx(0.2)
    assert (b["runs"], b["missing"], b["runs_missing_any"], b["train_cpu_s"]) == (1, 0.0, 0, 20.0)
    reused = [{**runs[0], "train_cpu_s": None}]
    assert summarise(reused, ["a"])[0]["train_cpu_s"] is None  # a run reused from --keep: its cost is not known


def test_a_kept_run_is_reused_only_when_it_is_the_same_run_and_reached_its_last_step(tmp_path: Path) -> None:
    import json

    run = tmp_path / "mnist-mrgan-seed3"
    (run / "checkpoints").mkdir(parents=True)
    config = {"preset": "mnist-mrgan", "train": {"seed": 3, "steps": 600}, "data": {"dataset": DATASET}}
    (run / "config.json").write_text(json.dumps(config))
    (run / "checkpoints" / "state-00000500.pt").write_bytes(b"")
    assert not finished(run, "mnist-mrgan", 3, 600)  # stopped at step 500
    (run / "checkpoints" / "state-00000600.pt").write_bytes(b"")
    assert finished(run, "mnist-mrgan", 3, 600)
    assert not finished(run, "mnist-mrgan", 4, 600) and not finished(run, "mnist-mrgan", 3, 700)
    assert not finished(run, "mnist-dcgan", 3, 600) and not finished(tmp_path / "absent", "mnist-mrgan", 3, 600)
    (run / "config.json").write_text(json.dumps({**config, "data": {"dataset": "mnist-5k"}}))
    assert not finished(run, "mnist-mrgan", 3, 600)  # trained on the held-out digits too


def test_mnist_4k_and_the_held_out_digits_split_mnist_5k_as_lenet_was_trained() -> None:
    train, held = mnist_5k_split()
    assert len(train) == 4000 and len(held) == 1000
    assert len(set(train.tolist()) | set(held.tolist())) == 5000  # disjoint, together every digit
    assert torch.equal(held, torch.randperm(5000, generator=torch.Generator().manual_seed(0))[:1000])
    everything = load_dataset("mnist-5k")
    train_set = load_dataset("mnist-4k")
    assert torch.equal(train_set.images, everything.images[train])
    assert torch.equal(train_set.labels, everything.labels[train])
    images, labels = mnist_5k_held_out()
    assert torch.equal(images, everything.images[held]) and torch.equal(labels, everything.labels[held])
    assert set(labels.tolist()) == set(range(10))
