"""StyleGAN3-T: the low-pass filters, the polyphase resampling, the Fourier input's exact integer shifts, EQ-T of
the alias-free generator against its nearest-neighbour ablation and StyleGAN2, the shared style controls, bad
config values, and `ganforge train` / `ganforge eval --metrics eqt` end to end."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from conftest import TINY_DCGAN, run_cli_here
from ganforge.configure import build_config
from ganforge.errors import GanforgeError
from ganforge.metrics.equivariance import check_translatable, translate_images, translation_equivariance
from ganforge.models import build_generator
from ganforge.models.stylegan2 import StyleGAN2Generator
from ganforge.models.stylegan3 import (FourierInput, StyleGAN3Generator, downsample, layer_schedule, lowpass_filter,
                                       resampling_taps, upsample)
from ganforge.style import style_mixing_grid

SMALL = ["model.g_width=2", "model.latent_dim=16", "model.mapping_layers=2"]
TINY_TRAIN = ["model.g_width=2", "model.d_width=2", "model.latent_dim=8", "model.mapping_layers=2",
              "model.resolution=16", "data.resize=true", "train.batch_size=8", "train.num_samples=4",
              "regularize.every={r1: 2}", "algorithm.pl_every=2"]


def generator(*overrides: str, preset: str = "mnist-stylegan3t", seed: int = 0):
    torch.manual_seed(seed)
    config = build_config(preset, overrides=[*SMALL, *overrides]).model
    return (StyleGAN3Generator if config.generator == "stylegan3" else StyleGAN2Generator)(config)


def response(taps: torch.Tensor, frequency: float, rate: float) -> float:
    """|H(f)| of a symmetric FIR filter at `frequency` for the sampling `rate`."""
    n = torch.arange(len(taps), dtype=torch.float64) - (len(taps) - 1) / 2
    return float((taps * torch.cos(2 * math.pi * frequency / rate * n)).sum().abs())


def test_the_kaiser_filter_is_low_pass_and_the_box_is_not():
    rate, cutoff, half_width = 32.0, 4.0, 4.0  # a 2x layer's filter at its 16-cycle input: stopband at 8
    taps = lowpass_filter(12, cutoff, 2 * half_width, rate)
    assert abs(float(taps.sum()) - 1.0) < 1e-12 and torch.allclose(taps, taps.flip(0))  # DC gain 1, linear phase
    assert abs(response(taps, cutoff, rate) - 0.5) < 0.05  # the cutoff is the windowed sinc's -6 dB point
    stopband = [response(taps, f, rate) for f in torch.linspace(cutoff + half_width, rate / 2, 50).tolist()]
    assert max(stopband) < 0.01  # at least 40 dB past the stopband
    box = resampling_taps("nearest", 2, cutoff, 2 * half_width, rate)
    assert abs(float(box.sum()) - 1.0) < 1e-12 and response(box, cutoff + half_width, rate) > 0.5


@pytest.mark.parametrize("kind", ["kaiser", "nearest"])
@pytest.mark.parametrize("factor", [2, 4])
def test_polyphase_upsampling_is_zero_insertion_then_the_filter(kind, factor):
    taps = resampling_taps(kind, factor, 4.0, 8.0, 16.0 * factor).float()
    x = torch.randn(2, 3, 9, 7)
    spread = torch.zeros(2, 3, 9 * factor, 7 * factor)
    spread[:, :, ::factor, ::factor] = x
    left = (len(taps) + factor - 2) // 2
    kernel = torch.outer(taps, taps).expand(3, 1, -1, -1) * factor ** 2
    expected = F.conv2d(F.pad(spread, (left, len(taps) - 1 - left) * 2), kernel, groups=3)
    assert torch.allclose(upsample(x, taps, factor), expected, atol=1e-5)
    ones = torch.ones(1, 1, 32, 32)
    inner = slice(len(taps), -len(taps))  # away from the zero padding, a constant keeps its value (DC gain 1)
    assert torch.allclose(upsample(ones, taps, factor)[..., inner, inner], torch.ones(1), atol=5e-3)
    assert torch.allclose(downsample(upsample(ones, taps, factor), taps, factor)[..., 12:-12, 12:-12], torch.ones(1),
                          atol=5e-3)


def test_integer_shifts_of_the_fourier_input_are_exact_and_the_affine_starts_at_identity():
    torch.manual_seed(0)
    layer = FourierInput(channels=8, w_dim=4, size=24, rate=16.0, bandwidth=2.0)
    w = torch.randn(3, 4)
    base = layer.features(w)
    assert torch.allclose(base, layer.features(torch.randn(3, 4)), atol=1e-6)  # identity: w changes nothing at init
    assert float(layer.freqs.norm(dim=1).max()) <= 2.0  # inside the disc of the bandlimit
    moved = layer.features(w, torch.tensor([[2.0, -3.0]] * 3) / 16)  # (2, -3) pixels at its own rate
    assert torch.allclose(moved[:, :, :-3, 2:], base[:, :, 3:, :-2], atol=2e-5)
    with torch.no_grad():
        layer.affine.bias.copy_(torch.tensor([0.0, 1.0, 0.0, 0.0]))  # a quarter turn: (x, y) -> (-y, x)
    turned = layer.features(w)
    assert torch.allclose(turned, base.transpose(2, 3).flip(2), atol=2e-5)


def test_schedule_shapes_and_margins():
    schedule = layer_schedule(5, 32)
    assert np.allclose(schedule["cutoffs"], [2, 4, 8, 16, 16, 16])
    assert schedule["rates"].tolist() == [16, 16, 32, 32, 32, 32]
    assert (schedule["stopbands"][1:] > schedule["cutoffs"][1:]).all()
    for margin in (0, 4):
        g = generator(f"model.synthesis_margin={margin}")
        assert g.num_ws == 7 and [layer.out_size for layer in g.layers] == [16 + 2 * margin] + [32 + 2 * margin] * 4
        assert [(layer.up, layer.down) for layer in g.layers] == [(2, 2), (4, 2), (2, 2), (2, 2), (2, 2)]
        ws = g.ws(torch.randn(3, 16))
        assert ws.shape == (3, 7, 16) and g.synthesis(ws).shape == (3, 1, 32, 32)
    assert len(generator("model.synthesis_layers=3").layers) == 3


def test_translation_of_images_is_exact_for_whole_pixels_and_masks_the_border():
    images = torch.randn(2, 1, 10, 10)
    moved, mask = translate_images(images, torch.tensor([[2.0, -1.0], [0.0, 0.0]]))
    assert torch.equal(moved[0, 0, :-1, 2:].float(), images[0, 0, 1:, :-2])
    assert torch.equal(moved[1], images[1].double())
    assert mask[0, 0].sum() == 9 * 8 and not mask[0, 0, :, :2].any() and not mask[0, 0, -1].any()
    x = torch.arange(32, dtype=torch.float64)
    wave = torch.cos(2 * math.pi * 3 * x / 32).expand(1, 1, 32, 32)  # band-limited: Lanczos-3 moves it closely
    moved, mask = translate_images(wave, torch.tensor([[0.4, 0.0]]))
    expected = torch.cos(2 * math.pi * 3 * (x - 0.4) / 32).expand(1, 1, 32, 32)
    assert mask[0, 0].sum() == 32 * 27 and ((moved - expected).abs() * mask).max() < 0.01


def test_eqt_of_the_filtered_generator_is_clearly_above_the_ablation_and_stylegan2():
    kaiser = translation_equivariance(generator(), 24)
    nearest = translation_equivariance(generator("model.synthesis_filter=nearest"), 24)
    stylegan2 = translation_equivariance(generator(preset="mnist-stylegan2"), 24)
    assert kaiser.integer > nearest.integer + 6 and kaiser.fractional > nearest.fractional + 6
    assert nearest.integer > stylegan2.integer + 6 and kaiser.samples == 24
    assert translation_equivariance(generator(), 24).integer == kaiser.integer  # seeded


def test_truncation_and_style_mixing_through_the_shared_controls():
    g = generator().eval()
    z = torch.randn(4, 16)
    with torch.no_grad():
        g.mapping.w_avg.copy_(torch.randn(16))
        centre = g(z, psi=torch.zeros(4))
        assert torch.allclose(centre, centre[:1].expand_as(centre), atol=1e-6)  # psi 0: every sample is w_avg's
        mixed = g.ws(z[:2], mix_z=z[2:], mix_cutoff=3)
        assert torch.equal(mixed[:, :3], g.ws(z[:2])[:, :3]) and torch.equal(mixed[:, 3:], g.ws(z[2:])[:, 3:])
    images, nrow = style_mixing_grid(g, [1, 2], [3], cutoff=2)
    assert nrow == 2 and images.shape == (6, 1, 32, 32)


@pytest.mark.parametrize("override, message", [
    ("model.synthesis_filter=sinc", "model.synthesis_filter must be one of"),
    ("model.synthesis_layers=0", "model.synthesis_layers must be >= 1"),
    ("model.synthesis_margin=-1", "model.synthesis_margin must be in [0, 64]"),
    ("model.discriminator=dcgan", "set model.generator=stylegan3 and model.discriminator=stylegan2"),
])
def test_bad_config_values_are_one_line(override, message, tmp_path):
    result = run_cli_here("train", "--preset", "mnist-stylegan3t", "--set", override, "--set", "train.steps=1",
                          "--out", str(tmp_path / "run"))
    assert result.returncode == 2 and message in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_eqt_needs_a_translatable_style_generator():
    dcgan = build_generator(build_config("mnist-dcgan", overrides=TINY_DCGAN).model)
    with pytest.raises(GanforgeError, match="the EQ-T metric needs a generator with a mapping network"):
        check_translatable(dcgan)


def test_train_and_eval_eqt_end_to_end(tmp_path):
    run = tmp_path / "run"
    result = run_cli_here("train", "--preset", "mnist-stylegan3t", "--out", str(run), "--set", "train.steps=2",
                          "--set", "eval.every=0", "--set", "train.threads=1", *[a for o in TINY_TRAIN
                                                                                 for a in ("--set", o)])
    assert result.returncode == 0, result.stderr
    out = tmp_path / "eqt.json"
    result = run_cli_here("eval", str(run), "--metrics", "eqt", "--n", "8", "--extractor", "random-conv", "--out",
                          str(out))
    assert result.returncode == 0, result.stderr
    metrics = json.loads(out.read_text())["metrics"]
    assert metrics["eqt_samples"] == 8 and metrics["eqt_int"] > 20 and metrics["eqt_frac"] > 20
    assert "eqt_int" in result.stdout
