"""Every registered family through the family test mixin; every preset builds and trains a step."""

from __future__ import annotations

import math

import pytest

from conftest import TINY_DCGAN
from family_mixin import FamilyTests
from ganforge.errors import GanforgeError
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


class TestConditionalGAN(FamilyTests):
    preset, family, overrides = "mnist-cgan", "gan", TINY


class TestConditionalMLP(FamilyTests):
    preset, family, overrides = "mnist-cgan-mlp", "gan", ["train.batch_size=8", "model.latent_dim=16"]


class TestProjection(FamilyTests):
    preset, family, overrides = "mnist-projection", "gan", TINY


class TestACGAN(FamilyTests):
    preset, family, overrides = "mnist-acgan", "acgan", TINY


class TestInfoGAN(FamilyTests):
    preset, family, overrides = "mnist-infogan", "infogan", TINY


class TestBEGAN(FamilyTests):
    preset, family, overrides = "mnist-began", "began", ["model.g_width=8", "model.d_width=8", "model.latent_dim=8",
                                                          "train.batch_size=8"]


class TestBigGANLite(FamilyTests):
    preset, family = "mnist-biggan-lite", "gan"
    overrides = ["model.g_width=4", "model.d_width=4", "model.latent_dim=12", "train.batch_size=8"]


class TestMRGAN(FamilyTests):
    preset, family, overrides = "mnist-mrgan", "mrgan", TINY


class TestMDGAN(FamilyTests):
    preset, family, overrides = "mnist-mrgan", "mdgan", [*TINY, "algorithm.name=mdgan"]


class TestBiGAN(FamilyTests):
    preset, family, overrides = "mnist-bigan", "bigan", TINY


class TestALI(FamilyTests):
    preset, family, overrides = "mnist-bigan", "bigan", [*TINY, "algorithm.gaussian_encoder=true"]


class TestVEEGAN(FamilyTests):
    preset, family, overrides = "mnist-veegan", "veegan", TINY


TINY_TRANSLATION = ["model.g_width=4", "model.d_width=4", "model.g_blocks=1", "train.batch_size=4"]


class TestPix2Pix(FamilyTests):
    preset, family, overrides = "mnist-pix2pix", "pix2pix", TINY_TRANSLATION


class TestCycleGAN(FamilyTests):
    preset, family, overrides = "mnist-cyclegan", "cyclegan", TINY_TRANSLATION


class TestDiscoGAN(FamilyTests):
    preset, family, overrides = "mnist-discogan", "discogan", TINY_TRANSLATION


class TestSRGAN(FamilyTests):  # pre-training ends after step 1, so the tests reach the adversarial phases
    preset, family, overrides = "mnist-srgan", "srgan", [*TINY_TRANSLATION, "algorithm.pretrain_steps=1"]


def test_every_family_has_a_mixin_test_class():
    tested = {cls.family for cls in globals().values() if isinstance(cls, type) and issubclass(cls, FamilyTests)}
    assert set(FAMILIES.names()) <= tested, f"families without tests: {set(FAMILIES.names()) - tested}"


# Presets trained at their own sizes except where that would take long here; downloads replaced by built-in data.
PRESET_OVERRIDES = {
    "cifar10-dcgan": ["data.dataset=mnist-5k", "data.resize=true", "model.g_width=8", "model.d_width=8"],
    "cifar10-sngan": ["data.dataset=mnist-5k", "data.resize=true", "model.g_width=16", "model.d_width=16"],
    "cifar10-biggan-lite": ["data.dataset=mnist-5k", "data.resize=true", "model.g_width=8", "model.d_width=8"],
    "cifar10-msggan": ["data.dataset=mnist-5k", "data.resize=true", "model.g_width=8", "model.d_width=8"],
    "cifar10-r3gan": ["data.dataset=mnist-5k", "data.resize=true", "model.g_width=16", "model.d_width=16"],
    "cifar10-stylegan2": ["data.dataset=mnist-5k", "data.resize=true", "model.g_width=8", "model.d_width=8",
                          "model.latent_dim=64"],
    "facades-pix2pix": ["data.dataset=mnist-edges", "data.resize=true", "model.resolution=32", "data.load_size=36",
                        "model.g_depth=5", "model.g_width=8", "model.d_width=8"],
    "mnist-progan": ["algorithm.stage_images=0", "algorithm.fade_images=0"],  # 32x32 at once: one step reaches it
    "horse2zebra-cyclegan": ["data.dataset=mnist-inverted", "data.resize=true", "model.resolution=32",
                             "data.load_size=36", "model.g_width=8", "model.d_width=8"],
}


@pytest.mark.parametrize("name", PRESETS.names())
def test_every_preset_trains_a_step(name, tmp_path):
    result = train(name, out=tmp_path / "run", quiet=True,
                   overrides=[*PRESET_OVERRIDES.get(name, []), "train.steps=1", "train.batch_size=8",
                              "train.num_samples=4", "eval.every=0"])
    assert result.steps == 1 and result.last and all(math.isfinite(value) for value in result.last.values())


class TestStarGAN(FamilyTests):
    preset, family, overrides = "mnist-stargan", "stargan", [*TINY_TRANSLATION, "algorithm.n_critic=2"]


TINY_SEMANTIC = [*TINY_TRANSLATION, "model.resolution=16", "data.resize=true", "model.d_layers=1"]


class TestPix2PixHD(FamilyTests):
    preset, family, overrides = "shapes-pix2pixhd", "pix2pixhd", TINY_SEMANTIC


class TestSpade(FamilyTests):
    preset, family, overrides = "shapes-spade", "spade", TINY_SEMANTIC


# growth happens inside the mixin's steps: 16x16 needs two stages; with batch 8 and 4-image fades, step 0 fades
# 4x4 -> 8x8 in (alpha 0), step 1 is at 16x16
TINY_PROGAN = ["model.g_width=2", "model.d_width=2", "model.latent_dim=8", "model.resolution=16", "train.batch_size=8",
               "algorithm.stage_images=0", "algorithm.fade_images=4"]


class TestProGAN(FamilyTests):
    preset, family, overrides = "mnist-progan", "progan", TINY_PROGAN


TINY_STYLEGAN2 = ["model.g_width=2", "model.d_width=2", "model.latent_dim=8", "model.mapping_layers=2",
                  "model.resolution=8", "train.batch_size=8", "regularize.every={r1: 2}", "algorithm.pl_every=2"]


class TestStyleGAN2(FamilyTests):
    preset, family, overrides = "mnist-stylegan2", "stylegan2", TINY_STYLEGAN2


class TestStyleGAN3(FamilyTests):
    preset, family, overrides = "mnist-stylegan3t", "stylegan3", [*TINY_STYLEGAN2, "model.synthesis_layers=3",
                                                                   "model.synthesis_margin=2"]


class TestStyleGAN2WithADA(FamilyTests):  # p moves at every D step, so a resume must restore ADA's state exactly
    preset, family = "cifar10-stylegan2", "stylegan2"
    overrides = [*PRESET_OVERRIDES["cifar10-stylegan2"], *TINY_STYLEGAN2, "augment.ada_p=0.5", "augment.ada_interval=1",
                 "augment.ada_kimg=0.1"]


TINY_MSGGAN = ["model.g_width=2", "model.d_width=2", "model.latent_dim=8", "model.resolution=16", "train.batch_size=8"]


class TestMSGGAN(FamilyTests):
    preset, family, overrides = "mnist-msggan", "msggan", TINY_MSGGAN


def _mixin_classes() -> list[type[FamilyTests]]:
    found = {cls.family: cls for cls in list(globals().values())
             if isinstance(cls, type) and issubclass(cls, FamilyTests) and cls is not FamilyTests}
    return [found[name] for name in sorted(found)]


@pytest.mark.parametrize("case", _mixin_classes(), ids=lambda cls: cls.family)
def test_ada_reaches_every_family_that_accepts_it(case, tmp_path):
    """Each family that takes augment.ada shows ADA its verdicts on the reals: p moves after one D step."""
    if not FAMILIES.get(case.family).adaptive_augment:
        with pytest.raises(GanforgeError, match=f"augment.ada does not apply to algorithm.name={case.family} "):
            case().trainer(tmp_path / "refused", "augment.ada=true", "train.steps=1")
        return
    trainer = case().trainer(tmp_path / "run", "augment.ada=true", "augment.ada_p=0.5", "augment.ada_interval=1",
                             "augment.ada_kimg=0.001", "train.steps=1")
    stats = trainer.train_step()
    assert "ada_rt" in stats and float(stats["ada_p"]) != 0.5
    assert trainer.family.state_dict()["ada"]["p"] == float(stats["ada_p"])
