"""Unrolled GAN (Metz et al. 2017): G's loss is taken against the discriminator D would become after k more steps.

Phase D is the textbook one. In phase G, the current D weights are copied into plain tensors and advanced k steps of
D's own optimiser rule (Adam or RMSprop, continuing from D's real optimiser state) on the phase's real batch and G's
fakes, through `torch.func.functional_call`; G then minimises its loss against that look-ahead D. With
`algorithm.unroll_second_order` the k steps stay in the autograd graph, so G also sees how D would react to it,
which is what discourages collapsing onto the mode D currently rates highest. D's real weights, buffers and
optimiser state are never touched by the look-ahead.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch.func import functional_call

from ..config import option
from ..registry import Registry
from .base import FAMILIES, TrainingContext
from .gan import TwoPhaseGAN, TwoPhaseSettings

Tensor = torch.Tensor
# (params, grads, optimiser state per param, optimiser hyper-parameters, look-ahead step index) -> new params
UnrollUpdate = Callable[[dict[str, Tensor], dict[str, Tensor], dict[str, dict], dict, int], dict[str, Tensor]]
UNROLL_UPDATES: Registry[UnrollUpdate] = Registry("unrolled optimiser rule")


@dataclass
class UnrolledSettings(TwoPhaseSettings):
    unroll_steps: int = option(5, low=1, high=100)  # k look-ahead steps of D inside G's loss
    unroll_second_order: bool = True  # backpropagate through the look-ahead (False: first-order only)


def _state(states: dict[str, dict], name: str, key: str, like: Tensor) -> Tensor:
    value = states[name].get(key)
    return value if value is not None else torch.zeros_like(like)


@UNROLL_UPDATES.register("adam", help="Adam's update, continuing from D's moment estimates")
def adam_update(params: dict[str, Tensor], grads: dict[str, Tensor], states: dict[str, dict], hyper: dict,
                i: int) -> dict[str, Tensor]:
    beta1, beta2 = hyper["betas"]
    new = {}
    for name, p in params.items():
        g, state = grads[name], states[name]
        t = float(state.get("step", 0)) + i + 1
        m = beta1 * state.setdefault("m", _state(states, name, "exp_avg", p)) + (1 - beta1) * g
        v = beta2 * state.setdefault("v", _state(states, name, "exp_avg_sq", p)) + (1 - beta2) * g * g
        state["m"], state["v"] = m, v
        # eps^2 under the root keeps the second-order graph finite where a gradient is exactly zero
        denom = (v / (1 - beta2 ** t) + hyper["eps"] ** 2).sqrt() + hyper["eps"]
        new[name] = p - hyper["lr"] * (m / (1 - beta1 ** t)) / denom
    return new


@UNROLL_UPDATES.register("rmsprop", help="RMSprop's update, continuing from D's square averages")
def rmsprop_update(params: dict[str, Tensor], grads: dict[str, Tensor], states: dict[str, dict], hyper: dict,
                   i: int) -> dict[str, Tensor]:
    alpha = hyper["alpha"]
    new = {}
    for name, p in params.items():
        g, state = grads[name], states[name]
        v = alpha * state.setdefault("v", _state(states, name, "square_avg", p)) + (1 - alpha) * g * g
        state["v"] = v
        new[name] = p - hyper["lr"] * g / ((v + hyper["eps"] ** 2).sqrt() + hyper["eps"])
    return new


@FAMILIES.register("unrolled", help="unrolled GAN (Metz et al. 2017): G's step looks algorithm.unroll_steps D-steps "
                                    "ahead, through torch.func, without changing D")
class UnrolledGAN(TwoPhaseGAN):
    settings = UnrolledSettings

    def __init__(self, loop: TrainingContext) -> None:
        super().__init__(loop)
        a = loop.config.algorithm
        self.k, self.second_order = a.unroll_steps, a.unroll_second_order
        self.update = UNROLL_UPDATES.get(loop.config.optim.for_network("D").name)

    def lookahead(self, real: Tensor, fake: Tensor, real_conditions: dict[str, Tensor],
                  fake_conditions: dict[str, Tensor]) -> tuple[torch.nn.Module, dict[str, Tensor]]:
        """D's parameters after k optimiser steps on (real, fake), as tensors in G's graph; D itself unchanged."""
        net, optimizer = self.loop.raw("D"), self.loop.optimizers["D"]
        buffers = {name: b.clone() for name, b in net.named_buffers()}  # BatchNorm/SN statistics stay D's own
        named = list(net.named_parameters())
        params = {name: p.detach().requires_grad_(True) for name, p in named}
        states = {name: dict(optimizer.state.get(p, {})) for name, p in named}
        hyper = optimizer.param_groups[0]
        for i in range(self.k):
            def score(x: Tensor, **conditions: Tensor) -> Tensor:
                return functional_call(net, {**params, **buffers}, (x,), conditions)

            logits = self.score_real_and_fake(real, fake, real_conditions, fake_conditions, score)
            loss = self.loss.discriminator(*logits, self.real_target)
            grads = dict(zip(params, torch.autograd.grad(loss, list(params.values()),
                                                         create_graph=self.second_order)))
            params = self.update(params, grads, states, hyper, i)
            if not self.second_order:
                params = {name: p.detach().requires_grad_(True) for name, p in params.items()}
        return net, {**params, **buffers}

    def generator_loss(self) -> dict[str, Tensor]:
        fake, inputs = self.fakes_for_generator()
        seen = self.d_input(fake)
        fake_conditions = {k: inputs[k] for k in self.conditions}
        net, unrolled = self.lookahead(self._real, seen, self._real_conditions, fake_conditions)
        fake_logits = functional_call(net, unrolled, (seen,), fake_conditions)
        real_logits = (functional_call(net, unrolled, (self._real,), self._real_conditions)
                       if self.loss.generator_needs_real else None)
        out = {"loss": self.loss.generator(fake_logits, real_logits), "d_fake_g": self.loss.score(fake_logits)}
        return self.with_orthogonal(out)

