"""SNGAN's ResNet pair for 32x32 images (Miyato et al. 2018, appendix B.4; the CIFAR-10 architecture).

G: z -> linear to a 4x4 map -> up-sampling residual blocks -> BN, ReLU, 3x3 conv, Tanh. D: a first "optimised"
down-sampling block, further down-sampling blocks to 8x8, two plain residual blocks, ReLU, global sum pooling and a
linear logit. Spectral norm is not built in: `model.spectral_norm=true` (the `cifar10-sngan` preset) applies it to
every D layer, as for any other D. Resolutions 4 * 2**n with n >= 2 work (16, 32, 64, ...).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..config import ModelConfig
from ..inputs import latent_only
from ..errors import GanforgeError
from .registry import DISCRIMINATORS, GENERATORS


def _up_blocks(resolution: int) -> int:
    n, size = 0, resolution
    while size > 4 and size % 2 == 0:
        size //= 2
        n += 1
    if size != 4 or n < 2:
        raise GanforgeError(f"the SNGAN ResNet needs a resolution of 4 * 2**n with n >= 2 (16, 32, 64, ...), got "
                            f"{resolution}; set model.resolution")
    return n


class GeneratorBlock(nn.Module):
    """BN-ReLU-up-conv-BN-ReLU-conv with an up-sampled 1x1-conv shortcut."""

    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__()
        self.bn1, self.conv1 = nn.BatchNorm2d(in_ch), nn.Conv2d(in_ch, out_ch, 3, 1, 1)
        self.bn2, self.conv2 = nn.BatchNorm2d(out_ch), nn.Conv2d(out_ch, out_ch, 3, 1, 1)
        self.shortcut = nn.Conv2d(in_ch, out_ch, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.interpolate(F.relu(self.bn1(x)), scale_factor=2)
        h = self.conv2(F.relu(self.bn2(self.conv1(h))))
        return h + self.shortcut(F.interpolate(x, scale_factor=2))


class DiscriminatorBlock(nn.Module):
    """ReLU-conv-ReLU-conv (optionally average-pooled) with a 1x1-conv shortcut where shapes change.

    The first block (`first=True`) skips the leading ReLU, which would discard half the raw input (the paper's
    "optimised" block), and pools its shortcut before the 1x1 conv.
    """

    def __init__(self, in_ch: int, out_ch: int, down: bool, first: bool = False) -> None:
        super().__init__()
        self.down, self.first = down, first
        self.conv1, self.conv2 = nn.Conv2d(in_ch, out_ch, 3, 1, 1), nn.Conv2d(out_ch, out_ch, 3, 1, 1)
        self.shortcut = nn.Conv2d(in_ch, out_ch, 1) if (down or in_ch != out_ch) else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv2(F.relu(self.conv1(x if self.first else F.relu(x))))
        if self.down:
            h = F.avg_pool2d(h, 2)
        s = x
        if self.first and self.down:
            return h + self.shortcut(F.avg_pool2d(s, 2))
        s = self.shortcut(s)
        return h + (F.avg_pool2d(s, 2) if self.down else s)


class SNGANGenerator(nn.Module):
    def __init__(self, latent_dim: int, resolution: int, channels: int, width: int) -> None:
        super().__init__()
        self.latent_dim, self.width = latent_dim, width
        self.inputs = latent_only(latent_dim)
        self.output_shape = (channels, resolution, resolution)
        self.project = nn.Linear(latent_dim, 4 * 4 * width)
        self.blocks = nn.Sequential(*[GeneratorBlock(width, width) for _ in range(_up_blocks(resolution))])
        self.out = nn.Sequential(nn.BatchNorm2d(width), nn.ReLU(), nn.Conv2d(width, channels, 3, 1, 1), nn.Tanh())

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.out(self.blocks(self.project(z).view(-1, self.width, 4, 4)))


class GlobalSum(nn.Module):
    """A sum over all positions: SNGAN's and BigGAN's global pooling, after a ReLU of its own (kept apart so that a
    projection can read the map before the sum)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.sum(dim=(2, 3))


class SNGANDiscriminator(nn.Module):
    def __init__(self, resolution: int, channels: int, width: int) -> None:
        super().__init__()
        self.input_shape = (channels, resolution, resolution)
        downs = _up_blocks(resolution) - 1  # down to 8x8
        blocks = [DiscriminatorBlock(channels, width, down=True, first=True)]
        blocks += [DiscriminatorBlock(width, width, down=True) for _ in range(downs - 1)]
        blocks += [DiscriminatorBlock(width, width, down=False) for _ in range(2)]
        self.body = nn.Sequential(*blocks, nn.ReLU(), GlobalSum())
        self.head = nn.Linear(width, 1)
        self.feature_shape = (width,)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x)).view(-1)


@GENERATORS.register("sngan", help="SNGAN ResNet generator (Miyato et al. 2018): 4x4 -> residual up-blocks, width g_width")
def sngan_generator(config: ModelConfig) -> nn.Module:
    return SNGANGenerator(config.latent_dim, config.resolution, config.channels, config.g_width)


@DISCRIMINATORS.register("sngan", help="SNGAN ResNet discriminator: residual down-blocks, sum pool, linear logit")
def sngan_discriminator(config: ModelConfig) -> nn.Module:
    return SNGANDiscriminator(config.resolution, config.channels, config.d_width)
