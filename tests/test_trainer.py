"""The two phases behave exactly as the textbook states them."""

import torch

from ganforge.configure import build_config
from ganforge.training.trainer import Trainer

from conftest import TINY_DCGAN


def make_trainer(tmp_path, *extra):
    config = build_config("mnist-dcgan", overrides=[*TINY_DCGAN, "train.steps=4", *extra])
    return Trainer(config, tmp_path / "run", quiet=True)


def snapshot(net):
    return [p.detach().clone() for p in net.parameters()]


def unchanged(before, net):
    return all(torch.equal(a, b) for a, b in zip(before, net.parameters()))


def test_phase_d_changes_only_d_and_lowers_its_loss_on_a_fixed_batch(tmp_path):
    trainer = make_trainer(tmp_path)
    phase_d = trainer.phases[0]
    assert phase_d.name == "D" and phase_d.networks == ("D",) and phase_d.frozen == ()
    fixed = trainer.next_real_batch()
    trainer.next_real_batch = lambda: fixed  # the same real batch every time
    g_before = snapshot(trainer.nets["G"])
    torch.manual_seed(0)
    first = trainer.run_phase(phase_d)["loss"].item()
    for _ in range(15):
        last = trainer.run_phase(phase_d)["loss"].item()
    assert unchanged(g_before, trainer.nets["G"]), "phase D must not change G"
    assert all(p.grad is None for p in trainer.nets["G"].parameters()), "no gradient may reach G in phase D"
    assert last < first


def test_phase_g_changes_only_g(tmp_path):
    trainer = make_trainer(tmp_path)
    phase_d, phase_g = trainer.phases
    assert phase_g.networks == ("G",) and phase_g.frozen == ("D",)
    trainer.run_phase(phase_d)
    d_before, g_before = snapshot(trainer.nets["D"]), snapshot(trainer.nets["G"])
    d_grads = [p.grad.clone() for p in trainer.nets["D"].parameters()]
    trainer.run_phase(phase_g)
    assert unchanged(d_before, trainer.nets["D"]), "phase G must not change D"
    assert not unchanged(g_before, trainer.nets["G"])
    assert all(torch.equal(g, p.grad) for g, p in zip(d_grads, trainer.nets["D"].parameters())), \
        "D is frozen in phase G: no gradient is computed for its weights"
    assert all(p.requires_grad for p in trainer.nets["D"].parameters()), "D is unfrozen after phase G"


def test_generator_never_sees_real_data(tmp_path):
    for reuse in ("true", "false"):
        trainer = make_trainer(tmp_path / reuse, f"algorithm.reuse_fakes={reuse}", "algorithm.d_steps=2")
        noise_ids, g_inputs, real_in_phase = set(), [], {"D": 0, "G": 0}
        current = {"phase": None}
        original_inputs, original_real = trainer.sample_inputs, trainer.next_real_batch

        def sample_inputs(n):
            inputs = original_inputs(n)
            noise_ids.update(id(value) for value in inputs.values())
            return inputs

        def real():
            real_in_phase[current["phase"]] += 1
            return original_real()

        trainer.sample_inputs, trainer.next_real_batch = sample_inputs, real
        trainer.nets["G"].register_forward_pre_hook(lambda m, args, kwargs: g_inputs.extend([*args, *kwargs.values()]),
                                                    with_kwargs=True)
        for phase in trainer.phases:
            current["phase"] = phase.name
            trainer.run_phase(phase)
        assert g_inputs and all(id(z) in noise_ids for z in g_inputs), "G's inputs are only its declared inputs"
        assert real_in_phase == {"D": 2, "G": 0}, "real batches are drawn in phase D only (d_steps=2)"


def test_training_step_logs_sane_values(tmp_path):
    trainer = make_trainer(tmp_path)
    result = trainer.fit()
    assert result.steps == 4
    for key in ("loss_d", "loss_g", "d_real", "d_fake", "lr_G", "lr_D", "images_per_s"):
        assert key in result.last
    assert 0 <= result.last["d_real"] <= 1 and result.last["loss_d"] > 0


def test_same_seed_same_numbers(tmp_path):
    a = make_trainer(tmp_path / "a").fit().last
    b = make_trainer(tmp_path / "b").fit().last
    assert a["loss_d"] == b["loss_d"] and a["loss_g"] == b["loss_g"]


def test_epochs_turn_into_steps(tmp_path):
    config = build_config("digits-mlp", overrides=["train.epochs=2", "train.batch_size=64", "algorithm.d_steps=2"])
    trainer = Trainer(config, tmp_path / "run", quiet=True)
    assert trainer.total_steps == 1797 // 64  # two epochs of real batches, two per step
