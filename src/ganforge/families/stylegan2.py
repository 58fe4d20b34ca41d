"""StyleGAN2 (Karras et al. 2020), small: the non-saturating game with lazy R1 on D and lazy path-length
regularisation on G, and style mixing.

Phases, in order: D (softplus loss on reals and fakes), Dreg (R1, gamma `regularize.penalties.r1`, every
`regularize.every.r1` steps, weighted by that interval: the two-phase family's lazy penalty phase), G (the
non-saturating loss), Greg (path length, every `algorithm.pl_every` steps). The optimisers of D and G get lazy
regularisation's correction of lr and betas for their longest interval (the loop does that for any lazy phase).

Path length: for w from fresh z, images y = g(w) and unit-variance image noise u / sqrt(H W), the lengths
||J_w^T u|| (over layers, averaged) are pulled toward their running mean a (EMA with `pl_decay`):
pl_weight x E (||J_w^T u|| - a)^2, on batch / `pl_batch_shrink` samples. The running mean is the family's state:
checkpoints carry it. Style mixing: with probability `style_mixing` a batch takes the w of a second z from a random
layer on (one cutoff per batch, as NVIDIA's code draws it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import nn

from ..config import Config, option
from ..models.progan import final_stage
from ..models.stylegan2 import StyleGAN2Discriminator, StyleGAN2Generator
from ..models.stylegan3 import StyleGAN3Generator
from .base import FAMILIES, Phase, TrainingContext
from .gan import TwoPhaseGAN, TwoPhaseSettings, refuse_options, require_own_networks

Tensor = torch.Tensor


@dataclass
class StyleGAN2Settings(TwoPhaseSettings):
    reuse_fakes: bool = False  # phase G draws its own z (and its own mixing), as NVIDIA's code does
    style_mixing: float = option(0.9, low=0.0, high=1.0)  # probability that a batch mixes two w
    pl_weight: float = option(2.0, low=0.0, hint="0 = no path-length regularisation")
    pl_every: int = option(4, low=1)  # the Greg phase runs every N steps
    pl_decay: float = option(0.01, low=0.0, high=1.0, low_open=True)  # the running mean's EMA rate
    pl_batch_shrink: int = option(2, low=1)  # Greg's batch: train.batch_size / this


@FAMILIES.register("stylegan2", help="StyleGAN2 (Karras et al. 2020), small: mapping network, modulated convs, lazy "
                                     "R1 and path-length phases, style mixing, truncation toward the mean w")
class StyleGAN2(TwoPhaseGAN):
    settings = StyleGAN2Settings
    family_name: ClassVar[str] = "stylegan2"
    style_generator: ClassVar[type[nn.Module]] = StyleGAN2Generator
    generator_name: ClassVar[str] = "stylegan2"  # its name in model.generator

    @classmethod
    def build_networks(cls, config: Config) -> dict[str, nn.Module]:
        return {"G": cls.style_generator(config.model), "D": StyleGAN2Discriminator(config.model)}

    @classmethod
    def build_sampler(cls, config: Config) -> nn.Module:
        return cls.style_generator(config.model)

    @classmethod
    def check_config(cls, config: Config) -> None:
        m = config.model
        require_own_networks(config, cls.family_name, cls.generator_name, "stylegan2")
        super().check_config(config)
        final_stage(m.resolution)
        plain = "its networks are unconditional, with the minibatch stddev built into D"
        refuse_options(cls.family_name, {"model.num_classes": (m.num_classes, plain),
                                         "model.pack": (m.pack > 1, plain),
                                         "model.spectral_norm": (m.spectral_norm, plain),
                                         "model.minibatch_std": (m.minibatch_std, plain),
                                         "model.minibatch_discrimination": (m.minibatch_discrimination, plain)})

    def __init__(self, loop: TrainingContext) -> None:
        super().__init__(loop)
        a = loop.config.algorithm
        self.mixing, self.pl_weight, self.pl_every = a.style_mixing, a.pl_weight, a.pl_every
        self.pl_decay, self.pl_batch = a.pl_decay, max(1, loop.batch_size // a.pl_batch_shrink)
        self.pl_mean = torch.zeros((), device=loop.device)

    def phases(self) -> list[Phase]:
        phases = super().phases()
        if self.pl_weight > 0:
            phases.append(Phase("Greg", ("G",), self.path_length_loss, every=self.pl_every))
        return phases

    def mixing_inputs(self, inputs: dict[str, Tensor]) -> dict[str, Any]:
        """Style mixing: with probability `style_mixing`, a second z and the layer from which its w takes over."""
        generator = self.loop.raw("G")
        if self.mixing <= 0 or torch.rand(()).item() >= self.mixing:
            return {}
        cutoff = int(torch.randint(1, generator.num_ws, ()).item())
        return {"mix_z": self.loop.sample_inputs(inputs["z"].shape[0])["z"], "mix_cutoff": cutoff}

    def generate(self, n: int, with_graph: bool) -> tuple[Tensor, dict[str, Tensor]]:
        inputs = self.loop.sample_inputs(n)
        mixing = self.mixing_inputs(inputs)
        with torch.set_grad_enabled(with_graph):
            return self.loop.nets["G"](**inputs, **mixing), inputs

    def path_length_loss(self) -> dict[str, Tensor]:
        inputs = self.loop.sample_inputs(self.pl_batch)
        images, ws = self.loop.nets["G"](**inputs, **self.mixing_inputs(inputs), return_ws=True)
        noise = torch.randn_like(images) / math.sqrt(images.shape[2] * images.shape[3])
        (grad,) = torch.autograd.grad((images * noise).sum(), ws, create_graph=True)
        lengths = grad.square().sum(dim=2).mean(dim=1).sqrt()
        self.pl_mean = torch.lerp(self.pl_mean, lengths.mean().detach(), self.pl_decay)
        penalty = (lengths - self.pl_mean).square().mean()
        # weighted by the interval, as the lazy penalties are; + 0 x images keeps every G output in the graph
        loss = penalty * self.pl_weight * self.pl_every + images[:, 0, 0, 0].mean() * 0
        return {"loss": loss, "pl_penalty": penalty.detach(), "pl_mean": self.pl_mean.clone()}

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "pl_mean": self.pl_mean.detach().cpu().clone()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.pl_mean = state["pl_mean"].to(self.loop.device)


@FAMILIES.register("stylegan3", help="StyleGAN3-T (Karras et al. 2021), small: StyleGAN2's algorithm (lazy R1, path "
                                     "length, style mixing, truncation) with the alias-free, translation-equivariant G")
class StyleGAN3(StyleGAN2):
    """StyleGAN2's training with StyleGAN3-T's generator and StyleGAN2's discriminator, as the SG3 paper trains it."""

    family_name: ClassVar[str] = "stylegan3"
    style_generator = StyleGAN3Generator
    generator_name = "stylegan3"
