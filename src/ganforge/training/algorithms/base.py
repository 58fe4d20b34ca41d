"""The Phase record and the Algorithm base class."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import nn

from ...registry import Registry

if TYPE_CHECKING:
    from ...config import Config
    from ..trainer import PhaseLoop


@dataclass
class Phase:
    """One optimiser's turn: `loss()` runs the forward passes and returns {'loss': tensor, other stats...}."""

    name: str
    module: nn.Module
    optimizer: torch.optim.Optimizer
    loss: Callable[[], dict[str, torch.Tensor]]
    repeats: int = 1
    frozen: tuple[nn.Module, ...] = ()  # networks whose weights get no gradient during this phase
    after_step: Callable[[], None] | None = None  # e.g. weight clipping after a critic step
    skip: Callable[[dict[str, torch.Tensor]], bool] | None = None  # True after the loss: no step (the balance rule)


class Algorithm:
    """Base class: subclasses build their phases from the trainer's networks, optimisers and data.

    `trainer` is any PhaseLoop: the image Trainer or the 2D lab's context, which offer the same interface.
    """

    def __init__(self, trainer: PhaseLoop) -> None:
        self.trainer = trainer

    def phases(self) -> list[Phase]:
        raise NotImplementedError

    @classmethod
    def check_config(cls, config: Config) -> None:
        """Refuse, at config load, settings this algorithm cannot train with (a GanforgeError naming both)."""
        return None

    def real_batches_per_step(self) -> int:
        """How many real batches one training step consumes (to turn train.epochs into steps)."""
        return self.trainer.config.algorithm.d_steps


ALGORITHMS: Registry[type[Algorithm]] = Registry("algorithm")
