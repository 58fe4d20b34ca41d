"""Image-to-image families: network shapes, the history pool, the cycle terms, `translate` and `eval` end to end."""

from __future__ import annotations

import json

import numpy as np

import pytest
import torch
from torch import nn

from ganforge import load_generator
from ganforge.cli import main
from ganforge.config import ModelConfig
from ganforge.configure import build_config
from ganforge.data.folder import read_image
from ganforge.data.images import normalize, to_uint8
from ganforge.errors import GanforgeError
from ganforge.families.cyclegan import ImagePool
from ganforge.models.registry import DISCRIMINATORS, GENERATORS
from ganforge.models.translation import receptive_field
from ganforge.sampling import make_grid_image
from ganforge.training.trainer import Trainer

TINY_PIX2PIX = ["model.g_width=4", "model.d_width=4", "train.batch_size=4", "train.num_samples=4",
                "train.log_every=1"]
TINY_CYCLE = [*TINY_PIX2PIX, "model.g_blocks=1"]


@pytest.mark.parametrize("resolution", [28, 32, 64])
@pytest.mark.parametrize("generator", ["unet", "encoder-decoder", "resnet-translator"])
def test_generators_keep_the_size_of_any_image(generator, resolution):
    net = GENERATORS.get(generator)(ModelConfig(generator=generator, resolution=resolution, g_width=4, g_blocks=1))
    net.eval()
    for shape in [(2, 1, resolution, resolution), (1, 1, resolution + 5, resolution + 3)]:
        out = net(image=torch.randn(shape))
        assert out.shape == shape and out.abs().max() <= 1


@pytest.mark.parametrize("resolution,layers,patches", [(28, 1, 12), (32, 2, 6), (64, 3, 6)])
def test_patchgan_scores_patches(resolution, layers, patches):
    net = DISCRIMINATORS.get("patchgan")(ModelConfig(resolution=resolution, channels=2, d_width=4, d_layers=layers))
    assert net(torch.randn(2, 2, resolution, resolution)).shape == (2, 1, patches, patches)


def test_patchgan_receptive_fields_are_the_papers():
    assert [receptive_field(n) for n in (1, 2, 3)] == [16, 34, 70]


def test_unet_skips_carry_detail_the_encoder_decoder_loses():
    config = ModelConfig(resolution=32, g_width=4)
    unet, plain = GENERATORS.get("unet")(config), GENERATORS.get("encoder-decoder")(config)
    assert sum(p.numel() for p in unet.parameters()) > sum(p.numel() for p in plain.parameters())
    assert sum(isinstance(m, nn.Dropout) for m in unet.modules()) == 3
    assert not any(isinstance(m, nn.Dropout) for m in plain.modules())


def test_history_pool_fills_then_swaps_half_and_resumes_exactly():
    torch.manual_seed(0)
    pool = ImagePool(4)
    first = torch.arange(4.0).view(4, 1, 1, 1)
    assert torch.equal(pool.query(first), first)  # filling: every fake goes in and comes back
    fresh = 100 + torch.arange(2000.0).view(2000, 1, 1, 1)
    out = pool.query(fresh)
    swapped = (out != fresh).float().mean().item()
    assert 0.45 < swapped < 0.55  # for about half of them a stored image came back instead
    assert (out < 100).any()  # among them the images stored before
    saved, rng = pool.state_dict(), torch.get_rng_state()
    expected = pool.query(fresh[:50])
    restored = ImagePool(4)
    restored.load_state_dict(saved, torch.device("cpu"))
    torch.set_rng_state(rng)
    assert torch.equal(restored.query(fresh[:50]), expected)


def test_pool_of_size_zero_passes_fakes_through():
    fakes = torch.randn(3, 1, 2, 2)
    assert torch.equal(ImagePool(0).query(fakes), fakes)


def test_cycle_and_identity_terms_vanish_for_identity_generators(tmp_path):
    config = build_config("mnist-cyclegan", overrides=[*TINY_CYCLE, "train.steps=1"])
    trainer = Trainer(config, tmp_path / "run", quiet=True)
    generator = trainer.raw("G")
    generator.AtoB.net, generator.BtoA.net = nn.Identity(), nn.Identity()
    out = trainer.family.generator_loss()
    assert float(out["cycle"]) == 0.0 and float(out["identity"]) == 0.0


def test_pairs_reach_pix2pix_aligned(tmp_path):
    """mnist-edges: the target of every input is its own digit (the edge map of B is A)."""
    config = build_config("mnist-pix2pix", overrides=[*TINY_PIX2PIX, "train.steps=1"])
    trainer = Trainer(config, tmp_path / "run", quiet=True)
    batch = trainer.next_real_batch()
    assert batch["A"].shape == batch["B"].shape == (4, 1, 28, 28)
    near_strokes = torch.nn.functional.max_pool2d((batch["B"] > -0.5).float(), 3, 1, 1) > 0
    edges = batch["A"] > -0.5
    assert edges.any() and near_strokes[edges].float().mean() > 0.95  # the edges are those of the same digit


def test_l1_only_baseline_has_no_discriminator_phase(tmp_path):
    config = build_config("mnist-pix2pix", overrides=[*TINY_PIX2PIX, "train.steps=1", "algorithm.gan_weight=0"])
    trainer = Trainer(config, tmp_path / "run", quiet=True)
    assert [p.name for p in trainer.phases] == ["G"] and list(trainer.optimizers) == ["G"]
    assert "adversarial" not in trainer.train_step()


def test_translate_round_trip_and_eval(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "mnist-cyclegan", "--out", str(run), "--quiet", *sum((["--set", o] for o in
                 [*TINY_CYCLE, "train.steps=2", "train.checkpoint_every=2"]), [])]) == 0
    assert (run / "samples" / "step_000002.png").is_file()
    assert main(["export", str(run), str(tmp_path / "export")]) == 0
    inputs = tmp_path / "in"
    inputs.mkdir()
    digit = (torch.rand(1, 30, 26) * 255).to(torch.uint8)  # not the training size
    make_grid_image(digit[None], nrow=1, padding=0).save(inputs / "x.png")
    assert main(["translate", str(tmp_path / "export"), "--input", str(inputs), "--out", str(tmp_path / "out"),
                 "--direction", "BtoA"]) == 0
    written = torch.from_numpy(read_image(tmp_path / "out" / "x.png", None, 1).copy())
    generator = load_generator(tmp_path / "export")
    with torch.no_grad():
        expected = to_uint8(generator(image=normalize(digit[None]), direction=torch.ones(1, dtype=torch.long)))[0]
    assert torch.equal(written, expected)

    capsys.readouterr()
    out = tmp_path / "eval.json"
    assert main(["eval", str(run), "--out", str(out)]) == 0
    metrics = json.loads(out.read_text())["metrics"]
    assert {"AtoB_fid", "BtoA_fid", "AtoB_l1", "AtoB_psnr", "AtoB_class_kept", "BtoA_cycle_l1"} <= set(metrics)
    assert all(value == value for value in metrics.values())


def test_translate_refuses_what_the_model_cannot_do(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "mnist-pix2pix", "--out", str(run), "--quiet", *sum((["--set", o] for o in
                 [*TINY_PIX2PIX, "train.steps=1", "train.checkpoint_every=1"]), [])]) == 0
    image = tmp_path / "x.png"
    make_grid_image(torch.zeros(1, 1, 28, 28, dtype=torch.uint8), nrow=1, padding=0).save(image)
    capsys.readouterr()
    assert main(["translate", str(run), "--input", str(image), "--out", str(tmp_path / "o"),
                 "--direction", "BtoA"]) == 2
    assert "no direction to choose" in capsys.readouterr().err
    assert main(["translate", str(run), "--input", str(tmp_path / "missing"), "--out", str(tmp_path / "o")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["sample", str(run), "--out", str(tmp_path / "s.png")]) == 2
    assert "ganforge translate" in capsys.readouterr().err


def test_translation_presets_refuse_settings_that_cannot_work():
    with pytest.raises(GanforgeError, match="eval.every"):
        build_config("mnist-pix2pix", overrides=["eval.every=100"])
    with pytest.raises(GanforgeError, match="both 0"):
        build_config("mnist-pix2pix", overrides=["algorithm.l1_weight=0", "algorithm.gan_weight=0"])
    with pytest.raises(GanforgeError, match="learns both directions"):
        build_config("mnist-cyclegan", overrides=["algorithm.direction=BtoA"])
    with pytest.raises(GanforgeError, match="reads 'A, B'"):
        Trainer(build_config("mnist-pix2pix", overrides=["data.dataset=mnist-5k", "train.steps=1"]), "unused",
                quiet=True)


def test_ssim_equals_scikit_image():
    skimage_metrics = pytest.importorskip("skimage.metrics")
    from ganforge.metrics.translation import ssim

    generator = torch.Generator().manual_seed(0)
    target = torch.randint(0, 256, (3, 3, 28, 28), generator=generator, dtype=torch.uint8)
    output = (target.int() + torch.randint(-40, 40, target.shape, generator=generator)).clamp(0, 255).to(torch.uint8)
    reference = np.mean([skimage_metrics.structural_similarity(
        target[i].numpy(), output[i].numpy(), gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
        data_range=255, channel_axis=0) for i in range(3)])
    assert ssim(output, target) == pytest.approx(reference, abs=1e-12)
    assert ssim(target, target) == pytest.approx(1.0)
