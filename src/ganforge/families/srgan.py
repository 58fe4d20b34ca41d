"""SRGAN (Ledig et al. 2017): x4 super-resolution, an SRResNet pre-trained on pixels, then a perceptual game.

Networks: G (`srresnet`: the small image -> the large one) and D (`srgan`: one logit per image). For the first
`pretrain_steps` steps only G trains, on the pixel MSE: that is SRResNet, the paper's distortion-minimising network.
Then phase D (real large images against G's, detached) and phase G (the content loss plus `adversarial_weight`
(10^-3) times the adversarial term) alternate. The content loss is the MSE between the configured extractor's
features of G's output and of the truth, times `feature_scale` (the paper's VGG loss, rescaled by 1/12.75 to the
pixel MSE's size; here the project's own `lenet-mnist`, whose feature MSE is about 12.5 times the pixel MSE), or the
pixel MSE (`content: pixel`, the paper's SRGAN-MSE). `adversarial_weight=0` trains SRResNet throughout: the baseline.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..config import Config, option
from ..errors import GanforgeError
from ..limits import STEPS
from .base import FAMILIES, Phase, TrainingContext
from .translation import TranslationFamily, TranslationSettings, tile_columns

Tensor = torch.Tensor


@dataclass
class SRGANSettings(TranslationSettings):
    pretrain_steps: int = option(1000, low=0, cap=STEPS)  # SRResNet steps (pixel MSE only) before D joins
    content: str = option("features", choices=("features", "pixel"))  # the content loss after pre-training
    feature_extractor: str = "lenet-mnist"  # whose features the content loss compares (the paper: VGG19)
    feature_scale: float = option(0.08, low=0.0, low_open=True)  # brings the feature MSE to the pixel MSE's size
    adversarial_weight: float = option(1e-3, low=0.0, hint="0 = SRResNet throughout, no D")


class FeatureContent:
    """MSE between a frozen extractor's features of two image batches in [-1, 1], differentiable in the first."""

    def __init__(self, name: str, config: Config, device: torch.device) -> None:
        from ..metrics.extractors import ExtractorOptions, build_extractor

        self.extractor = build_extractor(name, ExtractorOptions(device=str(device)))
        m = config.model
        if (self.extractor.channels, self.extractor.input_size) != (m.channels, m.resolution):
            raise GanforgeError(
                f"algorithm.feature_extractor '{name}' reads {self.extractor.channels}-channel "
                f"{self.extractor.input_size}x{self.extractor.input_size} images but the model makes {m.channels}-"
                f"channel {m.resolution}x{m.resolution} ones; pick a matching extractor or set algorithm.content=pixel")
        probe = torch.zeros(1, m.channels, m.resolution, m.resolution, device=device, requires_grad=True)
        if self.extractor.prepare((probe + 1) * 127.5).grad_fn is None:
            raise GanforgeError(f"algorithm.feature_extractor '{name}' prepares images in a way gradients cannot "
                                f"pass (quantising or resizing); use lenet-mnist or set algorithm.content=pixel")

    def features(self, images: Tensor) -> Tensor:
        return self.extractor.network(self.extractor.prepare((images + 1) * 127.5))[0]

    def __call__(self, output: Tensor, target: Tensor) -> Tensor:
        with torch.no_grad():
            wanted = self.features(target)
        return F.mse_loss(self.features(output), wanted)


@FAMILIES.register("srgan", help="SRGAN (Ledig et al. 2017): SRResNet pre-training, then content + 10^-3 "
                                 "adversarial (x model.upscale)")
class SRGAN(TranslationFamily):
    settings = SRGANSettings

    @classmethod
    def check_config(cls, config: Config) -> None:
        super().check_config(config)
        if config.model.upscale < 2:
            raise GanforgeError(f"model.upscale={config.model.upscale}: srgan enlarges images; set model.upscale to "
                                f"2, 4 or 8 (and a generator that enlarges, srresnet)")

    def __init__(self, loop: TrainingContext) -> None:
        super().__init__(loop)
        settings = loop.config.algorithm
        adversarial = settings.adversarial_weight > 0
        self.content = (FeatureContent(settings.feature_extractor, loop.config, loop.device)
                        if adversarial and settings.content == "features" else None)

    def adversarial_from(self) -> int:
        settings = self.loop.config.algorithm
        return settings.pretrain_steps if settings.adversarial_weight else self.loop.total_steps

    def phases(self) -> list[Phase]:
        generator = Phase("G", ("G",), self.generator_loss, frozen=("D",))
        if not self.loop.config.algorithm.adversarial_weight:
            return [generator]
        return [Phase("D", ("D",), self.discriminator_loss, starts=self.adversarial_from()), generator]

    def discriminator_loss(self) -> dict[str, Tensor]:
        _, fake, target = self.draw_translation()
        d = self.loop.nets["D"]
        real_logits, fake_logits = d(target), d(fake.detach())
        loss = self.loss.discriminator(real_logits, fake_logits, self.real_target)
        return {"loss": loss, "d_real": self.loss.score(real_logits), "d_fake": self.loss.score(fake_logits)}

    def generator_loss(self) -> dict[str, Tensor]:
        _, fake, target = self.take_translation()
        pixel = F.mse_loss(fake, target)
        out = {"pixel_mse": pixel.detach()}
        if self.loop.step < self.adversarial_from():
            out["loss"] = pixel
            return out
        settings = self.loop.config.algorithm
        content = settings.feature_scale * self.content(fake, target) if self.content is not None else pixel
        fake_logits = self.loop.nets["D"](fake)
        adversarial = self.loss.generator(fake_logits, None)
        out.update(content=content.detach(), adversarial=adversarial.detach(), d_fake_g=self.loss.score(fake_logits))
        out["loss"] = content + settings.adversarial_weight * adversarial
        return out

    def preview(self, net: nn.Module, inputs: dict[str, Tensor]) -> Tensor:
        """Rows of: the small input enlarged by nearest neighbour, bicubic, G's output, the truth."""
        source, target = self.source_and_target(self.loop.held_out(inputs["image"].shape[0]))
        size = target.shape[-2:]
        return tile_columns([F.interpolate(source, size=size, mode="nearest"),
                             F.interpolate(source, size=size, mode="bicubic", align_corners=False).clamp(-1, 1),
                             net(**inputs), target])

    def preview_inputs(self, n: int, seed: int) -> tuple[dict[str, Tensor], int | None]:
        inputs, _ = super().preview_inputs(n, seed)
        return inputs, 4
