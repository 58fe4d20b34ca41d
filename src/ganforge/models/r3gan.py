"""R3GAN's normalisation-free residual G and D (Huang et al. 2024, "The GAN is dead; long live the GAN!").

Each resolution has `model.stage_blocks` residual blocks x + 1x1 conv -> grouped 3x3 conv -> 1x1 conv, with the
channels expanded twice inside the block (ResNeXt's bottleneck turned inside out, as the paper's ConvNeXt-style
blocks are) and 16 channels per group (the paper's CIFAR-10 config: 1,536 expanded channels in 96 groups). Leaky
ReLU (0.2) with a learned bias sits inside the branches only, and there is no normalisation anywhere: the paper
keeps the signal in range by initialisation instead. Every conv is drawn N(0, gain^2 / fan_in) (`init_gain`, read by
the `variance-scaled` init), the branches' inner convs scaled down by L^(-1/4) for L blocks in the network (Fixup's
rule for three layers per branch), and each branch's last conv is zero, so every block starts as the identity and
the untrained network is a short linear path from z to the image.

Resampling is filtered: [1, 2, 1] x [1, 2, 1] low-pass before every 2x downsampling (D), and the same filter
interpolating after every 2x upsampling (G, which makes it bilinear); 1x1 convs change the width where stages
differ. G starts from a learned b x b basis scaled per channel by a linear map of z (b = 7 for 28 px, 4 for 32 px);
D ends in a per-channel b x b conv over its last map and a linear layer to the logit.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..config import ModelConfig
from ..inputs import latent_only
from .dcgan import resolution_plan
from .registry import DISCRIMINATORS, GENERATORS, init_variance_scaled

Tensor = torch.Tensor
EXPANSION = 2  # channels inside a block, per channel outside it (the paper's ExpansionFactor)
GROUP_CHANNELS = 16  # channels per group of the 3x3 conv (the paper's CIFAR-10 config: 1,536 / 96)
LEAK = 0.2
ACTIVATION_GAIN = math.sqrt(2 / (1 + LEAK ** 2))  # keeps a leaky ReLU's output variance that of its input


def scaled(layer: nn.Conv2d | nn.Linear, gain: float) -> nn.Conv2d | nn.Linear:
    """`layer` marked with the gain its variance-scaled init uses (0: the layer starts at zero)."""
    layer.init_gain = gain
    return layer


def conv(inputs: int, outputs: int, kernel: int = 1, groups: int = 1, gain: float = 1.0) -> nn.Conv2d:
    return scaled(nn.Conv2d(inputs, outputs, kernel, padding=kernel // 2, groups=groups, bias=False), gain)


class BiasedLeakyReLU(nn.Module):
    """Leaky ReLU after a learned per-channel bias (the convs themselves have none, as in the paper)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: Tensor) -> Tensor:
        return F.leaky_relu(x + self.bias.view(1, -1, 1, 1), LEAK)


class ResidualBlock(nn.Module):
    """x + conv1x1(act(grouped conv3x3(act(conv1x1(x))))): expand, mix in groups, project back; zero at init."""

    def __init__(self, channels: int, total_blocks: int) -> None:
        super().__init__()
        expanded = channels * EXPANSION
        groups = math.gcd(expanded, max(1, expanded // GROUP_CHANNELS))  # ~16 per group, and a divisor
        gain = ACTIVATION_GAIN * total_blocks ** (-1 / (2 * 3 - 2))  # Fixup: L^(-1/(2m-2)), m = 3 layers
        self.branch = nn.Sequential(conv(channels, expanded, gain=gain), BiasedLeakyReLU(expanded),
                                    conv(expanded, expanded, 3, groups=groups, gain=gain), BiasedLeakyReLU(expanded),
                                    conv(expanded, channels, gain=0.0))

    def forward(self, x: Tensor) -> Tensor:
        return x + self.branch(x)


class Resample(nn.Module):
    """2x up (zero insertion, then the filter with gain 4: bilinear) or 2x down (the filter, then every other pixel)
    with the [1, 2, 1] binomial low-pass, one channel at a time, so no frequency above the new grid's aliases."""

    def __init__(self, channels: int, up: bool) -> None:
        super().__init__()
        taps = torch.tensor([1.0, 2.0, 1.0])
        kernel = torch.outer(taps, taps) / 16 * (4 if up else 1)
        self.register_buffer("kernel", kernel.expand(channels, 1, 3, 3).contiguous(), persistent=False)
        self.up = up

    def forward(self, x: Tensor) -> Tensor:
        kernel = self.kernel.to(x.dtype)
        if self.up:
            return F.conv_transpose2d(x, kernel, stride=2, padding=1, output_padding=1, groups=x.shape[1])
        return F.conv2d(x, kernel, stride=2, padding=1, groups=x.shape[1])


class GenerativeBasis(nn.Module):
    """z -> a learned b x b basis per channel, scaled by a linear map of z."""

    def __init__(self, latent_dim: int, channels: int, base: int) -> None:
        super().__init__()
        self.basis = nn.Parameter(torch.randn(channels, base, base))
        self.linear = scaled(nn.Linear(latent_dim, channels, bias=False), 1.0)

    def forward(self, z: Tensor) -> Tensor:
        return self.basis.unsqueeze(0) * self.linear(z).view(z.shape[0], -1, 1, 1)


def plan(config: ModelConfig) -> tuple[int, int, int]:
    """(base, stages, total blocks): one stage per resolution from b x b up to model.resolution."""
    base, doublings = resolution_plan(config.resolution)
    stages = doublings + 1
    return base, stages, stages * config.stage_blocks


class R3GANGenerator(nn.Module):
    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        width = config.g_width
        base, stages, total = plan(config)
        self.latent_dim = config.latent_dim
        self.inputs = latent_only(config.latent_dim)
        self.output_shape = (config.channels, config.resolution, config.resolution)
        layers: list[nn.Module] = [GenerativeBasis(config.latent_dim, width, base)]
        for stage in range(stages):
            if stage:
                layers.append(Resample(width, up=True))
            layers += [ResidualBlock(width, total) for _ in range(config.stage_blocks)]
        layers.append(conv(width, config.channels))
        self.net = nn.Sequential(*layers)
        self.apply(init_variance_scaled)

    def forward(self, z: Tensor) -> Tensor:
        return torch.tanh(self.net(z.view(z.shape[0], self.latent_dim)))


class R3GANDiscriminator(nn.Module):
    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        width = config.d_width
        base, stages, total = plan(config)
        self.input_shape = (config.channels, config.resolution, config.resolution)
        layers: list[nn.Module] = [conv(config.channels, width)]
        for stage in range(stages):
            layers += [ResidualBlock(width, total) for _ in range(config.stage_blocks)]
            if stage < stages - 1:
                layers.append(Resample(width, up=False))
        basis = scaled(nn.Conv2d(width, width, base, groups=width, bias=False), 1.0)  # per channel, b x b -> 1
        layers += [basis, nn.Flatten()]
        self.body = nn.Sequential(*layers)
        self.head = scaled(nn.Linear(width, 1, bias=False), 1.0)
        self.feature_shape = (width,)
        self.apply(init_variance_scaled)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.body(x)).view(-1)


GENERATORS.add("r3gan", R3GANGenerator, help="R3GAN's G: a learned basis from z, residual grouped-conv blocks, no "
                                             "normalisation, bilinear upsampling (width = model.g_width)")
DISCRIMINATORS.add("r3gan", R3GANDiscriminator, help="R3GAN's D: residual grouped-conv blocks, no normalisation, "
                                                     "[1,2,1]-filtered downsampling, a per-channel basis, a linear "
                                                     "logit")
