"""The phase loop: what every family runs in, for image training (`Trainer`) and the 2D lab (`ToyTrainer`) alike.

The loop knows no particular GAN. It asks the family for its phases and, for each phase due at this step, freezes
the networks the phase names, computes the loss, refuses a non-finite one, and steps the optimisers of the
networks the phase updates, and only those. Every network has its optimiser (keyed by name); the family's
sampling network has its EMA.
"""

from __future__ import annotations

import contextlib
import math

import torch
from torch import nn

from ..config import Config, OptimizerConfig
from ..errors import GanforgeError
from ..families import Family, Phase, restructure, structure_of
from ..inputs import GeneratorInputs
from .distributed import unwrap
from .ema import EMA
from .optim import apply_schedule, build_optimizer, network_settings


class NonFiniteLoss(GanforgeError):
    pass


class PhaseLoop:
    """Networks, optimisers, EMA and the family's phases; a subclass provides the data and the noise.

    A subclass sets `config`, `device`, `batch_size`, `step`, `total_steps` and `skips`, calls `assemble()` with the
    family and its networks, and implements `next_real_batch()` and `sample_inputs(n)`.
    """

    config: Config
    device: torch.device
    batch_size: int
    step: int
    total_steps: int
    skips: dict[str, int]
    nets: dict[str, nn.Module]
    optimizers: dict[str, torch.optim.Optimizer]
    optimizer_settings: dict[str, OptimizerConfig]  # what each optimiser was built with; its schedule starts there
    ema: dict[str, EMA]
    family: Family
    phases: list[Phase]
    generator_inputs: GeneratorInputs

    def assemble(self, family: type[Family], nets: dict[str, nn.Module]) -> None:
        """The family on these networks, its phases, an optimiser per trained network, the sampler's EMA."""
        self.nets = nets
        self.generator_inputs = self.raw(family.sampler).inputs
        self.family = family(self)
        self.phases = self.family.phases()
        self.optimizers, self.optimizer_settings = {}, {}
        for name, net in nets.items():
            settings = self._optimizer_settings(name)
            if settings is not None:
                self.optimizers[name] = build_optimizer(net.parameters(), settings)
                self.optimizer_settings[name] = settings
        t = self.config.train
        self.ema = {family.sampler: EMA(self.raw(family.sampler), t.ema_decay)} if t.ema else {}

    def _optimizer_settings(self, name: str) -> OptimizerConfig | None:
        """Network `name`'s optimiser settings (with the lazy correction of its longest interval), None when no
        phase steps it."""
        intervals = [p.every for p in self.phases if name in p.networks]
        return network_settings(self.config.optim, name, max(intervals)) if intervals else None

    # ------------------------------------------------------------------ growing networks
    def wrap(self, name: str, net: nn.Module) -> nn.Module:
        """Network `name` as the loop runs it (the Trainer wraps it for DDP and its memory layout)."""
        return net

    def networks_changed(self, names: tuple[str, ...]) -> None:
        """After a family changed these networks' parameters (`Family.grow`): wrap them again, rebuild their
        optimisers (each surviving parameter keeps its moments, new ones start fresh, the learning rate is the
        current one) and let their EMA follow the new structure (surviving averages kept, new layers copied)."""
        for name in names:
            raw = self.raw(name)
            self.nets[name] = self.wrap(name, raw)
            old = self.optimizers.get(name)
            if old is not None:
                new = build_optimizer(raw.parameters(), self._optimizer_settings(name))
                for p in (p for group in new.param_groups for p in group["params"]):
                    if p in old.state:
                        new.state[p] = old.state[p]
                for group, old_group in zip(new.param_groups, old.param_groups):
                    group["lr"] = old_group["lr"]
                self.optimizers[name] = new
            if name in self.ema:
                self.ema[name].follow(raw)

    def structures(self) -> dict[str, dict[str, int]]:
        """The structure of every growing network (what checkpoints record)."""
        found = {name: structure_of(self.raw(name)) for name in self.nets}
        return {name: value for name, value in found.items() if value is not None}

    def restore_structures(self, structures: dict[str, dict[str, int]]) -> None:
        """Grow networks to the structures a checkpoint recorded, before its weights are loaded."""
        changed = []
        for name, structure in structures.items():
            if name in self.nets and structure_of(self.raw(name)) != dict(structure):
                restructure(self.raw(name), structure, f"the checkpoint's network {name}")
                changed.append(name)
        self.networks_changed(tuple(changed))

    # ------------------------------------------------------------------ what families call
    def raw(self, name: str) -> nn.Module:
        """Network `name` itself (inside its DDP wrapper, if any): for state dicts, attributes and torch.func."""
        return unwrap(self.nets[name])

    def next_real_batch(self) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def sample_inputs(self, n: int) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def event(self, message: str) -> None:
        """Something that happened at this step (the balance rule skipping D): the Trainer writes events.log."""

    def sampling_network(self) -> nn.Module:
        """What generates samples, evaluations and exports: the EMA weights when kept."""
        name = self.family.sampler
        return self.ema[name].module if name in self.ema else self.raw(name)

    # ------------------------------------------------------------------ the loop
    def train_step(self) -> dict[str, torch.Tensor]:
        grown = self.family.grow()
        if grown:
            self.networks_changed(grown)
        for name, optimizer in self.optimizers.items():
            apply_schedule(optimizer, self.optimizer_settings[name], self.step, self.total_steps)
        stats: dict[str, torch.Tensor] = {}
        for phase in self.phases:
            if self.step < phase.starts or self.step % phase.every:
                continue
            for key, value in self.run_phase(phase).items():
                stats[f"loss_{phase.name.lower()}" if key == "loss" else key] = value.detach()
        self.step += 1
        for name, ema in self.ema.items():
            ema.update(self.raw(name), 0.0 if self.step <= self.config.train.ema_start else None)
        return stats

    def run_phase(self, phase: Phase) -> dict[str, torch.Tensor]:
        """One phase: frozen networks get no gradient (and, under DDP, no gradient sync); only the optimisers of the
        phase's networks step."""
        frozen_nets = [self.nets[name] for name in phase.frozen]
        frozen = [(p, p.requires_grad) for net in frozen_nets for p in net.parameters()]
        for p, _ in frozen:
            p.requires_grad_(False)
        with contextlib.ExitStack() as unsynced:
            for net in frozen_nets:
                if hasattr(net, "no_sync"):
                    unsynced.enter_context(net.no_sync())
            return self._run_repeats(phase, frozen, [self.optimizers[name] for name in phase.networks])

    def _run_repeats(self, phase: Phase, frozen: list[tuple[nn.Parameter, bool]],
                     optimizers: list[torch.optim.Optimizer]) -> dict[str, torch.Tensor]:
        try:
            for _ in range(phase.repeats):
                out = phase.loss()
                loss = out["loss"]
                value = loss.item()  # one scalar read (torch.isfinite would be four small ops and the same sync)
                if not math.isfinite(value):
                    raise NonFiniteLoss(self._non_finite_message(phase.name, value))
                reason = phase.skip(value) if phase.skip is not None else None
                if reason is not None:
                    self.skips[phase.name] = self.skips.get(phase.name, 0) + 1
                    self.event(f"phase {phase.name} skipped: {reason}")
                    continue
                for optimizer in optimizers:
                    optimizer.zero_grad(set_to_none=True)
                loss.backward()
                for optimizer in optimizers:
                    optimizer.step()
                if phase.after_step is not None:
                    phase.after_step()
        finally:
            for p, flag in frozen:
                p.requires_grad_(flag)
        if phase.name in self.skips:
            out[f"skips_{phase.name.lower()}"] = torch.tensor(float(self.skips[phase.name]))
        return out

    def _non_finite_message(self, phase: str, value: float) -> str:
        return (f"the {phase} loss became {value} at step {self.step + 1}; lower the learning rates (optim.lr, "
                f"optim.<network>.lr) or add a stabiliser")
