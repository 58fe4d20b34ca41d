"""StarGAN (Choi et al. 2018): one generator translating among several domains, told the target as an input.

Networks: G (`domain-translator`: image + target domain -> image) and D (`domain-patchgan`: a real/fake map and a
domain classifier). Batches are images with their `domain`; every image is sent to a random other domain. Phase D
(`n_critic` times, the paper's 5): the critic loss (`loss.name`, the paper's wasserstein) plus `cls_weight` times the cross-entropy of the real
images' domains plus `gp_weight` (10) times the gradient penalty. Phase G: the adversarial term, `cls_weight` (1)
times the cross-entropy of the fakes against their target domains, and `rec_weight` (10) times the L1 distance
between the image and its translation translated back to its own domain.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..config import AlgorithmConfig, Config, option
from ..errors import GanforgeError
from ..regularizers import gradient_penalty
from .base import FAMILIES, Phase
from .translation import PREVIEW_ROWS, TranslationFamily, tile_columns

Tensor = torch.Tensor


@dataclass
class StarGANSettings(AlgorithmConfig):
    cls_weight: float = option(1.0, low=0.0)  # lambda_cls: the domain-classification terms
    rec_weight: float = option(10.0, low=0.0)  # lambda_rec: the reconstruction term
    gp_weight: float = option(10.0, low=0.0)  # lambda_gp: the gradient penalty
    n_critic: int = option(5, low=1, high=1000)  # critic updates per generator update


@FAMILIES.register("stargan", help="StarGAN (Choi et al. 2018): one G for many domains, D with real/fake and domain "
                                   "heads, WGAN-GP, reconstruction")
class StarGAN(TranslationFamily):
    settings = StarGANSettings

    @classmethod
    def batch_keys(cls, config: Config) -> tuple[str, ...]:
        return ("image", "domain")

    @classmethod
    def check_config(cls, config: Config) -> None:
        super().check_config(config)
        if len(config.model.domains) < 2:
            raise GanforgeError("model.domains must name the dataset's domains, at least two (e.g. --set "
                                "model.domains=[red,green,blue,yellow] for mnist-colour)")

    @classmethod
    def check_dataset(cls, config: Config, dataset: Any) -> None:
        names = tuple(getattr(dataset, "domain_names", ()))
        if names != tuple(config.model.domains):
            found = f"has domains {', '.join(names)}" if names else "has no domains"
            fix = f"--set model.domains=[{','.join(names)}]" if names else "domains:DIR or mnist-colour"
            raise GanforgeError(f"dataset '{config.data.dataset}' {found}, but model.domains is "
                                f"[{', '.join(config.model.domains)}]; use {fix}")

    def real_batches_per_step(self) -> int:
        return self.loop.config.algorithm.n_critic + 1

    def phases(self) -> list[Phase]:
        settings = self.loop.config.algorithm
        return [Phase("D", ("D",), self.discriminator_loss, repeats=settings.n_critic),
                Phase("G", ("G",), self.generator_loss, frozen=("D",))]

    def other_domains(self, domains: Tensor) -> Tensor:
        """A random target domain for every row, never its own (from the global RNG, which checkpoints keep)."""
        count = len(self.loop.config.model.domains)
        shift = torch.randint(1, count, domains.shape).to(domains.device)
        return (domains + shift) % count

    def discriminator_loss(self) -> dict[str, Tensor]:
        settings = self.loop.config.algorithm
        batch = self.loop.next_real_batch()
        real, domains = batch["image"], batch["domain"]
        with torch.no_grad():
            fake = self.loop.nets["G"](image=real, domain=self.other_domains(domains))
        d = self.loop.nets["D"]
        real_source, real_domains = d(real)
        fake_source, _ = d(fake)
        critic = self.loss.discriminator(real_source, fake_source, self.real_target)
        classification = F.cross_entropy(real_domains, domains)
        penalty = gradient_penalty(lambda x: d(x)[0], lambda x: d(x)[0], real, fake)
        loss = critic + settings.cls_weight * classification + settings.gp_weight * penalty
        return {"loss": loss, "critic": critic.detach(), "d_cls": classification.detach(), "gp": penalty.detach(),
                "d_domain_accuracy": (real_domains.argmax(1) == domains).float().mean()}

    def generator_loss(self) -> dict[str, Tensor]:
        settings = self.loop.config.algorithm
        batch = self.loop.next_real_batch()
        real, domains = batch["image"], batch["domain"]
        targets = self.other_domains(domains)
        g = self.loop.nets["G"]
        fake = g(image=real, domain=targets)
        fake_source, fake_domains = self.loop.nets["D"](fake)
        adversarial = self.loss.generator(fake_source, None)
        classification = F.cross_entropy(fake_domains, targets)
        reconstruction = (g(image=fake, domain=domains) - real).abs().mean()
        loss = adversarial + settings.cls_weight * classification + settings.rec_weight * reconstruction
        return {"loss": loss, "adversarial": adversarial.detach(), "g_cls": classification.detach(),
                "reconstruction": reconstruction.detach()}

    # ------------------------------------------------------------------ previews: each input in every domain
    def preview_inputs(self, n: int, seed: int) -> tuple[dict[str, Tensor], int | None]:
        held = self.loop.held_out(min(n, PREVIEW_ROWS))
        count = len(self.loop.config.model.domains)
        rows = held["image"].shape[0]
        domains = torch.arange(count, device=held["image"].device).repeat(rows)
        return {"image": held["image"].repeat_interleave(count, 0), "domain": domains}, count + 1

    def preview(self, net: nn.Module, inputs: dict[str, Tensor]) -> Tensor:
        count = len(self.loop.config.model.domains)
        outputs = net(**inputs).unflatten(0, (-1, count))
        sources = inputs["image"][::count]
        return tile_columns([sources, *outputs.unbind(1)])
