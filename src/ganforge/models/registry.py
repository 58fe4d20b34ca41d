"""The model registries and the weight-init schemes."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from ..config import ModelConfig
from ..registry import Registry

ModelBuilder = Callable[[ModelConfig], nn.Module]
GENERATORS: Registry[ModelBuilder] = Registry("generator")
DISCRIMINATORS: Registry[ModelBuilder] = Registry("discriminator")
INITS: Registry[Callable[[nn.Module], None]] = Registry("weight init")

_WEIGHTED = (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)
_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.InstanceNorm2d, nn.GroupNorm, nn.LayerNorm)


@INITS.register("default", help="PyTorch's own layer initialisation (as the course's MLP GAN uses)")
def init_default(module: nn.Module) -> None:
    return None


@INITS.register("dcgan", help="N(0, 0.02) weights, N(1, 0.02) norm scales, zero biases (Radford et al. 2016)")
def init_dcgan(module: nn.Module) -> None:
    if isinstance(module, _WEIGHTED):
        nn.init.normal_(module.weight, 0.0, 0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, _NORMS) and getattr(module, "weight", None) is not None:
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


@INITS.register("xavier", help="Xavier/Glorot normal weights, zero biases")
def init_xavier(module: nn.Module) -> None:
    if isinstance(module, _WEIGHTED):
        nn.init.xavier_normal_(module.weight)
        if module.bias is not None:
            nn.init.zeros_(module.bias)


@INITS.register("kaiming", help="Kaiming normal weights for LeakyReLU(0.2), zero biases")
def init_kaiming(module: nn.Module) -> None:
    if isinstance(module, _WEIGHTED):
        nn.init.kaiming_normal_(module.weight, a=0.2, nonlinearity="leaky_relu")
        if module.bias is not None:
            nn.init.zeros_(module.bias)


@INITS.register("variance-scaled", help="N(0, gain^2/fan_in) weights, gain = the layer's init_gain (1 unless the "
                                        "model sets it; 0 = zero), zero biases (R3GAN's init)")
def init_variance_scaled(module: nn.Module) -> None:
    """The scale that keeps activations' variance through a layer; a model marks its layers' gains (the activation's
    gain, a residual branch's depth scaling, 0 for a branch's last layer) and this init reads them."""
    if isinstance(module, _WEIGHTED):
        nn.init.kaiming_normal_(module.weight, nonlinearity="linear")
        with torch.no_grad():
            module.weight.mul_(getattr(module, "init_gain", 1.0))
        if module.bias is not None:
            nn.init.zeros_(module.bias)


def apply_init(net: nn.Module, name: str) -> None:
    net.apply(INITS.get(name))
