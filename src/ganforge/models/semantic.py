"""Semantic image synthesis networks: label map -> image (Pix2PixHD's coarse-to-fine generator, SPADE's generator)
and the multi-scale PatchGAN discriminator both papers judge with.

Each generator declares one input, `label_map` (`LabelMap(model.label_classes)`: int64 class indices, one-hot
encoded inside), and is fully convolutional: a label map of any size is padded to a multiple of what the network
halves it to, painted, and cropped back.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from ..config import ModelConfig
from ..errors import GanforgeError
from ..inputs import GeneratorInputs, LabelMap
from .registry import DISCRIMINATORS, GENERATORS
from .stabilizers import norm_layer
from .translation import PatchDiscriminator, ResidualBlock, pad_to_multiple

Tensor = torch.Tensor


def label_map_inputs(config: ModelConfig) -> GeneratorInputs:
    if config.label_classes < 1:
        raise GanforgeError(f"model.generator '{config.generator}' paints label maps: set model.label_classes to "
                            f"the number of classes in them (shapes-seg: 4)")
    return GeneratorInputs({"label_map": LabelMap(config.label_classes, config.resolution)})


def pad_label_map(label_map: Tensor, multiple: int) -> tuple[Tensor, tuple[int, int]]:
    """A label map padded on the bottom and right to a multiple of `multiple`, repeating its edge classes."""
    padded, size = pad_to_multiple(label_map.float(), multiple)
    return padded.long(), size


def downsample(x: Tensor) -> Tensor:
    """pix2pixHD's 3x3 average pool, stride 2, padding not counted: how its coarser scales see an input."""
    return F.avg_pool2d(x, 3, stride=2, padding=1, count_include_pad=False)


class GlobalLocalGenerator(nn.Module):
    """Pix2PixHD's generator (Wang et al. 2018): a global generator G1 (c7s1, `down` stride-2 convs, `blocks`
    residual blocks, as many transposed convs) on the input downsampled 2x, and a local enhancer G2 that
    downsamples the full-resolution input once, adds G1's last feature map, refines it with 3 residual blocks and
    upsamples to the output (c7s1-3, tanh). G1 is twice as wide as G2, as in the paper."""

    LOCAL_BLOCKS = 3  # the paper's n_blocks_local

    def __init__(self, in_channels: int, out_channels: int, width: int, down: int, blocks: int,
                 norm: str = "instance") -> None:
        super().__init__()
        self.down = down
        wide = 2 * width  # G1's width, and the channels G2 adds it at
        layers: list[nn.Module] = [nn.ReflectionPad2d(3), nn.Conv2d(in_channels, wide, 7), norm_layer(norm, wide),
                                   nn.ReLU()]
        for i in range(down):
            layers += [nn.Conv2d(wide * 2 ** i, wide * 2 ** (i + 1), 3, 2, 1), norm_layer(norm, wide * 2 ** (i + 1)),
                       nn.ReLU()]
        layers += [ResidualBlock(wide * 2 ** down, norm) for _ in range(blocks)]
        for i in reversed(range(down)):
            layers += [nn.ConvTranspose2d(wide * 2 ** (i + 1), wide * 2 ** i, 3, 2, 1, output_padding=1),
                       norm_layer(norm, wide * 2 ** i), nn.ReLU()]
        self.global_generator = nn.Sequential(*layers)
        self.local_down = nn.Sequential(nn.ReflectionPad2d(3), nn.Conv2d(in_channels, width, 7),
                                        norm_layer(norm, width), nn.ReLU(), nn.Conv2d(width, wide, 3, 2, 1),
                                        norm_layer(norm, wide), nn.ReLU())
        self.local_up = nn.Sequential(*[ResidualBlock(wide, norm) for _ in range(self.LOCAL_BLOCKS)],
                                      nn.ConvTranspose2d(wide, width, 3, 2, 1, output_padding=1),
                                      norm_layer(norm, width), nn.ReLU(), nn.ReflectionPad2d(3),
                                      nn.Conv2d(width, out_channels, 7), nn.Tanh())

    def forward(self, x: Tensor) -> Tensor:
        x, (height, width) = pad_to_multiple(x, 2 ** (self.down + 1))
        coarse = self.global_generator(downsample(x))
        return self.local_up(self.local_down(x) + coarse)[..., :height, :width]


class SPADE(nn.Module):
    """Spatially-adaptive normalisation (Park et al. 2019): activations normalised without learned affine, then
    scaled and shifted per pixel by gamma and beta that a small conv net computes from the label map, resized to
    the activations' size (so the layout is not washed out by normalisation)."""

    def __init__(self, channels: int, label_channels: int, hidden: int, norm: str = "batch") -> None:
        super().__init__()
        self.norm = (nn.BatchNorm2d(channels, affine=False) if norm == "batch" else
                     nn.InstanceNorm2d(channels, affine=False))
        self.shared = nn.Sequential(nn.Conv2d(label_channels, hidden, 3, padding=1), nn.ReLU())
        self.gamma = nn.Conv2d(hidden, channels, 3, padding=1)
        self.beta = nn.Conv2d(hidden, channels, 3, padding=1)

    def forward(self, x: Tensor, segmentation: Tensor) -> Tensor:
        hidden = self.shared(F.interpolate(segmentation, size=x.shape[-2:], mode="nearest"))
        return self.norm(x) * (1 + self.gamma(hidden)) + self.beta(hidden)


class SPADEResBlock(nn.Module):
    """SPADE's residual block: (SPADE, LeakyReLU 0.2, 3x3 conv) twice, with a learned 1x1 shortcut (after its own
    SPADE) when the width changes; spectral norm on every conv, as the paper's generator."""

    def __init__(self, fan_in: int, fan_out: int, label_channels: int, hidden: int, norm: str) -> None:
        super().__init__()
        middle = min(fan_in, fan_out)
        self.norm_0, self.conv_0 = SPADE(fan_in, label_channels, hidden, norm), nn.Conv2d(fan_in, middle, 3, 1, 1)
        self.norm_1, self.conv_1 = SPADE(middle, label_channels, hidden, norm), nn.Conv2d(middle, fan_out, 3, 1, 1)
        self.conv_0, self.conv_1 = spectral_norm(self.conv_0), spectral_norm(self.conv_1)
        self.shortcut_norm = SPADE(fan_in, label_channels, hidden, norm) if fan_in != fan_out else None
        self.shortcut = spectral_norm(nn.Conv2d(fan_in, fan_out, 1, bias=False)) if fan_in != fan_out else None

    def forward(self, x: Tensor, segmentation: Tensor) -> Tensor:
        skip = x if self.shortcut is None else self.shortcut(self.shortcut_norm(x, segmentation))
        dx = self.conv_0(F.leaky_relu(self.norm_0(x, segmentation), 0.2))
        dx = self.conv_1(F.leaky_relu(self.norm_1(dx, segmentation), 0.2))
        return skip + dx


class SPADEGenerator(nn.Module):
    """SPADE's generator without its style encoder: the label map downsampled to 4x4 (for 32 px; 1/2^levels of the
    size) through a 3x3 conv, then a SPADE residual block per scale with 2x nearest upsampling between them, each
    block reading the label map at its own size; LeakyReLU, 3x3 conv, tanh."""

    def __init__(self, label_channels: int, out_channels: int, width: int, levels: int, hidden: int,
                 norm: str = "batch") -> None:
        super().__init__()
        self.levels = levels
        widths = [width * 2 ** min(levels - i, 3) for i in range(levels + 1)]  # 8w at the coarsest, w at the finest
        self.head = nn.Conv2d(label_channels, widths[0], 3, padding=1)
        self.blocks = nn.ModuleList([SPADEResBlock(widths[0], widths[0], label_channels, hidden, norm)])
        self.blocks.extend(SPADEResBlock(widths[i - 1], widths[i], label_channels, hidden, norm)
                           for i in range(1, levels + 1))
        self.out = nn.Conv2d(widths[-1], out_channels, 3, padding=1)

    def forward(self, segmentation: Tensor) -> Tensor:
        segmentation, (height, width) = pad_to_multiple(segmentation, 2 ** self.levels)
        size = (segmentation.shape[-2] // 2 ** self.levels, segmentation.shape[-1] // 2 ** self.levels)
        x = self.head(F.interpolate(segmentation, size=size, mode="nearest"))
        for i, block in enumerate(self.blocks):
            if i > 0:
                x = F.interpolate(x, scale_factor=2, mode="nearest")
            x = block(x, segmentation)
        return torch.tanh(self.out(F.leaky_relu(x, 0.2)))[..., :height, :width]


class LabelMapGenerator(nn.Module):
    """A label-map-to-image network with its declaration: G(label_map) -> image; the map enters one-hot."""

    def __init__(self, net: nn.Module, config: ModelConfig) -> None:
        super().__init__()
        self.net = net
        self.inputs = label_map_inputs(config)
        self.spec: LabelMap = self.inputs["label_map"]

    def forward(self, label_map: Tensor) -> Tensor:
        return self.net(self.spec.encode(label_map))


class MultiScaleDiscriminator(nn.Module):
    """pix2pixHD's multi-scale D: `scales` PatchGANs of the same design, the k-th judging the input downsampled k
    times, so the coarse one sees global layout and the fine one texture. `forward` gives each scale's logits;
    `features` each scale's intermediate activations too (for the feature-matching loss)."""

    def __init__(self, channels: int, width: int, layers: int, scales: int) -> None:
        super().__init__()
        self.scales = nn.ModuleList([PatchDiscriminator(channels, width, layers) for _ in range(scales)])

    def _inputs(self, x: Tensor) -> list[Tensor]:
        inputs = [x]
        for _ in range(len(self.scales) - 1):
            inputs.append(downsample(inputs[-1]))
        return inputs

    def forward(self, x: Tensor) -> list[Tensor]:
        return [d(inp) for d, inp in zip(self.scales, self._inputs(x), strict=True)]

    def features(self, x: Tensor) -> list[list[Tensor]]:
        """Per scale: the activation after every LeakyReLU, then the logits."""
        return [d.features(inp) for d, inp in zip(self.scales, self._inputs(x), strict=True)]


def _norm(config: ModelConfig, default: str) -> str:
    return default if config.g_norm == "default" else config.g_norm


@GENERATORS.register("global-local", help="Pix2PixHD's coarse-to-fine G: global generator at half size + local "
                                          "enhancer (model.g_depth downsamplings, model.g_blocks residual blocks)")
def global_local_generator(config: ModelConfig) -> nn.Module:
    down = config.g_depth or max(1, (config.resolution // 2).bit_length() - 3)  # the global G's input to ~4x4
    return LabelMapGenerator(GlobalLocalGenerator(config.label_classes, config.channels, config.g_width, down,
                                                  config.g_blocks, _norm(config, "instance")), config)


@GENERATORS.register("spade", help="SPADE's G: spatially-adaptive normalisation from the label map in every block "
                                   "(model.g_depth upsamplings from 4x4 at 32 px)")
def spade_generator(config: ModelConfig) -> nn.Module:
    levels = config.g_depth or max(1, config.resolution.bit_length() - 3)  # from resolution / 2^levels ~ 4 px
    norm = _norm(config, "batch")
    if norm not in ("batch", "instance"):
        raise GanforgeError(f"model.g_norm={config.g_norm}: SPADE normalises with batch or instance statistics")
    hidden = min(128, 2 * config.g_width)  # the paper's 128 channels in SPADE's shared conv, scaled with the width
    return LabelMapGenerator(SPADEGenerator(config.label_classes, config.channels, config.g_width, levels, hidden,
                                            norm), config)


@DISCRIMINATORS.register("multiscale-patchgan", help="pix2pixHD/SPADE's multi-scale PatchGAN (model.d_scales "
                                                     "PatchGANs on the input downsampled 0, 1, ... times)")
def multiscale_discriminator(config: ModelConfig) -> nn.Module:
    coarsest = -(-config.resolution // 2 ** (config.d_scales - 1))
    side = coarsest // 2 ** config.d_layers - 1  # after the strided convs and the stride-1 conv before the head
    if side < 2:
        raise GanforgeError(f"model.d_layers={config.d_layers} with model.d_scales={config.d_scales} leaves the "
                            f"coarsest scale ({coarsest} px) under 2x2 before D's head; lower model.d_layers or "
                            f"model.d_scales")
    return MultiScaleDiscriminator(config.channels, config.d_width, config.d_layers, config.d_scales)
