"""Metrics that drive a generator's declared inputs: class fidelity, intra-class FID and InfoGAN's code accuracy.

Feature metrics (`METRICS`) compare two image sets; these ask the generator for images of a given class or code
first, so they need the generator itself (`GeneratorProbe`), not only its samples:

- `class-fidelity`: for every class c, the share of images generated for c that the extractor's classifier
  (lenet-mnist for digits) assigns to c; averaged over classes (per class in `class_fidelity_per_class`).
- `intra-fid`: the FID of each class's generated images against that class's real images, averaged over classes,
  as PyTorch-StudioGAN reports it (per class in `intra_fid_per_class`).
- `code-accuracy`: InfoGAN's categorical code used as a classifier: images for each category, classified, the
  categories matched one-to-one to classes (Hungarian assignment maximising agreements), and the share of images
  whose class is their category's match (the InfoGAN paper reports 5 % error on MNIST).

Each class or category gets n // (classes) images from the same seed, so they share their noise.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from ..errors import GanforgeError
from ..inputs import CategoricalCode, ClassLabel
from ..registry import Registry
from .extractors import Extractor
from .scores import frechet_distance, mean_and_covariance


@dataclass
class GeneratorProbe:
    """A generator to question, the extractor that judges its images, how many images, and the real data."""

    generator: nn.Module
    extractor: Extractor
    n: int
    seed: int
    device: torch.device
    real: Callable[[], tuple[torch.Tensor, torch.Tensor | None]]  # (uint8 images, labels or None), on demand
    truncation: float | None = None
    settings: dict[str, Any] = field(default_factory=dict)  # per metric name, its options (ppl: PPLSettings)

    def images(self, n: int, **fixed: Any) -> torch.Tensor:
        from .evaluate import generated_batches

        return torch.cat(list(generated_batches(self.generator, n, self.seed, self.device,
                                                truncation=self.truncation, fixed=fixed)))

    def one_input(self, kind: type, metric: str, what: str) -> tuple[str, int]:
        """The generator's input of `kind` (its name and count), or one line saying the metric cannot apply."""
        found = self.generator.inputs.of_kind(kind)
        if not found:
            raise GanforgeError(f"metric '{metric}' needs {what}, but this generator's inputs are "
                                f"{', '.join(self.generator.inputs)}; drop '{metric}' from the metrics")
        name, spec = next(iter(found.items()))
        return name, spec.count

    def classify(self, images: torch.Tensor, metric: str, classes: int | None = None) -> np.ndarray:
        """Class predictions of the extractor's classifier (of `classes` classes when given)."""
        if self.extractor.num_classes is None or (classes is not None and self.extractor.num_classes != classes):
            raise GanforgeError(f"metric '{metric}' classifies with the extractor's logits, but {self.extractor.name} "
                                f"has {self.extractor.num_classes or 'no'} classes for the model's {classes}; use "
                                f"--extractor lenet-mnist for 10-class digits")
        return self.extractor.logits(images).argmax(axis=1)


GENERATOR_METRICS: Registry[Callable[[GeneratorProbe], dict[str, Any]]] = Registry("generator metric")


@GENERATOR_METRICS.register("class-fidelity", help="conditional models: share of images classified as the class "
                                                   "they were generated for (higher is better)")
def class_fidelity(probe: GeneratorProbe) -> dict[str, Any]:
    name, classes = probe.one_input(ClassLabel, "class-fidelity", "a class label")
    per_class = max(2, probe.n // classes)
    shares = [float((probe.classify(probe.images(per_class, **{name: c}), "class-fidelity", classes) == c).mean())
              for c in range(classes)]
    return {"class_fidelity": float(np.mean(shares)), "class_fidelity_per_class": shares}


@GENERATOR_METRICS.register("intra-fid", help="conditional models: FID per class against that class's real images, "
                                              "averaged (lower is better)")
def intra_class_fid(probe: GeneratorProbe) -> dict[str, Any]:
    name, classes = probe.one_input(ClassLabel, "intra-fid", "a class label")
    images, labels = probe.real()
    if labels is None:
        raise GanforgeError("metric 'intra-fid' compares each class with its real images, but the real dataset has "
                            "no labels; evaluate on a labelled dataset (--dataset)")
    per_class = max(2, probe.n // classes)
    values = []
    for c in range(classes):
        real = images[labels == c][:per_class]
        if len(real) < 2:
            raise GanforgeError(f"metric 'intra-fid': the real dataset has {len(real)} image(s) of class {c}; it needs "
                                f"at least 2 per class")
        real_stats = mean_and_covariance(probe.extractor.features(real), f"real class {c}")
        fake_stats = mean_and_covariance(probe.extractor.features(probe.images(per_class, **{name: c})),
                                         f"generated class {c}")
        values.append(frechet_distance(*real_stats, *fake_stats))
    return {"intra_fid": float(np.mean(values)), "intra_fid_per_class": values}


def matched_accuracy(categories: np.ndarray, predictions: np.ndarray, classes: int) -> tuple[float, list[int]]:
    """Best one-to-one assignment of categories to classes (Hungarian, maximising agreements) and its accuracy."""
    from scipy.optimize import linear_sum_assignment

    count = int(categories.max()) + 1
    agreement = np.zeros((count, classes), dtype=np.int64)
    np.add.at(agreement, (categories, predictions), 1)
    rows, cols = linear_sum_assignment(agreement, maximize=True)
    assignment = [-1] * count
    for row, col in zip(rows, cols):
        assignment[row] = int(col)
    return float(agreement[rows, cols].sum() / len(categories)), assignment


@GENERATOR_METRICS.register("code-accuracy", help="InfoGAN: the categorical code as a classifier, categories matched "
                                                  "to classes one-to-one (higher is better)")
def code_accuracy(probe: GeneratorProbe) -> dict[str, Any]:
    name, categories = probe.one_input(CategoricalCode, "code-accuracy", "a categorical code")
    per_category = max(2, probe.n // categories)
    codes, predictions = [], []
    for k in range(categories):
        predictions.append(probe.classify(probe.images(per_category, **{name: k}), "code-accuracy"))
        codes.append(np.full(per_category, k))
    accuracy, assignment = matched_accuracy(np.concatenate(codes), np.concatenate(predictions),
                                            probe.extractor.num_classes)
    return {"code_accuracy": accuracy, "code_assignment": assignment}
