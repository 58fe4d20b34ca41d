"""`stacked-modes`: the 1,000 modes of stacked MNIST, counted as VEEGAN (Table 2) and PacGAN (Table 2) count them.

Each generated RGB image is three digits, one per channel; the digit classifier (`lenet-mnist`) classifies each
channel on its own, and the three classes make the mode (100 r + 10 g + b, the label `stacked-mnist` gives its
images). Reported: how many of the 1,000 modes at least one sample reaches, and KL(mode histogram || uniform), with
the KL of the `modes` metric, over as many samples as `--n` (the papers: 25,600 and 26,000).

With a finite sample even a perfect generator is not at KL 0: n samples spread uniformly over K modes leave
E[KL] ~ (K - 1) / (2 n), about 0.019 for 26,000 samples over 1,000 modes.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ..errors import GanforgeError
from .conditional import GENERATOR_METRICS, GeneratorProbe
from .extractors import DATASET_EVALUATION, DatasetEvaluation, Extractor
from .scores import class_kl_to_uniform

STACKED_MODES = 1000
DIGIT_CLASSES = 10


def stacked_mode_histogram(images: torch.Tensor, classifier: Extractor) -> np.ndarray:
    """How many of the uint8 images (N, 3, H, W) fall in each of the 1,000 digit triples, channel by channel."""
    if images.ndim != 4 or images.shape[1] != 3:
        raise GanforgeError(f"stacked-modes counts RGB images (N, 3, H, W), one digit per channel, got "
                            f"{tuple(images.shape)}; train on stacked-mnist with model.channels=3")
    if classifier.num_classes != DIGIT_CLASSES or classifier.channels != 1:
        raise GanforgeError(f"stacked-modes classifies each channel with a gray 10-class digit classifier, not "
                            f"'{classifier.name}'; use --extractor lenet-mnist")
    modes = np.zeros(len(images), dtype=np.int64)
    for channel, place in enumerate((100, 10, 1)):
        modes += place * classifier.logits(images[:, channel:channel + 1].contiguous()).argmax(axis=1)
    return np.bincount(modes, minlength=STACKED_MODES)


def stacked_mode_scores(counts: np.ndarray) -> dict[str, Any]:
    """Modes covered (reached at least once) and KL(histogram || uniform over 1,000) in nats, with the counts."""
    return {"stacked_modes": int((counts > 0).sum()), "stacked_kl": class_kl_to_uniform(counts),
            "stacked_counts": [int(c) for c in counts]}


@GENERATOR_METRICS.register("stacked-modes", help="stacked MNIST: digit triples (of 1,000) generated at least once, "
                                                  "KL(triple histogram || uniform); extractor lenet-mnist")
def stacked_modes(probe: GeneratorProbe) -> dict[str, Any]:
    return stacked_mode_scores(stacked_mode_histogram(probe.images(probe.n), probe.extractor))


DATASET_EVALUATION.add("stacked-mnist", DatasetEvaluation("lenet-mnist", ("stacked-modes",)),
                       help="stacked MNIST runs: modes and KL of their digit triples by lenet-mnist")
