"""Generators, discriminators and weight inits, each in a registry keyed by the names configs use.

Generators map noise (B, latent_dim) to images (B, C, H, W) in [-1, 1]; discriminators map images to raw logits
(B,), never a sigmoid, so that every loss can use the numerically stable logits form.
"""

from __future__ import annotations

from torch import nn

from ..config import ModelConfig
from .registry import DISCRIMINATORS, GENERATORS, INITS, apply_init
from . import dcgan, mlp  # noqa: F401  (fill the registries)


def build_generator(config: ModelConfig) -> nn.Module:
    net = GENERATORS.get(config.generator)(config)
    apply_init(net, config.init)
    return net


def build_discriminator(config: ModelConfig) -> nn.Module:
    net = DISCRIMINATORS.get(config.discriminator)(config)
    apply_init(net, config.init)
    return net


def count_parameters(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


__all__ = ["DISCRIMINATORS", "GENERATORS", "INITS", "apply_init", "build_discriminator", "build_generator",
           "count_parameters"]
