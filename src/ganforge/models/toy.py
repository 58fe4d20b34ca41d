"""The small MLP pair of the 2D mode-collapse experiments (Metz et al. 2017, appendix A; also VEEGAN and PacGAN).

Points are (N, model.channels) vectors: `channels` is the dimension of the data (2 for the lab's ring and grid).
G: z -> 2 hidden layers of 128 ReLU units -> linear to the data dimension. D: 2 hidden layers of 128 ReLU units ->
one logit. `model.g_width`/`model.d_width` change the hidden size; `toy-mlp-deep` is a 4-hidden-layer generator.
"""

from __future__ import annotations

import torch
from torch import nn

from ..config import ModelConfig
from ..inputs import latent_only
from .registry import DISCRIMINATORS, GENERATORS


class ToyGenerator(nn.Module):
    def __init__(self, latent_dim: int, dim: int, width: int, depth: int = 2) -> None:
        super().__init__()
        self.latent_dim = latent_dim
        self.inputs = latent_only(latent_dim)
        self.output_shape = (dim,)
        layers: list[nn.Module] = []
        for i in range(depth):
            layers += [nn.Linear(latent_dim if i == 0 else width, width), nn.ReLU()]
        self.net = nn.Sequential(*layers, nn.Linear(width, dim))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)


class ToyDiscriminator(nn.Module):
    def __init__(self, dim: int, width: int) -> None:
        super().__init__()
        self.input_shape = (dim,)
        self.body = nn.Sequential(nn.Linear(dim, width), nn.ReLU(), nn.Linear(width, width), nn.ReLU())
        self.head = nn.Linear(width, 1)
        self.feature_shape = (width,)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x)).view(-1)


@GENERATORS.register("toy-mlp", help="2D-lab generator: 2 x 128 ReLU layers, linear output of model.channels values")
def toy_generator(config: ModelConfig) -> nn.Module:
    return ToyGenerator(config.latent_dim, config.channels, config.g_width)


@GENERATORS.register("toy-mlp-deep", help="2D-lab generator with 4 hidden ReLU layers of model.g_width (the depth of "
                                          "VEEGAN's and PacGAN's 2D generator): sharper jumps between modes")
def toy_generator_deep(config: ModelConfig) -> nn.Module:
    return ToyGenerator(config.latent_dim, config.channels, config.g_width, depth=4)


@DISCRIMINATORS.register("toy-mlp", help="2D-lab discriminator: 2 x 128 ReLU layers, one logit")
def toy_discriminator(config: ModelConfig) -> nn.Module:
    return ToyDiscriminator(config.channels, config.d_width)
