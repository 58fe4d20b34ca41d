"""MSG-GAN (Karnewar & Wang 2020): the two-phase game played at every scale at once, the no-growing alternative to
ProGAN.

In training G makes an image at every resolution (4x4 ... model.resolution) and D judges the whole pyramid: G's
images for fakes, the real batch average-pooled to each scale for reals, so at every scale D compares like with
like and its gradient reaches every one of G's toRGB layers. No stage, no fade-in: the networks have their final
shape from the first step. The paper's loss is the relativistic average hinge (`loss.name=relativistic-average-hinge`);
instance noise, when on, is added to every scale. Samples, evaluation and exports see only the top-resolution image.
"""

from __future__ import annotations

import torch
from torch import nn

from ..config import Config
from ..errors import GanforgeError
from ..models.msggan import COMBINES, MSGGANDiscriminator, MSGGANGenerator, image_pyramid
from .base import FAMILIES, TrainingContext
from .gan import DiscriminatorInput, TwoPhaseGAN, refuse_options, require_own_networks

Tensor = torch.Tensor


class PyramidInput(DiscriminatorInput):
    """The two-phase family's D input transforms, applied to every scale of a pyramid."""

    def __call__(self, images: tuple[Tensor, ...]) -> tuple[Tensor, ...]:  # type: ignore[override]
        each = super().__call__
        return tuple(each(image) for image in images)


@FAMILIES.register("msggan", help="MSG-GAN (Karnewar & Wang 2020): G outputs every scale 4x4 -> model.resolution, D "
                                  "reads them all (combine model.msg_combine); equalised lr, pixel norm, RaHinge")
class MSGGAN(TwoPhaseGAN):
    adaptive_augment = False  # refused in check_config: ADA would transform each scale differently

    @classmethod
    def build_networks(cls, config: Config) -> dict[str, nn.Module]:
        return {"G": MSGGANGenerator(config.model), "D": MSGGANDiscriminator(config.model)}

    @classmethod
    def build_sampler(cls, config: Config) -> nn.Module:
        return MSGGANGenerator(config.model)

    @classmethod
    def check_config(cls, config: Config) -> None:
        m = config.model
        require_own_networks(config, "msggan")
        if m.msg_combine not in COMBINES:
            raise GanforgeError(f"model.msg_combine: {COMBINES.unknown_message(m.msg_combine)}")
        super().check_config(config)
        plain = "the MSG-GAN networks here are unconditional and plain"
        refuse_options("msggan", {
            "model.num_classes": (m.num_classes, plain), "model.spectral_norm": (m.spectral_norm, plain),
            "model.pack": (m.pack > 1, plain), "model.minibatch_discrimination": (m.minibatch_discrimination, plain),
            "model.minibatch_std": (m.minibatch_std, "its D has the minibatch stddev built in"),
            "regularize.penalties": (config.regularize.penalties, "the penalties take gradients with respect to one "
                                                                  "image, and its D reads a pyramid"),
            "augment.policy": (config.augment.policy, "DiffAugment would transform each scale differently"),
            "augment.ada": (config.augment.ada, "ADA would transform each scale differently"),
            "train.compile": (config.train.compile, "its multi-scale training calls are not compiled here")})

    def __init__(self, loop: TrainingContext) -> None:
        super().__init__(loop)
        self.scales = loop.raw("G").scales
        self.d_input = PyramidInput(loop)

    def generate(self, n: int, with_graph: bool) -> tuple[tuple[Tensor, ...], dict[str, Tensor]]:
        """G's images at every scale, lowest first (what D trains on)."""
        inputs = self.loop.sample_inputs(n)
        with torch.set_grad_enabled(with_graph):
            return self.loop.nets["G"](**inputs, multiscale=True), inputs

    def draw(self) -> tuple[dict[str, Tensor], tuple[Tensor, ...], tuple[Tensor, ...], dict[str, Tensor]]:
        batch = self.loop.next_real_batch()
        real = self.d_input(image_pyramid(batch["image"], self.scales))
        generated, inputs = self.generate(real[0].shape[0], with_graph=self.reuse_fakes)
        self._fakes = (generated, inputs) if self.reuse_fakes else None
        return batch, real, self.d_input(tuple(image.detach() for image in generated)), inputs
