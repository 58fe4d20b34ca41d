"""Training algorithms: each is a short module that says which phases a training step runs and what each computes.

A Phase names the network it updates, its optimiser, how many times it runs per step (d_steps, n_critic), the
networks frozen while it runs, and a function returning its loss. The loop in `training/trainer.py` only runs
phases; a new algorithm (WGAN's critic clipping, unrolled D, ...) is a new module here, never an edit of the loop.
"""

from __future__ import annotations

from .base import ALGORITHMS, Algorithm, Phase
from . import gan, unrolled  # noqa: F401  (fill the registry)

__all__ = ["ALGORITHMS", "Algorithm", "Phase"]
