"""Generators, discriminators and weight inits, each in a registry keyed by the names configs use.

Generators map noise (B, latent_dim) to images (B, C, H, W) in [-1, 1]; discriminators map images to raw logits
(B,), never a sigmoid, so that every loss can use the numerically stable logits form.
"""

from __future__ import annotations

from torch import nn

from ..config import ModelConfig
from .registry import DISCRIMINATORS, GENERATORS, INITS, apply_init
from .stabilizers import Packed, add_minibatch_features, apply_spectral_norm, packed_config, replace_batchnorm
from . import dcgan, mlp, sngan, toy  # noqa: F401  (fill the registries)


def build_generator(config: ModelConfig) -> nn.Module:
    net = GENERATORS.get(config.generator)(config)
    apply_init(net, config.init)
    return net


def build_discriminator(config: ModelConfig) -> nn.Module:
    """The registered D with the model section's options applied in a fixed order: normalisation swap, minibatch
    features, weight init, spectral norm (on the initialised weights), packing (outermost: it reshapes the input)."""
    net = DISCRIMINATORS.get(config.discriminator)(packed_config(config))
    replace_batchnorm(net, config.d_norm)
    add_minibatch_features(net, config)
    apply_init(net, config.init)
    if config.spectral_norm:
        apply_spectral_norm(net, config.spectral_norm_layers)
    return Packed(net, config.pack) if config.pack > 1 else net


def count_parameters(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


__all__ = ["DISCRIMINATORS", "GENERATORS", "INITS", "apply_init", "build_discriminator", "build_generator",
           "count_parameters"]
