"""BEGAN's networks (Berthelot et al. 2017): a decoder generator and an auto-encoder discriminator.

Decoder: z (uniform on [-1, 1]) -> a linear map to b x b x n -> per scale two 3x3 convolutions with ELU, then a
nearest-neighbour upsampling; a last 3x3 convolution to the image, linear as in the paper: with a Tanh there,
G falls to an all-black image within 500 steps (measured), where Tanh is flat and the auto-encoder reconstructs
it exactly, so neither network moves again (images are clamped to [-1, 1] when converted to pixels). Encoder: a 3x3
convolution, then per scale two 3x3 convolutions with ELU and a strided convolution that halves the map while the
channels grow by n (n, 2n, 3n, ...), and a linear map to the embedding of model.latent_dim numbers. D = decoder of
the encoder: it returns a reconstruction, and BEGAN's loss is the L1 distance to its input. Any resolution
b * 2**k with b in 4..7 (28 for MNIST, 32, 64).
"""

from __future__ import annotations

import torch
from torch import nn

from ..config import ModelConfig
from ..inputs import latent_only
from ..registry import Registry
from .dcgan import resolution_plan
from .registry import GENERATORS

AUTOENCODERS: Registry = Registry("auto-encoder discriminator")


def _pair(in_ch: int, out_ch: int) -> list[nn.Module]:
    return [nn.Conv2d(in_ch, out_ch, 3, 1, 1), nn.ELU(), nn.Conv2d(out_ch, out_ch, 3, 1, 1), nn.ELU()]


class Decoder(nn.Module):
    def __init__(self, latent_dim: int, resolution: int, channels: int, width: int) -> None:
        super().__init__()
        self.base, doublings = resolution_plan(resolution)
        self.width = width
        self.inputs = latent_only(latent_dim, "uniform")
        self.project = nn.Linear(latent_dim, self.base * self.base * width)
        layers: list[nn.Module] = []
        for _ in range(doublings):
            layers += [*_pair(width, width), nn.Upsample(scale_factor=2, mode="nearest")]
        layers += [*_pair(width, width), nn.Conv2d(width, channels, 3, 1, 1)]
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(self.project(z).view(-1, self.width, self.base, self.base))


class Encoder(nn.Module):
    def __init__(self, latent_dim: int, resolution: int, channels: int, width: int) -> None:
        super().__init__()
        base, doublings = resolution_plan(resolution)
        layers: list[nn.Module] = [nn.Conv2d(channels, width, 3, 1, 1), nn.ELU()]
        for level in range(1, doublings + 1):
            layers += [*_pair(width * level, width * level), nn.Conv2d(width * level, width * (level + 1), 3, 2, 1),
                       nn.ELU()]
        top = width * (doublings + 1)
        layers += _pair(top, top)
        self.net = nn.Sequential(*layers, nn.Flatten())
        self.embed = nn.Linear(base * base * top, latent_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.embed(self.net(x))


class AutoEncoder(nn.Module):
    """BEGAN's D: x -> encoder -> embedding -> decoder -> reconstruction of x."""

    def __init__(self, latent_dim: int, resolution: int, channels: int, width: int) -> None:
        super().__init__()
        self.encoder = Encoder(latent_dim, resolution, channels, width)
        self.decoder = Decoder(latent_dim, resolution, channels, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x))


@GENERATORS.register("began", help="BEGAN decoder (Berthelot et al. 2017): uniform z, 3x3 convs with ELU, "
                                   "nearest upsampling; width g_width")
def began_generator(config: ModelConfig) -> nn.Module:
    return Decoder(config.latent_dim, config.resolution, config.channels, config.g_width)


@AUTOENCODERS.register("began", help="BEGAN auto-encoder D: encoder to a latent_dim embedding, decoder back; "
                                     "width d_width")
def began_autoencoder(config: ModelConfig) -> nn.Module:
    return AutoEncoder(config.latent_dim, config.resolution, config.channels, config.d_width)
