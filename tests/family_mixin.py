"""The tests every training family gets: a test class names a preset and tiny overrides, the mixin does the rest.

As diffusers' ModelTesterMixin does for models: whatever a family's networks and phases are, its networks accept
the inputs its generator declares, each phase steps only its own networks, training is finite and seeded, a
checkpoint resumes exactly (the family's own state included), and export -> load -> sample gives the images the
trainer's sampling network gives (and, for a family with an encoder, load -> encode its latents).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import ClassVar

import torch

from ganforge import Sampler, export_run, load_encoder, load_generator
from ganforge.checkpoints import latest_checkpoint
from ganforge.configure import build_config
from ganforge.training.trainer import Trainer


class FamilyTests:
    preset: ClassVar[str] = ""
    overrides: ClassVar[list[str]] = []
    family: ClassVar[str] = ""  # the family the preset (with overrides) must train

    def trainer(self, run_dir: Path, *extra: str, checkpoint: Path | None = None) -> Trainer:
        config = build_config(self.preset, overrides=[*self.overrides, "train.num_samples=4", "eval.every=0",
                                                      "train.log_every=1", *extra])
        assert config.algorithm.name == self.family
        return Trainer(config, run_dir, checkpoint=checkpoint, quiet=True)

    @staticmethod
    def parameters(trainer: Trainer) -> dict[str, list[torch.Tensor]]:
        return {name: [p.detach().clone() for p in trainer.raw(name).parameters()] for name in trainer.nets}

    def test_networks_accept_the_declared_inputs(self, tmp_path):
        trainer = self.trainer(tmp_path / "run", "train.steps=1")
        generator = trainer.raw(trainer.family.sampler)
        assert generator.inputs == trainer.generator_inputs and len(generator.inputs) >= 1
        if trainer.family.translates:  # input images come from the data, not from a seed
            inputs = trainer.family.preview_inputs(4, 0)[0]
        else:
            inputs = generator.inputs.sample(3, torch.Generator().manual_seed(0))
        rows = next(iter(inputs.values())).shape[0]
        generator.eval()
        with torch.no_grad():
            images = generator(**inputs)
        model = trainer.config.model
        assert rows >= 2 and images.shape == (rows, model.channels, model.resolution, model.resolution)
        assert images.min() >= -1 and images.max() <= 1

    def test_each_phase_steps_only_its_own_networks(self, tmp_path):
        trainer = self.trainer(tmp_path / "run", "train.steps=4")
        trainer.train_step()  # every optimiser has state; lazy phases ran once
        for phase in trainer.phases:
            before = self.parameters(trainer)
            frozen_grads = {name: [None if p.grad is None else p.grad.clone() for p in trainer.raw(name).parameters()]
                            for name in phase.frozen}
            trainer.run_phase(phase)
            after = self.parameters(trainer)
            for name in trainer.nets:
                moved = any(not torch.equal(a, b) for a, b in zip(before[name], after[name]))
                if name in phase.networks:
                    assert moved, f"phase {phase.name} did not change its network {name}"
                else:
                    assert not moved, f"phase {phase.name} changed {name}, which it does not update"
            for name, grads in frozen_grads.items():
                for old, p in zip(grads, trainer.raw(name).parameters()):
                    assert (old is None and p.grad is None) or torch.equal(old, p.grad), \
                        f"phase {phase.name} computed weight gradients for the frozen {name}"

    def test_two_steps_are_finite_and_seeded(self, tmp_path):
        runs = []
        for name in ("a", "b"):
            trainer = self.trainer(tmp_path / name, "train.steps=2")
            runs.append([{k: float(v) for k, v in trainer.train_step().items()} for _ in range(2)])
        assert runs[0] == runs[1]
        assert all(torch.isfinite(torch.tensor(list(step.values()))).all() for step in runs[0])

    def test_resume_is_exact(self, tmp_path):
        whole = self.trainer(tmp_path / "whole", "train.steps=4")
        expected = [{k: float(v) for k, v in whole.train_step().items()} for _ in range(4)]
        first = self.trainer(tmp_path / "split", "train.steps=4")
        for _ in range(2):
            first.train_step()
        first.save_checkpoint()
        resumed = self.trainer(tmp_path / "split", "train.steps=4", checkpoint=latest_checkpoint(tmp_path / "split"))
        assert resumed.step == 2 and resumed.family.state_dict().keys() == first.family.state_dict().keys()
        got = [{k: float(v) for k, v in resumed.train_step().items()} for _ in range(2)]
        assert got == expected[2:]
        for name in whole.nets:
            for (key, a), b in zip(whole.raw(name).state_dict().items(), resumed.raw(name).state_dict().values()):
                assert torch.equal(a, b), f"{name}.{key}"

    def test_export_load_sample_gives_the_trainers_images(self, tmp_path):
        trainer = self.trainer(tmp_path / "run", "train.steps=2", "train.checkpoint_every=2")
        trainer.fit()
        exported = export_run(tmp_path / "run", tmp_path / "export")
        # the trainer's network in the layout a loaded one has (channels-last kernels round differently)
        network = copy.deepcopy(trainer.sampling_network()).to(memory_format=torch.contiguous_format).eval()
        if trainer.family.translates:  # the grid of held-out translations, by either network
            inputs, _ = trainer.family.preview_inputs(4, 0)
            with torch.no_grad():
                ours = trainer.family.preview(network, inputs)
                for source in (exported, tmp_path / "run"):
                    assert torch.equal(trainer.family.preview(load_generator(source), inputs), ours), source
            return
        ours = Sampler(network).sample(6, seed=3)
        for source in (exported, tmp_path / "run"):
            assert torch.equal(Sampler(load_generator(source)).sample(6, seed=3), ours), source
        if trainer.family.encoder is not None:  # the encoder travels with the export, and encodes as the trainer's
            encoder = copy.deepcopy(trainer.raw(trainer.family.encoder)).to(memory_format=torch.contiguous_format)
            x = torch.rand(3, *encoder.input_shape) * 2 - 1
            with torch.no_grad():
                expected = encoder.eval()(x)
                for source in (exported, tmp_path / "run"):
                    assert torch.equal(load_encoder(source)(x), expected), source
