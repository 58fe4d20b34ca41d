"""R3GAN (Huang et al. 2024): the RpGAN loss, R1 + R2 at one scheduled gamma, the cosine schedules of lr, beta2 and
gamma, the normalisation-free residual networks, and the presets through the family mixin, on tiny shapes."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from family_mixin import FamilyTests
from ganforge.config import ModelConfig
from ganforge.configure import build_config
from ganforge.errors import GanforgeError
from ganforge.losses import LOSSES
from ganforge.models import build_discriminator, build_generator
from ganforge.models.r3gan import ResidualBlock, Resample
from ganforge.models.registry import init_variance_scaled
from ganforge.regularizers import Penalties
from ganforge.training.optim import SCHEDULES, scheduled
from ganforge.training.trainer import Trainer

RPGAN = LOSSES.get("relativistic-pairing")
TINY = ["model.g_width=16", "model.d_width=16", "model.latent_dim=8", "model.stage_blocks=1",
        "train.batch_size=4", "train.threads=1"]
REAL = torch.tensor([2.0, 1.0, -0.5])
FAKE = torch.tensor([-1.0, 0.5, 3.0])


# ------------------------------------------------------------------------------------------------ the loss
def test_rpgan_values_on_known_logits():
    by_hand = sum(math.log1p(math.exp(-(r - f))) for r, f in zip(REAL.tolist(), FAKE.tolist())) / 3
    assert RPGAN.discriminator(REAL, FAKE, 1.0).item() == pytest.approx(by_hand)
    by_hand_g = sum(math.log1p(math.exp(-(f - r))) for r, f in zip(REAL.tolist(), FAKE.tolist())) / 3
    assert RPGAN.generator(FAKE, REAL).item() == pytest.approx(by_hand_g)
    assert RPGAN.discriminator(torch.zeros(4), torch.zeros(4), 1.0).item() == pytest.approx(math.log(2))
    assert RPGAN.generator_needs_real and not RPGAN.probabilistic


def test_rpgan_gradient_signs():
    """D's loss falls as real logits rise and fake logits fall; G's falls as its fake logits rise."""
    real, fake = REAL.clone().requires_grad_(True), FAKE.clone().requires_grad_(True)
    RPGAN.discriminator(real, fake, 1.0).backward()
    assert torch.all(real.grad < 0) and torch.all(fake.grad > 0)
    fake_g = FAKE.clone().requires_grad_(True)
    RPGAN.generator(fake_g, REAL).backward()
    assert torch.all(fake_g.grad < 0)


def test_rpgan_is_symmetric_in_swapping_real_and_fake():
    """Only the pairs' differences count: D's loss on (r, f) is G's on the swapped pair, and shifting both sides by
    one constant changes nothing."""
    assert RPGAN.discriminator(REAL, FAKE, 1.0).item() == pytest.approx(RPGAN.generator(REAL, FAKE).item())
    assert RPGAN.discriminator(FAKE, REAL, 1.0).item() == pytest.approx(RPGAN.generator(FAKE, REAL).item())
    assert RPGAN.discriminator(REAL + 7, FAKE + 7, 1.0).item() == pytest.approx(RPGAN.discriminator(REAL, FAKE,
                                                                                                    1.0).item())


def test_rpgan_pairs_real_and_fake_one_to_one():
    # pairing, not averaging: the average of the differences would be the same for both orders of FAKE
    assert RPGAN.discriminator(REAL, FAKE, 1.0).item() != pytest.approx(RPGAN.discriminator(REAL, FAKE.flip(0),
                                                                                            1.0).item())
    with pytest.raises(ValueError, match="one to one"):
        RPGAN.discriminator(REAL, FAKE[:2], 1.0)
    with pytest.raises(ValueError, match="real logits"):
        RPGAN.generator(FAKE, None)


# ------------------------------------------------------------------------------------------------ R1 + R2 and gamma
class LinearCritic(nn.Module):
    def __init__(self, w: torch.Tensor, b: float) -> None:
        super().__init__()
        self.w, self.b = nn.Parameter(w), b

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(1) @ self.w + self.b


def test_r1_and_r2_of_a_linear_d_at_one_scheduled_gamma_match_the_closed_form():
    """D(x) = w.x + b has grad ||w|| everywhere: R1 = R2 = gamma * 1/2 ||w||^2 (R3GAN's gamma/2 (R1 + R2) in all),
    with gamma on its cosine from 0.05 to 0.005."""
    w = torch.tensor([1.0, -2.0, 2.0])  # ||w||^2 = 9
    critic = LinearCritic(w, 0.5)
    real, fake = torch.randn(5, 3), torch.randn(5, 3)
    penalties = Penalties({"r1": 0.05, "r2": 0.05}, ends={"r1": 0.005, "r2": 0.005}, schedule="cosine")
    for step, gamma in [(0, 0.05), (50, 0.0275), (100, 0.005)]:
        values = penalties(critic, critic, real, fake, step=step, total=100)
        assert values.keys() == {"r1", "r2"}
        for value in values.values():
            assert value.item() == pytest.approx(gamma * 0.5 * 9.0)


def test_the_preset_applies_r1_r2_and_its_schedules_at_every_step(tmp_path):
    """Phase D carries both penalties; the optimisers' lr and beta2 and the penalties' gamma follow the cosine."""
    config = build_config("mnist-r3gan", overrides=[*TINY, "train.steps=4", "eval.every=0"])
    trainer = Trainer(config, tmp_path / "run", progress=False, quiet=True)
    r, o = config.regularize, config.optim
    for step in range(4):
        stats = trainer.train_step()
        assert {"penalty_r1", "penalty_r2"} <= stats.keys()
        gamma = scheduled(r.penalties["r1"], r.penalties_end["r1"], "cosine", step, 4)
        assert trainer.family.penalties.weights(step, 4) == {"r1": pytest.approx(gamma), "r2": pytest.approx(gamma)}
        for optimizer in trainer.optimizers.values():
            group = optimizer.param_groups[0]
            assert group["lr"] == pytest.approx(scheduled(o.lr, o.lr_end, "cosine", step, 4))
            assert tuple(group["betas"]) == (0.0, pytest.approx(scheduled(o.beta2, o.beta2_end, "cosine", step, 4)))


@pytest.mark.parametrize("overrides, key", [
    (["optim.schedule=constant"], "optim.lr_end"),
    (["optim.schedule=constant", "optim.lr_end=0"], "optim.beta2_end"),
    (["optim.name=rmsprop"], "optim.beta2_end"),
    (["regularize.schedule=constant"], "regularize.penalties_end"),
    (["regularize.penalties.r2=0"], "regularize.penalties_end.r2"),
    (["regularize.schedule=cosin"], "regularize.schedule"),
])
def test_schedule_settings_that_cannot_work_are_refused_at_load(overrides, key):
    with pytest.raises(GanforgeError, match=key.replace(".", r"\.")):
        build_config("mnist-r3gan", overrides=overrides)


# ------------------------------------------------------------------------------------------------ schedules
@pytest.mark.parametrize("start, end", [(2e-4, 5e-5), (0.9, 0.99), (0.05, 0.005)])
def test_cosine_schedules_hit_their_endpoints(start, end):
    total = 1000
    values = [scheduled(start, end, "cosine", step, total) for step in range(total + 1)]
    assert values[0] == pytest.approx(start) and values[-1] == pytest.approx(end)
    assert values[total // 2] == pytest.approx((start + end) / 2)
    steps = [b - a for a, b in zip(values, values[1:])]
    assert all(s <= 0 for s in steps) if end < start else all(s >= 0 for s in steps)


def test_end_zero_keeps_the_old_learning_rate_factor():
    for step in (0, 300, 999):
        assert scheduled(2e-4, 0.0, "linear", step, 1000) == 2e-4 * SCHEDULES.get("linear")(step, 1000)


# ------------------------------------------------------------------------------------------------ the networks
def tiny_model(resolution: int = 28, channels: int = 1) -> ModelConfig:
    return ModelConfig(generator="r3gan", discriminator="r3gan", init="variance-scaled", resolution=resolution,
                       channels=channels, g_width=16, d_width=16, latent_dim=8, stage_blocks=2)


@pytest.mark.parametrize("channels", [16, 32])
def test_residual_blocks_start_as_the_identity(channels):
    block = ResidualBlock(channels, total_blocks=4)
    block.apply(init_variance_scaled)
    x = torch.randn(3, channels, 7, 7)
    assert torch.equal(block(x), x)
    assert block.branch[2].groups == channels * 2 // 16  # the 3x3 conv in groups of 16 expanded channels


def test_every_block_of_the_built_networks_starts_as_the_identity():
    model = tiny_model()
    for net in (build_generator(model), build_discriminator(model)):
        blocks = [m for m in net.modules() if isinstance(m, ResidualBlock)]
        assert len(blocks) == 3 * 2  # 7, 14 and 28 px, two blocks each
        for block in blocks:
            x = torch.randn(2, 16, 7, 7)
            assert torch.equal(block(x), x)
        assert not any(isinstance(m, (nn.BatchNorm2d, nn.GroupNorm, nn.LayerNorm, nn.InstanceNorm2d))
                       for m in net.modules())


def test_filtered_resampling():
    """Up: bilinear (originals kept, new pixels the mean of their neighbours); down: the [1,2,1] low-pass first, so
    a checkerboard (the highest frequency) vanishes instead of aliasing to a flat image."""
    x = torch.arange(16.0).view(1, 1, 4, 4)
    up = Resample(1, up=True)(x)
    assert up.shape == (1, 1, 8, 8) and torch.equal(up[..., ::2, ::2], x)
    assert torch.allclose(up[..., 0, 1:6:2], (x[..., 0, :3] + x[..., 0, 1:4]) / 2)
    checkerboard = (torch.arange(8).view(1, 8) + torch.arange(8).view(8, 1)) % 2 * 2.0 - 1
    down = Resample(1, up=False)(checkerboard.view(1, 1, 8, 8))
    assert down.shape == (1, 1, 4, 4) and down[..., 1:, 1:].abs().max() == 0
    assert F.avg_pool2d(checkerboard.view(1, 1, 8, 8), 1, 2).abs().min() == 1  # what plain striding would keep


@pytest.mark.parametrize("resolution, channels", [(28, 1), (32, 3)])
def test_networks_map_z_to_images_and_images_to_one_logit(resolution, channels):
    model = tiny_model(resolution, channels)
    generator, discriminator = build_generator(model), build_discriminator(model)
    images = generator(torch.randn(3, 8))
    assert images.shape == (3, channels, resolution, resolution) and images.abs().max() <= 1
    assert discriminator(images).shape == (3,)


class TestR3GANPreset(FamilyTests):
    preset, family, overrides = "mnist-r3gan", "gan", TINY


class TestR3GANCifarPreset(FamilyTests):
    """The GPU-sized preset, class-conditional (one-hot z concat in G, projection D), at tiny widths on digits."""
    preset, family = "cifar10-r3gan", "gan"
    overrides = [*TINY, "data.dataset=mnist-5k", "data.resize=true"]
