"""StyleGAN3-T's generator, small and in plain PyTorch (Karras et al. 2021, "Alias-Free Generative Adversarial
Networks", config T).

The synthesis network treats every feature map as samples of a continuous, band-limited signal, so that moving the
input moves the image with it (translation equivariance) instead of the details sticking to pixel coordinates:

- Input: Fourier features sin(2 pi (f . p) + phi): frequencies f drawn uniformly in the disc of the first cutoff
  (the input bandlimit), phases random, both fixed buffers; a learned affine layer of w (initialised to the
  identity: weight 0, bias (1, 0, 0, 0)) rotates and translates them per sample, as config T learns it; then a learned
  channel mix. `synthesis(ws, shift)` translates the input by `shift` = (dx, dy) output pixels before that.
- `model.synthesis_layers` layers, each a modulated 3x3 convolution (StyleGAN2's, demodulated, no noise), a bias,
  then the filtered nonlinearity: upsample (zero insertion and a windowed-sinc low-pass filter at the layer's input
  cutoff), leaky ReLU (gain sqrt(2)), a low-pass filter at the output cutoff and downsampling. The nonlinearity runs
  at twice the larger of the input and output sampling rates, so the harmonics it creates are filtered out before
  they alias. Filters are Kaiser-windowed sincs of 6 taps per resampling factor, applied as separable depthwise
  convolutions (conv2d with groups).
- Cutoffs grow geometrically from 2 (the input's) to the output's Nyquist frequency (resolution / 2), reached by the
  last two layers (critically sampled); the stopbands from 2^2.1 to (resolution / 2) x 2^0.3. A layer's sampling
  rate is the smallest power of two above twice its stopband (at most the resolution); its transition band reaches
  from its cutoff to max(stopband, rate / 2). Channels go as 1 / cutoff: model.g_width at the output's, at most 8x.
- Every feature map carries `model.synthesis_margin` pixels (at its own rate) beyond the image on each side, where
  the zero padding's border effects stay; the margin is cropped after every layer and at the end.
- A modulated 1x1 toRGB (not demodulated) at the end; no skip connections.

`model.synthesis_filter=nearest` is the ablation: nearest-neighbour upsampling and box downsampling in place of the
low-pass filters (everything else the same), to show what the filters buy in the EQ-T metric.

The mapping network, modulated convolution, w_avg, truncation (psi), style mixing and forward pass are StyleGAN2's
(`StyleGenerator`); ws has one w for the input, one per layer and one for the toRGB.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..config import ModelConfig
from ..inputs import GeneratorInputs, Latent, TruncationPsi
from .equalized import EqualizedLinear
from .registry import GENERATORS
from .stylegan2 import GAIN, MappingNetwork, ModulatedConv2d, StyleGenerator, ToRGB

Tensor = torch.Tensor
TAPS_PER_FACTOR = 6  # the paper's filter length per resampling factor
FIRST_CUTOFF = 2.0
FIRST_STOPBAND = 2 ** 2.1
LAST_STOPBAND_RELATIVE = 2 ** 0.3
CRITICAL_LAYERS = 2  # the last layers, at the output's Nyquist cutoff


def kaiser_beta(numtaps: int, width: float) -> float:
    """Kaiser's window parameter for the attenuation a filter of `numtaps` taps reaches over a transition band of
    `width` (a fraction of the Nyquist frequency): A = 2.285 (N - 1) pi width + 7.95 dB (Kaiser 1974)."""
    attenuation = 2.285 * (numtaps - 1) * math.pi * width + 7.95
    if attenuation > 50:
        return 0.1102 * (attenuation - 8.7)
    if attenuation > 21:
        return 0.5842 * (attenuation - 21) ** 0.4 + 0.07886 * (attenuation - 21)
    return 0.0


def lowpass_filter(numtaps: int, cutoff: float, width: float, rate: float) -> Tensor:
    """A Kaiser-windowed sinc low-pass filter (float64, DC gain 1): cutoff and transition width in the same units as
    the sampling rate."""
    nyquist = rate / 2
    n = torch.arange(numtaps, dtype=torch.float64) - (numtaps - 1) / 2
    ideal = torch.sinc(2 * cutoff / rate * n)
    window = torch.kaiser_window(numtaps, periodic=False, beta=kaiser_beta(numtaps, width / nyquist),
                                 dtype=torch.float64)
    taps = ideal * window
    return taps / taps.sum()


def resampling_taps(kind: str, factor: int, cutoff: float, width: float, rate: float) -> Tensor | None:
    """The 1-D filter of a resampling by `factor` (None: no resampling): windowed sinc, or the nearest ablation's
    box (nearest-neighbour up, mean of `factor` pixels down)."""
    if factor == 1:
        return None
    if kind == "nearest":
        return torch.full((factor,), 1.0 / factor, dtype=torch.float64)
    return lowpass_filter(TAPS_PER_FACTOR * factor, cutoff, width, rate)


def _depthwise(x: Tensor, taps: Tensor, dim: int, pad: tuple[int, int], stride: int = 1) -> Tensor:
    """Correlate every channel of x (N, C, H, W) with each row of `taps` (P, T) along dim 2 (H) or 3 (W), zero
    padded by pad: (N, C x P, ...), channel c's P outputs next to each other."""
    channels, phases = x.shape[1], taps.shape[0]
    if dim == 2:
        weight, padding, strides = taps.view(phases, 1, -1, 1), (0, 0, *pad), (stride, 1)
    else:
        weight, padding, strides = taps.view(phases, 1, 1, -1), (*pad, 0, 0), (1, stride)
    weight = weight.to(x.dtype).repeat(channels, 1, 1, 1)
    # channels-last: the CPU's depthwise kernels run about 6x faster on it than on the default layout
    x = F.pad(x, padding).contiguous(memory_format=torch.channels_last)
    return F.conv2d(x, weight, stride=strides, groups=channels)


def polyphase(taps: Tensor, factor: int) -> tuple[Tensor, int]:
    """Zero insertion by `factor` followed by `taps` (pixel centres kept) as `factor` short filters on the input:
    output pixel a x factor + r is row r of the result correlated with the input padded by the returned amount on
    the left (and length - 1 - that on the right), so no inserted zero is ever multiplied."""
    n = len(taps)
    centre = (n + factor - 2) // 2  # the zero-inserted form's left padding
    rows = []
    for r in range(factor):
        first = (centre - r) % factor  # the taps that meet real samples for this phase
        sub = taps[first::factor]
        rows.append((sub, (r + first - centre) // factor))
    left = -min(offset for _, offset in rows)
    length = max(offset + left + len(sub) for sub, offset in rows)
    out = taps.new_zeros(factor, length)
    for r, (sub, offset) in enumerate(rows):
        out[r, offset + left:offset + left + len(sub)] = sub
    return out * factor, left


def upsample(x: Tensor, taps: Tensor | None, factor: int) -> Tensor:
    """Zero insertion by `factor` and the filter (gain `factor` per axis), pixel centres aligned with the input's,
    computed in polyphase form: one short filter per output phase, then the phases interleaved."""
    if taps is None:
        return x
    phases, left = polyphase(taps, factor)
    pad = (left, phases.shape[1] - 1 - left)
    n, c, h, w = x.shape
    x = _depthwise(x, phases, 2, pad).view(n, c, factor, h, w).transpose(2, 3).reshape(n, c, h * factor, w)
    x = _depthwise(x, phases, 3, pad).view(n, c, factor, h * factor, w).permute(0, 1, 3, 4, 2)
    return x.reshape(n, c, h * factor, w * factor)


def downsample(x: Tensor, taps: Tensor | None, factor: int) -> Tensor:
    """The filter, then every `factor`-th pixel, pixel centres aligned with the input's."""
    if taps is None:
        return x
    n = len(taps)
    left = (n - factor) // 2
    for dim in (2, 3):
        x = _depthwise(x, taps[None], dim, (left, n - factor - left), stride=factor)
    return x


def center_crop(x: Tensor, size: int) -> Tensor:
    trim = (x.shape[-1] - size) // 2
    return x[..., trim:trim + size, trim:trim + size] if trim else x


class FourierInput(nn.Module):
    """Fourier features on a grid of `size` pixels at `rate` pixels per image width (the image spans [-1/2, 1/2]),
    rotated and translated per sample by an affine map of w initialised to the identity."""

    def __init__(self, channels: int, w_dim: int, size: int, rate: float, bandwidth: float) -> None:
        super().__init__()
        self.size, self.rate = size, rate
        angle = torch.rand(channels) * 2 * math.pi
        radius = torch.rand(channels).sqrt() * bandwidth  # uniform in the disc of the bandlimit
        self.register_buffer("freqs", torch.stack([angle.cos(), angle.sin()], dim=1) * radius[:, None])
        self.register_buffer("phases", torch.rand(channels) - 0.5)
        self.affine = EqualizedLinear(w_dim, 4, gain=1.0)
        with torch.no_grad():
            self.affine.weight.zero_()
            self.affine.bias.copy_(torch.tensor([1.0, 0.0, 0.0, 0.0]))
        self.weight = nn.Parameter(torch.randn(channels, channels))

    def grid(self, device: torch.device, dtype: torch.dtype) -> Tensor:
        """(size, size, 2): each pixel centre's (x, y) in image units, x along the width."""
        axis = (torch.arange(self.size, device=device, dtype=dtype) + 0.5 - self.size / 2) / self.rate
        y, x = torch.meshgrid(axis, axis, indexing="ij")
        return torch.stack([x, y], dim=-1)

    def features(self, w: Tensor, shift: Tensor | None = None) -> Tensor:
        """(N, C, size, size): sin(2 pi (f . (R (p - shift) + t)) + phi), R and t from w, shift in image units."""
        t = self.affine(w)
        t = t / t[:, :2].norm(dim=1, keepdim=True)
        cos, sin, offset = t[:, 0], t[:, 1], t[:, 2:]
        rotation = torch.stack([torch.stack([cos, -sin], -1), torch.stack([sin, cos], -1)], -2)  # (N, 2, 2)
        freqs = self.freqs.unsqueeze(0) @ rotation  # f . (R p) = (R^T f) . p
        phases = self.phases.unsqueeze(0) + (self.freqs.unsqueeze(0) @ offset.unsqueeze(-1)).squeeze(-1)
        if shift is not None:
            phases = phases - (freqs @ shift.to(freqs.dtype).unsqueeze(-1)).squeeze(-1)
        grid = self.grid(w.device, w.dtype)
        x = torch.einsum("hwk,nck->nchw", grid, freqs) + phases[:, :, None, None]
        return torch.sin(2 * math.pi * x)

    def forward(self, w: Tensor, shift: Tensor | None = None) -> Tensor:
        x = self.features(w, shift)
        weight = self.weight / math.sqrt(self.weight.shape[1])
        return torch.einsum("oc,nchw->nohw", weight, x)


class AliasFreeLayer(nn.Module):
    """Modulated 3x3 convolution and bias, then the filtered leaky ReLU between two sampling rates."""

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, rates: tuple[float, float],
                 cutoffs: tuple[float, float], widths: tuple[float, float], out_size: int, filter_kind: str) -> None:
        super().__init__()
        self.conv = ModulatedConv2d(in_channels, out_channels, 3, w_dim)
        self.bias = nn.Parameter(torch.zeros(out_channels))
        rate = 2 * max(rates)  # where the nonlinearity runs
        self.up, self.down, self.out_size = int(rate / rates[0]), int(rate / rates[1]), out_size
        up_taps = resampling_taps(filter_kind, self.up, cutoffs[0], widths[0], rate)
        down_taps = resampling_taps(filter_kind, self.down, cutoffs[1], widths[1], rate)
        self.register_buffer("up_taps", None if up_taps is None else up_taps.float(), persistent=False)
        self.register_buffer("down_taps", None if down_taps is None else down_taps.float(), persistent=False)

    def forward(self, x: Tensor, w: Tensor) -> Tensor:
        x = self.conv(x, w) + self.bias[None, :, None, None]
        x = upsample(x, self.up_taps, self.up)
        x = F.leaky_relu(x, 0.2) * GAIN
        x = downsample(x, self.down_taps, self.down)
        return center_crop(x, self.out_size)


def layer_schedule(layers: int, resolution: int) -> dict[str, np.ndarray]:
    """Cutoff, stopband, sampling rate and transition half-width of the input (index 0) and of each layer's output:
    geometric from the input's to the output's, which the last `CRITICAL_LAYERS` reach."""
    critical = min(CRITICAL_LAYERS, layers - 1)
    exponents = np.minimum(np.arange(layers + 1) / (layers - critical), 1.0)
    last_cutoff = resolution / 2
    cutoffs = FIRST_CUTOFF * (last_cutoff / FIRST_CUTOFF) ** exponents
    stopbands = FIRST_STOPBAND * (last_cutoff * LAST_STOPBAND_RELATIVE / FIRST_STOPBAND) ** exponents
    rates = np.exp2(np.ceil(np.log2(np.minimum(2 * stopbands, resolution))))
    half_widths = np.maximum(stopbands, rates / 2) - cutoffs
    return {"cutoffs": cutoffs, "stopbands": stopbands, "rates": rates, "half_widths": half_widths}


class StyleGAN3Generator(StyleGenerator):
    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.inputs = GeneratorInputs({"z": Latent(config.latent_dim), "psi": TruncationPsi()})
        self.w_dim, self.resolution, self.margin = config.latent_dim, config.resolution, config.synthesis_margin
        layers = config.synthesis_layers
        self.schedule = layer_schedule(layers, config.resolution)
        cutoffs, rates, half_widths = (self.schedule[k] for k in ("cutoffs", "rates", "half_widths"))
        channels = [int(min(config.g_width * cutoffs[-1] / c, 8 * config.g_width)) for c in cutoffs]
        sizes = [int(r) + 2 * self.margin for r in rates]
        self.mapping = MappingNetwork(config.latent_dim, self.w_dim, config.mapping_layers, config.mapping_lr)
        self.input = FourierInput(channels[0], self.w_dim, sizes[0], float(rates[0]), float(cutoffs[0]))
        self.layers = nn.ModuleList([
            AliasFreeLayer(channels[i], channels[i + 1], self.w_dim, (float(rates[i]), float(rates[i + 1])),
                           (float(cutoffs[i]), float(cutoffs[i + 1])),
                           (2 * float(half_widths[i]), 2 * float(half_widths[i + 1])), sizes[i + 1],
                           config.synthesis_filter)
            for i in range(layers)])
        self.to_rgb = ToRGB(channels[-1], config.channels, self.w_dim)
        self.num_ws = layers + 2  # the input's affine, every layer, the toRGB

    def synthesis(self, ws: Tensor, shift: Tensor | None = None) -> Tensor:
        """Images from ws (N, num_ws, w_dim); `shift` (N, 2) translates the input by (dx, dy) output pixels, which
        an equivariant network turns into the same translation of the image."""
        x = self.input(ws[:, 0], None if shift is None else shift / self.resolution)
        for i, layer in enumerate(self.layers):
            x = layer(x, ws[:, i + 1])
        return center_crop(self.to_rgb(x, ws[:, -1]), self.resolution)


@GENERATORS.register("stylegan3", help="StyleGAN3-T generator (small): Fourier-feature input, alias-free filtered "
                                       "layers with a margin, no noise or skips; truncation toward the mean w")
def stylegan3_generator(config: ModelConfig) -> nn.Module:
    return StyleGAN3Generator(config)
