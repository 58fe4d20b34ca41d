"""Pix2Pix (Isola et al. 2017): paired translation with a conditional PatchGAN and an L1 term.

Networks: G (a U-Net by default: input image -> output image, dropout its only noise) and D, which judges (input,
output) pairs concatenated along the channels, one logit per patch. Phase D: real pairs (x, y) labelled real, (x,
G(x)) labelled fake, the sum halved as the paper does to slow D; phase G: D frozen, G's pairs labelled real plus
`l1_weight` (lambda = 100) times |G(x) - y|. `gan_weight=0` drops D and its phase: the L1-only U-Net of the same
size, the paper's baseline (blurry where the target is uncertain).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..config import Config, option
from ..errors import GanforgeError
from ..models import build_discriminator, build_generator
from ..models.translation import input_channels
from .base import FAMILIES, Phase
from .translation import TranslationFamily, TranslationSettings, adversarial_or_regression_phases

Tensor = torch.Tensor


@dataclass
class Pix2PixSettings(TranslationSettings):
    l1_weight: float = option(100.0, low=0.0)  # lambda of the L1 term (the paper's 100)
    gan_weight: float = option(1.0, low=0.0, hint="0 = the L1-only baseline, no D")


@FAMILIES.register("pix2pix", help="Pix2Pix (Isola et al. 2017): U-Net G, PatchGAN D on (input, output), "
                                   "adversarial + lambda L1")
class Pix2Pix(TranslationFamily):
    settings = Pix2PixSettings

    @classmethod
    def build_networks(cls, config: Config) -> dict[str, nn.Module]:
        m = config.model
        pair = dataclasses.replace(m, channels=input_channels(m) + m.channels)
        return {"G": build_generator(m), "D": build_discriminator(pair)}

    @classmethod
    def check_config(cls, config: Config) -> None:
        super().check_config(config)
        a = config.algorithm
        if a.l1_weight == 0 and a.gan_weight == 0:
            raise GanforgeError("algorithm.l1_weight and algorithm.gan_weight are both 0: G would learn nothing; "
                                "set one of them (the paper: 100 and 1)")

    def phases(self) -> list[Phase]:
        return adversarial_or_regression_phases(self, self.loop.config.algorithm.gan_weight)

    def discriminator_loss(self) -> dict[str, Tensor]:
        source, fake, target = self.draw_translation()
        d = self.loop.nets["D"]
        real_logits = d(torch.cat([source, target], 1))
        fake_logits = d(torch.cat([source, fake.detach()], 1))
        loss = 0.5 * self.loss.discriminator(real_logits, fake_logits, self.real_target)
        return {"loss": loss, "d_real": self.loss.score(real_logits), "d_fake": self.loss.score(fake_logits)}

    def generator_loss(self) -> dict[str, Tensor]:
        source, fake, target = self.take_translation()
        settings = self.loop.config.algorithm
        l1 = F.l1_loss(fake, target)
        out = {"l1": l1.detach()}
        loss = settings.l1_weight * l1
        if settings.gan_weight:
            fake_logits = self.loop.nets["D"](torch.cat([source, fake], 1))
            adversarial = self.loss.generator(fake_logits, None)
            loss = loss + settings.gan_weight * adversarial
            out.update(adversarial=adversarial.detach(), d_fake_g=self.loss.score(fake_logits))
        out["loss"] = loss
        return out
