"""The training loop and the pieces it is made of: the phase loop, optimisers, EMA, logging, multi-process runs."""

from __future__ import annotations

from .optim import OPTIMIZERS, SCHEDULES

__all__ = ["OPTIMIZERS", "SCHEDULES"]
