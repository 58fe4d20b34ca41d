"""MSG-GAN's networks (Karnewar & Wang 2020, "MSG-GAN: Multi-Scale Gradients for Generative Adversarial Networks").

The alternative to progressive growing: G and D have every resolution from the first step, and gradients flow at
every scale at once. G is ProGAN's generator at its full size (the same blocks: equalised lr, pixel norm), with a
linear 1x1 toRGB after every block, so it makes an image at 4x4, 8x8, ... up to model.resolution. D reads an image
pyramid (G's images, or a real image average-pooled to each scale): the top scale enters through a fromRGB r', and
after each downsampling block the image of the new scale is combined with D's features by the paper's function phi
(`model.msg_combine`, registered in `COMBINES`). At 4x4 D ends as ProGAN's does (minibatch stddev, 3x3 and 4x4
convolutions, a linear score).

Only training asks for the pyramid (`multiscale=True`); everywhere else (samples, evaluation, exports) G returns its
top-resolution image alone, clipped to [-1, 1]. D takes the pyramid as a tuple, or one full-size image, which it
pools into the pyramid itself.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..config import ModelConfig
from ..errors import GanforgeError
from ..inputs import latent_only
from ..registry import Registry
from .equalized import EqualizedConv2d
from .progan import (ProGANDiscriminatorBlock, ProGANFirstBlock, ProGANGeneratorBlock, ProGANLastBlock, final_stage,
                     stage_channels)
from .registry import DISCRIMINATORS, GENERATORS

Tensor = torch.Tensor


def image_pyramid(image: Tensor, scales: int) -> tuple[Tensor, ...]:
    """The image average-pooled to each of `scales` resolutions, lowest first (4x4 ... the image's own): what D
    reads of a real image, in the order G makes its images."""
    return tuple(F.avg_pool2d(image, 2 ** k) if k else image for k in range(scales - 1, -1, -1))


class SimpleCombine(nn.Module):
    """phi_simple: the image concatenated to D's features, [x; o']."""

    def __init__(self, image_channels: int, features: int) -> None:
        super().__init__()
        self.out_channels = image_channels + features

    def forward(self, image: Tensor, features: Tensor) -> Tensor:
        return torch.cat([image, features], dim=1)


class LinCatCombine(nn.Module):
    """phi_lin_cat: the image through a 1x1 convolution r' to as many maps as the features, then concatenated,
    [r'(x); o'] (the authors' BMSG-GAN code)."""

    def __init__(self, image_channels: int, features: int) -> None:
        super().__init__()
        self.project = EqualizedConv2d(image_channels, features, 1, gain=1.0)
        self.out_channels = 2 * features

    def forward(self, image: Tensor, features: Tensor) -> Tensor:
        return torch.cat([self.project(image), features], dim=1)


class CatLinCombine(nn.Module):
    """phi_cat_lin: the concatenation through a 1x1 convolution r' back to the features' width, r'([x; o'])."""

    def __init__(self, image_channels: int, features: int) -> None:
        super().__init__()
        self.project = EqualizedConv2d(image_channels + features, features, 1, gain=1.0)
        self.out_channels = features

    def forward(self, image: Tensor, features: Tensor) -> Tensor:
        return self.project(torch.cat([image, features], dim=1))


COMBINES: Registry[type[nn.Module]] = Registry("MSG-GAN combine function")
COMBINES.add("simple", SimpleCombine, help="phi_simple: [x; o'], the image concatenated to D's features")
COMBINES.add("lin_cat", LinCatCombine, help="phi_lin_cat: [r'(x); o'], the image through a 1x1 conv, concatenated")
COMBINES.add("cat_lin", CatLinCombine, help="phi_cat_lin: r'([x; o']), the concatenation through a 1x1 conv")


class MSGGANGenerator(nn.Module):
    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.inputs = latent_only(config.latent_dim)
        top = final_stage(config.resolution)
        widths = stage_channels(config.g_width, config.resolution)
        self.blocks = nn.ModuleList([ProGANFirstBlock(config.latent_dim, widths[0]),
                                     *(ProGANGeneratorBlock(widths[s - 1], widths[s]) for s in range(1, top + 1))])
        self.to_rgb = nn.ModuleList([EqualizedConv2d(width, config.channels, 1, gain=1.0) for width in widths])

    @property
    def scales(self) -> int:
        return len(self.blocks)

    def forward(self, z: Tensor, multiscale: bool = False) -> Tensor | tuple[Tensor, ...]:
        """The top-resolution image in [-1, 1]; with `multiscale` (training) the raw image of every scale, lowest
        first."""
        x = self.blocks[0](z)
        images = [self.to_rgb[0](x)] if multiscale else []
        for block, to_rgb in zip(self.blocks[1:], self.to_rgb[1:]):
            x = block(x)
            if multiscale:
                images.append(to_rgb(x))
        if multiscale:
            return tuple(images)
        return self.to_rgb[-1](x).clamp(-1.0, 1.0)


class MSGGANDiscriminator(nn.Module):
    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        top = final_stage(config.resolution)
        widths = stage_channels(config.d_width, config.resolution)
        combine = COMBINES.get(config.msg_combine)
        self.resolution = config.resolution
        self.from_rgb = EqualizedConv2d(config.channels, widths[top], 1)
        blocks, combines, entering = [], [], widths[top]
        for s in range(top, 0, -1):  # a block halves scale s to s - 1, whose image then joins its features
            blocks.append(ProGANDiscriminatorBlock(entering, widths[s - 1]))
            combines.append(combine(config.channels, widths[s - 1]))
            entering = combines[-1].out_channels
        self.blocks, self.combines = nn.ModuleList(blocks), nn.ModuleList(combines)
        self.last = ProGANLastBlock(entering, config.minibatch_std_group)

    @property
    def scales(self) -> int:
        return len(self.blocks) + 1

    def forward(self, images: Tensor | Sequence[Tensor]) -> Tensor:
        if isinstance(images, Tensor):
            images = image_pyramid(images, self.scales)
        sizes = [image.shape[-1] for image in images]
        expected = [self.resolution // 2 ** k for k in range(self.scales - 1, -1, -1)]
        if sizes != expected:
            raise GanforgeError(f"the MSG-GAN discriminator reads images of sizes {expected}, lowest first (or one "
                                f"{self.resolution}x{self.resolution} image), not {sizes}")
        h = F.leaky_relu(self.from_rgb(images[-1]), 0.2)
        for block, combine, image in zip(self.blocks, self.combines, reversed(images[:-1])):
            h = combine(image, block(h))
        return self.last(h)


GENERATORS.add("msggan", MSGGANGenerator, help="MSG-GAN's generator (algorithm.name=msggan): ProGAN's blocks at "
                                               "full size, a toRGB image at every scale")
DISCRIMINATORS.add("msggan", MSGGANDiscriminator, help="MSG-GAN's discriminator (algorithm.name=msggan): reads an "
                                                       "image at every scale, joined to its features by "
                                                       "model.msg_combine")
