"""StyleGAN2's networks, small and in plain PyTorch (Karras et al. 2020, config E: skip G, residual D).

Generator: a mapping network (model.mapping_layers fully connected layers at learning-rate multiplier
model.mapping_lr) turns z (normalised to unit mean square) into w; a learned constant 4x4 input is then shaped by
one style per layer through modulated convolutions: the weights are scaled per input channel by the style (an affine
map of w) and demodulated per output channel to unit expected output variance. Each convolution adds per-pixel noise
scaled by a learned strength, then a bias and a leaky ReLU with gain sqrt(2). Every resolution has its toRGB (a
modulated 1x1 convolution, not demodulated), and the images are summed over resolutions, each upsampled (skip
architecture). Up- and downsampling use the [1, 3, 3, 1] low-pass filter, as two small matrix products per image (tested
against the depthwise-convolution form of NVIDIA's upfirdn2d) rather than a CUDA plugin. The upsampling convolution
filters, then convolves (NVIDIA: a transposed convolution, then the filter). In eval mode the noise is a fixed
buffer per layer (NVIDIA's noise_mode='const'), so a seed gives the same image every time; in training it is drawn anew.

The generator tracks the mean w (`w_avg`, an EMA of batch means in training mode) and declares a truncation input
`psi` (`inputs.TruncationPsi`): w -> w_avg + psi (w - w_avg), so `ganforge sample --truncation PSI` works through the
declaration. Style mixing: `mix_z` and `mix_cutoff` give the layers from the cutoff on the w of a second latent.

Discriminator: fromRGB at full resolution, residual blocks (two 3x3 convolutions, the second followed by the
low-pass 2x downsampling, with a 1x1 downsampled skip, summed and scaled by 1/sqrt(2)), then at 4x4 the minibatch
standard deviation, a 3x3 convolution and two fully connected layers.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..config import ModelConfig
from ..inputs import GeneratorInputs, Latent, TruncationPsi
from .equalized import EqualizedConv2d, EqualizedLinear
from .progan import final_stage
from .registry import DISCRIMINATORS, GENERATORS
from .stabilizers import MinibatchStdDev

Tensor = torch.Tensor
GAIN = math.sqrt(2.0)


def act(x: Tensor) -> Tensor:
    """Leaky ReLU(0.2) with StyleGAN2's gain sqrt(2) (weights are initialised at gain 1)."""
    return F.leaky_relu(x, 0.2) * GAIN


def resampling_matrix(size: int, up: bool, device: torch.device, dtype: torch.dtype) -> Tensor:
    """The [1, 3, 3, 1] filter with zero padding as a matrix along one axis (NVIDIA's upfirdn2d):
    up (2n x n): y[2i] = x[i-1] / 4 + 3 x[i] / 4, y[2i+1] = 3 x[i] / 4 + x[i+1] / 4 (pad [2, 1], gain 2 per axis);
    down (n/2 x n): y[k] = (x[2k-1] + 3 x[2k] + 3 x[2k+1] + x[2k+2]) / 8 (pad [1, 1])."""
    if up:
        rows, taps = 2 * size, {(0, -1): 0.25, (0, 0): 0.75, (1, 0): 0.75, (1, 1): 0.25}
        out = torch.zeros(rows, size, dtype=torch.float64)
        for i in range(size):
            for (parity, shift), weight in taps.items():
                if 0 <= i + shift < size:
                    out[2 * i + parity, i + shift] = weight
    else:
        out = torch.zeros(size // 2, size, dtype=torch.float64)
        for k in range(size // 2):
            for shift, weight in ((-1, 0.125), (0, 0.375), (1, 0.375), (2, 0.125)):
                if 0 <= 2 * k + shift < size:
                    out[k, 2 * k + shift] = weight
    return out.to(device=device, dtype=dtype)


def _resample(x: Tensor, up: bool) -> Tensor:
    # two small matrix products: on the CPU much faster than a depthwise (transposed) convolution or strided copies
    rows = resampling_matrix(x.shape[2], up, x.device, x.dtype)
    columns = rows if x.shape[3] == x.shape[2] else resampling_matrix(x.shape[3], up, x.device, x.dtype)
    return torch.matmul(torch.matmul(rows, x), columns.t())


def upsample2d(x: Tensor) -> Tensor:
    """2x upsampling with the separable [1, 3, 3, 1] low-pass filter (gain 4, which keeps a constant image)."""
    return _resample(x, up=True)


def downsample2d(x: Tensor) -> Tensor:
    """The separable [1, 3, 3, 1] low-pass filter, then every second pixel."""
    return _resample(x, up=False)


def normalize_2nd_moment(x: Tensor, eps: float = 1e-8) -> Tensor:
    return x * x.square().mean(dim=1, keepdim=True).add(eps).rsqrt()


class MappingNetwork(nn.Module):
    def __init__(self, z_dim: int, w_dim: int, layers: int, lr_multiplier: float, w_avg_beta: float = 0.995) -> None:
        super().__init__()
        dims = [z_dim] + [w_dim] * layers
        self.layers = nn.ModuleList([EqualizedLinear(a, b, gain=1.0, lr_multiplier=lr_multiplier)
                                     for a, b in zip(dims[:-1], dims[1:])])
        self.w_avg_beta = w_avg_beta
        self.register_buffer("w_avg", torch.zeros(w_dim))

    def forward(self, z: Tensor) -> Tensor:
        x = normalize_2nd_moment(z)
        for layer in self.layers:
            x = act(layer(x))
        if self.training:  # the mean w, tracked in training for truncation
            with torch.no_grad():
                self.w_avg.copy_(torch.lerp(x.detach().mean(dim=0), self.w_avg, self.w_avg_beta))
        return x


class ModulatedConv2d(nn.Module):
    """A convolution whose weights are scaled per sample and input channel by a style s = A(w) (bias init 1), and,
    when demodulated, divided per output channel by sqrt(sum_(i,k) (w_oik s_i)^2 + 1e-8).

    Computed without grouped convolutions (NVIDIA's fused_modconv=False form): scale the input by s, convolve with
    the shared weights, scale the output by the demodulation coefficients: the same numbers."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, w_dim: int, demodulate: bool = True,
                 up: bool = False) -> None:
        super().__init__()
        self.affine = EqualizedLinear(w_dim, in_channels, gain=1.0, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.weight_gain = 1.0 / math.sqrt(in_channels * kernel_size * kernel_size)
        self.demodulate, self.up, self.padding = demodulate, up, kernel_size // 2

    def modulated_weights(self, w: Tensor) -> Tensor:
        """The per-sample weights (N, out, in, k, k) the layer applies: for tests and for reading."""
        styles = self.affine(w)
        weight = self.weight[None] * self.weight_gain * styles[:, None, :, None, None]
        if self.demodulate:
            weight = weight * weight.square().sum(dim=(2, 3, 4), keepdim=True).add(1e-8).rsqrt()
        return weight

    def forward(self, x: Tensor, w: Tensor) -> Tensor:
        styles = self.affine(w)
        weight = self.weight * self.weight_gain
        if self.up:
            x = upsample2d(x)
        x = F.conv2d(x * styles[:, :, None, None], weight, padding=self.padding)
        if self.demodulate:
            coefficients = (styles.square() @ weight.square().sum(dim=(2, 3)).t()).add(1e-8).rsqrt()
            x = x * coefficients[:, :, None, None]
        return x


class StyleLayer(nn.Module):
    """Modulated 3x3 convolution, per-pixel noise x learned strength, bias, leaky ReLU."""

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, resolution: int, up: bool = False) -> None:
        super().__init__()
        self.conv = ModulatedConv2d(in_channels, out_channels, 3, w_dim, up=up)
        self.noise_strength = nn.Parameter(torch.zeros(()))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.register_buffer("noise_const", torch.randn(resolution, resolution))

    def forward(self, x: Tensor, w: Tensor) -> Tensor:
        x = self.conv(x, w)
        if self.training:
            noise = torch.randn(x.shape[0], 1, x.shape[2], x.shape[3], device=x.device, dtype=x.dtype)
        else:
            noise = self.noise_const
        return act(x + noise * self.noise_strength + self.bias[None, :, None, None])


class ToRGB(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, w_dim: int) -> None:
        super().__init__()
        self.conv = ModulatedConv2d(in_channels, out_channels, 1, w_dim, demodulate=False)
        self.bias = nn.Parameter(torch.zeros(out_channels))

    def forward(self, x: Tensor, w: Tensor) -> Tensor:
        return self.conv(x, w) + self.bias[None, :, None, None]


def style_channels(width: int, resolution: int) -> list[int]:
    """Channels at 4x4, 8x8, ...: `width` at the full resolution, doubling per halving, at most 8 x width."""
    top = final_stage(resolution)
    return [min(width * 2 ** (top - s), width * 8) for s in range(top + 1)]


class StyleGenerator(nn.Module):
    """What style generators share: w per layer from z (truncation, mixing), the mean w, and the forward pass.

    A subclass sets `mapping` and `num_ws` and defines `synthesis(ws, shift=None)`."""

    mapping: MappingNetwork
    num_ws: int

    def ws(self, z: Tensor, psi: Tensor | None = None, mix_z: Tensor | None = None,
           mix_cutoff: int | None = None) -> Tensor:
        """(N, num_ws, w_dim): w per layer, truncated toward w_avg by psi, the layers from mix_cutoff on from mix_z."""
        w = self.mapping(z)
        if psi is not None and not bool((psi == 1).all()):
            w = torch.lerp(self.mapping.w_avg.expand_as(w), w, psi.view(-1, 1).to(w.dtype))
        ws = w.unsqueeze(1).repeat(1, self.num_ws, 1)
        if mix_z is not None and mix_cutoff is not None:
            mixed = self.mapping(mix_z)
            if psi is not None and not bool((psi == 1).all()):
                mixed = torch.lerp(self.mapping.w_avg.expand_as(mixed), mixed, psi.view(-1, 1).to(mixed.dtype))
            ws = torch.cat([ws[:, :mix_cutoff], mixed.unsqueeze(1).expand(-1, self.num_ws - mix_cutoff, -1)], dim=1)
        return ws

    @property
    def w_avg(self) -> Tensor:
        """The mean w (w_dim,) tracked in training: the truncation's centre and the projector's start."""
        return self.mapping.w_avg

    def forward(self, z: Tensor, psi: Tensor | None = None, mix_z: Tensor | None = None,
                mix_cutoff: int | None = None, return_ws: bool = False):
        ws = self.ws(z, psi, mix_z, mix_cutoff)
        image = self.synthesis(ws)
        if not self.training:
            image = image.clamp(-1.0, 1.0)
        return (image, ws) if return_ws else image


def fourier_shift(x: Tensor, shift: Tensor) -> Tensor:
    """x (C, H, W) translated per sample by shift (N, 2) = (dx, dy) of its own pixels, as a periodic band-limited
    signal (a phase ramp on its DFT; the Nyquist bin keeps its cosine part): (N, C, H, W)."""
    h, w = x.shape[-2:]
    spectrum = torch.fft.fft2(x.to(torch.float64))
    fy = torch.fft.fftfreq(h, dtype=torch.float64, device=x.device)
    fx = torch.fft.fftfreq(w, dtype=torch.float64, device=x.device)
    shift = shift.to(torch.float64)
    phase = fx[None, None, :] * shift[:, 0, None, None] + fy[None, :, None] * shift[:, 1, None, None]
    ramp = torch.exp(-2j * math.pi * phase)
    return torch.fft.ifft2(spectrum[None] * ramp[:, None]).real.to(x.dtype)


class StyleGAN2Generator(StyleGenerator):
    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.inputs = GeneratorInputs({"z": Latent(config.latent_dim), "psi": TruncationPsi()})
        self.w_dim = config.latent_dim
        self.resolution = config.resolution
        top = final_stage(config.resolution)
        widths = style_channels(config.g_width, config.resolution)
        self.mapping = MappingNetwork(config.latent_dim, self.w_dim, config.mapping_layers, config.mapping_lr)
        self.const = nn.Parameter(torch.randn(widths[0], 4, 4))
        self.layers = nn.ModuleList([StyleLayer(widths[0], widths[0], self.w_dim, 4)])
        self.to_rgb = nn.ModuleList([ToRGB(widths[0], config.channels, self.w_dim)])
        for s in range(1, top + 1):
            size = 4 * 2 ** s
            self.layers.append(StyleLayer(widths[s - 1], widths[s], self.w_dim, size, up=True))
            self.layers.append(StyleLayer(widths[s], widths[s], self.w_dim, size))
            self.to_rgb.append(ToRGB(widths[s], config.channels, self.w_dim))
        self.num_ws = len(self.layers) + 1  # every conv has its w; each toRGB shares the next conv's index

    def synthesis(self, ws: Tensor, shift: Tensor | None = None) -> Tensor:
        """Images from ws; `shift` (N, 2) translates the learned 4x4 constant by (dx, dy) output pixels, band-limited
        (the constant as one period of a periodic signal): StyleGAN2's closest analogue of moving SG3's input, for
        the EQ-T metric. The noise buffers and the zero padding of the convolutions stay where they are."""
        if shift is None:
            x = self.const.unsqueeze(0).expand(ws.shape[0], -1, -1, -1)
        else:
            x = fourier_shift(self.const, shift * self.const.shape[-1] / self.resolution)
        x = self.layers[0](x, ws[:, 0])
        image = self.to_rgb[0](x, ws[:, 1])
        for s in range(1, len(self.to_rgb)):
            x = self.layers[2 * s - 1](x, ws[:, 2 * s - 1])
            x = self.layers[2 * s](x, ws[:, 2 * s])
            image = upsample2d(image) + self.to_rgb[s](x, ws[:, 2 * s + 1])
        return image


class ResidualBlock(nn.Module):
    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv1 = EqualizedConv2d(in_channels, in_channels, 3, gain=1.0)
        self.conv2 = EqualizedConv2d(in_channels, out_channels, 3, gain=1.0)
        self.skip = EqualizedConv2d(in_channels, out_channels, 1, gain=1.0, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        skip = self.skip(downsample2d(x))
        x = downsample2d(act(self.conv2(act(self.conv1(x)))))
        return (x + skip) / math.sqrt(2.0)


class StyleGAN2Discriminator(nn.Module):
    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        top = final_stage(config.resolution)
        widths = style_channels(config.d_width, config.resolution)
        self.from_rgb = EqualizedConv2d(config.channels, widths[top], 1, gain=1.0)
        self.blocks = nn.Sequential(*[ResidualBlock(widths[s], widths[s - 1]) for s in range(top, 0, -1)])
        self.std = MinibatchStdDev(config.minibatch_std_group)
        self.conv = EqualizedConv2d(widths[0] + 1, widths[0], 3, gain=1.0)
        self.fc = EqualizedLinear(widths[0] * 16, widths[0], gain=1.0)
        self.out = EqualizedLinear(widths[0], 1, gain=1.0)

    def forward(self, x: Tensor) -> Tensor:
        x = self.blocks(act(self.from_rgb(x)))
        n, _, h, w = x.shape
        x = torch.cat([x, self.std(x).view(n, 1, 1, 1).expand(n, 1, h, w)], dim=1)
        x = act(self.conv(x))
        return self.out(act(self.fc(x.flatten(1)))).view(-1)


@GENERATORS.register("stylegan2", help="StyleGAN2 generator (small): mapping network, modulated convs, noise, skip "
                                       "outputs; truncation toward the mean w")
def stylegan2_generator(config: ModelConfig) -> nn.Module:
    return StyleGAN2Generator(config)


@DISCRIMINATORS.register("stylegan2", help="StyleGAN2 residual discriminator with minibatch stddev")
def stylegan2_discriminator(config: ModelConfig) -> nn.Module:
    return StyleGAN2Discriminator(config)
