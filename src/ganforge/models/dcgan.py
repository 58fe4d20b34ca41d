"""DCGAN (Radford et al. 2016): transposed-conv G with BatchNorm/ReLU/Tanh, strided-conv D with LeakyReLU, no pooling.

Any resolution b * 2**n with a base b in 4..7 works: 28 = 7 * 4 (MNIST), 32 = 4 * 8, 64 = 4 * 16 (the pytorch/examples
sizes). G projects z to a b x b map with a b x b transposed conv, then doubles n times; D mirrors it.
"""

from __future__ import annotations

import torch
from torch import nn

from ..config import ModelConfig
from ..inputs import latent_only
from ..errors import GanforgeError
from .cpu_layers import (FullMapConv2d, ProjectionConvTranspose2d, SmallMapConv2d, SmallMapConvTranspose2d, ThinInputConv2d,
                     ThinOutputConvTranspose2d)
from .registry import DISCRIMINATORS, GENERATORS


def resolution_plan(resolution: int) -> tuple[int, int]:
    """(base, doublings) with base * 2**doublings == resolution and 4 <= base <= 7."""
    doublings = 0
    size = resolution
    while size > 7 and size % 2 == 0:
        size //= 2
        doublings += 1
    if not 4 <= size <= 7 or doublings == 0:
        raise GanforgeError(f"DCGAN cannot build resolution {resolution}: it must be 4..7 times a power of two "
                            f"(e.g. 28, 32, 64); set model.resolution")
    return size, doublings


class DCGANGenerator(nn.Module):
    def __init__(self, latent_dim: int, resolution: int, channels: int, width: int) -> None:
        super().__init__()
        self.latent_dim = latent_dim
        self.inputs = latent_only(latent_dim)
        self.output_shape = (channels, resolution, resolution)
        base, doublings = resolution_plan(resolution)
        ch = width * 2 ** (doublings - 1)
        layers: list[nn.Module] = [ProjectionConvTranspose2d(latent_dim, ch, base, 1, 0, bias=False),
                                   nn.BatchNorm2d(ch), nn.ReLU(True)]
        for _ in range(doublings - 1):
            layers += [SmallMapConvTranspose2d(ch, ch // 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ch // 2),
                       nn.ReLU(True)]
            ch //= 2
        layers += [ThinOutputConvTranspose2d(ch, channels, 4, 2, 1, bias=False), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z.view(z.shape[0], self.latent_dim, 1, 1))


class DCGANDiscriminator(nn.Module):
    def __init__(self, resolution: int, channels: int, width: int) -> None:
        super().__init__()
        self.input_shape = (channels, resolution, resolution)
        base, doublings = resolution_plan(resolution)
        layers: list[nn.Module] = [ThinInputConv2d(channels, width, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, True)]
        ch = width
        for _ in range(doublings - 1):
            layers += [SmallMapConv2d(ch, ch * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ch * 2), nn.LeakyReLU(0.2, True)]
            ch *= 2
        self.body = nn.Sequential(*layers)
        self.head = FullMapConv2d(ch, 1, base, 1, 0, bias=False)  # one logit from the whole last feature map
        self.feature_shape = (ch, base, base)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x)).view(-1)


@GENERATORS.register("dcgan", help="DCGAN generator: transposed convs, BatchNorm, ReLU, Tanh (width = model.g_width)")
def dcgan_generator(config: ModelConfig) -> nn.Module:
    return DCGANGenerator(config.latent_dim, config.resolution, config.channels, config.g_width)


@DISCRIMINATORS.register("dcgan", help="DCGAN discriminator: strided convs, BatchNorm, LeakyReLU(0.2), one logit")
def dcgan_discriminator(config: ModelConfig) -> nn.Module:
    return DCGANDiscriminator(config.resolution, config.channels, config.d_width)
