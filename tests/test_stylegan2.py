"""StyleGAN2: modulation/demodulation, the low-pass resampling, the lazy phases' steps, style mixing, and truncation
toward the mean w through the declared inputs."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from conftest import run_cli, run_cli_here
from ganforge import Sampler, load_generator
from ganforge.configure import build_config
from ganforge.errors import GanforgeError
from ganforge.inputs import GeneratorInputs, TruncationPsi
from ganforge.models.stylegan2 import ModulatedConv2d, StyleGAN2Generator, downsample2d, upsample2d
from ganforge.sampling import seeded_inputs
from ganforge.training.trainer import Trainer, train

TINY = ["model.g_width=2", "model.d_width=2", "model.latent_dim=8", "model.mapping_layers=2", "model.resolution=8",
        "train.batch_size=8", "train.num_samples=4", "eval.every=0", "train.log_every=1"]


def test_modulated_convolution_matches_the_hand_computation():
    torch.manual_seed(0)
    layer = ModulatedConv2d(5, 4, 3, w_dim=6)
    x, w = torch.randn(3, 5, 7, 7), torch.randn(3, 6)
    styles = layer.affine(w)  # s = A(w)
    expected = []
    for n in range(3):  # per sample: w'_oik = w_oik s_i / sqrt(fan_in); w'' = w' / sqrt(sum_ik w'^2 + 1e-8)
        modulated = layer.weight * styles[n].view(1, 5, 1, 1) / (5 * 9) ** 0.5
        demodulated = modulated / (modulated.square().sum(dim=(1, 2, 3), keepdim=True) + 1e-8).sqrt()
        expected.append(F.conv2d(x[n:n + 1], demodulated, padding=1))
    assert torch.allclose(layer(x, w), torch.cat(expected), atol=1e-5)
    assert torch.allclose(layer.modulated_weights(w)[1], expected_weights := (
        layer.weight * styles[1].view(1, 5, 1, 1) / (5 * 9) ** 0.5).div(
        (layer.weight * styles[1].view(1, 5, 1, 1) / (5 * 9) ** 0.5).square().sum(dim=(1, 2, 3), keepdim=True)
        .add(1e-8).sqrt()), atol=1e-6) and expected_weights.shape == (4, 5, 3, 3)


def test_demodulation_keeps_unit_output_variance():
    torch.manual_seed(1)
    layer = ModulatedConv2d(64, 64, 3, w_dim=16)
    x = torch.randn(8, 64, 32, 32)
    with torch.no_grad():
        w = torch.randn(8, 16) * 3  # styles far from 1: the demodulation undoes their scale
        out = layer(x, w)[:, :, 1:-1, 1:-1]  # away from the zero padding
        assert abs(out.var().item() - 1.0) < 0.05
        plain = ModulatedConv2d(64, 64, 3, w_dim=16, demodulate=False)
        plain.load_state_dict(layer.state_dict())
        assert plain(x, w)[:, :, 1:-1, 1:-1].var().item() > 2  # without it, the styles' scale passes through


def test_resampling_is_nvidias_lowpass_filter():
    taps = torch.tensor([1.0, 3.0, 3.0, 1.0], dtype=torch.float64)
    kernel = (torch.outer(taps, taps) / 64).expand(3, 1, 4, 4)
    x = torch.randn(2, 3, 8, 8, dtype=torch.float64)
    assert torch.allclose(upsample2d(x), F.conv_transpose2d(x, kernel * 4, stride=2, padding=1, groups=3))
    assert torch.allclose(downsample2d(x), F.conv2d(x, kernel, stride=2, padding=1, groups=3))
    assert torch.allclose(upsample2d(torch.ones(1, 1, 4, 4))[..., 1:-1, 1:-1], torch.ones(1, 1, 6, 6))


def _generator() -> StyleGAN2Generator:
    torch.manual_seed(0)
    return StyleGAN2Generator(build_config("mnist-stylegan2", overrides=TINY).model)


def test_truncation_psi_zero_gives_the_mean_w():
    g = _generator().eval()  # in training mode each forward also moves w_avg
    g.mapping.w_avg.copy_(torch.randn(8))
    z = torch.randn(5, 8)
    with torch.no_grad():
        ws = g.ws(z, torch.zeros(5))
        assert torch.allclose(ws, g.mapping.w_avg.expand(5, g.num_ws, 8))
        half = g.ws(z, torch.full((5,), 0.5))
        assert torch.allclose(half, 0.5 * (g.ws(z) + g.mapping.w_avg), atol=1e-6)
        images = g(z, torch.zeros(5))
        assert torch.allclose(images, images[:1].expand_as(images), atol=1e-6)  # one image: the mean w's


def test_truncation_is_a_declared_input():
    inputs = _generator().inputs
    assert inputs.describe()["psi"] == {"kind": "truncation"}
    assert GeneratorInputs.from_description(inputs.describe()) == inputs
    plain, truncated = seeded_inputs(inputs, 4, 0), seeded_inputs(inputs, 4, 0, truncation=0.5)
    assert torch.equal(plain["z"], truncated["z"])  # z is not resampled: the mean-w form, not BigGAN's
    assert torch.equal(plain["psi"], torch.ones(4)) and torch.equal(truncated["psi"], torch.full((4,), 0.5))
    for bad in (-0.1, 1.5):
        with pytest.raises(GanforgeError, match=r"psi in \[0, 1\]"):
            TruncationPsi().sample(2, torch.Generator(), bad)


def test_style_mixing_takes_the_second_w_from_the_cutoff():
    g = _generator()
    z, z2 = torch.randn(3, 8), torch.randn(3, 8)
    with torch.no_grad():
        mixed, first, second = g.ws(z, mix_z=z2, mix_cutoff=3), g.ws(z), g.ws(z2)
    assert torch.equal(mixed[:, :3], first[:, :3]) and torch.equal(mixed[:, 3:], second[:, 3:])


def test_lazy_phases_run_on_their_steps(tmp_path):
    config = build_config("mnist-stylegan2", overrides=[*TINY, "regularize.every={r1: 4}", "algorithm.pl_every=3",
                                                         "train.steps=9"])
    trainer = Trainer(config, tmp_path / "run", quiet=True)
    assert [(p.name, p.every) for p in trainer.phases] == [("D", 1), ("Dreg", 4), ("G", 1), ("Greg", 3)]
    # lazy regularisation's correction on the optimisers: lr x N/(N+1) for each network's longest interval
    assert trainer.optimizer_settings["D"].lr == pytest.approx(2.5e-3 * 4 / 5)
    assert trainer.optimizer_settings["G"].lr == pytest.approx(2.5e-3 * 3 / 4)
    ran = []
    for _ in range(9):
        stats = trainer.train_step()
        ran.append(("penalty_r1" in stats, "pl_penalty" in stats))
    assert ran == [(step % 4 == 0, step % 3 == 0) for step in range(9)]
    assert float(trainer.family.pl_mean) > 0 and "pl_mean" in trainer.family.state_dict()


def test_sample_truncation_through_the_cli(tmp_path):
    train("mnist-stylegan2", out=tmp_path / "run", quiet=True, overrides=[*TINY, "train.steps=2"])
    mean = Sampler(load_generator(tmp_path / "run")).sample(4, seed=1, truncation=0.0)
    assert all(torch.equal(image, mean[0]) for image in mean)
    result = run_cli("sample", str(tmp_path / "run"), "--n", "4", "--truncation", "0.5", "--out",
                     str(tmp_path / "grid.png"))
    assert result.returncode == 0 and (tmp_path / "grid.png").is_file(), result.stderr
    result = run_cli_here("sample", str(tmp_path / "run"), "--code", "psi=0:1:3", "--n", "2", "--out",
                     str(tmp_path / "sweep.png"))  # psi over the columns: the first column is the mean image
    assert result.returncode == 0 and (tmp_path / "sweep.png").is_file(), result.stderr
    result = run_cli_here("sample", str(tmp_path / "run"), "--truncation", "1.5", "--out", str(tmp_path / "bad.png"))
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1 and "psi in [0, 1]" in result.stderr
