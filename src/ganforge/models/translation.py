"""Image-to-image networks: the U-Net (pix2pix), the residual translator (CycleGAN), the encoder-decoder (DiscoGAN,
the U-Net without skips) and the PatchGAN discriminator.

Each generator declares one input, `image` (`model.input_channels` channels), and is fully convolutional: an image
of any size is padded (by reflection) to a multiple of what the network halves it to, translated, and cropped back,
so a model trained on 28 or 256 px crops translates whole photos (the pytorch-CycleGAN-and-pix2pix complaint).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..config import ModelConfig
from ..errors import GanforgeError
from ..inputs import GeneratorInputs, ImageInput
from .registry import DISCRIMINATORS, GENERATORS
from .stabilizers import norm_layer

Tensor = torch.Tensor


def input_channels(config: ModelConfig) -> int:
    return config.input_channels or config.channels


def image_inputs(config: ModelConfig) -> GeneratorInputs:
    return GeneratorInputs({"image": ImageInput(input_channels(config), config.resolution)})


def pad_to_multiple(x: Tensor, multiple: int) -> tuple[Tensor, tuple[int, int]]:
    """x padded on the bottom and right to a multiple of `multiple` (reflection where the image is big enough)."""
    height, width = x.shape[-2:]
    pad_h, pad_w = -height % multiple, -width % multiple
    if pad_h or pad_w:
        mode = "reflect" if pad_h < height and pad_w < width else "replicate"
        x = F.pad(x, (0, pad_w, 0, pad_h), mode=mode)
    return x, (height, width)


def default_levels(resolution: int) -> int:
    """U-Net levels that take the (padded) training crop down to 1x1, as unet_256's 8 levels do at 256 px."""
    return max(1, (resolution - 1).bit_length())


class UNetGenerator(nn.Module):
    """pix2pix's U-Net (Isola et al. 2017): C64-C128-C256-C512... down with LeakyReLU(0.2), mirrored up with ReLU,
    each decoder level reading its encoder twin through a skip, dropout 0.5 in the three innermost decoder levels
    (the generator's only noise). Without skips it is DiscoGAN's encoder-decoder (Kim et al. 2017)."""

    def __init__(self, in_channels: int, out_channels: int, width: int, levels: int, norm: str = "batch",
                 skips: bool = True, dropout: bool = True) -> None:
        super().__init__()
        if levels < 2:
            raise GanforgeError(f"a U-Net needs at least 2 levels, got model.g_depth={levels}")
        self.levels, self.skips = levels, skips
        widths = [width * min(2 ** i, 8) for i in range(levels)]
        self.down = nn.ModuleList([nn.Conv2d(in_channels, widths[0], 4, 2, 1)])
        for i in range(1, levels):
            innermost = i == levels - 1
            self.down.append(nn.Sequential(nn.LeakyReLU(0.2), nn.Conv2d(widths[i - 1], widths[i], 4, 2, 1),
                                           nn.Identity() if innermost else norm_layer(norm, widths[i])))
        self.up = nn.ModuleList()
        for i in reversed(range(1, levels)):
            fan_in = widths[i] * (2 if skips and i < levels - 1 else 1)
            layers: list[nn.Module] = [nn.ReLU(), nn.ConvTranspose2d(fan_in, widths[i - 1], 4, 2, 1),
                                       norm_layer(norm, widths[i - 1])]
            if dropout and levels - 4 <= i <= levels - 2:  # the three levels just outside the innermost
                layers.append(nn.Dropout(0.5))
            self.up.append(nn.Sequential(*layers))
        self.out = nn.Sequential(nn.ReLU(), nn.ConvTranspose2d(widths[0] * (2 if skips else 1), out_channels, 4, 2, 1),
                                 nn.Tanh())

    def forward(self, image: Tensor) -> Tensor:
        x, (height, width) = pad_to_multiple(image, 2 ** self.levels)
        features = []
        for layer in self.down:
            x = layer(x)
            features.append(x)
        features.pop()  # the innermost level has no twin to join
        for layer in self.up:
            x = layer(x)
            skip = features.pop()
            x = torch.cat([x, skip], 1) if self.skips else x
        return self.out(x)[..., :height, :width]


class ResidualBlock(nn.Module):
    def __init__(self, channels: int, norm: str) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3), norm_layer(norm, channels),
                                  nn.ReLU(), nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3),
                                  norm_layer(norm, channels))

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)


class ResidualTranslator(nn.Module):
    """CycleGAN's generator (Zhu et al. 2017, after Johnson et al. 2016): c7s1-64, d128, d256, `blocks` residual
    blocks, u128, u64, c7s1-3, instance-normalised, reflection-padded."""

    def __init__(self, in_channels: int, out_channels: int, width: int, blocks: int, norm: str = "instance") -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.ReflectionPad2d(3), nn.Conv2d(in_channels, width, 7), norm_layer(norm, width),
                                   nn.ReLU()]
        for i in range(2):
            layers += [nn.Conv2d(width * 2 ** i, width * 2 ** (i + 1), 3, 2, 1), norm_layer(norm, width * 2 ** (i + 1)),
                       nn.ReLU()]
        layers += [ResidualBlock(width * 4, norm) for _ in range(blocks)]
        for i in reversed(range(2)):
            layers += [nn.ConvTranspose2d(width * 2 ** (i + 1), width * 2 ** i, 3, 2, 1, output_padding=1),
                       norm_layer(norm, width * 2 ** i), nn.ReLU()]
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(width, out_channels, 7), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, image: Tensor) -> Tensor:
        x, (height, width) = pad_to_multiple(image, 4)
        return self.net(x)[..., :height, :width]


class PatchDiscriminator(nn.Module):
    """PatchGAN (pix2pix's NLayerDiscriminator): `layers` strided 4x4 convs, one more at stride 1, then one logit per
    patch, (B, 1, h, w). Receptive field: 70 px for layers = 3, 34 for 2, 16 for 1."""

    def __init__(self, channels: int, width: int, layers: int, norm: str = "batch") -> None:
        super().__init__()
        modules: list[nn.Module] = [nn.Conv2d(channels, width, 4, 2, 1), nn.LeakyReLU(0.2)]
        ch = width
        for i in range(1, layers + 1):
            out = width * min(2 ** i, 8)
            stride = 2 if i < layers else 1
            modules += [nn.Conv2d(ch, out, 4, stride, 1), norm_layer(norm, out), nn.LeakyReLU(0.2)]
            ch = out
        self.body = nn.Sequential(*modules)
        self.head = nn.Conv2d(ch, 1, 4, 1, 1)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.body(x))

    def features(self, x: Tensor) -> list[Tensor]:
        """The activation after every LeakyReLU, then the logits: what pix2pixHD's feature matching compares."""
        out = []
        for layer in self.body:
            x = layer(x)
            if isinstance(layer, nn.LeakyReLU):
                out.append(x)
        return [*out, self.head(x)]


def receptive_field(layers: int) -> int:
    """The side of the input patch each PatchGAN logit sees."""
    field = 1
    kernels_and_strides = [(4, 2)] + [(4, 2 if i < layers else 1) for i in range(1, layers + 1)] + [(4, 1)]
    for kernel, stride in reversed(kernels_and_strides):
        field = (field - 1) * stride + kernel
    return field


def _norm(config: ModelConfig, default: str) -> str:
    return default if config.g_norm == "default" else config.g_norm


class ImageGenerator(nn.Module):
    """An image-to-image network with its declaration: G(image) -> image."""

    def __init__(self, net: nn.Module, config: ModelConfig) -> None:
        super().__init__()
        self.net = net
        self.inputs = image_inputs(config)

    def forward(self, image: Tensor) -> Tensor:
        return self.net(image)


@GENERATORS.register("unet", help="pix2pix's U-Net: skips, dropout 0.5 as its noise (levels = model.g_depth)")
def unet_generator(config: ModelConfig) -> nn.Module:
    levels = config.g_depth or default_levels(config.resolution)
    return ImageGenerator(UNetGenerator(input_channels(config), config.channels, config.g_width, levels,
                                        _norm(config, "batch")), config)


@GENERATORS.register("encoder-decoder", help="DiscoGAN's encoder-decoder: the U-Net's layers without skips or dropout")
def encoder_decoder_generator(config: ModelConfig) -> nn.Module:
    levels = config.g_depth or default_levels(config.resolution)
    return ImageGenerator(UNetGenerator(input_channels(config), config.channels, config.g_width, levels,
                                        _norm(config, "batch"), skips=False, dropout=False), config)


@GENERATORS.register("resnet-translator", help="CycleGAN's residual generator (model.g_blocks residual blocks)")
def resnet_translator(config: ModelConfig) -> nn.Module:
    return ImageGenerator(ResidualTranslator(input_channels(config), config.channels, config.g_width,
                                             config.g_blocks, _norm(config, "instance")), config)


@DISCRIMINATORS.register("patchgan", help="PatchGAN: one logit per patch (model.d_layers; 3 = 70x70 at 256 px)")
def patch_discriminator(config: ModelConfig) -> nn.Module:
    return PatchDiscriminator(config.channels, config.d_width, config.d_layers)
