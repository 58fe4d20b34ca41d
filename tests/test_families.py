"""Every registered family through the family test mixin; every preset builds and trains a step."""

from __future__ import annotations

import pytest

from conftest import TINY_DCGAN
from family_mixin import FamilyTests
from ganforge.families import FAMILIES
from ganforge.presets import PRESETS
from ganforge.training.trainer import train

TINY = [*TINY_DCGAN, "train.batch_size=8"]


class TestGAN(FamilyTests):
    preset, family, overrides = "mnist-dcgan", "gan", TINY


class TestGANWithLazyR1(FamilyTests):
    preset, family = "mnist-dcgan", "gan"
    overrides = [*TINY, "model.d_norm=layer", "regularize.penalties={r1: 1.0}", "regularize.every={r1: 2}"]


class TestWGAN(FamilyTests):
    preset, family, overrides = "mnist-wgan", "wgan", [*TINY, "algorithm.d_steps=2"]


class TestWGANGP(FamilyTests):
    preset, family, overrides = "mnist-wgan-gp", "wgan-gp", [*TINY, "algorithm.d_steps=2"]


class TestUnrolled(FamilyTests):
    preset, family, overrides = "mnist-dcgan", "unrolled", [*TINY, "algorithm.name=unrolled",
                                                            "algorithm.unroll_steps=2"]


def test_every_family_has_a_mixin_test_class():
    tested = {cls.family for cls in globals().values() if isinstance(cls, type) and issubclass(cls, FamilyTests)}
    assert set(FAMILIES.names()) <= tested, f"families without tests: {set(FAMILIES.names()) - tested}"


# Presets trained at their own sizes except where that would take long here; downloads replaced by built-in data.
PRESET_OVERRIDES = {
    "cifar10-dcgan": ["data.dataset=mnist-5k", "data.resize=true", "model.g_width=8", "model.d_width=8"],
    "cifar10-sngan": ["data.dataset=mnist-5k", "data.resize=true", "model.g_width=16", "model.d_width=16"],
}


@pytest.mark.parametrize("name", PRESETS.names())
def test_every_preset_trains_a_step(name, tmp_path):
    result = train(name, out=tmp_path / "run", quiet=True,
                   overrides=[*PRESET_OVERRIDES.get(name, []), "train.steps=1", "train.batch_size=8",
                              "train.num_samples=4", "eval.every=0"])
    assert result.steps == 1 and result.last["loss_d"] == result.last["loss_d"]
