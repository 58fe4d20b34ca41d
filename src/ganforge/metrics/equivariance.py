"""Translation equivariance (EQ-T; Karras et al. 2021, "Alias-Free GANs", appendix E): does moving a generator's
input move its image by the same amount?

For n seeded w and a translation t per sample, drawn uniformly in [-1/8, 1/8] of the image on each axis (the paper's
translate_max 0.125), the image of the translated input `G.synthesis(ws, shift=t)` is compared with the image of the
untranslated input shifted by t afterwards. EQ-T_int rounds t to whole pixels (the shift is then exact); EQ-T_frac
keeps the fractions, and the output is resampled with a separable Lanczos-3 kernel (a windowed sinc, as the paper's
sinc resampler). Pixels whose source lies outside the image (shifted in from the border, or whose kernel reaches past
it) are masked out. The score is the PSNR in dB of the valid pixels over all samples, with the peak-to-peak range 2
of images in [-1, 1]: 20 log10(2) - 10 log10(MSE), higher is more equivariant.

It needs a generator with a mapping network whose `synthesis(ws, shift)` translates its input by shift = (dx, dy)
output pixels: StyleGAN3-T's Fourier features, and StyleGAN2's learned constant (a band-limited shift of it).
Images are rendered in eval mode, unclamped, in float, so a seed gives the same value every time.
"""

from __future__ import annotations

import inspect
import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ..errors import GanforgeError
from ..sampling import seeded_inputs
from ..style import style_generator
from .conditional import GENERATOR_METRICS, GeneratorProbe

Tensor = torch.Tensor
TRANSLATE_MAX = 0.125  # of the image size, per axis
LANCZOS_A = 3
BATCH = 100


def lanczos(x: Tensor, a: int = LANCZOS_A) -> Tensor:
    """The Lanczos kernel sinc(x) sinc(x / a) on |x| < a, exactly 1 at 0 and 0 at the other integers."""
    whole = (x - x.round()).abs() < 1e-9
    value = torch.sinc(x) * torch.sinc(x / a) * (x.abs() < a)
    return torch.where(whole, (x.round() == 0).to(x.dtype), value)


def shift_matrices(size: int, shifts: Tensor) -> tuple[Tensor, Tensor]:
    """Per shift s (N,), the (N, size, size) float64 matrix M with (M x)[i] = x at position i - s (Lanczos-3,
    weights summing to 1) and the (N, size) mask of the outputs whose every tap with a weight lies inside."""
    shifts = shifts.to(torch.float64)
    source = torch.arange(size, dtype=torch.float64)[None, :] - shifts[:, None]  # (N, size)
    taps = source.floor()[:, :, None] + torch.arange(-LANCZOS_A + 1, LANCZOS_A + 1, dtype=torch.float64)
    weights = lanczos(source[:, :, None] - taps)
    inside = (taps >= 0) & (taps <= size - 1)
    valid = (inside | (weights == 0)).all(dim=2)
    weights = weights / weights.sum(dim=2, keepdim=True)
    matrix = torch.zeros(shifts.shape[0], size, size, dtype=torch.float64)
    columns = taps.clamp(0, size - 1).long()
    matrix.scatter_add_(2, columns, weights * inside)
    return matrix, valid


def translate_images(images: Tensor, shifts: Tensor) -> tuple[Tensor, Tensor]:
    """images (N, C, H, W) moved by shifts (N, 2) = (dx, dy) pixels: out(x, y) = in(x - dx, y - dy), and the
    (N, 1, H, W) mask of the pixels defined by the image itself."""
    rows, valid_rows = shift_matrices(images.shape[2], shifts[:, 1].cpu())
    columns, valid_columns = shift_matrices(images.shape[3], shifts[:, 0].cpu())
    rows, columns = rows.to(images.device), columns.to(images.device)
    moved = rows[:, None] @ images.to(torch.float64) @ columns.transpose(1, 2)[:, None]
    mask = (valid_rows[:, :, None] & valid_columns[:, None, :])[:, None].to(images.device)
    return moved, mask


def check_translatable(generator: nn.Module) -> nn.Module:
    """The generator, or one line saying EQ-T needs `synthesis(ws, shift)`."""
    style_generator(generator, "the EQ-T metric")
    if "shift" not in inspect.signature(generator.synthesis).parameters:
        raise GanforgeError(f"the EQ-T metric needs synthesis(ws, shift) to translate the input; "
                            f"{type(generator).__name__} has no shift; drop 'eqt' from the metrics")
    return generator


@dataclass(frozen=True)
class Equivariance:
    """EQ-T in dB (integer and fractional translations) and what it was measured on."""

    integer: float
    fractional: float
    samples: int


def psnr(squared_error: float, count: float) -> float:
    """PSNR in dB of a total squared error over `count` pixels, for images of peak-to-peak range 2."""
    mse = squared_error / max(count, 1.0)
    return math.inf if mse == 0 else 20 * math.log10(2.0) - 10 * math.log10(mse)


def translation_equivariance(generator: nn.Module, n: int, seed: int = 0, truncation: float | None = None,
                             translate_max: float = TRANSLATE_MAX) -> Equivariance:
    """EQ-T_int and EQ-T_frac of the generator over n samples drawn from `seed` (higher: more equivariant)."""
    check_translatable(generator)
    device = next(generator.parameters()).device
    values = seeded_inputs(generator.inputs, n, seed, truncation)
    size = generator.synthesis(generator.ws(**{k: v[:1].to(device) for k, v in values.items()})).shape[-1]
    draw = torch.Generator().manual_seed(seed + 1)
    shifts = (torch.rand(n, 2, generator=draw) * 2 - 1) * translate_max * size
    totals = {"int": [0.0, 0.0], "frac": [0.0, 0.0]}
    was_training = generator.training
    generator.eval()
    try:
        with torch.no_grad():
            for lo in range(0, n, BATCH):
                hi = min(n, lo + BATCH)
                ws = generator.ws(**{k: v[lo:hi].to(device) for k, v in values.items()})
                reference = generator.synthesis(ws)
                for kind, shift in (("int", shifts[lo:hi].round()), ("frac", shifts[lo:hi])):
                    moved, mask = translate_images(reference, shift)
                    image = generator.synthesis(ws, shift.to(device)).to(torch.float64)
                    totals[kind][0] += float(((image - moved).square() * mask).sum())
                    totals[kind][1] += float(mask.sum()) * image.shape[1]
    finally:
        generator.train(was_training)
    return Equivariance(psnr(*totals["int"]), psnr(*totals["frac"]), n)


@GENERATOR_METRICS.register("eqt", help="translation equivariance EQ-T (StyleGAN3): PSNR in dB between the image of a "
                                        "translated input and the translated image, integer and fractional shifts "
                                        "(higher is better)")
def eqt_metric(probe: GeneratorProbe) -> dict[str, Any]:
    result = translation_equivariance(probe.generator, probe.n, probe.seed, probe.truncation)
    return {"eqt_int": result.integer, "eqt_frac": result.fractional, "eqt_samples": result.samples,
            "eqt_translate_max": TRANSLATE_MAX}
