"""Regularisers of the discriminator: functions of (D, real, fake) -> a penalty tensor, in a registry.

They combine from config: `regularize.penalties` maps names to weights (`{gp: 10}`, `{r1: 10, r2: 10}`), and
`regularize.every` makes a penalty lazy (StyleGAN2 applies R1 every 16 D steps with its weight multiplied by 16, so
the average pull stays the same at a sixteenth of the cost). Each penalty sees the batches D itself saw (after
augmentation and instance noise) and differentiates D with respect to its input, with `create_graph=True` so the
penalty's own gradient reaches D's weights.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import torch
from torch import nn

from .registry import Registry

Tensor = torch.Tensor
Penalty = Callable[[nn.Module, Tensor, Tensor], Tensor]
REGULARIZERS: Registry[Penalty] = Registry("regulariser")


def input_gradient_norms(discriminator: nn.Module, x: Tensor) -> Tensor:
    """||dD/dx|| for every D output (one per sample, or one per pack of m samples under PacGAN)."""
    x = x.detach().requires_grad_(True)
    out = discriminator(x)
    (grad,) = torch.autograd.grad(out.sum(), x, create_graph=True)
    return grad.reshape(out.shape[0], -1).norm(2, dim=1)


def interpolates(real: Tensor, fake: Tensor) -> Tensor:
    """Points on straight lines between real and fake samples, one uniform position per sample (WGAN-GP)."""
    eps = torch.rand(real.shape[0], *([1] * (real.dim() - 1)), device=real.device, dtype=real.dtype)
    return eps * real.detach() + (1 - eps) * fake.detach()


@REGULARIZERS.register("gp", help="WGAN-GP: E(||grad D(x^)|| - 1)^2 on real-fake interpolates (Gulrajani et al. 2017)")
def gradient_penalty(discriminator: nn.Module, real: Tensor, fake: Tensor) -> Tensor:
    return (input_gradient_norms(discriminator, interpolates(real, fake)) - 1).pow(2).mean()


@REGULARIZERS.register("gp0", help="zero-centred GP: E||grad D(x^)||^2 on interpolates (Thanh-Tung et al. 2019)")
def zero_centred_gradient_penalty(discriminator: nn.Module, real: Tensor, fake: Tensor) -> Tensor:
    return input_gradient_norms(discriminator, interpolates(real, fake)).pow(2).mean()


@REGULARIZERS.register("r1", help="R1: 1/2 E||grad D(x)||^2 on real data; the weight is gamma (Mescheder et al. 2018)")
def r1_penalty(discriminator: nn.Module, real: Tensor, fake: Tensor) -> Tensor:
    return 0.5 * input_gradient_norms(discriminator, real).pow(2).mean()


@REGULARIZERS.register("r2", help="R2: 1/2 E||grad D(G(z))||^2 on fakes; the weight is gamma (Mescheder et al. 2018)")
def r2_penalty(discriminator: nn.Module, real: Tensor, fake: Tensor) -> Tensor:
    return 0.5 * input_gradient_norms(discriminator, fake).pow(2).mean()


class Penalties:
    """The configured penalties with their weights and lazy intervals, summed into phase D's loss.

    A penalty with `every = N` is applied on training steps divisible by N with weight x N (lazy regularisation);
    keyed on the training step, so a resumed run applies it on the same steps as an uninterrupted one.
    """

    def __init__(self, weights: Mapping[str, float], every: Mapping[str, int] | None = None) -> None:
        every = every or {}
        self.terms = [(name, REGULARIZERS.get(name), float(weight), int(every.get(name, 1)))
                      for name, weight in sorted(weights.items()) if weight > 0]

    def __bool__(self) -> bool:
        return bool(self.terms)

    def __call__(self, discriminator: nn.Module, real: Tensor, fake: Tensor, step: int) -> dict[str, Tensor]:
        """{name: weighted penalty} for the penalties due at this step."""
        return {name: weight * every * penalty(discriminator, real, fake)
                for name, penalty, weight, every in self.terms if step % every == 0}
