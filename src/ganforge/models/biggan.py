"""BigGAN-lite (Brock et al. 2019), small enough for a CPU: the generator's conditioning and the ResNet D.

Generator (`model.g_conditioning=native`): one class embedding shared by every block; z split into one chunk for
the first linear layer and one per residual up-block (hierarchical latent); each block's BatchNorms take their
scale and shift from [shared embedding, its z chunk] (conditional BatchNorm); spectral norm on every convolution
and linear layer and orthogonal initialisation, as BigGAN has them. Channels halve from 2**k * g_width at the
smallest map to g_width at the image. Two departures, both measured on the built-in digits (see the README): the
shared embedding starts N(0, 1), not orthogonal, since orthogonal rows of norm 1 beside a z chunk of norm ~6 moved
the CBN gains 5x less with the class than with z after 1,000 steps; `model.class_into_linear=true` also feeds the
embedding to the first linear layer, as BigGAN-deep does, which took class fidelity from 14 % to 86 % there.
Discriminator: SNGAN-style residual down-blocks with channels doubling from d_width, ReLU and a global sum, a
linear logit; `model.d_conditioning=projection` adds the class projection on the summed features, and
`model.spectral_norm=true` normalises it, as in BigGAN; `model.projection_features=map` has the embedding meet the
map before the sum instead (it declares `pooled_map_shape`). Resolutions b * 2**k with b in 4..7 (28, 32, 64).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from ..config import ModelConfig
from ..errors import GanforgeError
from ..inputs import ClassLabel, GeneratorInputs, Latent
from .dcgan import resolution_plan
from .registry import DISCRIMINATORS, GENERATORS
from .sngan import DiscriminatorBlock, GlobalSum

Tensor = torch.Tensor


class ConditionalNorm(nn.Module):
    """BatchNorm without affine parameters; scale 1 + W_g c and shift W_b c from the conditioning vector c."""

    def __init__(self, channels: int, cond_dim: int) -> None:
        super().__init__()
        self.norm = nn.BatchNorm2d(channels, affine=False)
        self.gain = nn.Linear(cond_dim, channels, bias=False)
        self.shift = nn.Linear(cond_dim, channels, bias=False)

    def forward(self, x: Tensor, cond: Tensor) -> Tensor:
        return self.norm(x) * (1 + self.gain(cond)).view(-1, x.shape[1], 1, 1) + self.shift(cond).view(-1, x.shape[1],
                                                                                                         1, 1)


class UpBlock(nn.Module):
    """CBN-ReLU-upsample-conv-CBN-ReLU-conv with an upsampled 1x1-conv shortcut."""

    def __init__(self, in_ch: int, out_ch: int, cond_dim: int) -> None:
        super().__init__()
        self.norm1, self.conv1 = ConditionalNorm(in_ch, cond_dim), nn.Conv2d(in_ch, out_ch, 3, 1, 1)
        self.norm2, self.conv2 = ConditionalNorm(out_ch, cond_dim), nn.Conv2d(out_ch, out_ch, 3, 1, 1)
        self.shortcut = nn.Conv2d(in_ch, out_ch, 1)

    def forward(self, x: Tensor, cond: Tensor) -> Tensor:
        h = self.conv1(F.interpolate(F.relu(self.norm1(x, cond)), scale_factor=2))
        h = self.conv2(F.relu(self.norm2(h, cond)))
        return h + self.shortcut(F.interpolate(x, scale_factor=2))


class BigGANGenerator(nn.Module):
    def __init__(self, latent_dim: int, classes: int, resolution: int, channels: int, width: int,
                 class_into_linear: bool = False) -> None:
        super().__init__()
        self.base, doublings = resolution_plan(resolution)
        chunks = doublings + 1
        if latent_dim % chunks:
            raise GanforgeError(f"the biggan generator splits z into {chunks} chunks at {resolution}x{resolution}; "
                                f"model.latent_dim={latent_dim} must be a multiple of {chunks}")
        self.chunk = latent_dim // chunks
        self.inputs = GeneratorInputs({"z": Latent(latent_dim), "label": ClassLabel(classes)})
        self.top = width * 2 ** doublings
        self.shared = nn.Embedding(classes, 2 * width)
        cond_dim = 2 * width + self.chunk
        self.class_into_linear = class_into_linear
        self.project = nn.Linear(self.chunk + (2 * width if class_into_linear else 0), self.base * self.base * self.top)
        self.blocks = nn.ModuleList(UpBlock(width * 2 ** (doublings - i), width * 2 ** (doublings - i - 1), cond_dim)
                                    for i in range(doublings))
        self.out_norm = nn.BatchNorm2d(width)
        self.out_conv = nn.Conv2d(width, channels, 3, 1, 1)
        for module in self.modules():
            if isinstance(module, (nn.Conv2d, nn.Linear, nn.Embedding)):
                nn.init.orthogonal_(module.weight)
                if getattr(module, "bias", None) is not None:
                    nn.init.zeros_(module.bias)
        nn.init.normal_(self.shared.weight)
        for module in list(self.modules()):
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                spectral_norm(module)

    def forward(self, z: Tensor, label: Tensor) -> Tensor:
        parts = z.split(self.chunk, dim=1)
        shared = self.shared(label)
        first = torch.cat([shared, parts[0]], dim=1) if self.class_into_linear else parts[0]
        h = self.project(first).view(-1, self.top, self.base, self.base)
        for block, part in zip(self.blocks, parts[1:]):
            h = block(h, torch.cat([shared, part], dim=1))
        return torch.tanh(self.out_conv(F.relu(self.out_norm(h))))


class BigGANDiscriminator(nn.Module):
    def __init__(self, resolution: int, channels: int, width: int) -> None:
        super().__init__()
        self.input_shape = (channels, resolution, resolution)
        base, doublings = resolution_plan(resolution)
        blocks = [DiscriminatorBlock(channels, width, down=True, first=True)]
        blocks += [DiscriminatorBlock(width * 2 ** i, width * 2 ** (i + 1), down=True) for i in range(doublings - 1)]
        top = width * 2 ** (doublings - 1)
        blocks.append(DiscriminatorBlock(top, top, down=False))
        self.body = nn.Sequential(*blocks, nn.ReLU(), GlobalSum())
        self.head = nn.Linear(top, 1)
        self.feature_shape = (top,)
        self.pooled_map_shape = (top, base, base)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.body(x)).view(-1)


@GENERATORS.register("biggan", help="BigGAN-lite generator: shared class embedding, hierarchical z into conditional "
                                    "BatchNorm, spectral norm (needs model.num_classes and g_conditioning=native)")
def biggan_generator(config: ModelConfig) -> nn.Module:
    if not config.num_classes:
        raise GanforgeError("the biggan generator is class-conditional: set model.num_classes (and "
                            "model.g_conditioning=native)")
    return BigGANGenerator(config.latent_dim, config.num_classes, config.resolution, config.channels, config.g_width,
                           config.class_into_linear)


@DISCRIMINATORS.register("biggan", help="BigGAN-lite discriminator: residual down-blocks doubling from d_width, sum "
                                        "pool, linear logit (with model.d_conditioning=projection)")
def biggan_discriminator(config: ModelConfig) -> nn.Module:
    return BigGANDiscriminator(config.resolution, config.channels, config.d_width)
