"""Optimisers and schedules by name. Every network gets its own optimiser, from the shared optim.* settings and its
own optim.<network>.* overrides (TTUR when the learning rates differ).

A schedule is the shape of a value's path from its configured start to its end (`scheduled`): a pure function of
(step, total steps), so a resumed run needs no scheduler state to continue on the same values. One mechanism moves
the learning rate (optim.lr -> optim.lr_end), Adam's beta2 (optim.beta2 -> optim.beta2_end) and the penalties'
weights (regularize.penalties -> regularize.penalties_end), as R3GAN anneals all three along one cosine."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterable

import torch
from torch.optim.optimizer import _global_optimizer_post_hooks, _global_optimizer_pre_hooks

from ..config import Config, OptimizerConfig
from ..errors import GanforgeError
from ..registry import Registry
from ..utils import is_channels_last

OptimizerBuilder = Callable[[Iterable[torch.nn.Parameter], float, OptimizerConfig], torch.optim.Optimizer]
OPTIMIZERS: Registry[OptimizerBuilder] = Registry("optimizer")


class FusedAdam(torch.optim.Adam):
    """torch's fused Adam, stepped straight into its kernel once every parameter has state.

    `torch.optim.Adam.step` spends ~120 us per call in Python (grouping tensors by device and dtype, checks) before
    its one fused kernel runs, and torch wraps every optimiser's `step` in a profiler scope and hook dispatch (another
    45 us). After the first step, this class calls the same kernel with the same arguments, so the updates are
    identical bit for bit, and it runs torch's wrapper only when a step hook is registered or a profiler is on.
    Anything unusual (a group whose `fused` flag was turned off, a closure, a parameter without state yet, a sparse
    gradient, mixed devices or dtypes, AMSGrad, AdamW's decoupled decay, a tensor learning rate) takes the stock step.
    Measured on the course MLP's G: 303 us per step, of which the kernel takes 258; inside torch's wrapper, 322.
    """

    def __init__(self, params: Iterable[torch.nn.Parameter], lr: float, betas: tuple[float, float],
                 weight_decay: float) -> None:
        super().__init__(params, lr=lr, betas=betas, weight_decay=weight_decay, fused=True)

    def step(self, closure: Callable[[], float] | None = None) -> float | None:  # type: ignore[override]
        if closure is not None or self._has_step_hooks() or torch.autograd.profiler._is_profiler_enabled:
            return self._step_with_hooks(closure)
        return self._step(closure)

    step.hooked = True  # type: ignore[attr-defined]  # torch.optim: do not wrap this step; it wraps itself

    def _step(self, closure: Callable[[], float] | None = None) -> float | None:
        if closure is None:
            self._match_gradient_layouts()
        groups = self._direct_groups() if closure is None else None
        if groups is None:
            return _stock_adam_step()(self, closure)
        with torch.no_grad():
            for group, params in groups:
                if not params:  # a group with no gradients this step (a frozen part of the network)
                    continue
                states = [self.state[p] for p in params]
                steps = [s["step"] for s in states]
                torch._foreach_add_(steps, 1)
                views = [_dense_views(p, p.grad, s["exp_avg"], s["exp_avg_sq"]) for p, s in zip(params, states)]
                weights, grads, averages, squares = (list(t) for t in zip(*views))
                torch._fused_adam_(weights, grads, averages, squares, [], steps, amsgrad=False, lr=group["lr"],
                                   beta1=group["betas"][0], beta2=group["betas"][1],
                                   weight_decay=group["weight_decay"], eps=group["eps"], maximize=group["maximize"],
                                   grad_scale=None, found_inf=None)
        return None

    _step_with_hooks = torch.optim.Optimizer.profile_hook_step(_step)  # the scope and hooks every stock step has

    def _match_gradient_layouts(self) -> None:
        """Copy a gradient laid out unlike its parameter into the parameter's layout: torch's fused CPU kernel
        updates such a pair wrongly (off by 0.4 after two steps in tests/test_performance.py). Autograd lays
        gradients out like their parameters; a user-assigned gradient need not be."""
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None and p.grad.stride() != p.stride() and p.grad.layout is torch.strided:
                    p.grad = torch.empty_like(p).copy_(p.grad)

    def _has_step_hooks(self) -> bool:
        return bool(self._optimizer_step_pre_hooks or self._optimizer_step_post_hooks
                    or _global_optimizer_pre_hooks or _global_optimizer_post_hooks)

    def zero_grad(self, set_to_none: bool = True) -> None:
        """The stock zero_grad wraps a loop like this one in a profiler scope (40 us per call on an MLP)."""
        if not set_to_none:
            return super().zero_grad(set_to_none)
        for group in self.param_groups:
            for p in group["params"]:
                p.grad = None

    def _direct_groups(self) -> list[tuple[dict, list[torch.nn.Parameter]]] | None:
        """Each group's parameters that have a gradient, or None when the stock step must run."""
        groups = []
        for group in self.param_groups:
            if (not group["fused"] or group["amsgrad"] or group["differentiable"] or group["capturable"]
                    or group.get("decoupled_weight_decay") or not isinstance(group["lr"], float)):
                return None
            params = [p for p in group["params"] if p.grad is not None]
            for p in params:
                if (p not in self.state or p.grad.layout is not torch.strided or p.is_complex()
                        or p.device != params[0].device or p.dtype != params[0].dtype):
                    return None
            groups.append((group, params))
        return groups


def _dense_views(param: torch.Tensor, *alike: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """A parameter and its gradient and moments (laid out alike) as views the fused kernel walks without copying.

    Given channels-last conv weights, the kernel makes contiguous copies of them (the profiler shows the clones:
    5 ms of a 64x64 DCGAN step). It works element by element, so permuting all four tensors to NHWC order alike,
    which makes them contiguous views, changes nothing it computes."""
    if is_channels_last(param):
        return tuple(t.permute(0, 2, 3, 1) for t in (param, *alike))
    return (param, *alike)


def _stock_adam_step() -> Callable[..., float | None]:
    """torch's Adam.step without torch's hook wrapper (which is added to the class once any Adam is built)."""
    step = torch.optim.Adam.step
    return step.__wrapped__ if getattr(step, "hooked", False) else step


@OPTIMIZERS.register("adam", help="Adam with optim.beta1/beta2 (DCGAN: 0.5, 0.999)")
def adam(params: Iterable[torch.nn.Parameter], lr: float, config: OptimizerConfig) -> torch.optim.Optimizer:
    """`optim.fused`: ganforge's FusedAdam for float32 CPU parameters (where it was measured), torch's own fused
    Adam elsewhere; otherwise the foreach implementation."""
    params = list(params)
    betas = (config.beta1, config.beta2)
    if config.fused and hasattr(torch, "_fused_adam_") and all(p.device.type == "cpu" and p.dtype == torch.float32
                                                              for p in params):
        return FusedAdam(params, lr=lr, betas=betas, weight_decay=config.weight_decay)
    if config.fused:
        return torch.optim.Adam(params, lr=lr, betas=betas, weight_decay=config.weight_decay, fused=True)
    return torch.optim.Adam(params, lr=lr, betas=betas, weight_decay=config.weight_decay, foreach=True)


@OPTIMIZERS.register("rmsprop", help="RMSprop (the WGAN paper's optimiser)")
def rmsprop(params: Iterable[torch.nn.Parameter], lr: float, config: OptimizerConfig) -> torch.optim.Optimizer:
    return torch.optim.RMSprop(params, lr=lr, weight_decay=config.weight_decay, foreach=True)


Schedule = Callable[[int, int], float]  # (step, total steps) -> the start value's share: 1 = start, 0 = end
SCHEDULES: Registry[Schedule] = Registry("schedule")


@SCHEDULES.register("constant", help="the configured learning rates throughout")
def constant(step: int, total: int) -> float:
    return 1.0


@SCHEDULES.register("linear", help="linear decay from the configured rates to 0 at the last step (SNGAN, BigGAN)")
def linear(step: int, total: int) -> float:
    return max(0.0, 1.0 - step / max(total, 1))


@SCHEDULES.register("linear-second-half", help="the configured rates for the first half, then linear decay to 0 "
                                               "(pix2pix and CycleGAN: n_epochs, then n_epochs_decay)")
def linear_second_half(step: int, total: int) -> float:
    half = total // 2
    return 1.0 if step < half else max(0.0, 1.0 - (step - half) / max(total - half, 1))


@SCHEDULES.register("cosine", help="half a cosine from the configured values to their end values at the last step "
                                   "(R3GAN's lr, beta2 and gamma)")
def cosine(step: int, total: int) -> float:
    return 0.5 * (1.0 + math.cos(math.pi * min(step / max(total, 1), 1.0)))


def scheduled(start: float, end: float, schedule: str, step: int, total: int) -> float:
    """A scheduled value at `step`: `start` at step 0, `end` at the last step, along the named schedule's shape.
    With end 0 (the learning rate's default) the shape is a factor on the start, as the linear decays use it."""
    return end + (start - end) * SCHEDULES.get(schedule)(step, total)


def apply_schedule(optimizer: torch.optim.Optimizer, settings: OptimizerConfig, step: int, total: int) -> None:
    """Set the optimiser's learning rate (and Adam's beta2 when optim.beta2_end is set) for `step`."""
    lr = scheduled(settings.lr, settings.lr_end, settings.schedule, step, total)
    for group in optimizer.param_groups:
        group["lr"] = lr
        if settings.beta2_end is not None:
            group["betas"] = (settings.beta1, scheduled(settings.beta2, settings.beta2_end, settings.schedule, step,
                                                        total))


def network_settings(config: OptimizerConfig, name: str, lazy_interval: int = 1) -> OptimizerConfig:
    """The settings network `name`'s optimiser is built with. A network that a lazy phase also steps every N steps
    gets lazy regularisation's correction (Karras et al. 2020): lr x N/(N+1) and betas ** N/(N+1), so that its
    main and lazy steps together move it as one plain step would."""
    own = config.for_network(name)
    if lazy_interval <= 1:
        return own
    ratio = lazy_interval / (lazy_interval + 1)
    beta2_end = None if own.beta2_end is None else own.beta2_end ** ratio
    return dataclasses.replace(own, lr=own.lr * ratio, beta1=own.beta1 ** ratio, beta2=own.beta2 ** ratio,
                               lr_end=own.lr_end * ratio, beta2_end=beta2_end)


def build_optimizer(params: Iterable[torch.nn.Parameter], settings: OptimizerConfig) -> torch.optim.Optimizer:
    return OPTIMIZERS.get(settings.name)(params, settings.lr, settings)


def check_config(config: Config, networks: tuple[str, ...]) -> None:
    """optim.*: the optimiser and schedule names, and per-network keys only for networks the family has."""
    o = config.optim
    for key, registry, value in [("optim.name", OPTIMIZERS, o.name), ("optim.schedule", SCHEDULES, o.schedule)]:
        if value not in registry:
            raise GanforgeError(f"{key}: {registry.unknown_message(value)}")
    for name, own in o.networks.items():
        if name not in networks:
            raise GanforgeError(f"optim.{name}: the {config.algorithm.name} family has no network '{name}'; its "
                                f"networks are {', '.join(networks)}")
        if own.name is not None and own.name not in OPTIMIZERS:
            raise GanforgeError(f"optim.{name}.name: {OPTIMIZERS.unknown_message(own.name)}")
    for name in ("", *o.networks):
        settings, prefix = (o, "optim.") if not name else (o.for_network(name), f"optim.{name}.")
        check_schedule_ends(settings, prefix)


def check_schedule_ends(settings: OptimizerConfig, prefix: str) -> None:
    """End values only where a schedule moves towards them, and beta2's only for an optimiser that has one."""
    if settings.schedule == "constant":
        for key, value, off in (("lr_end", settings.lr_end, 0.0), ("beta2_end", settings.beta2_end, None)):
            if value != off:
                raise GanforgeError(f"{prefix}{key}={value:g} has no effect with optim.schedule=constant; set "
                                    f"optim.schedule (e.g. cosine) or drop {prefix}{key}")
    if settings.beta2_end is not None and settings.name != "adam":
        raise GanforgeError(f"{prefix}beta2_end anneals Adam's beta2, which optim.name={settings.name} does not "
                            f"have; drop {prefix}beta2_end")
