"""StarGAN's networks (Choi et al. 2018): one translator for every domain, and a D with two heads.

The generator reads an image and the target `domain` (one of `model.domains`, by index), broadcast as one-hot
planes beside the image channels, through CycleGAN's residual translator, batch-normalised: instance norm (the
paper's) removes each channel's spatial mean, and with reflection padding the planes' whole contribution is such a
mean, so the target would be erased (measured: outputs differing by 3e-6 between domains). The discriminator's strided 4x4 convs
(LeakyReLU 0.01, no normalisation) end in a PatchGAN real/fake map and a domain classifier whose kernel covers the
whole remaining map.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..config import ModelConfig
from ..errors import GanforgeError
from ..inputs import Choice, GeneratorInputs, ImageInput
from .registry import DISCRIMINATORS, GENERATORS
from .translation import ResidualTranslator, _norm, input_channels

Tensor = torch.Tensor


def _domains(config: ModelConfig) -> list[str]:
    if len(config.domains) < 2:
        raise GanforgeError(f"model.domains lists {len(config.domains)} domain(s); a multi-domain translator needs "
                            f"at least two names, e.g. --set model.domains=[red,green,blue]")
    return list(config.domains)


class DomainTranslator(nn.Module):
    """G(image, domain) -> the image in that domain."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.domains = _domains(config)
        norm = _norm(config, "batch")
        if norm == "instance":
            raise GanforgeError("model.g_norm=instance: instance norm subtracts each channel's spatial mean, which "
                                "erases the constant domain planes exactly (the output would not depend on the "
                                "target domain); use batch (the default here) or none")
        self.net = ResidualTranslator(input_channels(config) + len(self.domains), config.channels, config.g_width,
                                      config.g_blocks, norm)
        self.inputs = GeneratorInputs({"image": ImageInput(input_channels(config), config.resolution),
                                       "domain": Choice(tuple(self.domains))})

    def forward(self, image: Tensor, domain: Tensor) -> Tensor:
        planes = F.one_hot(domain, len(self.domains)).to(image.dtype)[:, :, None, None]
        return self.net(torch.cat([image, planes.expand(-1, -1, *image.shape[-2:])], 1))


class DomainDiscriminator(nn.Module):
    """Returns (real/fake logits per patch (B, 1, h, w), domain logits (B, domains))."""

    def __init__(self, channels: int, width: int, layers: int, resolution: int, domains: int) -> None:
        super().__init__()
        modules: list[nn.Module] = []
        ch, size = channels, resolution
        for i in range(layers):
            out = width * 2 ** i
            modules += [nn.Conv2d(ch, out, 4, 2, 1), nn.LeakyReLU(0.01)]
            ch, size = out, size // 2
        if size < 1:
            raise GanforgeError(f"model.d_layers={layers} halves a {resolution}px image below one pixel; lower it")
        self.body = nn.Sequential(*modules)
        self.source = nn.Conv2d(ch, 1, 3, 1, 1)
        self.domain = nn.Conv2d(ch, domains, size)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        h = self.body(x)
        return self.source(h), self.domain(h).flatten(1)


@GENERATORS.register("domain-translator", help="StarGAN's G: residual translator reading the target domain as "
                                               "one-hot planes (model.domains)")
def domain_translator(config: ModelConfig) -> nn.Module:
    return DomainTranslator(config)


@DISCRIMINATORS.register("domain-patchgan", help="StarGAN's D: a PatchGAN real/fake map and a domain classifier")
def domain_discriminator(config: ModelConfig) -> nn.Module:
    return DomainDiscriminator(config.channels, config.d_width, config.d_layers, config.resolution,
                               len(_domains(config)))
