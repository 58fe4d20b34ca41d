"""Exponential moving average of the generator's weights, used for samples and exports (smoother than G itself)."""

from __future__ import annotations

import copy

import torch
from torch import nn


class EMA:
    def __init__(self, generator: nn.Module, decay: float) -> None:
        self.decay = decay
        self.module = copy.deepcopy(generator).eval().requires_grad_(False)

    @torch.no_grad()
    def update(self, generator: nn.Module, decay: float | None = None) -> None:
        """One step of the average (`decay` for this step only: 0 copies the generator, as before train.ema_start)."""
        ema_params = list(self.module.parameters())
        decay = self.decay if decay is None else decay
        torch._foreach_lerp_(ema_params, [p.detach() for p in generator.parameters()], 1.0 - decay)
        for ema_buffer, buffer in zip(self.module.buffers(), generator.buffers()):
            ema_buffer.copy_(buffer)

    @torch.no_grad()
    def follow(self, generator: nn.Module) -> None:
        """The generator grew (progressive growing): average its new structure, keeping the averages of every
        tensor it still has and starting new layers from the generator's own values."""
        old = self.module.state_dict()
        self.module = copy.deepcopy(generator).eval().requires_grad_(False)
        for key, value in self.module.state_dict().items():
            if key in old and old[key].shape == value.shape:
                value.copy_(old[key])

    def state_dict(self) -> dict[str, torch.Tensor]:
        return self.module.state_dict()

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        self.module.load_state_dict(state)
