"""What the image-to-image families share: batches of two domains, a direction, previews of held-out images.

A translation family reads batches {"A", "B"} (paired or not, from `paired:DIR`, `unpaired:DIR` or a built-in task),
and its generating network declares an input image instead of noise. The sample grid saved during training shows
held-out test images: one row per image, input | output | target (or, without a known target, the translation back).
`algorithm.direction=BtoA` swaps the roles of the two domains, as pix2pix's --direction does.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from ..config import AlgorithmConfig, Config, option
from ..data.images import convert_channels, to_uint8
from ..errors import GanforgeError
from ..inputs import GivenInput
from ..losses import build_loss
from ..models import build_discriminator, build_generator
from .base import Family, Phase, TrainingContext

Tensor = torch.Tensor
PREVIEW_ROWS = 8


@dataclass
class TranslationSettings(AlgorithmConfig):
    direction: str = option("AtoB", choices=("AtoB", "BtoA"))  # which domain is the input


class TranslationFamily(Family):
    """Base of the image-to-image families: Pix2Pix, CycleGAN, DiscoGAN, SRGAN, StarGAN, Pix2PixHD and SPADE."""

    settings = TranslationSettings
    translates = True
    source_input: ClassVar[str] = "image"  # the generator input the source domain feeds

    @classmethod
    def batch_keys(cls, config: Config) -> tuple[str, ...]:
        return ("A", "B")

    @classmethod
    def build_networks(cls, config: Config) -> dict[str, nn.Module]:
        """One translator and one discriminator, as the model section names them (SRGAN, StarGAN)."""
        return {"G": build_generator(config.model), "D": build_discriminator(config.model)}

    @classmethod
    def check_config(cls, config: Config) -> None:
        if config.eval.every:
            raise GanforgeError(f"eval.every={config.eval.every}: evaluation during training samples from noise, "
                                f"which the {config.algorithm.name} family does not take; set eval.every=0 and run "
                                f"`ganforge eval RUN` (test-split L1, PSNR, FID) after training")
        if config.model.num_classes:
            raise GanforgeError(f"model.num_classes={config.model.num_classes}: the {config.algorithm.name} family "
                                f"translates images and reads no labels; set model.num_classes=0")

    def __init__(self, loop: TrainingContext) -> None:
        super().__init__(loop)
        self.loss = build_loss(loop.config.loss)
        self.real_target = 1.0 - loop.config.loss.label_smoothing
        self._drawn: tuple[Tensor, Tensor, Tensor] | None = None

    @staticmethod
    def model_for(config: Config, in_channels: int, out_channels: int) -> Config:
        """The model section for a network that maps `in_channels` to `out_channels` images."""
        return dataclasses.replace(config.model, input_channels=in_channels, channels=out_channels)

    def source_and_target(self, batch: dict[str, Tensor]) -> tuple[Tensor, Tensor]:
        return (batch["A"], batch["B"]) if self.loop.config.algorithm.direction == "AtoB" else (batch["B"], batch["A"])

    def draw_translation(self) -> tuple[Tensor, Tensor, Tensor]:
        """(input, G(input) with its graph, target) of the next batch, kept for `take_translation`."""
        source, target = self.source_and_target(self.loop.next_real_batch())
        self._drawn = source, self.loop.nets["G"](**{self.source_input: source}), target
        return self._drawn

    def take_translation(self) -> tuple[Tensor, Tensor, Tensor]:
        """The translation phase D drew this step (pix2pix's code scores one batch in both phases), or a fresh
        one when phase D did not run."""
        drawn = self._drawn if self._drawn is not None else self.draw_translation()
        self._drawn = None
        return drawn

    # ------------------------------------------------------------------ previews
    def preview_inputs(self, n: int, seed: int) -> tuple[dict[str, Tensor], int | None]:
        source, _ = self.source_and_target(self.loop.held_out(min(n, PREVIEW_ROWS)))
        return {self.source_input: source}, 3

    def preview(self, net: nn.Module, inputs: dict[str, Tensor]) -> Tensor:
        source, target = self.source_and_target(self.loop.held_out(inputs[self.source_input].shape[0]))
        return tile_columns([self.shown(source), net(**inputs), target])

    def shown(self, source: Tensor) -> Tensor:
        """How a source batch looks in a preview, in [-1, 1] (a label map: its classes' colours)."""
        return source


def adversarial_or_regression_phases(family: Family, gan_weight: float) -> list[Phase]:
    """D's phase then G's; with `gan_weight` 0 (the regression-only baseline) G's phase alone, D never trained."""
    generator = Phase("G", ("G",), family.generator_loss, frozen=("D",) if gan_weight else ())
    if not gan_weight:
        return [generator]
    return [Phase("D", ("D",), family.discriminator_loss), generator]


def tile_columns(columns: list[Tensor]) -> Tensor:
    """Images in [-1, 1] side by side, one row per example, as uint8 with the channels of the widest column."""
    channels = max(c.shape[1] for c in columns)
    columns = [to_uint8(c) for c in columns]
    columns = [convert_channels(c, channels) if c.shape[1] != channels else c for c in columns]
    return torch.stack(columns, dim=1).flatten(0, 1).cpu()


def source_input(net: nn.Module) -> tuple[str, GivenInput] | None:
    """The input image or label map a generating network declares, by name, if any (what `translate` and `eval`
    feed it)."""
    given = net.inputs.of_kind(GivenInput)
    return next(iter(given.items())) if given else None
