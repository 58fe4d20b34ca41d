"""ganforge's fast path computes what the textbook loops compute.

The textbook loops of benchmarks/textbook.py (pytorch/examples DCGAN; the course's MLP GAN) and ganforge's Trainer
start from the same seed, see the same batches in the same order and the same noise. The initial weights are then
identical bit for bit (same construction and init order). The losses cannot be: the textbook applies a sigmoid and
BCELoss where ganforge uses BCE-with-logits, backpropagates D's two losses separately, normalises with
ToTensor/Normalize instead of x / 127.5 - 1, and steps a for-loop Adam instead of the foreach one. Each of those
differs only by float32 rounding, so the stated tolerance is a relative 1e-5 on every logged number for 8 steps
(the measured differences are around 1e-7) and 1e-5 on every weight afterwards.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the benchmarks package lives at the repo root

from benchmarks.floor import HandWrittenMLPStep  # noqa: E402
from benchmarks.textbook import TextbookDCGAN, TextbookMLP, images_hwc  # noqa: E402
from ganforge.configure import build_config  # noqa: E402
from ganforge.data import BatchStream  # noqa: E402
from ganforge.training.trainer import Trainer  # noqa: E402

STEPS = 8
RTOL = 1e-5
WEIGHT_ATOL = 1e-5
LOGGED = ("loss_d", "loss_g", "d_real", "d_fake", "d_fake_g")


def data_order(images: torch.Tensor, batch_size: int, seed: int) -> list[int]:
    """The image indices ganforge's stream visits in its first epoch (read through its public labels path)."""
    stream = BatchStream({"image": images, "index": torch.arange(images.shape[0])}, batch_size, seed)
    return torch.cat([stream.next()["index"] for _ in range(stream.batches_per_epoch)]).tolist()


def assert_same_run(textbook_step, trainer: Trainer, textbook_nets, steps: int = STEPS) -> None:
    for step in range(steps):
        expected = textbook_step()
        got = {k: float(v) for k, v in trainer.train_step().items()}
        for key in LOGGED:
            assert got[key] == pytest.approx(expected[key], rel=RTOL), f"step {step + 1}: {key}"
    ganforge_nets = (trainer.raw("G"), trainer.raw("D"))
    for ours, theirs in zip(ganforge_nets, textbook_nets):
        for (name, a), b in zip(ours.state_dict().items(), theirs.state_dict().values()):
            assert torch.allclose(a.float(), b.float(), rtol=0, atol=WEIGHT_ATOL), name


def same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


def test_dcgan_matches_the_pytorch_examples_loop(tmp_path):
    config = build_config("mnist-dcgan", overrides=["model.resolution=32", "data.resize=true", "model.g_width=8",
                                                    "model.d_width=8", "train.batch_size=16", "train.ema=false",
                                                    "train.steps=8"])
    trainer = Trainer(config, tmp_path / "run", quiet=True)
    images = trainer.stream.tensors["image"].cpu()
    textbook = TextbookDCGAN(images_hwc(images), 32, batch_size=16, ngf=8, ndf=8, seed=0, resize=False,
                             sampler=data_order(images, 16, 0), noise_generator=torch.Generator().manual_seed(0))
    assert same_weights(textbook.netG, trainer.nets["G"]) and same_weights(textbook.netD, trainer.nets["D"])
    assert_same_run(lambda: textbook.step(next(textbook.batches)), trainer, (textbook.netG, textbook.netD))


def test_mlp_matches_the_course_loop(tmp_path):
    trainer = Trainer(build_config("mnist-mlp", overrides=["train.steps=8"]), tmp_path / "run", quiet=True)
    images = trainer.stream.tensors["image"].cpu()
    textbook = TextbookMLP(images_hwc(images), batch_size=64, seed=0, sampler=data_order(images, 64, 0),
                           noise_generator=torch.Generator().manual_seed(0))
    assert same_weights(textbook.G, trainer.nets["G"]) and same_weights(textbook.D, trainer.nets["D"])
    assert_same_run(lambda: textbook.step(next(textbook.batches)), trainer, (textbook.G, textbook.D))


def test_the_benchmarks_hand_written_floor_computes_ganforges_step(tmp_path):
    """benchmarks.floor is only a fair limit if it does the trainer's work: same batches and noise, same numbers."""
    trainer = Trainer(build_config("mnist-mlp", overrides=["train.steps=8"]), tmp_path / "run", quiet=True)
    floor = HandWrittenMLPStep(trainer)
    stream = BatchStream({"image": trainer.stream.tensors["image"]}, 64, seed=0)
    noise = torch.Generator().manual_seed(0)
    for step in range(STEPS):
        expected = floor.step(stream.next()["image"], torch.randn(64, 100, generator=noise))
        got = trainer.train_step()
        assert (float(got["loss_d"]), float(got["loss_g"])) == pytest.approx(expected, rel=RTOL), f"step {step + 1}"
    ours = [*trainer.nets["G"].named_parameters(), *trainer.nets["D"].named_parameters()]
    for (name, a), b in zip(ours, floor.g + floor.d):
        assert torch.allclose(a, b, rtol=0, atol=WEIGHT_ATOL), name


def test_the_textbook_batches_are_ganforges_batches(tmp_path):
    """The data side alone: PIL + ToTensor/Normalize gives ganforge's normalised uint8 batch to float rounding."""
    trainer = Trainer(build_config("mnist-mlp", overrides=["train.steps=1"]), tmp_path / "run", quiet=True)
    images = trainer.stream.tensors["image"].cpu()
    textbook = TextbookMLP(images_hwc(images), batch_size=64, seed=0, sampler=data_order(images, 64, 0))
    theirs = next(textbook.batches)[0]
    ours = trainer.next_real_batch()["image"]
    assert theirs.shape == ours.shape
    assert torch.allclose(theirs, ours, rtol=0, atol=1e-6)
