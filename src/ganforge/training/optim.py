"""Optimisers by name; G and D each get their own, with separate learning rates (TTUR when they differ)."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch

from ..config import OptimizerConfig
from ..registry import Registry

OptimizerBuilder = Callable[[Iterable[torch.nn.Parameter], float, OptimizerConfig], torch.optim.Optimizer]
OPTIMIZERS: Registry[OptimizerBuilder] = Registry("optimizer")


@OPTIMIZERS.register("adam", help="Adam with optim.beta1/beta2 (DCGAN: 0.5, 0.999)")
def adam(params: Iterable[torch.nn.Parameter], lr: float, config: OptimizerConfig) -> torch.optim.Optimizer:
    return torch.optim.Adam(params, lr=lr, betas=(config.beta1, config.beta2), weight_decay=config.weight_decay,
                            foreach=True)


@OPTIMIZERS.register("rmsprop", help="RMSprop (the WGAN paper's optimiser)")
def rmsprop(params: Iterable[torch.nn.Parameter], lr: float, config: OptimizerConfig) -> torch.optim.Optimizer:
    return torch.optim.RMSprop(params, lr=lr, weight_decay=config.weight_decay, foreach=True)
