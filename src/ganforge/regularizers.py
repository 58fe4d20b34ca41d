"""Regularisers of the discriminator: functions of (D on reals, D on fakes, real, fake) -> a penalty tensor, in a
registry; and BigGAN's orthogonal regularisation of the generator's weights.

They combine from config: `regularize.penalties` maps names to weights (`{gp: 10}`, `{r1: 10, r2: 10}`), and
`regularize.every` makes a penalty lazy: it moves to a phase of its own that runs every N steps with its weight
multiplied by N (StyleGAN2 applies R1 every 16 steps, so the average pull stays the same at a sixteenth of the
cost). `regularize.schedule` moves the weights towards `regularize.penalties_end` over the run, by the schedules of
`training.optim` (R3GAN: R1 and R2 at one gamma, 0.05 -> 0.005 along a cosine). Each penalty sees the batches D itself saw (after augmentation and instance noise) and differentiates D with
respect to its input, with `create_graph=True` so the penalty's own gradient reaches D's weights. D is given as two
scoring functions: a conditional D scores reals with their labels and fakes with the labels G was given.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import torch
from torch import nn

from .config import Config, RegularizeConfig
from .errors import GanforgeError
from .registry import Registry
from .training.optim import SCHEDULES, scheduled

Tensor = torch.Tensor
Score = Callable[[Tensor], Tensor]
Penalty = Callable[[Score, Score, Tensor, Tensor], Tensor]
REGULARIZERS: Registry[Penalty] = Registry("regulariser")


def input_gradient_norms(score: Score, x: Tensor) -> Tensor:
    """||dD/dx|| for every D output (one per sample, or one per pack of m samples under PacGAN)."""
    x = x.detach().requires_grad_(True)
    out = score(x)
    (grad,) = torch.autograd.grad(out.sum(), x, create_graph=True)
    return grad.reshape(out.shape[0], -1).norm(2, dim=1)


def interpolates(real: Tensor, fake: Tensor) -> Tensor:
    """Points on straight lines between real and fake samples, one uniform position per sample (WGAN-GP)."""
    eps = torch.rand(real.shape[0], *([1] * (real.dim() - 1)), device=real.device, dtype=real.dtype)
    return eps * real.detach() + (1 - eps) * fake.detach()


@REGULARIZERS.register("gp", help="WGAN-GP: E(||grad D(x^)|| - 1)^2 on real-fake interpolates (Gulrajani et al. 2017)")
def gradient_penalty(score_real: Score, score_fake: Score, real: Tensor, fake: Tensor) -> Tensor:
    return (input_gradient_norms(score_real, interpolates(real, fake)) - 1).pow(2).mean()


@REGULARIZERS.register("gp0", help="zero-centred GP: E||grad D(x^)||^2 on interpolates (Thanh-Tung et al. 2019)")
def zero_centred_gradient_penalty(score_real: Score, score_fake: Score, real: Tensor, fake: Tensor) -> Tensor:
    return input_gradient_norms(score_real, interpolates(real, fake)).pow(2).mean()


@REGULARIZERS.register("r1", help="R1: 1/2 E||grad D(x)||^2 on real data; the weight is gamma (Mescheder et al. 2018)")
def r1_penalty(score_real: Score, score_fake: Score, real: Tensor, fake: Tensor) -> Tensor:
    return 0.5 * input_gradient_norms(score_real, real).pow(2).mean()


@REGULARIZERS.register("r2", help="R2: 1/2 E||grad D(G(z))||^2 on fakes; the weight is gamma (Mescheder et al. 2018)")
def r2_penalty(score_real: Score, score_fake: Score, real: Tensor, fake: Tensor) -> Tensor:
    return 0.5 * input_gradient_norms(score_fake, fake).pow(2).mean()


class Penalties:
    """Weighted penalties applied together, every `every` steps (weights x every: lazy regularisation), each weight
    on its way from its start to its end value along the named schedule."""

    def __init__(self, weights: Mapping[str, float], every: int = 1, ends: Mapping[str, float] | None = None,
                 schedule: str = "constant") -> None:
        self.every, self.schedule = every, schedule
        ends = ends or {}
        self.terms = [(name, REGULARIZERS.get(name), float(weight), float(ends.get(name, 0.0)))
                      for name, weight in sorted(weights.items()) if weight > 0]

    def __bool__(self) -> bool:
        return bool(self.terms)

    def weights(self, step: int, total: int) -> dict[str, float]:
        """{name: its weight at `step` of `total`} (before the lazy factor)."""
        return {name: scheduled(start, end, self.schedule, step, total) for name, _, start, end in self.terms}

    def __call__(self, score_real: Score, score_fake: Score, real: Tensor, fake: Tensor, *, step: int = 0,
                 total: int = 1) -> dict[str, Tensor]:
        """{name: weighted penalty} at `step` of `total` (by default the start weights)."""
        weights = self.weights(step, total)
        return {name: weights[name] * self.every * penalty(score_real, score_fake, real, fake)
                for name, penalty, _, _ in self.terms}


def penalty_schedule(config: RegularizeConfig) -> dict[int, Penalties]:
    """The configured penalties grouped by interval: {1: applied in every D step, N: a lazy phase every N steps}."""
    groups: dict[int, dict[str, float]] = {}
    for name, weight in config.penalties.items():
        if weight > 0:
            groups.setdefault(int(config.every.get(name, 1)), {})[name] = weight
    return {interval: Penalties(group, interval, config.penalties_end, config.schedule)
            for interval, group in sorted(groups.items())}


def orthogonal_penalty(generator: nn.Module, strength: float) -> Tensor:
    """BigGAN's orthogonal regularisation (Brock et al. 2019): strength / 2 * sum ||W W^T (1 - I)||_F^2 over G's
    weight matrices (convolutions flattened per output channel; class embeddings left out, as BigGAN does).

    Its gradient, 2 strength (W W^T (1 - I)) W, is the one BigGAN adds by hand: only the filters' correlations are
    pulled towards zero, not their norms. Computed as ||W^T W||_F^2 - sum_i ||w_i||^4 (the same number, since
    tr(W W^T W W^T) = tr(W^T W W^T W)), with the Gram matrix of the shorter side: BigGAN's first layer has thousands
    of outputs and a few dozen inputs, so W W^T would be the size of a large image per step.
    """
    embeddings = {id(p) for m in generator.modules() if isinstance(m, nn.Embedding) for p in m.parameters()}
    terms = []
    for param in generator.parameters():
        if param.dim() < 2 or id(param) in embeddings or not param.requires_grad:
            continue
        w = param.reshape(param.shape[0], -1)
        gram = w.t() @ w if w.shape[0] > w.shape[1] else w @ w.t()
        terms.append(gram.square().sum() - w.square().sum(dim=1).square().sum())
    return 0.5 * strength * torch.stack(terms).sum()


def check_config(config: Config) -> None:
    """regularize.*: penalty names and schedule, and lazy intervals and end weights only for penalties that are
    on."""
    r = config.regularize
    for name in r.penalties:
        if name not in REGULARIZERS:
            raise GanforgeError(f"regularize.penalties: {REGULARIZERS.unknown_message(name)}")
    for name in r.every:
        if r.penalties.get(name, 0) <= 0:
            raise GanforgeError(f"regularize.every.{name} is set but regularize.penalties.{name} is not; give the "
                                f"penalty a weight")
    if r.schedule not in SCHEDULES:
        raise GanforgeError(f"regularize.schedule: {SCHEDULES.unknown_message(r.schedule)}")
    for name in r.penalties_end:
        if r.penalties.get(name, 0) <= 0:
            raise GanforgeError(f"regularize.penalties_end.{name} is set but regularize.penalties.{name} is not; "
                                f"give the penalty a starting weight")
    if r.penalties_end and r.schedule == "constant":
        raise GanforgeError(f"regularize.penalties_end {sorted(r.penalties_end)} has no effect with "
                            f"regularize.schedule=constant; set regularize.schedule (e.g. cosine)")
