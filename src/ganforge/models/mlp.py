"""The course's fully connected GANs: the textbook MLP pair and the first-day variant."""

from __future__ import annotations

import torch
from torch import nn

from ..config import ModelConfig
from ..inputs import latent_only
from .registry import DISCRIMINATORS, GENERATORS


class MLPGenerator(nn.Module):
    """z -> Linear layers -> Tanh -> image. Hidden sizes and activations are the course's, unchanged."""

    def __init__(self, latent_dim: int, hidden: list[int], shape: tuple[int, int, int], act: type[nn.Module]) -> None:
        super().__init__()
        self.latent_dim = latent_dim
        self.inputs = latent_only(latent_dim)
        self.output_shape = shape
        layers: list[nn.Module] = []
        width = latent_dim
        for size in hidden:
            layers += [nn.Linear(width, size), act()]
            width = size
        layers += [nn.Linear(width, shape[0] * shape[1] * shape[2]), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z).view(z.shape[0], *self.output_shape)


class MLPDiscriminator(nn.Module):
    """image -> flatten -> Linear layers with LeakyReLU(0.2) -> one logit (no sigmoid)."""

    def __init__(self, shape: tuple[int, int, int], hidden: list[int]) -> None:
        super().__init__()
        self.input_shape = shape
        layers: list[nn.Module] = [nn.Flatten()]
        width = shape[0] * shape[1] * shape[2]
        for size in hidden:
            layers += [nn.Linear(width, size), nn.LeakyReLU(0.2)]
            width = size
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(width, 1)
        self.feature_shape = (width,)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x)).view(-1)


def _shape(config: ModelConfig) -> tuple[int, int, int]:
    return (config.channels, config.resolution, config.resolution)


def _leaky() -> nn.Module:
    return nn.LeakyReLU(0.2)


@GENERATORS.register("mlp", help="the course's MLP generator: latent-256-512-pixels, LeakyReLU(0.2), Tanh")
def mlp_generator(config: ModelConfig) -> nn.Module:
    return MLPGenerator(config.latent_dim, [256, 512], _shape(config), _leaky)


@DISCRIMINATORS.register("mlp", help="the course's MLP discriminator: pixels-512-256-1, LeakyReLU(0.2), logit")
def mlp_discriminator(config: ModelConfig) -> nn.Module:
    return MLPDiscriminator(_shape(config), [512, 256])


@GENERATORS.register("mlp-relu", help="first-day generator: latent-128-pixels with ReLU, Tanh")
def mlp_relu_generator(config: ModelConfig) -> nn.Module:
    return MLPGenerator(config.latent_dim, [128], _shape(config), nn.ReLU)


@DISCRIMINATORS.register("mlp-relu", help="first-day discriminator: pixels-128-1 with LeakyReLU(0.2), logit")
def mlp_relu_discriminator(config: ModelConfig) -> nn.Module:
    return MLPDiscriminator(_shape(config), [128])
