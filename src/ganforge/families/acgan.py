"""ACGAN (Odena et al. 2017): G is told the class, D is not: D predicts it with a second head.

Networks: G (conditional: z and label) and D with two heads on one body, the adversarial logit and the class logits
(`AuxiliaryClassifier`). Phase D maximises the log-likelihood of the right source and of the right class of real
images (their labels) and, with `fake_class_loss` (the paper's form, the default), of fakes (the labels G was
given); phase G makes its fakes look real and look like their class. On 5,000 MNIST digits D learning fake classes
too lowers class fidelity (83 % against 95 %, measured), so the mnist-acgan preset turns it off. The class terms are cross-entropies weighted by `algorithm.class_weight`; every other part (losses,
penalties, augmentation, the balance rule) is the two-phase family's.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..config import Config, option
from ..errors import GanforgeError
from ..models import build_generator, build_split_discriminator
from .base import FAMILIES
from .gan import TwoPhaseGAN, TwoPhaseSettings

Tensor = torch.Tensor


@dataclass
class ACGANSettings(TwoPhaseSettings):
    class_weight: float = option(1.0, low=0.0)  # weight of the class cross-entropies in both phases
    fake_class_loss: bool = True  # D also learns the classes of fakes (the paper); false: of real images only


class AuxiliaryClassifier(nn.Module):
    """A registered D with a class head beside its logit: x -> (logits (B,), class logits (B, classes))."""

    def __init__(self, inner: nn.Module, classes: int) -> None:
        super().__init__()
        self.inner = inner
        self.classifier = nn.Linear(math.prod(inner.feature_shape), classes)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        features = self.inner.body(x)
        return self.inner.head(features).view(-1), self.classifier(features.flatten(1))


@FAMILIES.register("acgan", help="ACGAN (Odena et al. 2017): D predicts the class with a second head; G is "
                                 "conditional")
class ACGAN(TwoPhaseGAN):
    settings = ACGANSettings

    @classmethod
    def build_networks(cls, config: Config) -> dict[str, nn.Module]:
        generator = build_generator(config.model)
        inner = build_split_discriminator(config.model, "ACGAN cannot add its class head")
        return {"G": generator, "D": AuxiliaryClassifier(inner, config.model.num_classes)}

    @classmethod
    def check_config(cls, config: Config) -> None:
        super().check_config(dataclasses.replace(config, model=dataclasses.replace(config.model, num_classes=0)))
        m = config.model
        if m.num_classes < 2:
            raise GanforgeError(f"algorithm.name=acgan predicts classes: set model.num_classes (2 or more, the "
                                f"dataset's), got {m.num_classes}")
        if m.d_conditioning != "none":
            raise GanforgeError(f"algorithm.name=acgan's D predicts the class instead of reading it, but "
                                f"model.d_conditioning={m.d_conditioning}; set model.d_conditioning=none")

    @staticmethod
    def d_logits(output: tuple[Tensor, Tensor]) -> Tensor:
        return output[0]

    def class_terms(self, class_logits: Tensor, labels: Tensor) -> Tensor:
        return self.loop.config.algorithm.class_weight * F.cross_entropy(class_logits, labels)

    def discriminator_loss(self) -> dict[str, Tensor]:
        d = self.loop.nets["D"]
        batch, real, fake, inputs = self.draw()
        (real_logits, real_classes), (fake_logits, fake_classes) = d(real), d(fake)
        class_loss = self.class_terms(real_classes, batch["label"])
        if self.loop.config.algorithm.fake_class_loss:
            class_loss = class_loss + self.class_terms(fake_classes, inputs["label"])
        loss = self.loss.discriminator(real_logits, fake_logits, self.real_target) + class_loss
        out = {**self.verdicts(real_logits, fake_logits), "class_loss_d": class_loss.detach(),
               "class_accuracy_real": (real_classes.argmax(1) == batch["label"]).float().mean().detach()}
        return self.with_penalties(loss, out, real, fake, {}, {})

    def generator_loss(self) -> dict[str, Tensor]:
        d = self.loop.nets["D"]
        fake, inputs = self.fakes_for_generator()
        fake_logits, fake_classes = d(self.d_input(fake))
        real_logits = self.d_logits(d(self._real)) if self.loss.generator_needs_real else None
        class_loss = self.class_terms(fake_classes, inputs["label"])
        out = {"loss": self.loss.generator(fake_logits, real_logits) + class_loss,
               "d_fake_g": self.loss.score(fake_logits), "class_loss_g": class_loss.detach()}
        return self.with_orthogonal(out)
