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

import torch
from torch.func import functional_call

from ...registry import Registry
from ..distributed import unwrap
from .base import ALGORITHMS
from .gan import TwoPhaseGAN

Tensor = torch.Tensor
# (params, grads, optimiser state per param, optimiser hyper-parameters, look-ahead step index) -> new params
UnrollUpdate = Callable[[dict[str, Tensor], dict[str, Tensor], dict[str, dict], dict, int], dict[str, Tensor]]
UNROLL_UPDATES: Registry[UnrollUpdate] = Registry("unrolled optimiser rule")

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

@ALGORITHMS.register("unrolled", help="unrolled GAN (Metz et al. 2017): G's step looks algorithm.unroll_steps "
                                      "D-steps ahead, through torch.func, without changing D")
class UnrolledGAN(TwoPhaseGAN):
    def __init__(self, trainer) -> None:
        super().__init__(trainer)
        a = trainer.config.algorithm
        self.k, self.second_order = a.unroll_steps, a.unroll_second_order
        self.update = UNROLL_UPDATES.get(trainer.config.optim.name)

    def lookahead(self, real: Tensor, fake: Tensor) -> tuple[torch.nn.Module, dict[str, Tensor]]:
        """D's parameters after k optimiser steps on (real, fake), as tensors in G's graph; D itself unchanged."""
        t = self.trainer
        net = unwrap(t.discriminator)
        buffers = {name: b.clone() for name, b in net.named_buffers()}  # BatchNorm/SN statistics stay D's own
        named = list(net.named_parameters())
        params = {name: p.detach().requires_grad_(True) for name, p in named}
        states = {name: dict(t.opt_d.state.get(p, {})) for name, p in named}
        hyper = t.opt_d.param_groups[0]
        for i in range(self.k):
            def score(x: Tensor) -> Tensor:
                return functional_call(net, {**params, **buffers}, (x,))

            loss = t.loss.discriminator(*self.score_real_and_fake(real, fake, score), self.real_target)
            grads = dict(zip(params, torch.autograd.grad(loss, list(params.values()),
                                                         create_graph=self.second_order)))
            params = self.update(params, grads, states, hyper, i)
            if not self.second_order:
                params = {name: p.detach().requires_grad_(True) for name, p in params.items()}
        return net, {**params, **buffers}

    def generator_loss(self) -> dict[str, Tensor]:
        t = self.trainer
        fake = self._fakes if self._fakes is not None else t.generate(t.batch_size, with_graph=True)
        self._fakes = None
        seen = self.d_input(fake)
        net, unrolled = self.lookahead(self._real, seen)
        fake_logits = functional_call(net, unrolled, (seen,))
        real_logits = functional_call(net, unrolled, (self._real,)) if t.loss.generator_needs_real else None
        return {"loss": t.loss.generator(fake_logits, real_logits), "d_fake_g": t.loss.score(fake_logits)}

