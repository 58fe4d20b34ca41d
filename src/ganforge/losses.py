"""Adversarial losses as pure functions of discriminator logits, in a registry keyed by config name.

Each loss is a pair: the discriminator's objective (real logits, fake logits, real target) and the generator's
(fake logits, and real logits for losses that compare the two). All use the BCE-with-logits form: it equals
sigmoid + BCELoss mathematically but never takes log(0).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .registry import Registry

Tensor = torch.Tensor


@dataclass(frozen=True)
class GANLoss:
    name: str
    discriminator: Callable[[Tensor, Tensor, float], Tensor]
    generator: Callable[[Tensor, Tensor | None], Tensor]
    probabilistic: bool = True  # D's output is a logit of P(real); False for critics (Wasserstein, hinge)
    generator_needs_real: bool = False  # G's loss reads D(real) (relativistic losses); G still never sees data


LOSSES: Registry[GANLoss] = Registry("loss")


def bce_discriminator_loss(real_logits: Tensor, fake_logits: Tensor, real_target: float = 1.0) -> Tensor:
    """Phase D of the textbook: real labelled 1 (or 1 - smoothing), fake labelled 0; the two means are summed."""
    real = F.binary_cross_entropy_with_logits(real_logits, torch.full_like(real_logits, real_target))
    fake = F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))
    return real + fake


def non_saturating_generator_loss(fake_logits: Tensor, real_logits: Tensor | None = None) -> Tensor:
    """-log D(G(z)): fakes labelled 1. Strong gradients exactly when D confidently rejects the fakes."""
    return F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))


def minimax_generator_loss(fake_logits: Tensor, real_logits: Tensor | None = None) -> Tensor:
    """log(1 - D(G(z))), the original game's G objective (minimised).

    Why it saturates: d/dl log(1 - sigmoid(l)) = -sigmoid(l), which tends to 0 as D rejects the fakes (l -> -inf).
    Early in training D wins easily, so G receives almost no gradient; hence the non-saturating default.
    """
    return -F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))


LOSSES.add("non-saturating", GANLoss("non-saturating", bce_discriminator_loss, non_saturating_generator_loss),
           help="BCE D loss; G minimises -log D(G(z)) (Goodfellow et al. 2014, the practical form; default)")
LOSSES.add("minimax", GANLoss("minimax", bce_discriminator_loss, minimax_generator_loss),
           help="BCE D loss; G minimises log(1 - D(G(z))), the saturating original game (for teaching)")
