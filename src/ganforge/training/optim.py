"""Optimisers and learning-rate schedules by name; G and D each get their own optimiser, with separate learning
rates (TTUR when they differ). A schedule is a pure function of (step, total steps), so a resumed run needs no
scheduler state to continue on the same learning rates."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch

from ..config import OptimizerConfig
from ..registry import Registry

OptimizerBuilder = Callable[[Iterable[torch.nn.Parameter], float, OptimizerConfig], torch.optim.Optimizer]
OPTIMIZERS: Registry[OptimizerBuilder] = Registry("optimizer")


@OPTIMIZERS.register("adam", help="Adam with optim.beta1/beta2 (DCGAN: 0.5, 0.999)")
def adam(params: Iterable[torch.nn.Parameter], lr: float, config: OptimizerConfig) -> torch.optim.Optimizer:
    fused = {"fused": True} if config.fused else {"foreach": True}
    return torch.optim.Adam(params, lr=lr, betas=(config.beta1, config.beta2), weight_decay=config.weight_decay,
                            **fused)


@OPTIMIZERS.register("rmsprop", help="RMSprop (the WGAN paper's optimiser)")
def rmsprop(params: Iterable[torch.nn.Parameter], lr: float, config: OptimizerConfig) -> torch.optim.Optimizer:
    return torch.optim.RMSprop(params, lr=lr, weight_decay=config.weight_decay, foreach=True)


Schedule = Callable[[int, int], float]  # (step, total steps) -> factor on the configured learning rate
SCHEDULES: Registry[Schedule] = Registry("learning-rate schedule")


@SCHEDULES.register("constant", help="the configured learning rates throughout")
def constant(step: int, total: int) -> float:
    return 1.0


@SCHEDULES.register("linear", help="linear decay from the configured rates to 0 at the last step (SNGAN, BigGAN)")
def linear(step: int, total: int) -> float:
    return max(0.0, 1.0 - step / max(total, 1))


def set_learning_rate(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr
