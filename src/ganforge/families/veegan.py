"""VEEGAN (Srivastava et al. 2017): a reconstructor F maps data back to noise, and G must let F recover its z.

Networks: G (z -> x), F (x -> z, the reconstructor) and D(z, x) (`encoders.JointDiscriminator`), which estimates the
log density ratio log q(x|z) p0(z) / (p(z|x) p(x)) of generator pairs over data pairs. As the paper's Algorithm 1:

- phase D: generator pairs (z, G(z)), z ~ p0, labelled 1; data pairs (z', x), z' ~ p(z|x) = N(F(x), I) (the
  paper's unit-variance Gaussian around F, `algorithm.posterior_std`), labelled 0; sigmoid cross-entropy; G and F
  detached, so only D learns;
- phase G (networks G and F, D frozen): O = mean D(z, G(z)) + mean ||z - F(G(z))||^2, D's raw score (the KL
  estimate) plus the autoencoder of the noise. F's gradient comes from the reconstruction term alone (the score
  does not depend on F), which is the paper's update of F; G's from both.

The reconstruction term is weighted by `algorithm.reconstruction_weight` (1 in the paper).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch
from torch import nn

from ..config import Config, option
from ..errors import GanforgeError
from ..losses import build_loss
from ..models import build_generator
from .base import FAMILIES, Phase, TrainingContext
from .encoders import EncoderGAN, build_encoder, build_joint_discriminator
from .gan import TwoPhaseSettings

Tensor = torch.Tensor


@dataclass
class VEEGANSettings(TwoPhaseSettings):
    reconstruction_weight: float = option(1.0, low=0.0)  # weight of ||z - F(G(z))||^2 in G's and F's objective
    posterior_std: float = option(1.0, low=0.0, hint="0 = data pairs (F(x), x)")  # p(z|x) = N(F(x), std^2 I)


def latent_reconstruction(z: Tensor, reconstructed: Tensor) -> Tensor:
    """||z - F(G(z))||^2 summed over the latent's dimensions, averaged over the batch."""
    return (z - reconstructed).square().sum(1).mean()


@FAMILIES.register("veegan", help="VEEGAN (Srivastava et al. 2017): a reconstructor F, ||z - F(G(z))||^2 and a "
                                  "joint D(z, x) whose score G minimises")
class VEEGAN(EncoderGAN):
    settings = VEEGANSettings
    networks = ("G", "D", "F")
    encoder = "F"
    joint = True
    plotted = (("reconstruction", "||z - F(G(z))||^2"),)

    @classmethod
    def build_networks(cls, config: Config) -> dict[str, nn.Module]:
        return {"G": build_generator(config.model), "D": build_joint_discriminator(config),
                "F": build_encoder(config)}

    @classmethod
    def check_config(cls, config: Config) -> None:
        super().check_config(config)
        if not build_loss(config.loss).uses_sigmoid:
            raise GanforgeError(f"algorithm.name=veegan's D estimates a log density ratio with a sigmoid "
                                f"cross-entropy, but loss.name={config.loss.name} is not one; set "
                                f"loss.name=non-saturating")

    def __init__(self, loop: TrainingContext) -> None:
        super().__init__(loop)
        self.posterior_std = loop.config.algorithm.posterior_std
        self.weight = loop.config.algorithm.reconstruction_weight

    def phases(self) -> list[Phase]:
        return [replace(p, networks=("G", "F")) if p.name == "G" else p for p in super().phases()]

    def discriminator_loss(self) -> dict[str, Tensor]:
        _, data, generated, inputs = self.draw()
        with torch.no_grad():
            posterior = self.loop.nets["F"](self._x)
            if self.posterior_std:
                posterior = posterior + self.posterior_std * torch.randn_like(posterior)
        generator_pairs, data_pairs = {"z": inputs["z"]}, {"z": posterior}
        generator_logits, data_logits = self.score_real_and_fake(generated, data, generator_pairs, data_pairs)
        loss = self.loss.discriminator(generator_logits, data_logits, self.real_target)
        out = {"d_generator_pairs": generator_logits.detach().sigmoid().mean(),
               "d_data_pairs": data_logits.detach().sigmoid().mean(),
               **self.observe_data(data_logits, generator_logits)}
        return self.with_penalties(loss, out, data, generated, data_pairs, generator_pairs)

    def observe_data(self, data_logits: Tensor, generator_logits: Tensor) -> dict[str, Tensor]:
        """ADA's r_t on the data pairs: VEEGAN labels G's pairs 1, so D calls a data pair data where the loss's
        realness of it is negative."""
        return self.d_input.observe(-self.loss.realness(data_logits.detach(), generator_logits.detach()))

    def generator_loss(self) -> dict[str, Tensor]:
        generated, inputs = self.fakes_for_generator()
        z = inputs["z"]
        score = self.loop.nets["D"](self.d_input(generated), z=z).mean()
        reconstruction = latent_reconstruction(z, self.loop.nets["F"](generated))
        return self.with_orthogonal({"loss": score + self.weight * reconstruction, "d_score_g": score.detach(),
                                     "reconstruction": reconstruction.detach()})
