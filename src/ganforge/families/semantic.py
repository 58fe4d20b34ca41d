"""Semantic image synthesis: Pix2PixHD (Wang et al. 2018) and SPADE (Park et al. 2019), label map -> image.

Networks: G (declares a `label_map` input: Pix2PixHD's `global-local` coarse-to-fine generator, or SPADE's `spade`
generator with spatially-adaptive normalisation) and D (`multiscale-patchgan`: `model.d_scales` PatchGANs, each
judging (one-hot label map, image) pairs at its own scale). Phase D: real pairs against (label map, G(label map))
pairs, the loss summed over scales. Phase G (D frozen): the adversarial term summed over scales plus `fm_weight`
(the papers' 10) times the feature-matching loss, the L1 distance between D's activations on real and generated
pairs at every layer of every scale (weighted as pix2pixHD's code: 4 / (d_layers + 1) per layer, 1 / d_scales per
scale). `l1_weight` adds an L1 term to the target, and with `gan_weight=0` (no D) gives the regression-only
baseline, which can only paint the mean of the textures a label map allows.

Both papers train this same objective; SPADE's changes are its generator and the hinge loss (its preset), so the
two are one module with two names. Not implemented: pix2pixHD's instance-boundary maps and feature encoder, SPADE's
style encoder (multi-modal synthesis), and the VGG perceptual term of both (its weights are a download).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..config import Config, option
from ..data.images import normalize
from ..data.shapes import colour_label_maps
from ..errors import GanforgeError
from ..inputs import LabelMap
from ..models import build_discriminator, build_generator
from ..models.semantic import MultiScaleDiscriminator
from .base import FAMILIES, Phase, TrainingContext
from .translation import TranslationFamily, TranslationSettings, adversarial_or_regression_phases

Tensor = torch.Tensor


@dataclass
class SemanticSettings(TranslationSettings):
    fm_weight: float = option(10.0, low=0.0)  # lambda of the feature-matching loss (both papers: 10)
    l1_weight: float = option(0.0, low=0.0, hint="0 = none, as the papers")  # an L1 term to the target
    gan_weight: float = option(1.0, low=0.0, hint="0 = the regression-only baseline, no D")


class SemanticSynthesis(TranslationFamily):
    settings = SemanticSettings
    source_input = "label_map"

    @classmethod
    def build_networks(cls, config: Config) -> dict[str, nn.Module]:
        m = config.model
        pair = dataclasses.replace(m, channels=m.label_classes + m.channels)
        return {"G": build_generator(m), "D": build_discriminator(pair)}

    @classmethod
    def check_config(cls, config: Config) -> None:
        super().check_config(config)
        a, m = config.algorithm, config.model
        if a.direction != "AtoB":
            raise GanforgeError(f"algorithm.direction={a.direction}: {a.name} paints images from label maps (A); "
                                f"set algorithm.direction=AtoB")
        if m.label_classes < 1:
            raise GanforgeError(f"model.label_classes={m.label_classes}: {a.name} needs the number of classes in the "
                                f"label maps (shapes-seg: 4)")
        if not (a.gan_weight or a.l1_weight):
            raise GanforgeError("algorithm.gan_weight and algorithm.l1_weight are both 0: G would learn nothing; "
                                "set one of them (the papers: gan_weight=1 with fm_weight=10)")

    @classmethod
    def check_dataset(cls, config: Config, dataset: Any) -> None:
        classes, configured = getattr(dataset, "label_classes", 0), config.model.label_classes
        if not classes:
            raise GanforgeError(f"dataset '{config.data.dataset}' holds no label maps, which {config.algorithm.name} "
                                f"paints from; use shapes-seg or labelmaps:DIR")
        if classes > configured:
            raise GanforgeError(f"dataset '{config.data.dataset}' has label maps with class indices up to "
                                f"{classes - 1}, beyond model.label_classes={configured}; use --set "
                                f"model.label_classes={classes}")

    def __init__(self, loop: TrainingContext) -> None:
        super().__init__(loop)
        spec = loop.generator_inputs.get(self.source_input)
        if not isinstance(spec, LabelMap):
            m = loop.config.model
            raise GanforgeError(f"model.generator '{m.generator}' does not paint label maps; use global-local "
                                f"(Pix2PixHD) or spade")
        if not isinstance(loop.raw("D"), MultiScaleDiscriminator):
            m = loop.config.model
            raise GanforgeError(f"model.discriminator '{m.discriminator}': {loop.config.algorithm.name} matches "
                                f"features across the scales of multiscale-patchgan; use it (model.d_scales=1 for "
                                f"one scale)")
        self.spec = spec
        layers = loop.config.model.d_layers
        self.layer_weight = 4.0 / (layers + 1) / loop.config.model.d_scales

    def phases(self) -> list[Phase]:
        return adversarial_or_regression_phases(self, self.loop.config.algorithm.gan_weight)

    def pair(self, label_map: Tensor, image: Tensor) -> Tensor:
        """What D judges: the one-hot label map beside the image."""
        return torch.cat([self.spec.encode(label_map), image], 1)

    def discriminator_loss(self) -> dict[str, Tensor]:
        label_map, fake, real = self.draw_translation()
        d = self.loop.nets["D"]
        real_logits = d(self.pair(label_map, real))
        fake_logits = d(self.pair(label_map, fake.detach()))
        loss = sum(self.loss.discriminator(r, f, self.real_target) for r, f in zip(real_logits, fake_logits,
                                                                                    strict=True))
        return {"loss": loss, "d_real": self.loss.score(real_logits[0]), "d_fake": self.loss.score(fake_logits[0])}

    def generator_loss(self) -> dict[str, Tensor]:
        label_map, fake, real = self.take_translation()
        settings = self.loop.config.algorithm
        out: dict[str, Tensor] = {"l1": F.l1_loss(fake.detach(), real)}
        loss = settings.l1_weight * F.l1_loss(fake, real) if settings.l1_weight else fake.new_zeros(())
        if settings.gan_weight:
            d = self.loop.raw("D")  # frozen in this phase: no gradient of its own to synchronise
            fake_features = d.features(self.pair(label_map, fake))
            with torch.no_grad():
                real_features = d.features(self.pair(label_map, real))
            adversarial = sum(self.loss.generator(scale[-1], None) for scale in fake_features)
            matching = self.layer_weight * sum(F.l1_loss(f, r) for fake_scale, real_scale in
                                               zip(fake_features, real_features, strict=True)
                                               for f, r in zip(fake_scale[:-1], real_scale[:-1], strict=True))
            loss = loss + settings.gan_weight * adversarial + settings.fm_weight * matching
            out.update(adversarial=adversarial.detach(), feature_matching=matching.detach(),
                       d_fake_g=self.loss.score(fake_features[0][-1]))
        out["loss"] = loss
        return out

    def shown(self, source: Tensor) -> Tensor:
        return normalize(colour_label_maps(source, self.spec.classes))


@FAMILIES.register("pix2pixhd", help="Pix2PixHD (Wang et al. 2018): coarse-to-fine G, multi-scale PatchGAN Ds, "
                                     "feature matching; label map -> image")
class Pix2PixHD(SemanticSynthesis):
    """Its preset: the global-local G, instance-normalised multi-scale D, the least-squares loss."""


@FAMILIES.register("spade", help="SPADE (Park et al. 2019): spatially-adaptive normalisation from the label map in "
                                 "every G block, multi-scale D, hinge loss, feature matching")
class Spade(SemanticSynthesis):
    """Its preset: the SPADE G, spectral- and instance-normalised multi-scale D, the hinge loss, TTUR."""
