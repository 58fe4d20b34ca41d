"""The InfoGAN paper's MNIST networks (Chen et al. 2016, appendix C.1), at any resolution 4 * b.

G: z -> FC 1024, BN, ReLU -> FC b x b x 2w, BN, ReLU -> 4x4 up-conv w (stride 2), BN, ReLU -> 4x4 up-conv to the
image (stride 2), Tanh. D: 4x4 conv w (stride 2), LeakyReLU 0.2 -> 4x4 conv 2w (stride 2), BN, LeakyReLU -> FC
1024, BN, LeakyReLU = the body whose 1,024 features InfoGAN's Q reads -> FC to one logit. The paper's w is 64
(model.g_width / model.d_width). The fully connected layers give every code a path to the whole image, which the
convolutional DCGAN projection has only through a 7x7 kernel.
"""

from __future__ import annotations

import torch
from torch import nn

from ..config import ModelConfig
from ..errors import GanforgeError
from ..inputs import latent_only
from .registry import DISCRIMINATORS, GENERATORS

HIDDEN = 1024


def quarter(resolution: int) -> int:
    if resolution % 4 or resolution < 8:
        raise GanforgeError(f"the infogan networks halve the image twice, so model.resolution must be a multiple of 4 "
                            f"(at least 8), got {resolution}")
    return resolution // 4


class InfoGANGenerator(nn.Module):
    def __init__(self, latent_dim: int, resolution: int, channels: int, width: int) -> None:
        super().__init__()
        self.latent_dim = latent_dim
        self.inputs = latent_only(latent_dim)
        self.output_shape = (channels, resolution, resolution)
        self.base = quarter(resolution)
        self.width = width
        self.project = nn.Sequential(nn.Linear(latent_dim, HIDDEN), nn.BatchNorm1d(HIDDEN), nn.ReLU(True),
                                     nn.Linear(HIDDEN, self.base * self.base * 2 * width),
                                     nn.BatchNorm1d(self.base * self.base * 2 * width), nn.ReLU(True))
        self.upsample = nn.Sequential(nn.ConvTranspose2d(2 * width, width, 4, 2, 1), nn.BatchNorm2d(width),
                                      nn.ReLU(True), nn.ConvTranspose2d(width, channels, 4, 2, 1), nn.Tanh())

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.upsample(self.project(z).view(-1, 2 * self.width, self.base, self.base))


class InfoGANDiscriminator(nn.Module):
    def __init__(self, resolution: int, channels: int, width: int) -> None:
        super().__init__()
        self.input_shape = (channels, resolution, resolution)
        base = quarter(resolution)
        self.body = nn.Sequential(nn.Conv2d(channels, width, 4, 2, 1), nn.LeakyReLU(0.2, True),
                                  nn.Conv2d(width, 2 * width, 4, 2, 1), nn.BatchNorm2d(2 * width),
                                  nn.LeakyReLU(0.2, True), nn.Flatten(), nn.Linear(base * base * 2 * width, HIDDEN),
                                  nn.BatchNorm1d(HIDDEN), nn.LeakyReLU(0.2, True))
        self.head = nn.Linear(HIDDEN, 1)
        self.feature_shape = (HIDDEN,)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x)).view(-1)


@GENERATORS.register("infogan", help="the InfoGAN paper's MNIST G: FC 1024 and FC to a quarter-size map, two "
                                     "4x4 up-convs (BN, ReLU, Tanh); width g_width (paper 64)")
def infogan_generator(config: ModelConfig) -> nn.Module:
    return InfoGANGenerator(config.latent_dim, config.resolution, config.channels, config.g_width)


@DISCRIMINATORS.register("infogan", help="the InfoGAN paper's MNIST D: two 4x4 strided convs and FC 1024 (BN, "
                                         "LeakyReLU 0.2) as the body, one logit; width d_width (paper 64)")
def infogan_discriminator(config: ModelConfig) -> nn.Module:
    return InfoGANDiscriminator(config.resolution, config.channels, config.d_width)
