"""Perceptual path length (PPL; Karras et al. 2019, StyleGAN section 4.2): how much the images change along small
steps of a latent path, where a smooth, disentangled latent space gives short paths.

For pairs of latents, a point at t on the path between them and one at t + epsilon (epsilon 1e-4) are both
rendered, and the distance of their images is the squared L2 distance of the configured extractor's features, each
normalised to unit length (the LPIPS-like perceptual distance), divided by epsilon^2. In z the path is spherical
(slerp), in w linear (lerp), which needs a mapping network (`style.has_mapping`). `end` sampling takes t = 0 (the
path's end points, as StyleGAN2 reports it), `full` t uniform in [0, 1]. As stylegan2-ada-pytorch's metric does,
the distances below the 1st percentile (lower) and above the 99th (higher) are dropped before the mean.

Images are rendered in float and fed to the extractor without 8-bit rounding (an epsilon step changes a pixel by far
less than a grey level), with the generator's fixed noise (eval mode), so the same seed gives the same value.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from .. import limits
from ..errors import GanforgeError
from ..inputs import Latent
from ..registry import Registry
from ..sampling import seeded_inputs, slerp
from ..style import has_mapping, style_generator
from .conditional import GENERATOR_METRICS, GeneratorProbe
from .extractors import Extractor

Tensor = torch.Tensor
PathFunction = Callable[[nn.Module, dict[str, Tensor], dict[str, Tensor], Tensor], Tensor]
PATH_SPACES: Registry[PathFunction] = Registry("PPL space")
SAMPLINGS = ("end", "full")
BATCH = 100  # pairs per batch: 200 images through the generator and the extractor


@dataclass(frozen=True)
class PPLSettings:
    """The metric's options: the space of the path, where on it, the step, how many pairs (None: the probe's n)."""

    space: str = "z"
    sampling: str = "end"
    epsilon: float = 1e-4
    samples: int | None = None

    def check(self) -> "PPLSettings":
        PATH_SPACES.get(self.space)
        if self.sampling not in SAMPLINGS:
            raise GanforgeError(f"unknown PPL sampling '{self.sampling}'; choose from: {', '.join(SAMPLINGS)} (end: "
                                f"t = 0, full: t uniform in [0, 1])")
        if not 0 < self.epsilon <= 0.1:
            raise GanforgeError(f"the PPL epsilon must be in (0, 0.1], got {self.epsilon} (the paper's is 1e-4)")
        if self.samples is not None:
            limits.check_count("the PPL samples", self.samples, limits.EVAL, low=2)
        return self


def render(generator: nn.Module, inputs: dict[str, Tensor]) -> Tensor:
    """Float images of the inputs: through ws and synthesis when there is a mapping network (unclamped, as the
    reference renders them), else the generator's own forward."""
    if has_mapping(generator):
        return generator.synthesis(generator.ws(**inputs))
    return generator(**inputs)


@PATH_SPACES.register("z", help="spherical interpolation between two latents (every generator)")
def z_path(generator: nn.Module, start: dict[str, Tensor], end: dict[str, Tensor], t: Tensor) -> Tensor:
    """Images at t on the slerp from each start latent to its end latent (the other inputs are the start's)."""
    inputs = dict(start)
    for name in generator.inputs.of_kind(Latent):
        inputs[name] = slerp(start[name], end[name], t)
    return render(generator, inputs)


@PATH_SPACES.register("w", help="linear interpolation between two w (models with a mapping network)")
def w_path(generator: nn.Module, start: dict[str, Tensor], end: dict[str, Tensor], t: Tensor) -> Tensor:
    """Images at t on the lerp from each start's w (per layer) to its end's."""
    style_generator(generator, "PPL in w (--ppl-space w)")
    first, last = generator.ws(**start), generator.ws(**end)
    ws = torch.lerp(first, last, t.view(-1, 1, 1).to(first.dtype))
    return generator.synthesis(ws)


def perceptual_distance(extractor: Extractor, a: Tensor, b: Tensor) -> Tensor:
    """Per image pair: the squared L2 distance of the extractor's features, each normalised to unit length."""
    fa, fb = (nn.functional.normalize(extractor.differentiable_features(x).flatten(1), dim=1) for x in (a, b))
    return (fa - fb).square().sum(dim=1)


def path_distances(generator: nn.Module, extractor: Extractor, n: int, seed: int, settings: PPLSettings,
                   truncation: float | None = None) -> np.ndarray:
    """The n pairs' distances / epsilon^2, before the percentile filtering (float64)."""
    settings.check()
    path = PATH_SPACES.get(settings.space)
    device = next(generator.parameters()).device
    values = seeded_inputs(generator.inputs, 2 * n, seed, truncation)
    full = settings.sampling == "full"
    t = torch.rand(n, generator=torch.Generator().manual_seed(seed)) if full else torch.zeros(n)
    was_training = generator.training
    generator.eval()
    out = []
    try:
        with torch.no_grad():
            for lo in range(0, n, BATCH):
                hi = min(n, lo + BATCH)
                start = {k: v[lo:hi].to(device) for k, v in values.items()}
                end = {k: v[n + lo:n + hi].to(device) for k, v in values.items()}
                step = t[lo:hi].to(device)
                images = [path(generator, start, end, step), path(generator, start, end, step + settings.epsilon)]
                out.append(perceptual_distance(extractor, *images).double().cpu() / settings.epsilon ** 2)
    finally:
        generator.train(was_training)
    return torch.cat(out).numpy()


def filtered_mean(distances: np.ndarray) -> float:
    """The mean of the distances between the 1st percentile (rounded down) and the 99th (rounded up)."""
    low = np.percentile(distances, 1, method="lower")
    high = np.percentile(distances, 99, method="higher")
    return float(distances[(distances >= low) & (distances <= high)].mean())


def perceptual_path_length(generator: nn.Module, extractor: Extractor, n: int, seed: int = 0,
                           settings: PPLSettings | None = None, truncation: float | None = None) -> float:
    """PPL of the generator over n latent pairs drawn from `seed` (lower: a smoother latent space)."""
    return filtered_mean(path_distances(generator, extractor, n, seed, settings or PPLSettings(), truncation))


@GENERATOR_METRICS.register("ppl", help="perceptual path length in z or w (--ppl-space), end-point or full sampling, "
                                        "epsilon 1e-4, with the extractor's features (lower is better)")
def ppl_metric(probe: GeneratorProbe) -> dict[str, Any]:
    settings = probe.settings.get("ppl") or PPLSettings()
    n = settings.samples or probe.n
    value = perceptual_path_length(probe.generator, probe.extractor, n, probe.seed, settings, probe.truncation)
    return {"ppl": value, "ppl_space": settings.space, "ppl_sampling": settings.sampling,
            "ppl_epsilon": settings.epsilon, "ppl_samples": n}
