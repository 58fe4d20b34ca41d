"""ProGAN: equalised learning rate, the fade-in blend and its schedule, growth with exact resume, the recorded stage."""

from __future__ import annotations

import copy
import json
import math
import shutil

import pytest
import torch
import torch.nn.functional as F

from conftest import run_cli_here
from ganforge import export_run, load_generator
from ganforge.checkpoints import latest_checkpoint, load_checkpoint
from ganforge.configure import build_config
from ganforge.errors import GanforgeError
from ganforge.families.progan import growth_at, images_to_grow
from ganforge.models.equalized import EqualizedConv2d, EqualizedLinear
from ganforge.models.progan import ProGANDiscriminator, ProGANGenerator
from ganforge.training.trainer import Trainer, train

SMALL = ["algorithm.stage_images=0", "algorithm.fade_images=0", "model.g_width=2", "model.d_width=2",
         "model.latent_dim=8", "train.batch_size=8", "train.num_samples=4", "eval.every=0", "train.log_every=1"]


def test_equalised_layers_scale_by_he_constant():
    torch.manual_seed(0)
    conv = EqualizedConv2d(6, 5, 3, gain=math.sqrt(2))
    x = torch.randn(2, 6, 7, 7)
    expected = F.conv2d(x, conv.weight * (math.sqrt(2) / math.sqrt(6 * 3 * 3)), conv.bias, padding=1)
    assert torch.allclose(conv(x), expected, atol=1e-6)
    linear = EqualizedLinear(10, 3, gain=1.0, lr_multiplier=0.01)
    assert torch.allclose(linear(x[:, :, 0, :].reshape(2, -1)[:, :10]),
                          x[:, :, 0, :].reshape(2, -1)[:, :10] @ (linear.weight * 0.01 / math.sqrt(10)).t()
                          + linear.bias * 0.01, atol=1e-6)
    # stored weights are N(0, 1) (/ lr multiplier): at init the effective layer has unit gain
    big = EqualizedLinear(2048, 2048, gain=1.0)
    out = big(torch.randn(512, 2048))
    assert abs(out.var().item() - 1.0) < 0.05
    assert abs(big.weight.std().item() - 1.0) < 0.01


def test_growth_schedule_points():
    s, f, top = 100, 50, 3
    assert growth_at(0, s, f, top) == (0, 1.0) and growth_at(99, s, f, top) == (0, 1.0)
    assert growth_at(100, s, f, top) == (1, 0.0)  # the first fade-in begins
    assert growth_at(125, s, f, top) == (1, 0.5)
    assert growth_at(150, s, f, top) == (1, 1.0) and growth_at(249, s, f, top) == (1, 1.0)
    assert growth_at(250, s, f, top) == (2, 0.0) and growth_at(290, s, f, top) == (2, 0.8)
    assert growth_at(images_to_grow(top, s, f), s, f, top) == (3, 1.0) == growth_at(10 ** 6, s, f, top)
    assert growth_at(100, s, 0, top) == (1, 1.0)  # no fade: a new resolution at once


def _pair(stage_from: int):
    config = build_config("mnist-progan", overrides=SMALL).model
    torch.manual_seed(0)
    g, d = ProGANGenerator(config), ProGANDiscriminator(config)
    g.restructure({"stage": stage_from})
    d.restructure({"stage": stage_from})
    return g, d


def test_fade_in_at_alpha_zero_is_the_lower_resolution_upsampled():
    g, d = _pair(1)
    grown_g, grown_d = copy.deepcopy(g), copy.deepcopy(d)
    grown_g.restructure({"stage": 2})
    grown_d.restructure({"stage": 2})
    grown_g.alpha.fill_(0.0)
    grown_d.alpha.fill_(0.0)
    z = torch.randn(4, 8)
    with torch.no_grad():
        low = g(z, native=True)
        assert low.shape[-1] == 8
        assert torch.equal(grown_g(z, native=True), F.interpolate(low, scale_factor=2, mode="nearest"))
        x = torch.randn(4, 1, 16, 16)
        assert torch.equal(grown_d(x), d(F.avg_pool2d(x, 2)))
        grown_g.alpha.fill_(1.0)  # alpha = 1: the new block alone, the old toRGB unused
        assert not torch.allclose(grown_g(z, native=True), F.interpolate(low, scale_factor=2, mode="nearest"))
        assert g(z).shape[-1] == 32  # outside training: always the model's resolution


def test_networks_refuse_to_shrink_or_overgrow():
    g, _ = _pair(2)
    for bad in ({"stage": 1}, {"stage": 4}, {"stage": 2, "x": 1}):
        with pytest.raises(GanforgeError, match="can grow to stages 2-3"):
            g.restructure(bad)


MID_FADE = [*SMALL, "model.resolution=16", "algorithm.stage_images=16", "algorithm.fade_images=32",
            "train.checkpoint_every=5", "train.keep_checkpoints=10", "train.sample_every=100", "train.steps=13"]


def test_resume_in_the_middle_of_a_fade_in_is_exact(tmp_path):
    # batch 8: 4x4 for steps 0-1, the 8x8 fade-in over steps 2-5 (alpha 0, .25, .5, .75), 8x8 for 6-7, the 16x16
    # fade-in over 8-11, 16x16 from 12. The straight run's checkpoint after 5 steps (alpha 0.5) is what a run killed
    # there leaves: a run folder with only that checkpoint resumes to the straight run's end, bit for bit.
    straight = train("mnist-progan", out=tmp_path / "straight", quiet=True, overrides=MID_FADE)
    split = tmp_path / "split"
    (split / "checkpoints").mkdir(parents=True)
    shutil.copy(tmp_path / "straight" / "config.json", split / "config.json")
    shutil.copy(tmp_path / "straight" / "checkpoints" / "state-00000005.pt", split / "checkpoints")
    stopped = load_checkpoint(latest_checkpoint(split))
    assert stopped["structure"] == {"G": {"stage": 1}, "D": {"stage": 1}}
    assert float(stopped["nets"]["G"]["alpha"]) == 0.5 == float(stopped["ema"]["G"]["alpha"])
    resumed = train(resume=split, quiet=True)
    assert resumed.steps == 13 and resumed.last == {**straight.last, "images_per_s": resumed.last["images_per_s"]}
    a, b = (load_checkpoint(latest_checkpoint(tmp_path / name)) for name in ("straight", "split"))
    assert a["structure"] == b["structure"] == {"G": {"stage": 2}, "D": {"stage": 2}}
    for section in ("nets", "ema"):
        for name, tensors in a[section].items():
            assert tensors.keys() == b[section][name].keys()
            for key, value in tensors.items():
                assert torch.equal(value, b[section][name][key]), f"{section}.{name}.{key}"
    for name, state in a["optim"].items():  # the optimisers followed the growth: moments of every parameter
        assert len(state["state"]) == len(a["nets"][name]) - 1  # every parameter (alpha is a buffer)
        for index, moments in state["state"].items():
            for key, value in moments.items():
                assert torch.equal(value, b["optim"][name]["state"][index][key]), f"optim.{name}.{index}.{key}"


def test_growth_rebuilds_optimisers_keeping_surviving_moments(tmp_path):
    config = build_config("mnist-progan", overrides=[*SMALL, "algorithm.stage_images=8", "algorithm.fade_images=8",
                                                     "train.steps=6"])
    trainer = Trainer(config, tmp_path / "run", quiet=True)
    trainer.train_step()  # stage 0
    old = trainer.optimizers["G"]
    first = next(trainer.raw("G").parameters())
    moments = old.state[first]["exp_avg_sq"].clone()
    trainer.train_step()  # stage 1 begins: new blocks, a new optimiser over every parameter
    new = trainer.optimizers["G"]
    assert new is not old and trainer.raw("G").stage == 1
    assert len(new.param_groups[0]["params"]) == len(list(trainer.raw("G").parameters())) > len(
        old.param_groups[0]["params"])
    assert new.state[first]["step"] == 2 and not torch.equal(new.state[first]["exp_avg_sq"], moments)
    ema = trainer.ema["G"].module
    assert ema.stage == 1 and ema.state_dict().keys() == trainer.raw("G").state_dict().keys()


def test_export_records_the_stage(tmp_path):
    train("mnist-progan", out=tmp_path / "run", quiet=True,
          overrides=[*SMALL, "model.resolution=16", "algorithm.stage_images=8", "algorithm.fade_images=16",
                     "train.steps=6"])
    out = export_run(tmp_path / "run", tmp_path / "export")
    meta = json.loads((out / "config.json").read_text())
    assert meta["structure"] == {"stage": 2}
    net = load_generator(out)
    assert net.stage == 2 and float(net.alpha) == 0.5  # the last step ran at 40 images: half-way into 16x16
    assert net(**net.inputs.sample(2, torch.Generator().manual_seed(0))).shape == (2, 1, 16, 16)
    meta["structure"] = {"stage": 9}
    (out / "config.json").write_text(json.dumps(meta))
    with pytest.raises(GanforgeError, match="can grow to stages"):
        load_generator(out)


def test_a_schedule_that_does_not_reach_the_resolution_is_one_line_exit_2(tmp_path):
    with pytest.raises(GanforgeError, match="does not reach model.resolution=32"):
        build_config("mnist-progan", overrides=["train.steps=100"])
    result = run_cli_here("train", "mnist-progan", "--set", "train.steps=100", "--dry-run")
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1
    assert "set train.steps>=" in result.stderr
    with pytest.raises(GanforgeError, match="4 x a power of two"):
        build_config("mnist-progan", overrides=["model.resolution=28"])


def test_growing_networks_need_a_growing_family(tmp_path):
    config = build_config("mnist-wgan-gp", overrides=[*SMALL[2:], "model.generator=progan",
                                                      "model.discriminator=progan",
                                                      "model.resolution=32", "data.resize=true", "model.d_norm=default",
                                                      "train.steps=1"])
    with pytest.raises(GanforgeError, match="grows progressively"):
        Trainer(config, tmp_path / "run", quiet=True)
