"""The textbook two-phase game (Goodfellow et al. 2014), the default algorithm.

Phase D: a real batch labelled 1 (1 - smoothing) and a fake batch labelled 0; the fakes are detached, so no
gradient reaches G, and only D's optimiser steps. Phase G: fakes labelled 1, scored by D with D frozen (its weight
gradients would be thrown away); only G's optimiser steps, and G is only ever given noise, never real data.
"""

from __future__ import annotations

import torch

from .base import ALGORITHMS, Algorithm, Phase


@ALGORITHMS.register("gan", help="the textbook two-phase GAN: d_steps D updates, then g_steps G updates")
class TwoPhaseGAN(Algorithm):
    def __init__(self, trainer) -> None:
        super().__init__(trainer)
        self.reuse_fakes = trainer.config.algorithm.reuse_fakes
        self.real_target = 1.0 - trainer.config.loss.label_smoothing
        self._fakes: torch.Tensor | None = None
        self._real: torch.Tensor | None = None

    def phases(self) -> list[Phase]:
        t, a = self.trainer, self.trainer.config.algorithm
        return [
            Phase("D", t.discriminator, t.opt_d, self.discriminator_loss, repeats=a.d_steps),
            Phase("G", t.generator, t.opt_g, self.generator_loss, repeats=a.g_steps, frozen=(t.discriminator,)),
        ]

    def discriminator_loss(self) -> dict[str, torch.Tensor]:
        t = self.trainer
        real = t.next_real_batch()
        fake = t.generate(real.shape[0], with_graph=self.reuse_fakes)
        real_logits = t.discriminator(real)
        fake_logits = t.discriminator(fake.detach())
        self._fakes = fake if self.reuse_fakes else None
        self._real = real
        return {
            "loss": t.loss.discriminator(real_logits, fake_logits, self.real_target),
            "d_real": real_logits.detach().sigmoid().mean(),
            "d_fake": fake_logits.detach().sigmoid().mean(),
        }

    def generator_loss(self) -> dict[str, torch.Tensor]:
        t = self.trainer
        fake = self._fakes if self._fakes is not None else t.generate(t.batch_size, with_graph=True)
        self._fakes = None
        fake_logits = t.discriminator(fake)
        real_logits = t.discriminator(self._real) if t.loss.generator_needs_real else None
        return {"loss": t.loss.generator(fake_logits, real_logits),
                "d_fake_g": fake_logits.detach().sigmoid().mean()}
