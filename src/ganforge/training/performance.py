"""The training loop's speed switches (`train.channels_last`, `train.compile`, `train.threads`).

None of them changes what is computed, only how: memory layout, kernel fusion, thread count. Each is measured
against the textbook loop by `python -m benchmarks.train_step --ablation`; README section "Performance" says which
ones pay on which hardware and by how much.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import torch
from torch import nn

from ..config import TrainConfig
from ..families import CompileTarget

log = logging.getLogger("ganforge")


def memory_format(train: TrainConfig, device: torch.device, *nets: nn.Module) -> torch.memory_format:
    """NHWC (channels-last) when some network convolves and train.channels_last asks for it or, unset, on the CPU,
    where oneDNN measured 1.04-1.16x faster in it; fully connected nets keep the default layout (NHWC would only add
    copies there)."""
    convolves = any(isinstance(m, nn.modules.conv._ConvNd) for net in nets for m in net.modules())
    wanted = train.channels_last if train.channels_last is not None else device.type == "cpu"
    return torch.channels_last if wanted and convolves else torch.contiguous_format


def apply_threads(train: TrainConfig) -> None:
    """train.threads > 0 sets torch's intra-op threads (0 keeps PyTorch's choice: one per physical core)."""
    if train.threads > 0:
        torch.set_num_threads(train.threads)


def to_layout(net: nn.Module, layout: torch.memory_format) -> nn.Module:
    """Convert a network's 4-D weights to `layout` (a no-op for fully connected nets and the default layout)."""
    return net.to(memory_format=layout) if layout is not torch.contiguous_format else net


def compile_networks(targets: Sequence[CompileTarget]) -> float:
    """torch.compile each network in place and compile it now, on throw-away inputs; returns the seconds spent.

    Why warm up here: compilation otherwise happens inside the first training steps, where it would distort the
    measured throughput and where a failure (no C++ compiler, an unsupported Python, an op the compiler cannot
    handle) would stop the run mid-step. Here a failure turns that network back to eager with one warning line.
    Weights, BatchNorm statistics and gradients are restored afterwards, and the global RNG is not touched, so a
    compiled run starts from exactly the state an eager run starts from.
    """
    start = time.perf_counter()
    for target in targets:
        try:
            with _restored(target.net), _quiet_cpp_extension():
                target.net.compile()
                _warm_up(target)
        except Exception as exc:  # compilers fail with many exception types; eager always works
            _uncompile(target.net)
            first_line = (str(exc).strip().splitlines() or [""])[0][:160]
            log.warning(f"warning: train.compile: compiling {target.name} failed ({type(exc).__name__}: "
                        f"{first_line}); training it eagerly instead")
    return time.perf_counter() - start


def _warm_up(target: CompileTarget) -> None:
    net, args = target.net, tuple(x.detach() for x in target.args)
    _scalar(net(*args, **target.kwargs)).backward()
    if target.scored_frozen:
        with _frozen(net):
            _scalar(net(*(x.clone().requires_grad_(True) for x in args), **target.kwargs)).backward()


def _scalar(output: torch.Tensor | tuple[torch.Tensor, ...]) -> torch.Tensor:
    """One number that depends on every output of a network (a D with a second head returns two tensors)."""
    outputs = output if isinstance(output, (tuple, list)) else (output,)
    return sum(o.float().mean() for o in outputs)


def _uncompile(net: nn.Module) -> None:
    """Undo `nn.Module.compile()`: it stores the compiled call in this attribute, and None means eager."""
    net._compiled_call_impl = None


@contextmanager
def _quiet_cpp_extension() -> Iterator[None]:
    """The compiler's C++ helper warns on every CPU-only machine that no CUDA runtime exists; that is expected."""
    logger = logging.getLogger("torch.utils.cpp_extension")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


@contextmanager
def _restored(net: nn.Module) -> Iterator[None]:
    saved = {key: value.detach().clone() for key, value in net.state_dict().items()}
    try:
        yield
    finally:
        with torch.no_grad():
            net.load_state_dict(saved)
        net.zero_grad(set_to_none=True)


@contextmanager
def _frozen(net: nn.Module) -> Iterator[None]:
    flags = [(p, p.requires_grad) for p in net.parameters()]
    for p, _ in flags:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p, flag in flags:
            p.requires_grad_(flag)
