"""The training loop and the pieces it is made of: phases, algorithms, optimisers, EMA, checkpoints, logging."""

from __future__ import annotations

from .algorithms import ALGORITHMS
from .optim import OPTIMIZERS, SCHEDULES

__all__ = ["ALGORITHMS", "OPTIMIZERS", "SCHEDULES"]
