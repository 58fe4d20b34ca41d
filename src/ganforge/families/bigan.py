"""BiGAN (Donahue et al. 2017) and ALI (Dumoulin et al. 2017): D judges (x, z) pairs, E and G are trained against it.

Networks: G (z -> x), E (x -> z) and D(x, z) (`encoders.JointDiscriminator`). Real pairs are (x, E(x)) for data x;
fake pairs are (G(z), z) for the prior's z. Phase D: the loss's discriminator objective on real pairs against fake
pairs, with E(x) and G(z) detached, so only D learns. Phase G (networks G and E, D frozen): the same objective with
the labels swapped, -log D(G(z), z) - log(1 - D(x, E(x))) for the sigmoid losses, the form both papers train with
(the minimax game's G and E objective, non-saturating). At the game's optimum E inverts G.

BiGAN's encoder is deterministic; `algorithm.gaussian_encoder=true` makes it ALI's: E gives a mean and a log
standard deviation and trains with the reparameterised z = mean + std * eps (`ganforge encode` reports the mean).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch
from torch import nn

from ..config import Config
from ..models import build_generator
from .base import FAMILIES, Phase
from .encoders import EncoderGAN, build_encoder, build_joint_discriminator
from .gan import TwoPhaseSettings

Tensor = torch.Tensor


@dataclass
class BiGANSettings(TwoPhaseSettings):
    gaussian_encoder: bool = False  # ALI's E(x) = mean + std * eps; false: BiGAN's deterministic E


@FAMILIES.register("bigan", help="BiGAN / ALI (Donahue et al. 2017; Dumoulin et al. 2017): D judges (x, E(x)) "
                                 "against (G(z), z); G and E learn together (gaussian_encoder: ALI)")
class BiGAN(EncoderGAN):
    settings = BiGANSettings
    networks = ("G", "D", "E")
    encoder = "E"
    joint = True

    @classmethod
    def build_networks(cls, config: Config) -> dict[str, nn.Module]:
        return {"G": build_generator(config.model), "D": build_joint_discriminator(config),
                "E": build_encoder(config, gaussian=config.algorithm.gaussian_encoder)}

    def phases(self) -> list[Phase]:
        return [replace(p, networks=("G", "E")) if p.name == "G" else p for p in super().phases()]

    def discriminator_loss(self) -> dict[str, Tensor]:
        _, real, fake, inputs = self.draw()
        with torch.no_grad():
            encoded = self.loop.nets["E"].draw(self._x)
        real_pairs, fake_pairs = {"z": encoded}, {"z": inputs["z"]}
        real_logits, fake_logits = self.score_real_and_fake(real, fake, real_pairs, fake_pairs)
        loss = self.loss.discriminator(real_logits, fake_logits, self.real_target)
        return self.with_penalties(loss, self.verdicts(real_logits, fake_logits), real, fake, real_pairs, fake_pairs)

    def generator_loss(self) -> dict[str, Tensor]:
        fake, inputs = self.fakes_for_generator()
        encoded = self.loop.nets["E"].draw(self._x)
        real_logits, fake_logits = self.score_real_and_fake(self._real, self.d_input(fake), {"z": encoded},
                                                            {"z": inputs["z"]})
        out = {"loss": self.loss.discriminator(fake_logits, real_logits, 1.0),
               "d_fake_g": self.loss.score(fake_logits), "d_real_g": self.loss.score(real_logits)}
        return self.with_orthogonal(out)
