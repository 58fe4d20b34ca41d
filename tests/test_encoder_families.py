"""The encoder families (MRGAN/MDGAN, BiGAN/ALI, VEEGAN) against their papers' objectives, written out by hand.

On linear networks (G(z) = W z, E(x) = A x, D(x) = w.x + b, D(x, z) = u.x + v.z + c) every phase's objective has a
closed form in torch ops on the weights alone. Each phase is run by the loop itself, with optimisers that record
the gradients they would apply instead of stepping: the gradient each network receives must be the closed form's,
and a network the phase does not train must receive none. The joint discriminator's pairs are checked row by row.
"""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from ganforge.errors import GanforgeError
from ganforge.configure import build_config
from ganforge.families import FAMILIES
from ganforge.families.encoders import JointDiscriminator, build_joint_discriminator
from ganforge.inputs import latent_only
from ganforge.lab.runner import ToyTrainer, lab_config
from ganforge.lab.toy import TOY_DATASETS

DX, DZ, N = 2, 3, 6
LAMBDA1, LAMBDA2 = 0.3, 0.7


class LinearG(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.W = nn.Parameter(torch.randn(DX, DZ))
        self.inputs = latent_only(DZ)

    def forward(self, z):
        return z @ self.W.T


class LinearE(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.A = nn.Parameter(torch.randn(DZ, DX))

    def forward(self, x):
        return x @ self.A.T

    draw = forward


class LinearD(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.w, self.b = nn.Parameter(torch.randn(DX)), nn.Parameter(torch.randn(()))

    def forward(self, x):
        return x @ self.w + self.b


class LinearJointD(nn.Module):
    conditions = ("z",)

    def __init__(self) -> None:
        super().__init__()
        self.u, self.v, self.c = nn.Parameter(torch.randn(DX)), nn.Parameter(torch.randn(DZ)), nn.Parameter(torch.randn(()))

    def forward(self, x, z):
        return x @ self.u + z @ self.v + self.c


class Recorder(torch.optim.Optimizer):
    """An optimiser that keeps the gradients it is asked to apply and changes nothing."""

    def __init__(self, params) -> None:
        super().__init__(list(params), {})
        self.seen: list[list[torch.Tensor]] = []

    def step(self, closure=None):
        self.seen.append([p.grad.clone() for group in self.param_groups for p in group["params"]])


def linear_trainer(family: str, nets: dict[str, nn.Module], *overrides: str) -> tuple[ToyTrainer, torch.Tensor,
                                                                                        torch.Tensor]:
    """A lab trainer of `family` on the given linear networks, fed a fixed real batch X and fixed noise Z."""
    torch.manual_seed(0)
    config = lab_config("gan", [f"algorithm.name={family}", f"model.latent_dim={DZ}", f"train.batch_size={N}",
                                *overrides])
    trainer = ToyTrainer(config, TOY_DATASETS.get("ring8"), seed=0)
    trainer.assemble(FAMILIES.get(family), nets)
    x, z = torch.randn(N, DX), torch.randn(N, DZ)
    trainer.next_real_batch = lambda: {"image": x}
    trainer.sample_inputs = lambda n: {"z": z[:n]}
    trainer.optimizers = {name: Recorder(net.parameters()) for name, net in nets.items()}
    return trainer, x, z


def run(trainer: ToyTrainer, phase: str) -> dict[str, list[torch.Tensor] | None]:
    """Run one phase through the loop; the gradients each network's optimiser was given (None: it did not step)."""
    for recorder in trainer.optimizers.values():
        recorder.seen.clear()
    trainer.run_phase(next(p for p in trainer.phases if p.name == phase))
    return {name: (r.seen[-1] if r.seen else None) for name, r in trainer.optimizers.items()}


def assert_gradients(got: dict, expected_loss: torch.Tensor, nets: dict[str, nn.Module], trained: set[str]) -> None:
    for name, net in nets.items():
        if name not in trained:
            assert got[name] is None, f"{name} was stepped by a phase that does not train it"
            continue
        expected = torch.autograd.grad(expected_loss, list(net.parameters()), retain_graph=True)
        for g, e in zip(got[name], expected):
            torch.testing.assert_close(g, e, rtol=1e-5, atol=1e-6)


def bce1(logits):  # -log sigmoid(l): BCE with target 1
    return F.softplus(-logits).mean()


def bce0(logits):  # -log(1 - sigmoid(l)): BCE with target 0
    return F.softplus(logits).mean()


def sq(a, b):
    return (a - b).square().sum(1).mean()


# ---------------------------------------------------------------------------------------------- MRGAN and MDGAN
def test_mrgan_phases_are_the_papers_objectives():
    nets = {"G": LinearG(), "D": LinearD(), "E": LinearE()}
    trainer, x, z = linear_trainer("mrgan", nets, f"algorithm.lambda1={LAMBDA1}", f"algorithm.lambda2={LAMBDA2}")
    G, D, E = nets["G"], nets["D"], nets["E"]
    assert [p.name for p in trainer.phases] == ["D", "G", "E"]

    assert_gradients(run(trainer, "D"), bce1(D(x)) + bce0(D(G(z))), nets, {"D"})

    reconstruction = (x @ E.A.T) @ G.W.T
    geometric = LAMBDA1 * (x - reconstruction).square().sum(1).mean()  # lambda1 ||x - G(E(x))||^2
    mode = LAMBDA2 * F.softplus(-(reconstruction @ D.w + D.b)).mean()  # lambda2 (-log D(G(E(x))))
    t_g = F.softplus(-((z @ G.W.T) @ D.w + D.b)).mean() + geometric + mode
    # phase G: T_G reaches G alone (E and D are frozen although T_G depends on both)
    assert_gradients(run(trainer, "G"), t_g, nets, {"G"})
    # phase E: T_E = the two regularisers; E's gradient reaches E alone
    got = run(trainer, "E")
    assert_gradients(got, geometric + mode, nets, {"E"})
    out = next(p for p in trainer.phases if p.name == "E").loss()
    torch.testing.assert_close(out["geometric_e"], geometric.detach())
    torch.testing.assert_close(out["mode_e"], mode.detach())


def test_mdgan_manifold_and_diffusion_steps():
    nets = {"G": LinearG(), "D": LinearD(), "E": LinearE(), "D2": LinearD()}
    trainer, x, z = linear_trainer("mdgan", nets, f"algorithm.lambda1={LAMBDA1}")
    G, D, E, D2 = nets["G"], nets["D"], nets["E"], nets["D2"]
    assert [p.name for p in trainer.phases] == ["Dm", "GE", "Dd", "G"]
    reconstruction = (x @ E.A.T) @ G.W.T
    fake = z @ G.W.T
    assert_gradients(run(trainer, "Dm"), bce1(D(x)) + bce0(D(reconstruction)), nets, {"D"})
    manifold = LAMBDA1 * sq(x, reconstruction) + bce1(D(reconstruction))  # lambda d(x, G(E(x))) - log D1(G(E(x)))
    assert_gradients(run(trainer, "GE"), manifold, nets, {"G", "E"})
    assert_gradients(run(trainer, "Dd"), bce1(D2(reconstruction)) + bce0(D2(fake)), nets, {"D2"})
    assert_gradients(run(trainer, "G"), bce1(D2(fake)), nets, {"G"})


# ---------------------------------------------------------------------------------------------- BiGAN / ALI
def test_bigan_phases_are_the_papers_objectives():
    nets = {"G": LinearG(), "D": LinearJointD(), "E": LinearE()}
    trainer, x, z = linear_trainer("bigan", nets)
    G, D, E = nets["G"], nets["D"], nets["E"]
    real_pairs, fake_pairs = D(x, x @ E.A.T), D(z @ G.W.T, z)  # (x, E(x)) and (G(z), z)
    assert_gradients(run(trainer, "D"), bce1(real_pairs) + bce0(fake_pairs), nets, {"D"})
    # G and E together, the labels swapped: -log D(G(z), z) - log(1 - D(x, E(x)))
    assert_gradients(run(trainer, "G"), bce1(fake_pairs) + bce0(real_pairs), nets, {"G", "E"})


def test_ali_encoder_is_a_reparameterised_gaussian():
    config = lab_config("ali", ["model.latent_dim=4"])
    encoder = FAMILIES.get("bigan").build_encoder(config)
    x = torch.randn(4000, 2)
    encoder.requires_grad_(False)
    mean, log_std = encoder.moments(x[:1].expand(4000, 2))
    torch.manual_seed(1)
    draws = encoder.draw(x[:1].expand(4000, 2))
    torch.testing.assert_close(encoder(x[:1]), mean[:1])  # what `encode` reports: the mean
    standardised = (draws - mean) / log_std.exp()
    assert abs(float(standardised.mean())) < 0.05 and abs(float(standardised.std()) - 1) < 0.05


# ---------------------------------------------------------------------------------------------- VEEGAN
def test_veegan_phases_are_algorithm_1():
    nets = {"G": LinearG(), "D": LinearJointD(), "F": LinearE()}
    trainer, x, z = linear_trainer("veegan", nets, "algorithm.posterior_std=0")
    G, D, F_ = nets["G"], nets["D"], nets["F"]
    generated = z @ G.W.T
    generator_pairs, data_pairs = D(generated, z), D(x, x @ F_.A.T)  # (z, G(z)) labelled 1, (F(x), x) labelled 0
    assert_gradients(run(trainer, "D"), bce1(generator_pairs) + bce0(data_pairs), nets, {"D"})
    reconstruction = (z - generated @ F_.A.T).square().sum(1).mean()  # ||z - F(G(z))||^2
    objective = generator_pairs.mean() + reconstruction  # D's raw score (the KL estimate) + the noise autoencoder
    got = run(trainer, "G")
    assert_gradients(got, objective, nets, {"G", "F"})
    # F learns from the reconstruction alone, as Algorithm 1's update of theta; G from both terms
    only_reconstruction = torch.autograd.grad(reconstruction, [F_.A], retain_graph=True)[0]
    torch.testing.assert_close(got["F"][0], only_reconstruction)
    assert not torch.allclose(got["G"][0], torch.autograd.grad(reconstruction, [G.W], retain_graph=True)[0])


def test_veegan_data_pairs_draw_z_from_a_unit_gaussian_around_f():
    nets = {"G": LinearG(), "D": LinearJointD(), "F": LinearE()}
    trainer, x, z = linear_trainer("veegan", nets, "train.batch_size=6")
    seen = []
    nets["D"].register_forward_hook(lambda module, args, kwargs, out: seen.append((args[0], kwargs["z"])),
                                    with_kwargs=True)
    for _ in range(400):
        run(trainer, "D")
    # the lab's D scores both halves in one forward: generator pairs first, then data pairs
    with torch.no_grad():
        offsets = torch.cat([zs[N:] - xs[N:] @ nets["F"].A.T for xs, zs in seen])
    torch.testing.assert_close(torch.cat([xs[N:] for xs, _ in seen]), x.repeat(len(seen), 1))
    assert abs(float(offsets.mean())) < 0.05 and abs(float(offsets.std()) - 1) < 0.05


def test_veegan_refuses_a_loss_without_a_sigmoid():
    with pytest.raises(GanforgeError, match="density ratio"):
        lab_config("veegan", ["loss.name=hinge"])


# ---------------------------------------------------------------------------------------------- the joint D
@pytest.mark.parametrize("recipe,encoder", [("bigan", "E"), ("veegan", "F")])
def test_joint_discriminator_pairs_line_up(recipe, encoder):
    """Every row D judges is a pair of one sample: (x_i, E(x_i)) for data, (G(z_i), z_i) for the prior."""
    trainer = ToyTrainer(lab_config(recipe, ["train.batch_size=16", "algorithm.posterior_std=0"]
                                    if recipe == "veegan" else ["train.batch_size=16"]),
                         TOY_DATASETS.get("ring8"), seed=0)
    x, z = torch.randn(16, 2), torch.randn(16, trainer.config.model.latent_dim)
    trainer.next_real_batch = lambda: {"image": x}
    trainer.sample_inputs = lambda n: {"z": z[:n]}
    seen, before = [], copy.deepcopy(trainer.raw("D"))  # D as it scores, before its step
    trainer.raw("D").register_forward_hook(lambda m, args, kwargs, out: seen.append((args[0], kwargs["z"], out)),
                                           with_kwargs=True)
    trainer.run_phase(trainer.phases[0])
    (xs, zs, logits), = seen  # one forward over both batches (no layer of the MLP mixes samples)
    with torch.no_grad():
        generated, encoded = trainer.raw("G")(z=z), trainer.raw(encoder)(x)
        data_rows = slice(0, 16) if recipe == "bigan" else slice(16, 32)
        prior_rows = slice(16, 32) if recipe == "bigan" else slice(0, 16)
        torch.testing.assert_close(xs[data_rows], x)
        torch.testing.assert_close(zs[data_rows], encoded)
        torch.testing.assert_close(xs[prior_rows], generated)
        torch.testing.assert_close(zs[prior_rows], z)
        # and the logits are those of the pairs scored one by one
        one_by_one = torch.stack([before(xs[i:i + 1], z=zs[i:i + 1])[0] for i in range(32)])
        torch.testing.assert_close(logits, one_by_one)


def test_joint_discriminator_reads_both_halves_and_refuses_unpaired_rows():
    config = build_config("mnist-bigan", overrides=["model.d_width=4", "model.latent_dim=5"])
    d = build_joint_discriminator(config).eval()
    x, z = torch.randn(3, 1, 28, 28), torch.randn(3, 5)
    base = d(x, z)
    assert base.shape == (3,)
    assert not torch.allclose(d(x, z.flip(0)), base) and not torch.allclose(d(x.flip(0), z), base)
    with pytest.raises(ValueError, match="row by row"):
        d(x, z[:2])
    assert isinstance(d, JointDiscriminator) and d.conditions == ("z",)


def test_encoder_families_refuse_labels_and_x_only_add_ons():
    with pytest.raises(GanforgeError, match="num_classes"):
        build_config("mnist-mrgan", overrides=["model.num_classes=10"])
    with pytest.raises(GanforgeError, match="joint discriminator"):
        build_config("mnist-bigan", overrides=["model.minibatch_std=true"])
