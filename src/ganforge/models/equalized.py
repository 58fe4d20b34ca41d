"""Layers with an equalised learning rate (Karras et al. 2018, section 4.1), shared by ProGAN and StyleGAN2.

The stored weights are drawn from N(0, 1) / lr_multiplier and scaled at run time by
c = gain / sqrt(fan_in) * lr_multiplier (He's constant), so Adam, which normalises every update by the gradient's
own magnitude, moves every layer at the same speed relative to its scale. `lr_multiplier` < 1 slows a layer down on
top of that (StyleGAN's mapping network: 0.01). The bias is stored divided by the multiplier too.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

Tensor = torch.Tensor
LRELU_GAIN = math.sqrt(2.0)  # He's gain for (leaky) ReLU: keeps unit variance through a layer


class EqualizedLinear(nn.Module):
    def __init__(self, in_features: int, out_features: int, gain: float = LRELU_GAIN, lr_multiplier: float = 1.0,
                 bias: bool = True, bias_init: float = 0.0) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_features, in_features) / lr_multiplier)
        self.bias = nn.Parameter(torch.full((out_features,), bias_init / lr_multiplier)) if bias else None
        self.scale = gain / math.sqrt(in_features) * lr_multiplier
        self.lr_multiplier = lr_multiplier

    def forward(self, x: Tensor) -> Tensor:
        bias = None if self.bias is None else self.bias * self.lr_multiplier
        return F.linear(x, self.weight * self.scale, bias)

    def extra_repr(self) -> str:
        return f"{self.weight.shape[1]}, {self.weight.shape[0]}, scale={self.scale:.4g}"


class EqualizedConv2d(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, padding: int | None = None,
                 gain: float = LRELU_GAIN, bias: bool = True) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        self.scale = gain / math.sqrt(in_channels * kernel_size * kernel_size)
        self.padding = kernel_size // 2 if padding is None else padding

    def forward(self, x: Tensor) -> Tensor:
        return F.conv2d(x, self.weight * self.scale, self.bias, padding=self.padding)

    def extra_repr(self) -> str:
        out, cin, k, _ = self.weight.shape
        return f"{cin}, {out}, kernel_size={k}, padding={self.padding}, scale={self.scale:.4g}"


class PixelNorm(nn.Module):
    """Pixelwise feature normalisation (ProGAN section 4.2): every feature vector scaled to unit mean square."""

    def forward(self, x: Tensor) -> Tensor:
        return x * x.square().mean(dim=1, keepdim=True).add(1e-8).rsqrt()
