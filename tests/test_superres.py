"""SRGAN: the x4 task, the SRResNet pre-training stage, super-resolution pairs from folders."""

import numpy as np
import pytest
import torch
from PIL import Image

from ganforge.config import ModelConfig
from ganforge.configure import build_config
from ganforge.data import load_dataset, random_crop_flip
from ganforge.errors import GanforgeError
from ganforge.models.registry import GENERATORS
from ganforge.training.trainer import Trainer

TINY_SRGAN = ["model.g_width=4", "model.d_width=4", "model.g_blocks=1", "train.batch_size=4", "train.steps=4"]


def test_mnist_sr4_pairs_each_digit_with_its_quarter_size_copy():
    data = load_dataset("mnist-sr4").fit_to(28, 1, resize=False)
    assert data.train["A"].shape == (4500, 1, 7, 7) and data.train["B"].shape == (4500, 1, 28, 28)
    assert data.test["A"].shape == (500, 1, 7, 7)
    assert abs(data.train["A"][:50].float().mean() - data.train["B"][:50].float().mean()) < 3  # same ink


def test_srresnet_enlarges_any_size_by_its_factor():
    net = GENERATORS.get("srresnet")(ModelConfig(resolution=28, upscale=4, g_width=4, g_blocks=1))
    assert net.inputs["image"].resolution == 7
    assert net(image=torch.zeros(2, 1, 5, 6)).shape == (2, 1, 20, 24)
    with pytest.raises(GanforgeError, match="not a multiple of model.upscale"):
        GENERATORS.get("srresnet")(ModelConfig(resolution=30, upscale=4))


def parameters(net):
    return [p.detach().clone() for p in net.parameters()]


def test_discriminator_waits_for_the_end_of_pre_training(tmp_path):
    config = build_config("mnist-srgan", overrides=[*TINY_SRGAN, "algorithm.pretrain_steps=2"])
    trainer = Trainer(config, tmp_path / "run", quiet=True)
    before = parameters(trainer.raw("D"))
    for _ in range(2):
        stats = trainer.train_step()
        assert "loss_d" not in stats and "adversarial" not in stats
    assert all(torch.equal(a, b) for a, b in zip(before, parameters(trainer.raw("D"))))
    stats = trainer.train_step()
    assert {"loss_d", "adversarial", "content"} <= set(stats)
    assert not all(torch.equal(a, b) for a, b in zip(before, parameters(trainer.raw("D"))))


def test_srresnet_baseline_has_only_the_pixel_phase(tmp_path):
    config = build_config("mnist-srgan", overrides=[*TINY_SRGAN, "algorithm.adversarial_weight=0"])
    trainer = Trainer(config, tmp_path / "run", quiet=True)
    assert [p.name for p in trainer.phases] == ["G"]
    assert set(trainer.train_step()) >= {"loss_g", "pixel_mse"}


def test_srgan_refuses_what_it_cannot_do(tmp_path):
    with pytest.raises(GanforgeError, match="model.upscale=1: srgan enlarges images"):
        build_config("mnist-srgan", overrides=["model.upscale=1"])
    config = build_config("mnist-srgan", overrides=[*TINY_SRGAN, "model.channels=3", "data.resize=true"])
    with pytest.raises(GanforgeError, match="reads 1-channel 28x28 images .* algorithm.content=pixel"):
        Trainer(config, tmp_path / "run", quiet=True)


def write_png(path, array):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


def test_paired_folders_of_small_and_large_images_keep_their_ratio(tmp_path):
    rng = np.random.default_rng(0)
    for i in range(4):
        write_png(tmp_path / "A" / f"{i}.png", rng.integers(0, 256, (4, 4), dtype=np.uint8))
        write_png(tmp_path / "B" / f"{i}.png", rng.integers(0, 256, (16, 16), dtype=np.uint8))
    data = load_dataset(f"paired:{tmp_path}", resolution=16, channels=1)
    assert data.train["A"].shape[-2:] == (4, 4) and data.train["B"].shape[-2:] == (16, 16)
    with pytest.raises(GanforgeError, match="crop the images of a pair alike"):
        random_crop_flip(data.train, data.groups(), 8, flip=True)
    write_png(tmp_path / "A" / "3.png", rng.integers(0, 256, (4, 5), dtype=np.uint8))
    with pytest.raises(GanforgeError, match="pair '3' is 5x4 in A/ but 16x16 in B/"):
        load_dataset(f"paired:{tmp_path}", resolution=16, channels=1)
