"""Super-resolution networks (Ledig et al. 2017): the SRResNet generator and the SRGAN discriminator.

The generator declares one input, `image`, `model.upscale` times smaller than `model.resolution` (7x7 for x4 at
28 px); being fully convolutional it enlarges images of any size by that factor.
"""

from __future__ import annotations

import torch
from torch import nn

from ..config import ModelConfig
from ..errors import GanforgeError
from ..inputs import GeneratorInputs, ImageInput
from .registry import DISCRIMINATORS, GENERATORS
from .translation import input_channels

Tensor = torch.Tensor


class SRResidualBlock(nn.Module):
    """conv3-BN-PReLU-conv3-BN plus the identity, SRGAN's B residual blocks."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(channels, channels, 3, 1, 1), nn.BatchNorm2d(channels), nn.PReLU(channels),
                                  nn.Conv2d(channels, channels, 3, 1, 1), nn.BatchNorm2d(channels))

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)


class SRResNet(nn.Module):
    """k9n64 + PReLU, `blocks` residual blocks, k3n64 + BN with a skip over the blocks, one sub-pixel (x2 pixel
    shuffle) stage per factor of 2, and k9 to the output channels, ending in tanh for [-1, 1] images."""

    def __init__(self, in_channels: int, out_channels: int, width: int, blocks: int, upscale: int) -> None:
        super().__init__()
        if upscale < 2 or upscale & (upscale - 1):
            raise GanforgeError(f"the srresnet generator enlarges by a power of 2; set model.upscale to 2, 4 or 8 "
                                f"(got {upscale})")
        self.upscale = upscale
        self.head = nn.Sequential(nn.Conv2d(in_channels, width, 9, 1, 4), nn.PReLU(width))
        self.blocks = nn.Sequential(*[SRResidualBlock(width) for _ in range(blocks)],
                                    nn.Conv2d(width, width, 3, 1, 1), nn.BatchNorm2d(width))
        stages: list[nn.Module] = []
        for _ in range(upscale.bit_length() - 1):
            stages += [nn.Conv2d(width, width * 4, 3, 1, 1), nn.PixelShuffle(2), nn.PReLU(width)]
        self.upsample = nn.Sequential(*stages)
        self.tail = nn.Conv2d(width, out_channels, 9, 1, 4)

    def forward(self, image: Tensor) -> Tensor:
        features = self.head(image)
        return torch.tanh(self.tail(self.upsample(features + self.blocks(features))))


class SuperResolver(nn.Module):
    """The SRResNet with its declaration: G(image at resolution / upscale) -> image at resolution."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        if config.resolution % config.upscale:
            raise GanforgeError(f"model.resolution={config.resolution} is not a multiple of model.upscale="
                                f"{config.upscale}; pick a resolution the factor divides")
        self.net = SRResNet(input_channels(config), config.channels, config.g_width, config.g_blocks, config.upscale)
        self.inputs = GeneratorInputs({"image": ImageInput(input_channels(config),
                                                           config.resolution // config.upscale)})

    def forward(self, image: Tensor) -> Tensor:
        return self.net(image)


class SRDiscriminator(nn.Module):
    """SRGAN's D: k3n64s1, then pairs of convs (stride 2, then 1) doubling the width, BN and LeakyReLU(0.2), and a
    1024-unit layer before the logit; pooled over positions first (as PyTorch ports do) so any size is scored."""

    def __init__(self, channels: int, width: int, stages: int) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(channels, width, 3, 1, 1), nn.LeakyReLU(0.2),
                                   nn.Conv2d(width, width, 3, 2, 1), nn.BatchNorm2d(width), nn.LeakyReLU(0.2)]
        ch = width
        for i in range(1, stages):
            out = width * 2 ** i
            layers += [nn.Conv2d(ch, out, 3, 1, 1), nn.BatchNorm2d(out), nn.LeakyReLU(0.2),
                       nn.Conv2d(out, out, 3, 2, 1), nn.BatchNorm2d(out), nn.LeakyReLU(0.2)]
            ch = out
        self.body = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(ch, 1024), nn.LeakyReLU(0.2),
                                  nn.Linear(1024, 1))

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.body(x)).squeeze(1)


@GENERATORS.register("srresnet", help="SRGAN's residual x-upscale generator (model.upscale, model.g_blocks)")
def srresnet_generator(config: ModelConfig) -> nn.Module:
    return SuperResolver(config)


@DISCRIMINATORS.register("srgan", help="SRGAN's discriminator: strided 3x3 convs, 1024-unit layer (model.d_layers "
                                       "width doublings)")
def srgan_discriminator(config: ModelConfig) -> nn.Module:
    return SRDiscriminator(config.channels, config.d_width, config.d_layers)
