"""InfoGAN (Chen et al. 2016): structured codes beside z, whose meaning G must keep readable from its images.

Networks: G (z, a categorical code c1 and continuous codes c2, c3, ... concatenated), D (its logit and its body's
features), Q (a small head on those features that predicts the codes). Q shares D's body, as in the paper, so the
mutual-information term L_I = lambda_cat CE(Q_cat, c1) + lambda_cont 1/2 ||Q_cont - c||^2 (a unit-variance
Gaussian's negative log-likelihood, up to a constant) is minimised in both phases: in phase D by D and Q on the
detached fakes, in phase G by G through D and Q frozen (the formulation of the paper's code; `q_phase=D`). With
`q_phase=G` Q learns beside G instead and D's body is shaped by the adversarial loss alone, so Q can only read the
codes from features D keeps for telling real from fake (measured on MNIST: worse, README). Defaults are the
paper's MNIST setting: 62 noise dimensions, one 10-way code, two continuous codes uniform on [-1, 1].
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from torch import nn

from ..config import Config, option
from ..errors import GanforgeError
from ..limits import LABEL_CLASSES
from ..inputs import CategoricalCode, ContinuousCode, GeneratorInputs, Latent
from ..models import build_split_discriminator
from ..models.conditioning import concat_backbone
from .base import FAMILIES, Phase, TrainingContext
from .gan import TwoPhaseGAN, TwoPhaseSettings

Tensor = torch.Tensor


@dataclass
class InfoGANSettings(TwoPhaseSettings):
    categories: int = option(10, low=2, cap=LABEL_CLASSES)  # the categorical code c1's categories
    continuous: int = option(2, low=0, high=64)  # continuous codes c2, c3, ...
    info_categorical: float = option(1.0, low=0.0)  # lambda of the categorical code's term
    info_continuous: float = option(0.1, low=0.0)  # lambda of the continuous codes' term (paper: smaller; its code: 1)
    noise: str = option("normal", choices=("normal", "uniform"))  # z's distribution (the paper's code: uniform)
    # the phase Q learns in: D (the paper's code: D's body and Q minimise L_I) or G (beside G; D adversarial only)
    q_phase: str = option("D", choices=("D", "G"))


def code_inputs(config: Config) -> GeneratorInputs:
    a = config.algorithm
    specs = {"z": Latent(config.model.latent_dim, a.noise), "c1": CategoricalCode(a.categories)}
    specs.update({f"c{i + 2}": ContinuousCode() for i in range(a.continuous)})
    return GeneratorInputs(specs)


class DiscriminatorWithFeatures(nn.Module):
    """A registered D that also returns its body's features: x -> (logits (B,), features (B, F))."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        features = self.inner.body(x)
        return self.inner.head(features).view(-1), features.flatten(1)


class CodeHead(nn.Module):
    """Q: D's features -> logits of c1 and the means of the continuous codes (Linear-BN-LeakyReLU-Linear)."""

    def __init__(self, features: int, categories: int, continuous: int, width: int = 128) -> None:
        super().__init__()
        self.categories = categories
        self.net = nn.Sequential(nn.Linear(features, width), nn.BatchNorm1d(width), nn.LeakyReLU(0.2),
                                 nn.Linear(width, categories + continuous))

    def forward(self, features: Tensor) -> tuple[Tensor, Tensor]:
        out = self.net(features)
        return out[:, :self.categories], out[:, self.categories:]


@FAMILIES.register("infogan", help="InfoGAN (Chen et al. 2016): a categorical and continuous codes beside z, "
                                   "predicted by a Q head on D's body")
class InfoGAN(TwoPhaseGAN):
    settings = InfoGANSettings
    networks = ("G", "D", "Q")

    @classmethod
    def build_networks(cls, config: Config) -> dict[str, nn.Module]:
        generator = cls.build_sampler(config)
        inner = build_split_discriminator(config.model, "InfoGAN's Q cannot share it")
        a = config.algorithm
        return {"G": generator, "D": DiscriminatorWithFeatures(inner),
                "Q": CodeHead(math.prod(inner.feature_shape), a.categories, a.continuous)}

    @classmethod
    def build_sampler(cls, config: Config) -> nn.Module:
        return concat_backbone(config.model, code_inputs(config))

    @classmethod
    def batch_keys(cls, config: Config) -> tuple[str, ...]:
        return ("image",)

    @classmethod
    def check_config(cls, config: Config) -> None:
        if config.model.num_classes:
            raise GanforgeError(f"algorithm.name=infogan learns its codes without labels, but model.num_classes="
                                f"{config.model.num_classes}; set model.num_classes=0")

    def __init__(self, loop: TrainingContext) -> None:
        super().__init__(loop)
        self.continuous = [name for name, spec in loop.generator_inputs.items() if isinstance(spec, ContinuousCode)]

    @staticmethod
    def d_logits(output: tuple[Tensor, Tensor]) -> Tensor:
        return output[0]

    def phases(self) -> list[Phase]:
        """The two-phase family's, with Q trained in the phase algorithm.q_phase names and frozen in the other."""
        learns = self.loop.config.algorithm.q_phase
        changed = {name: (lambda p: replace(p, networks=(*p.networks, "Q"))) if name == learns else
                   (lambda p: replace(p, frozen=(*p.frozen, "Q"))) for name in ("D", "G")}
        return [changed[p.name](p) if p.name in changed else p for p in super().phases()]

    def information_loss(self, features: Tensor, inputs: dict[str, Tensor]) -> tuple[Tensor, dict[str, Tensor]]:
        """L_I of the codes G was given, as Q reads them back from D's features of its images."""
        a = self.loop.config.algorithm
        categorical, means = self.loop.nets["Q"](features)
        loss = a.info_categorical * F.cross_entropy(categorical, inputs["c1"])
        stats = {"code_accuracy_c1": (categorical.argmax(1) == inputs["c1"]).float().mean().detach()}
        if self.continuous:
            codes = torch.stack([inputs[name] for name in self.continuous], dim=1)
            loss = loss + a.info_continuous * 0.5 * (means - codes).square().sum(1).mean()
        return loss, stats

    def discriminator_loss(self) -> dict[str, Tensor]:
        d = self.loop.nets["D"]
        _, real, fake, inputs = self.draw()
        (real_logits, _), (fake_logits, fake_features) = d(real), d(fake)
        loss = self.loss.discriminator(real_logits, fake_logits, self.real_target)
        out = self.verdicts(real_logits, fake_logits)
        if self.loop.config.algorithm.q_phase == "D":
            info, stats = self.information_loss(fake_features, inputs)
            loss = loss + info
            out.update({"info_loss_d": info.detach(), **stats})
        return self.with_penalties(loss, out, real, fake, {}, {})

    def generator_loss(self) -> dict[str, Tensor]:
        d = self.loop.nets["D"]
        fake, inputs = self.fakes_for_generator()
        fake_logits, features = d(self.d_input(fake))
        real_logits = self.d_logits(d(self._real)) if self.loss.generator_needs_real else None
        info, stats = self.information_loss(features, inputs)
        out = {"loss": self.loss.generator(fake_logits, real_logits) + info, "d_fake_g": self.loss.score(fake_logits),
               "info_loss_g": info.detach()}
        if self.loop.config.algorithm.q_phase == "G":
            out.update(stats)
        return self.with_orthogonal(out)
