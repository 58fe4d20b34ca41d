"""Adversarial losses as pure functions of discriminator outputs, in a registry keyed by config name.

Each loss is a pair: the discriminator's objective (real logits, fake logits, real target) and the generator's
(fake logits, and real logits for losses that compare the two). The sigmoid ones use the BCE-with-logits form: it
equals sigmoid + BCELoss mathematically but never takes log(0). A loss with settings of its own (LSGAN's a-b-c
labels) is built from the LossConfig by `build_loss`; the call interface stays the same for every loss.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F

from .errors import GanforgeError
from .registry import Registry

if TYPE_CHECKING:
    from .config import Config, LossConfig

Tensor = torch.Tensor


def sign_realness(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """Losses whose real logits are pushed above 0 and fake ones below (BCE, hinge): D calls x real when D(x) > 0."""
    return real_logits


def relative_realness(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """Losses with no absolute zero (a critic's scores, the relativistic average): D calls x real when it scores
    above the batch's average fake."""
    return real_logits - fake_logits.mean()


def paired_realness(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """RpGAN: D calls x real when it scores above the fake it is paired with."""
    return real_logits - fake_logits


@dataclass(frozen=True)
class GANLoss:
    name: str
    discriminator: Callable[[Tensor, Tensor, float], Tensor]
    generator: Callable[[Tensor, Tensor | None], Tensor]
    probabilistic: bool = True  # D's output is a logit of P(real); False for critics (Wasserstein, hinge) and LSGAN
    generator_needs_real: bool = False  # G's loss reads D(real) (relativistic losses); G still never sees data
    uses_sigmoid: bool = True  # a sigmoid-BCE objective: meaningless on a WGAN critic
    has_targets: bool = True  # D has a real target that one-sided label smoothing can soften
    configure: Callable[[LossConfig], GANLoss] | None = None  # rebuilds the loss from its config settings
    # (real logits, fake logits) -> per real sample, > 0 where D calls it real: the sign ADA's r_t averages
    realness: Callable[[Tensor, Tensor], Tensor] = sign_realness

    def score(self, logits: Tensor) -> Tensor:
        """The number logged for D's outputs: mean P(real) for probabilistic losses, the mean raw score otherwise."""
        return logits.detach().sigmoid().mean() if self.probabilistic else logits.detach().mean()


LOSSES: Registry[GANLoss] = Registry("loss")


def build_loss(config: LossConfig) -> GANLoss:
    """The registered loss for `config.name`, configured by the settings it reads (e.g. loss.ls_a/ls_b/ls_c)."""
    loss = LOSSES.get(config.name)
    return loss.configure(config) if loss.configure is not None else loss


# ---------------------------------------------------------------------------------------------- the original GAN
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


# ---------------------------------------------------------------------------------------------- WGAN critic
def wasserstein_discriminator_loss(real_logits: Tensor, fake_logits: Tensor, real_target: float = 1.0) -> Tensor:
    """The critic maximises E[C(x)] - E[C(G(z))], an estimate of the Wasserstein-1 distance when C is 1-Lipschitz
    (Arjovsky et al. 2017); minimised here as its negative. Raw scores, no sigmoid, no labels."""
    return fake_logits.mean() - real_logits.mean()


def critic_generator_loss(fake_logits: Tensor, real_logits: Tensor | None = None) -> Tensor:
    """-E[C(G(z))]: G raises the critic's score of its samples (WGAN, and the hinge GAN's generator)."""
    return -fake_logits.mean()


# ---------------------------------------------------------------------------------------------- hinge
def hinge_discriminator_loss(real_logits: Tensor, fake_logits: Tensor, real_target: float = 1.0) -> Tensor:
    """E[max(0, 1 - D(x))] + E[max(0, 1 + D(G(z)))] (Lim & Ye 2017; SNGAN, SAGAN, BigGAN): D stops pushing a sample
    once it is beyond the margin."""
    return F.relu(1.0 - real_logits).mean() + F.relu(1.0 + fake_logits).mean()


# ---------------------------------------------------------------------------------------------- least squares
def least_squares_loss(a: float = 0.0, b: float = 1.0, c: float = 1.0) -> tuple[
        Callable[[Tensor, Tensor, float], Tensor], Callable[[Tensor, Tensor | None], Tensor]]:
    """LSGAN (Mao et al. 2017): D regresses fakes to a and reals to b; G pulls its fakes' scores to c.

    D: 1/2 E[(D(x) - b)^2] + 1/2 E[(D(G(z)) - a)^2];  G: 1/2 E[(D(G(z)) - c)^2]. a = -1, b = 1, c = 0 minimises the
    Pearson chi^2 divergence; a = 0, b = c = 1 is the 0-1 coding. One-sided smoothing moves the real target from b
    towards a by the smoothing amount (real_target = 1 - smoothing).
    """

    def discriminator(real_logits: Tensor, fake_logits: Tensor, real_target: float = 1.0) -> Tensor:
        target = a + real_target * (b - a)
        return 0.5 * (real_logits - target).pow(2).mean() + 0.5 * (fake_logits - a).pow(2).mean()

    def generator(fake_logits: Tensor, real_logits: Tensor | None = None) -> Tensor:
        return 0.5 * (fake_logits - c).pow(2).mean()

    return discriminator, generator


def _configure_least_squares(config: LossConfig) -> GANLoss:
    d_loss, g_loss = least_squares_loss(config.ls_a, config.ls_b, config.ls_c)
    return dataclasses.replace(LOSSES.get("least-squares"), discriminator=d_loss, generator=g_loss, configure=None,
                               realness=least_squares_realness(config.ls_a, config.ls_b))


def least_squares_realness(a: float = 0.0, b: float = 1.0) -> Callable[[Tensor, Tensor], Tensor]:
    """LSGAN: D calls x real when D(x) is nearer the real label b than the fake label a."""
    midpoint, direction = (a + b) / 2, 1.0 if b >= a else -1.0

    def realness(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
        return (real_logits - midpoint) * direction

    return realness


# ---------------------------------------------------------------------------------------------- relativistic
def relativistic_average_discriminator_loss(real_logits: Tensor, fake_logits: Tensor,
                                            real_target: float = 1.0) -> Tensor:
    """RaGAN (Jolicoeur-Martineau 2018): D judges whether a real sample is more realistic than the average fake,
    and a fake less realistic than the average real: BCE(C(x) - E C(G(z)), 1) + BCE(C(G(z)) - E C(x), 0)."""
    real_rel = real_logits - fake_logits.mean()
    fake_rel = fake_logits - real_logits.mean()
    return (F.binary_cross_entropy_with_logits(real_rel, torch.full_like(real_rel, real_target))
            + F.binary_cross_entropy_with_logits(fake_rel, torch.zeros_like(fake_rel)))


def relativistic_average_generator_loss(fake_logits: Tensor, real_logits: Tensor | None = None) -> Tensor:
    """The mirror image: G wants its fakes to look more real than the average real, and the reals less so."""
    if real_logits is None:
        raise ValueError("the relativistic-average generator loss needs D's real logits")
    real_rel = real_logits - fake_logits.mean()
    fake_rel = fake_logits - real_logits.mean()
    return (F.binary_cross_entropy_with_logits(fake_rel, torch.ones_like(fake_rel))
            + F.binary_cross_entropy_with_logits(real_rel, torch.zeros_like(real_rel)))


def relativistic_average_hinge_discriminator_loss(real_logits: Tensor, fake_logits: Tensor,
                                                  real_target: float = 1.0) -> Tensor:
    """RaHinge (Jolicoeur-Martineau 2018; MSG-GAN's loss): the hinge loss on the relativistic average differences,
    E max(0, 1 - (C(x) - E C(G(z)))) + E max(0, 1 + (C(G(z)) - E C(x)))."""
    return (F.relu(1.0 - (real_logits - fake_logits.mean())).mean()
            + F.relu(1.0 + (fake_logits - real_logits.mean())).mean())


def relativistic_average_hinge_generator_loss(fake_logits: Tensor, real_logits: Tensor | None = None) -> Tensor:
    """The mirror image: the fakes past the margin above the average real, the reals below the average fake."""
    if real_logits is None:
        raise ValueError("the relativistic-average hinge generator loss needs D's real logits")
    return (F.relu(1.0 - (fake_logits - real_logits.mean())).mean()
            + F.relu(1.0 + (real_logits - fake_logits.mean())).mean())


def relativistic_pairing_discriminator_loss(real_logits: Tensor, fake_logits: Tensor,
                                            real_target: float = 1.0) -> Tensor:
    """RpGAN (Jolicoeur-Martineau 2018; R3GAN's loss, Huang et al. 2024): each real is paired with one fake of the
    batch and D is asked that the real score higher: E softplus(-(D(x) - D(G(z)))), the BCE form of that difference.

    Why pairs: every fake is pushed past a particular real rather than past a line all reals share; R3GAN (after Sun
    et al. 2020) argues this removes the mode-dropping basins of the classic loss, and shows that with R1 + R2 it
    converges locally where R1 alone does not."""
    difference = pair_difference(real_logits, fake_logits)
    return F.binary_cross_entropy_with_logits(difference, torch.full_like(difference, real_target))


def relativistic_pairing_generator_loss(fake_logits: Tensor, real_logits: Tensor | None = None) -> Tensor:
    """The mirror image: each fake should score higher than its paired real, E softplus(-(D(G(z)) - D(x)))."""
    if real_logits is None:
        raise ValueError("the relativistic-pairing generator loss needs D's real logits")
    difference = pair_difference(fake_logits, real_logits)
    return F.binary_cross_entropy_with_logits(difference, torch.ones_like(difference))


def pair_difference(first: Tensor, second: Tensor) -> Tensor:
    """first - second, sample by sample; refused unless the two batches pair one to one."""
    if first.shape != second.shape:
        raise ValueError(f"the relativistic-pairing loss pairs real and fake logits one to one; got shapes "
                         f"{tuple(first.shape)} and {tuple(second.shape)}")
    return first - second


LOSSES.add("non-saturating", GANLoss("non-saturating", bce_discriminator_loss, non_saturating_generator_loss),
           help="BCE D loss; G minimises -log D(G(z)) (Goodfellow et al. 2014, the practical form; default)")
LOSSES.add("minimax", GANLoss("minimax", bce_discriminator_loss, minimax_generator_loss),
           help="BCE D loss; G minimises log(1 - D(G(z))), the saturating original game (for teaching)")
LOSSES.add("wasserstein", GANLoss("wasserstein", wasserstein_discriminator_loss, critic_generator_loss,
                                  probabilistic=False, uses_sigmoid=False, has_targets=False,
                                  realness=relative_realness),
           help="WGAN critic: E C(G(z)) - E C(x), G: -E C(G(z)); needs a Lipschitz critic (wgan, wgan-gp, SN)")
LOSSES.add("hinge", GANLoss("hinge", hinge_discriminator_loss, critic_generator_loss, probabilistic=False,
                            uses_sigmoid=False, has_targets=False),
           help="hinge D loss (margin 1), G: -E D(G(z)) (SNGAN, SAGAN, BigGAN)")
_ls_d, _ls_g = least_squares_loss()
LOSSES.add("least-squares", GANLoss("least-squares", _ls_d, _ls_g, probabilistic=False, uses_sigmoid=False,
                                    configure=_configure_least_squares, realness=least_squares_realness()),
           help="LSGAN: squared distance to labels a (fake), b (real), c (G's target): loss.ls_a/ls_b/ls_c")
LOSSES.add("relativistic-average", GANLoss("relativistic-average", relativistic_average_discriminator_loss,
                                           relativistic_average_generator_loss, probabilistic=False,
                                           generator_needs_real=True, realness=relative_realness),
           help="RaGAN (relativistic average, BCE form): D compares each sample with the other side's mean")
LOSSES.add("relativistic-average-hinge", GANLoss("relativistic-average-hinge",
                                                 relativistic_average_hinge_discriminator_loss,
                                                 relativistic_average_hinge_generator_loss, probabilistic=False,
                                                 generator_needs_real=True, uses_sigmoid=False, has_targets=False,
                                                 realness=relative_realness),
           help="RaHinge (MSG-GAN's loss): the hinge loss on each sample's difference from the other side's mean")
LOSSES.add("relativistic-pairing", GANLoss("relativistic-pairing", relativistic_pairing_discriminator_loss,
                                           relativistic_pairing_generator_loss, probabilistic=False,
                                           generator_needs_real=True, realness=paired_realness),
           help="RpGAN (R3GAN's loss): softplus(-(D(x) - D(G(z)))) over real-fake pairs of the batch")


def check_config(config: Config) -> None:
    """loss.*: the name, and label smoothing only where D has a real target to soften."""
    if config.loss.name not in LOSSES:
        raise GanforgeError(f"loss.name: {LOSSES.unknown_message(config.loss.name)}")
    if config.loss.label_smoothing and not build_loss(config.loss).has_targets:
        raise GanforgeError(f"loss.label_smoothing={config.loss.label_smoothing} has no meaning with loss.name="
                            f"{config.loss.name} (it has no real target to soften); set loss.label_smoothing=0")
