"""ProGAN (Karras et al. 2018): G and D grow from 4x4 to model.resolution while they train.

The schedule counts real images shown to D (step x train.batch_size x d_steps): `algorithm.stage_images` at 4x4,
then for every further resolution a fade-in of `algorithm.fade_images`, in which alpha rises linearly from 0 to 1,
and a stable stretch of `stage_images` (the last resolution trains until the run ends). At config load the schedule
must complete its last fade within the run. Before every step `grow()` sets alpha on G and D and, when a stage
begins, adds its blocks; the loop then rebuilds both optimisers (surviving parameters keep their Adam moments),
the EMA and any DDP wrapper. The checkpoint records the stage (`structure`), so a resumed run, even in the middle of
a fade-in, continues bit for bit; an export records it too.

The loss is WGAN-GP (the critic's gradient penalty, `regularize.penalties.gp`, on interpolates at the current
resolution) plus the paper's drift term `algorithm.drift` x E[D(x)^2], which keeps the critic's scores near zero.
While a resolution fades in, the real images are blended the same way (the half-resolution image, upsampled, into
the full one), so D compares like with like.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..config import Config, option
from ..errors import GanforgeError
from ..models.progan import ProGANDiscriminator, ProGANGenerator, final_stage
from .base import FAMILIES, CompileTarget, TrainingContext
from .gan import WGANGP, TwoPhaseSettings, refuse_options, require_own_networks

Tensor = torch.Tensor


@dataclass
class ProGANSettings(TwoPhaseSettings):
    stage_images: int = option(16000, low=0)  # real images at 4x4 and after each fade-in (the paper: 800k)
    fade_images: int = option(16000, low=0, hint="0 = no fade-in, a new resolution at once")  # (the paper: 800k)
    drift: float = option(0.001, low=0.0)  # epsilon_drift x E[D(x)^2] in the critic's loss


def growth_at(images: int, stage_images: int, fade_images: int, top: int) -> tuple[int, float]:
    """(stage, alpha) after `images` real images: stage 0 for the first stage_images, then the k-th fade-in starts
    at stage_images + (k - 1) x (fade_images + stage_images) and lasts fade_images."""
    if top == 0 or images < stage_images:
        return 0, 1.0
    period = stage_images + fade_images
    stage = top if period == 0 else min(top, (images - stage_images) // period + 1)
    begins = stage_images + (stage - 1) * period
    alpha = 1.0 if fade_images == 0 else min(1.0, (images - begins) / fade_images)
    return stage, alpha


def images_to_grow(top: int, stage_images: int, fade_images: int) -> int:
    """Real images until the last fade-in is complete."""
    return top * (stage_images + fade_images)


@FAMILIES.register("progan", help="ProGAN (Karras et al. 2018): G and D grow 4x4 -> model.resolution with fade-ins; "
                                  "equalised lr, pixel norm, minibatch stddev, WGAN-GP + drift")
class ProGAN(WGANGP):
    settings = ProGANSettings
    grows = True
    plotted = (("resolution", "resolution"), ("alpha", "fade-in alpha"))

    @classmethod
    def build_networks(cls, config: Config) -> dict[str, nn.Module]:
        return {"G": ProGANGenerator(config.model), "D": ProGANDiscriminator(config.model)}

    @classmethod
    def build_sampler(cls, config: Config) -> nn.Module:
        return ProGANGenerator(config.model)

    @classmethod
    def check_config(cls, config: Config) -> None:
        m, a, t = config.model, config.algorithm, config.train
        require_own_networks(config, "progan")
        super().check_config(config)
        top = final_stage(m.resolution)
        plain = "the ProGAN networks here are unconditional and plain"
        refuse_options("progan", {
            "model.num_classes": (m.num_classes, plain), "model.spectral_norm": (m.spectral_norm, plain),
            "model.pack": (m.pack > 1, plain), "model.minibatch_discrimination": (m.minibatch_discrimination, plain),
            "model.minibatch_std": (m.minibatch_std, "its D has the minibatch stddev built in"),
            "train.compile": (t.compile, "compiled graphs would not follow the growing networks")})
        if t.steps is not None:
            cls._check_reach(config, t.steps * t.batch_size * a.d_steps, f"train.steps={t.steps}", top)

    @classmethod
    def check_dataset(cls, config: Config, dataset: Any) -> None:
        t, a = config.train, config.algorithm
        if t.steps is None and t.epochs is not None:
            cls._check_reach(config, int(len(dataset) * t.epochs), f"train.epochs={t.epochs:g}",
                             final_stage(config.model.resolution))

    @staticmethod
    def _check_reach(config: Config, images: int, budget: str, top: int) -> None:
        a = config.algorithm
        needed = images_to_grow(top, a.stage_images, a.fade_images)
        if images < needed:
            per_step = config.train.batch_size * a.d_steps
            raise GanforgeError(
                f"the growth schedule does not reach model.resolution={config.model.resolution}: {top} fade-ins of "
                f"algorithm.fade_images={a.fade_images} after stages of algorithm.stage_images={a.stage_images} "
                f"need {needed} real images, but {budget} shows {images}; set train.steps>={-(-needed // per_step)} "
                f"or shorten the stages")

    def __init__(self, loop: TrainingContext) -> None:
        super().__init__(loop)
        a, t = loop.config.algorithm, loop.config.train
        self.top = final_stage(loop.config.model.resolution)
        self.images_per_step = t.batch_size * a.d_steps  # global: every rank counts the same images
        self.drift = a.drift

    def current(self) -> tuple[int, float]:
        a = self.loop.config.algorithm
        return growth_at(self.loop.step * self.images_per_step, a.stage_images, a.fade_images, self.top)

    def grow(self) -> tuple[str, ...]:
        stage, alpha = self.current()
        generator, critic = self.loop.raw("G"), self.loop.raw("D")
        grown: tuple[str, ...] = ()
        if stage != generator.stage:
            for net in (generator, critic):
                net.restructure({"stage": stage})
            grown = ("G", "D")
        for net in (generator, critic):
            net.alpha.fill_(alpha)
        return grown

    def generate(self, n: int, with_graph: bool) -> tuple[Tensor, dict[str, Tensor]]:
        """G's images at the current resolution (what D trains on)."""
        inputs = self.loop.sample_inputs(n)
        generator = self.loop.nets["G"]
        with torch.set_grad_enabled(with_graph):
            return generator(**inputs, native=True), inputs

    def progressive_reals(self, images: Tensor) -> Tensor:
        """Real images at the current resolution, blended like G's output while a resolution fades in."""
        generator = self.loop.raw("G")
        size = 4 * 2 ** generator.stage
        if images.shape[-1] > size:
            images = F.avg_pool2d(images, images.shape[-1] // size)
        alpha = float(generator.alpha)
        if generator.stage > 0 and alpha < 1.0:
            below = F.interpolate(F.avg_pool2d(images, 2), scale_factor=2, mode="nearest")
            images = torch.lerp(below, images, alpha)
        return images

    def draw(self) -> tuple[dict[str, Tensor], Tensor, Tensor, dict[str, Tensor]]:
        batch = self.loop.next_real_batch()
        real = self.d_input(self.progressive_reals(batch["image"]))
        generated, inputs = self.generate(real.shape[0], with_graph=self.reuse_fakes)
        self._fakes = (generated, inputs) if self.reuse_fakes else None
        return batch, real, self.d_input(generated.detach()), inputs

    def discriminator_loss(self) -> dict[str, Tensor]:
        _, real, fake, _ = self.draw()
        real_logits, fake_logits = self.score_real_and_fake(real, fake, {}, {})
        loss = self.loss.discriminator(real_logits, fake_logits, self.real_target)
        drift = real_logits.square().mean()
        out = {**self.verdicts(real_logits, fake_logits), "drift": drift.detach()}
        return self.with_penalties(loss + self.drift * drift, out, real, fake, {}, {})

    def generator_loss(self) -> dict[str, Tensor]:
        out = super().generator_loss()
        stage, alpha = self.current()
        out["resolution"] = torch.tensor(float(4 * 2 ** stage))
        out["alpha"] = torch.tensor(alpha)
        return out

    def compile_targets(self, batch_size: int) -> list[CompileTarget]:
        return []
