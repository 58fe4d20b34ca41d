"""ProGAN's growing networks (Karras et al. 2018, "Progressive Growing of GANs").

Both networks start at 4x4 and gain one resolution per stage (8, 16, ... up to model.resolution). A stage adds a
block (two 3x3 convolutions, after a nearest-neighbour 2x upsampling in G, before a 2x average pooling in D) and its
own 1x1 toRGB / fromRGB layer. While a new block fades in, the output of the block below (upsampled) and the new one
are blended by `alpha`, rising from 0 to 1: at alpha = 0 the grown G gives the smaller G's image, upsampled. Every
layer has an equalised learning rate; G normalises every feature vector (pixel norm); D's last block sees the
minibatch standard deviation as one more feature map.

`alpha` is a buffer (exports and EMA copies carry it); the stage is the number of blocks, reported by `structure()`
and restored by `restructure()`, which is how checkpoints and exports rebuild a grown network (see
`Family.grow`). In training the family asks G for its image at the current resolution (`native=True`); everywhere
else G returns the full model.resolution (nearest-upsampled), clipped to [-1, 1].
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..config import ModelConfig
from ..errors import GanforgeError
from ..inputs import latent_only
from .equalized import EqualizedConv2d, EqualizedLinear, PixelNorm
from .registry import DISCRIMINATORS, GENERATORS
from .stabilizers import MinibatchStdDev

Tensor = torch.Tensor


def final_stage(resolution: int) -> int:
    """The stage at which the networks reach `resolution` (4 * 2^stage), or a one-line error."""
    stage = round(math.log2(resolution / 4)) if resolution >= 4 else -1
    if stage < 1 or 4 * 2 ** stage != resolution:
        raise GanforgeError(f"model.resolution={resolution}: progressive growing doubles 4x4 up to the resolution, "
                            f"so it must be 4 x a power of two, at least 8 (8, 16, 32, 64, ...); for 28x28 digits "
                            f"use model.resolution=32 with data.resize=true")
    return stage


def stage_channels(width: int, resolution: int) -> list[int]:
    """Feature maps at each stage: `width` at the full resolution, doubling per halving, at most 8 x width."""
    top = final_stage(resolution)
    return [min(width * 2 ** (top - s), width * 8) for s in range(top + 1)]


def _lrelu(x: Tensor) -> Tensor:
    return F.leaky_relu(x, 0.2)


class _GrowingMixin:
    """The stage bookkeeping G and D share."""

    blocks: nn.ModuleList
    top: int

    @property
    def stage(self) -> int:
        return len(self.blocks) - 1

    def structure(self) -> dict[str, int]:
        return {"stage": self.stage}

    def restructure(self, structure: dict[str, int]) -> None:
        target = structure.get("stage")
        if set(structure) != {"stage"} or not isinstance(target, int) or not self.stage <= target <= self.top:
            raise GanforgeError(f"a ProGAN network at stage {self.stage} can grow to stages {self.stage}-{self.top} "
                                f"(resolution {4 * 2 ** self.top}), not to {structure}")
        device = self.alpha.device
        while self.stage < target:
            self._add_stage(self.stage + 1, device)

    def _add_stage(self, stage: int, device: torch.device) -> None:
        raise NotImplementedError


class ProGANGeneratorBlock(nn.Module):
    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv1 = EqualizedConv2d(in_channels, out_channels, 3)
        self.conv2 = EqualizedConv2d(out_channels, out_channels, 3)
        self.norm = PixelNorm()

    def forward(self, x: Tensor) -> Tensor:
        x = F.interpolate(x, scale_factor=2, mode="nearest")
        return self.norm(_lrelu(self.conv2(self.norm(_lrelu(self.conv1(x))))))


class ProGANFirstBlock(nn.Module):
    """z (pixel-normalised) -> 4x4 features: a dense layer (the paper's 4x4 transposed conv of a 1x1 input), then a
    3x3 convolution."""

    def __init__(self, latent_dim: int, channels: int) -> None:
        super().__init__()
        self.channels = channels
        self.dense = EqualizedLinear(latent_dim, channels * 16, gain=math.sqrt(2) / 4)  # the paper's gain for it
        self.conv = EqualizedConv2d(channels, channels, 3)
        self.norm = PixelNorm()

    def forward(self, z: Tensor) -> Tensor:
        x = self.dense(self.norm(z)).view(-1, self.channels, 4, 4)
        return self.norm(_lrelu(self.conv(self.norm(_lrelu(x)))))


class ProGANGenerator(_GrowingMixin, nn.Module):
    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.inputs = latent_only(config.latent_dim)
        self.resolution, self.out_channels = config.resolution, config.channels
        self.top = final_stage(config.resolution)
        self.widths = stage_channels(config.g_width, config.resolution)
        self.blocks = nn.ModuleList([ProGANFirstBlock(config.latent_dim, self.widths[0])])
        self.to_rgb = nn.ModuleList([EqualizedConv2d(self.widths[0], config.channels, 1, gain=1.0)])
        self.register_buffer("alpha", torch.ones(()))

    def _add_stage(self, stage: int, device: torch.device) -> None:
        self.blocks.append(ProGANGeneratorBlock(self.widths[stage - 1], self.widths[stage]).to(device))
        self.to_rgb.append(EqualizedConv2d(self.widths[stage], self.out_channels, 1, gain=1.0).to(device))

    def forward(self, z: Tensor, native: bool = False) -> Tensor:
        x = self.blocks[0](z)
        stage = self.stage
        for block in self.blocks[1:stage]:
            x = block(x)
        if stage == 0:
            image = self.to_rgb[0](x)
        else:
            image = self.to_rgb[stage](self.blocks[stage](x))
            alpha = float(self.alpha)
            if alpha < 1.0:  # the fade-in: the lower resolution's image, upsampled, blended into the new one
                below = F.interpolate(self.to_rgb[stage - 1](x), scale_factor=2, mode="nearest")
                image = torch.lerp(below, image, alpha)
        if native:
            return image
        factor = self.resolution // image.shape[-1]
        if factor > 1:
            image = F.interpolate(image, scale_factor=factor, mode="nearest")
        return image.clamp(-1.0, 1.0)


class ProGANDiscriminatorBlock(nn.Module):
    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv1 = EqualizedConv2d(in_channels, in_channels, 3)
        self.conv2 = EqualizedConv2d(in_channels, out_channels, 3)

    def forward(self, x: Tensor) -> Tensor:
        return F.avg_pool2d(_lrelu(self.conv2(_lrelu(self.conv1(x)))), 2)


class ProGANLastBlock(nn.Module):
    """4x4 features -> one score: minibatch stddev as an extra map, 3x3 conv, 4x4 conv (dense), linear."""

    def __init__(self, channels: int, group_size: int) -> None:
        super().__init__()
        self.std = MinibatchStdDev(group_size)
        self.conv = EqualizedConv2d(channels + 1, channels, 3)
        self.dense = EqualizedConv2d(channels, channels, 4, padding=0)
        self.out = EqualizedLinear(channels, 1, gain=1.0)

    def forward(self, x: Tensor) -> Tensor:
        n, _, h, w = x.shape
        spread = self.std(x).view(n, 1, 1, 1).expand(n, 1, h, w)
        x = _lrelu(self.conv(torch.cat([x, spread], dim=1)))
        return self.out(_lrelu(self.dense(x)).flatten(1)).view(-1)


class ProGANDiscriminator(_GrowingMixin, nn.Module):
    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.in_channels = config.channels
        self.top = final_stage(config.resolution)
        self.widths = stage_channels(config.d_width, config.resolution)
        self.blocks = nn.ModuleList([ProGANLastBlock(self.widths[0], config.minibatch_std_group)])
        self.from_rgb = nn.ModuleList([EqualizedConv2d(config.channels, self.widths[0], 1)])
        self.register_buffer("alpha", torch.ones(()))

    def _add_stage(self, stage: int, device: torch.device) -> None:
        self.blocks.append(ProGANDiscriminatorBlock(self.widths[stage], self.widths[stage - 1]).to(device))
        self.from_rgb.append(EqualizedConv2d(self.in_channels, self.widths[stage], 1).to(device))

    def forward(self, x: Tensor) -> Tensor:
        stage = self.stage
        resolution = 4 * 2 ** stage
        if x.shape[-1] > resolution:  # a full-size image: seen at the current resolution
            x = F.avg_pool2d(x, x.shape[-1] // resolution)
        h = _lrelu(self.from_rgb[stage](x))
        if stage > 0:
            h = self.blocks[stage](h)
            alpha = float(self.alpha)
            if alpha < 1.0:  # the fade-in, mirrored: the half-resolution input through the old fromRGB
                below = _lrelu(self.from_rgb[stage - 1](F.avg_pool2d(x, 2)))
                h = torch.lerp(below, h, alpha)
            for block in self.blocks[stage - 1:0:-1]:
                h = block(h)
        return self.blocks[0](h)


@GENERATORS.register("progan", help="ProGAN's growing generator (algorithm.name=progan): equalised lr, pixel norm")
def progan_generator(config: ModelConfig) -> nn.Module:
    return ProGANGenerator(config)


@DISCRIMINATORS.register("progan", help="ProGAN's growing critic (algorithm.name=progan): equalised lr, "
                                        "minibatch stddev")
def progan_discriminator(config: ModelConfig) -> nn.Module:
    return ProGANDiscriminator(config)
