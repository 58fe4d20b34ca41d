"""Losses, algorithms, regularisers and D options of the objectives issue, on tiny shapes."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from conftest import TINY_DCGAN, run_cli_here
from ganforge.augment import diff_augment
from ganforge.config import AugmentConfig
from ganforge.configure import build_config
from ganforge.errors import GanforgeError
from ganforge.losses import LOSSES, build_loss
from ganforge.models import build_discriminator
from ganforge.models.stabilizers import MinibatchStdDev, apply_spectral_norm
from ganforge.regularizers import REGULARIZERS, Penalties
from ganforge.training.trainer import Trainer, train

REAL = torch.tensor([2.0, 1.0, -0.5])
FAKE = torch.tensor([-1.0, 0.5, 3.0])


def _grad_sign(loss_fn, fake: torch.Tensor) -> torch.Tensor:
    fake = fake.clone().requires_grad_(True)
    loss_fn(fake).backward()
    return fake.grad.sign()


# ------------------------------------------------------------------------------------------------ losses
def test_wasserstein_values_and_gradients():
    loss = LOSSES.get("wasserstein")
    assert loss.discriminator(REAL, FAKE).item() == pytest.approx(FAKE.mean() - REAL.mean())
    assert loss.generator(FAKE, None).item() == pytest.approx(-FAKE.mean())
    # G raises the critic's score of its fakes: descending the loss moves every fake score up
    assert torch.all(_grad_sign(lambda f: loss.generator(f, None), FAKE) < 0)


def test_hinge_values_and_margin():
    loss = LOSSES.get("hinge")
    expected = torch.relu(1 - REAL).mean() + torch.relu(1 + FAKE).mean()
    assert loss.discriminator(REAL, FAKE).item() == pytest.approx(expected.item())
    # beyond the margin D gets no push: reals above 1 and fakes below -1 contribute zero gradient
    real = torch.tensor([2.0, 0.0], requires_grad=True)
    fake = torch.tensor([-2.0, 0.0], requires_grad=True)
    loss.discriminator(real, fake).backward()
    assert real.grad.tolist() == [0.0, -0.5] and fake.grad.tolist() == [0.0, 0.5]


def test_least_squares_labels_are_configurable():
    config = build_config("mnist-lsgan", overrides=["loss.ls_a=-1", "loss.ls_b=1", "loss.ls_c=0"])
    loss = build_loss(config.loss)
    expected_d = 0.5 * ((REAL - 1) ** 2).mean() + 0.5 * ((FAKE + 1) ** 2).mean()
    assert loss.discriminator(REAL, FAKE).item() == pytest.approx(expected_d.item())
    assert loss.generator(FAKE, None).item() == pytest.approx((0.5 * FAKE ** 2).mean().item())
    # pulling fakes towards c = 0: positive scores get pushed down, negative up
    assert _grad_sign(lambda f: loss.generator(f, None), FAKE).tolist() == [-1.0, 1.0, 1.0]
    assert loss.score(torch.tensor([3.0])).item() == 3.0  # LSGAN's output is not a probability


def test_relativistic_average_compares_with_the_other_side():
    loss = LOSSES.get("relativistic-average")
    bce = nn.functional.binary_cross_entropy_with_logits
    expected = bce(REAL - FAKE.mean(), torch.ones(3)) + bce(FAKE - REAL.mean(), torch.zeros(3))
    assert loss.discriminator(REAL, FAKE).item() == pytest.approx(expected.item())
    assert loss.generator_needs_real
    assert torch.all(_grad_sign(lambda f: loss.generator(f, REAL), FAKE) < 0)
    with pytest.raises(ValueError):
        loss.generator(FAKE, None)


# ------------------------------------------------------------------------------------------------ regularisers
class LinearCritic(nn.Module):
    def __init__(self, w: torch.Tensor) -> None:
        super().__init__()
        self.w = nn.Parameter(w)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(1) @ self.w


def test_gradient_penalties_of_a_linear_critic_match_their_closed_forms():
    w = torch.tensor([3.0, 4.0])  # ||w|| = 5 everywhere, so every penalty is known exactly
    critic = LinearCritic(w)
    real, fake = torch.randn(6, 2), torch.randn(6, 2)
    assert REGULARIZERS.get("gp")(critic, critic, real, fake).item() == pytest.approx((5 - 1) ** 2)
    assert REGULARIZERS.get("gp0")(critic, critic, real, fake).item() == pytest.approx(25.0)
    assert REGULARIZERS.get("r1")(critic, critic, real, fake).item() == pytest.approx(12.5)
    assert REGULARIZERS.get("r2")(critic, critic, real, fake).item() == pytest.approx(12.5)
    # the penalty's gradient reaches the critic's weights (create_graph): d/dw (||w|| - 1)^2 = 2 (5 - 1) w / 5
    REGULARIZERS.get("gp")(critic, critic, real, fake).backward()
    assert torch.allclose(critic.w.grad, 2 * 4 * w / 5)


def test_r1_scores_reals_and_r2_fakes_with_their_own_conditions():
    """A conditional D scores reals with their labels and fakes with G's: each penalty uses the right one."""
    critic = LinearCritic(torch.tensor([3.0, 4.0]))
    double = LinearCritic(torch.tensor([6.0, 8.0]))
    x = torch.randn(4, 2)
    assert REGULARIZERS.get("r1")(critic, double, x, x).item() == pytest.approx(12.5)
    assert REGULARIZERS.get("r2")(critic, double, x, x).item() == pytest.approx(50.0)


def test_lazy_penalties_are_a_phase_of_their_own_every_n_steps_with_scaled_weight(tmp_path):
    penalties = Penalties({"r1": 2.0}, every=4)
    critic = LinearCritic(torch.tensor([3.0, 4.0]))
    x = torch.randn(4, 2)
    assert penalties(critic, critic, x, x)["r1"].item() == pytest.approx(2.0 * 4 * 12.5)
    config = build_config("mnist-dcgan", overrides=[*TINY_DCGAN, "model.d_norm=layer", "train.steps=5",
                                                    "regularize.penalties={r1: 1.0}", "regularize.every={r1: 4}",
                                                    "optim.beta1=0.5", "optim.beta2=0.99"])
    trainer = Trainer(config, tmp_path / "run", progress=False, quiet=True)
    lazy = next(p for p in trainer.phases if p.name == "Dreg")
    assert lazy.every == 4 and lazy.networks == ("D",)
    ran = ["penalty_r1" in trainer.train_step() for _ in range(5)]
    assert ran == [True, False, False, False, True]  # steps 0 and 4
    # StyleGAN2's correction for D, which the lazy phase also steps: lr x 4/5, betas ** 4/5; G keeps its own
    d_group, g_group = trainer.optimizers["D"].param_groups[0], trainer.optimizers["G"].param_groups[0]
    assert d_group["lr"] == pytest.approx(2e-4 * 0.8)
    assert d_group["betas"] == pytest.approx((0.5 ** 0.8, 0.99 ** 0.8))
    assert g_group["lr"] == pytest.approx(2e-4) and g_group["betas"] == pytest.approx((0.5, 0.99))


def test_spectral_norm_keeps_top_singular_value_near_one():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(20, 30), nn.ReLU(), nn.Linear(30, 1))
    with torch.no_grad():
        net[0].weight.mul_(10)
    assert torch.linalg.matrix_norm(net[0].weight, ord=2) > 5
    assert apply_spectral_norm(net) == ["0", "2"]
    for _ in range(30):  # power iterations run on each training-mode forward
        net(torch.randn(8, 20))
    net.eval()
    assert torch.linalg.matrix_norm(net[0].weight, ord=2).item() == pytest.approx(1.0, abs=0.02)


def test_spectral_norm_layers_option_and_its_errors():
    config = build_config("mnist-hinge", overrides=["model.spectral_norm_layers=[head]"])
    d = build_discriminator(config.model)
    assert [n for n, _ in d.named_parameters() if "original" in n] == ["head.parametrizations.weight.original"]
    with pytest.raises(GanforgeError, match="match no conv/linear layer"):
        build_discriminator(build_config("mnist-hinge", overrides=["model.spectral_norm_layers=[nothing]"]).model)
    with pytest.raises(GanforgeError, match="model.spectral_norm is false"):
        build_config("mnist-dcgan", overrides=["model.spectral_norm_layers=[head]"])


# ------------------------------------------------------------------------------------------------ D options
def test_pacgan_packs_consecutive_samples():
    config = build_config("mnist-dcgan", overrides=[*TINY_DCGAN, "model.pack=4"])
    d = build_discriminator(config.model)
    assert d(torch.randn(16, 1, 28, 28)).shape == (4,)
    first_conv = next(m for m in d.modules() if isinstance(m, nn.Conv2d))
    assert first_conv.in_channels == 4
    with pytest.raises(GanforgeError, match="model.pack=3 does not divide train.batch_size=16"):
        build_config("mnist-dcgan", overrides=[*TINY_DCGAN, "model.pack=3"])


def test_minibatch_features_see_collapse():
    std = MinibatchStdDev(group_size=4)
    assert torch.all(std(torch.ones(8, 5)) < 1e-3)  # identical samples: no spread
    assert torch.all(std(torch.randn(8, 5)) > 0.3)
    features = torch.randn(8, 5)  # sample i is in group column i % 2; each column's mean std over features
    expected = features.reshape(4, 2, 5).var(dim=0, unbiased=False).add(1e-8).sqrt().mean(dim=1).repeat(4)
    assert torch.allclose(std(features).view(-1), expected, atol=1e-6)
    config = build_config("mnist-dcgan", overrides=[*TINY_DCGAN, "model.minibatch_std=true",
                                                    "model.minibatch_discrimination=6"])
    d = build_discriminator(config.model)
    x = torch.randn(8, 1, 28, 28)
    assert d(x).shape == (8,)
    # a sample's logit depends on the rest of the batch
    changed = x.clone()
    changed[1:] = torch.randn(7, 1, 28, 28)
    assert d.eval()(changed)[0] != d(x)[0]


def test_minibatch_std_group_size_is_configurable_and_validated():
    config = build_config("mnist-dcgan", overrides=[*TINY_DCGAN, "model.minibatch_std=true",
                                                    "model.minibatch_std_group=8"])
    stds = [m for m in build_discriminator(config.model).modules() if isinstance(m, MinibatchStdDev)]
    assert [m.group_size for m in stds] == [8]
    features = torch.randn(16, 5)  # groups of 8: two columns, samples i and i + 2 share one
    expected = features.reshape(8, 2, 5).var(dim=0, unbiased=False).add(1e-8).sqrt().mean(dim=1).repeat(8)
    assert torch.allclose(stds[0](features).view(-1), expected, atol=1e-6)
    with pytest.raises(GanforgeError, match="model.minibatch_std_group must be >= 2"):
        build_config("mnist-dcgan", overrides=["model.minibatch_std_group=1"])


def test_d_norm_swaps_batchnorm():
    layer = build_discriminator(build_config("mnist-dcgan", overrides=["model.d_norm=layer"]).model)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in layer.modules())
    assert any(isinstance(m, nn.GroupNorm) for m in layer.modules())
    plain = build_discriminator(build_config("mnist-dcgan", overrides=["model.d_norm=none"]).model)
    assert not any(isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)) for m in plain.modules())


def test_diffaugment_is_differentiable_and_reproducible():
    x = torch.randn(4, 3, 16, 16, requires_grad=True)
    policy = ["color", "translation", "cutout"]
    out = diff_augment(x, policy, AugmentConfig(), torch.Generator().manual_seed(3))
    again = diff_augment(x, policy, AugmentConfig(), torch.Generator().manual_seed(3))
    assert torch.equal(out, again)
    assert not torch.equal(out, diff_augment(x, policy, AugmentConfig(), torch.Generator().manual_seed(4)))
    out.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    with pytest.raises(GanforgeError, match="image batches"):
        diff_augment(torch.randn(4, 2), policy)


def test_diffaugment_gradient_reaches_generator_in_phase_g(tmp_path):
    config = build_config("mnist-dcgan", overrides=[*TINY_DCGAN, "augment.policy=[color,translation,cutout]",
                                                    "train.steps=2"])
    trainer = Trainer(config, tmp_path / "run", progress=False, quiet=True)
    before = [p.detach().clone() for p in trainer.nets["G"].parameters()]
    trainer.train_step()
    assert any(not torch.equal(a, b) for a, b in zip(before, trainer.nets["G"].parameters()))


# ------------------------------------------------------------------------------------------------ algorithms
def test_unrolled_step_leaves_d_untouched(tmp_path):
    config = build_config("mnist-dcgan", overrides=[*TINY_DCGAN, "algorithm.name=unrolled", "algorithm.unroll_steps=3",
                                                    "train.steps=3"])
    trainer = Trainer(config, tmp_path / "run", progress=False, quiet=True)
    phase_d, phase_g = trainer.phases
    trainer.run_phase(phase_d)  # D's own step, which also gives D's optimiser a state to continue from
    d_state = {k: v.clone() for k, v in trainer.nets["D"].state_dict().items()}
    opt_state = {id(p): {k: v.clone() for k, v in s.items()} for p, s in trainer.optimizers["D"].state.items()}
    g_before = [p.detach().clone() for p in trainer.nets["G"].parameters()]
    trainer.run_phase(phase_g)
    for key, value in trainer.nets["D"].state_dict().items():
        assert torch.equal(value, d_state[key]), key  # weights and BatchNorm statistics alike
    for p, state in trainer.optimizers["D"].state.items():
        assert all(torch.equal(v, opt_state[id(p)][k]) for k, v in state.items())
    assert any(not torch.equal(a, b) for a, b in zip(g_before, trainer.nets["G"].parameters()))


def test_unrolled_lookahead_changes_generator_gradient(tmp_path):
    """k = 0 would be the plain GAN; the look-ahead must give G a different gradient."""
    grads = {}
    for name in ("gan", "unrolled"):
        config = build_config("mnist-dcgan", overrides=[*TINY_DCGAN, f"algorithm.name={name}", "train.steps=1"])
        trainer = Trainer(config, tmp_path / name, progress=False, quiet=True)
        trainer.run_phase(trainer.phases[0])
        trainer.phases[1].loss()["loss"].backward()
        grads[name] = torch.cat([p.grad.flatten() for p in trainer.nets["G"].parameters()])
    assert not torch.allclose(grads["gan"], grads["unrolled"])


def test_wgan_clips_critic_weights(tmp_path):
    config = build_config("mnist-wgan", overrides=[*TINY_DCGAN, "train.steps=2", "algorithm.clip=0.005"])
    trainer = Trainer(config, tmp_path / "run", progress=False, quiet=True)
    trainer.train_step()
    assert max(p.abs().max().item() for p in trainer.nets["D"].parameters()) <= 0.005


def test_balance_rule_skips_d_and_logs_it(tmp_path):
    result = train("mnist-dcgan", out=tmp_path / "run", quiet=True,
                   overrides=[*TINY_DCGAN, "train.steps=3", "algorithm.balance_threshold=100"])
    assert result.last["skips_d"] == 3.0
    events = (tmp_path / "run" / "events.log").read_text().splitlines()
    assert len(events) == 3 and "skipped" in events[0] and "balance_threshold=100" in events[0]


def test_instance_noise_anneals_to_zero(tmp_path):
    config = build_config("mnist-dcgan", overrides=[*TINY_DCGAN, "regularize.instance_noise=0.2",
                                                    "regularize.instance_noise_steps=4", "train.steps=4"])
    trainer = Trainer(config, tmp_path / "run", progress=False, quiet=True)
    d_input = trainer.family.d_input
    assert d_input.current_noise_std() == pytest.approx(0.2)
    trainer.step = 2
    assert d_input.current_noise_std() == pytest.approx(0.1)
    trainer.step = 4
    assert d_input.current_noise_std() == 0.0


def test_linear_schedule_decays_learning_rates(tmp_path):
    result = train("mnist-dcgan", out=tmp_path / "run", quiet=True,
                   overrides=[*TINY_DCGAN, "train.steps=4", "optim.schedule=linear", "optim.D.lr=4e-4"])
    assert result.last["lr_D"] == pytest.approx(4e-4 * 0.25)  # the 4th step ran at factor 1 - 3/4


SMALL_MAPS = ["model.resolution=32", "data.resize=true", "model.g_width=16", "model.d_width=16"]


@pytest.mark.parametrize("preset, extra", [
    ("mnist-wgan", []), ("mnist-wgan-gp", []), ("mnist-lsgan", []), ("mnist-hinge", []),
    ("cifar10-sngan", ["data.dataset=digits", "data.resize=true", "model.g_width=16", "model.d_width=16",
                       "model.resolution=16"]),
    # at 32x32 DCGAN's 4x4 layers take the matmul forms: spectral norm with in-place activations, and the
    # gradient penalty's double backward through them
    ("mnist-hinge", SMALL_MAPS), ("mnist-wgan-gp", SMALL_MAPS),
])
def test_every_preset_trains_with_finite_losses(tmp_path, preset, extra):
    result = train(preset, out=tmp_path / "run", quiet=True,
                   overrides=["train.steps=3", "train.batch_size=8", "train.num_samples=4", *extra])
    assert result.steps == 3
    assert all(torch.isfinite(torch.tensor(v)) for k, v in result.last.items() if k.startswith(("loss", "d_")))


# ------------------------------------------------------------------------------------------------ bad input
@pytest.mark.parametrize("overrides, both", [
    (["algorithm.name=wgan"], ("algorithm.name=wgan", "loss.name=non-saturating")),
    (["algorithm.name=wgan", "loss.name=wasserstein", "regularize.penalties={gp: 10}"],
     ("algorithm.name=wgan", "regularize.penalties.gp")),
    (["algorithm.name=wgan-gp", "loss.name=wasserstein"], ("algorithm.name=wgan-gp", "regularize.penalties.gp")),
    (["model.pack=3"], ("model.pack=3", "train.batch_size=64")),
    (["loss.name=hinge", "loss.label_smoothing=0.1"], ("loss.label_smoothing", "loss.name=hinge")),
    (["regularize.every={r1: 4}"], ("regularize.every.r1", "regularize.penalties.r1")),
])
def test_incompatible_settings_are_refused_naming_both(overrides, both):
    with pytest.raises(GanforgeError) as error:
        build_config("mnist-dcgan", overrides=overrides)
    assert all(part in str(error.value) for part in both), str(error.value)


def test_penalty_with_batchnorm_d_is_one_line_cli_error(tmp_path):
    result = run_cli_here("train", "--set", "regularize.penalties={r1: 1}", "--set", "train.steps=1",
                     "--out", str(tmp_path / "run"))
    assert result.returncode == 2
    assert result.stderr.startswith("error: regularize.penalties") and "model.d_norm=layer" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "run").exists()


def test_unknown_regulariser_and_augmentation_names():
    with pytest.raises(GanforgeError, match="unknown regulariser 'r3'"):
        build_config("mnist-dcgan", overrides=["regularize.penalties={r3: 1}"])
    with pytest.raises(GanforgeError, match="unknown augmentation 'colour'"):
        build_config("mnist-dcgan", overrides=["augment.policy=[colour]"])
