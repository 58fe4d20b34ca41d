"""Multi-process training under torchrun: process group, device per rank, DDP wrapping, rank-0-only writes.

`ganforge train` needs no changes to run under `torchrun --nproc_per_node N -m ganforge train ...`: torchrun's
environment (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR/PORT) is read here. train.batch_size is the *global* batch;
each rank takes its slice of every global batch and of every global noise draw, so N processes compute what one
process with the same global batch computes (BatchNorm statistics aside, unless train.sync_batchnorm).
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from datetime import timedelta

import torch
from torch import nn

from ..errors import GanforgeError


@dataclass(frozen=True)
class DistributedContext:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def launched_by_torchrun() -> bool:
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def setup(backend: str, device_name: str, timeout_s: float) -> tuple[DistributedContext, torch.device]:
    """Join the process group torchrun set up (a no-op for a single process); returns the context and device."""
    from ..utils import resolve_device

    if not launched_by_torchrun():
        return DistributedContext(), resolve_device(device_name)
    import torch.distributed as dist

    ctx = DistributedContext(int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]),
                             int(os.environ.get("LOCAL_RANK", "0")))
    device = resolve_device(device_name)
    if device.type == "cuda":
        device = torch.device("cuda", ctx.local_rank)
        torch.cuda.set_device(device)
    if backend == "auto":
        backend = "nccl" if device.type == "cuda" else "gloo"
    if backend == "nccl" and device.type != "cuda":
        raise GanforgeError("train.backend is nccl but training runs on the CPU; use --set train.backend=gloo "
                            "(or auto)")
    if not dist.is_initialized():
        try:
            dist.init_process_group(backend, timeout=timedelta(seconds=timeout_s))
        except Exception as exc:  # rendezvous failures surface as several torch error types
            raise GanforgeError(f"rank {ctx.rank} could not join the process group ({type(exc).__name__}: "
                                f"{str(exc).splitlines()[0][:160]}); check --rdzv-endpoint / MASTER_ADDR and that "
                                f"every node started; train.dist_timeout is {timeout_s:g}s") from None
    return ctx, device


def wrap(module: nn.Module, ctx: DistributedContext, device: torch.device, sync_batchnorm: bool,
         partly_used: bool = False) -> nn.Module:
    """DDP-wrap a network for multi-process runs (unchanged for one process). `partly_used`: some parameters take
    no part in some steps (a grown ProGAN's previous toRGB once its fade-in ends), which DDP must be told to expect."""
    if not ctx.enabled:
        return module
    from torch.nn.parallel import DistributedDataParallel

    if sync_batchnorm:
        if device.type != "cuda":
            raise GanforgeError("train.sync_batchnorm needs GPUs (PyTorch's SyncBatchNorm does not run on the CPU); "
                                "drop --set train.sync_batchnorm=true for CPU runs")
        module = nn.SyncBatchNorm.convert_sync_batchnorm(module)
    ids = [device.index] if device.type == "cuda" else None
    return DistributedDataParallel(module, device_ids=ids, find_unused_parameters=partly_used)


def unwrap(module: nn.Module) -> nn.Module:
    """The network inside a DDP wrapper (state dicts, EMA and exports use it, so keys never carry 'module.')."""
    from torch.nn.parallel import DistributedDataParallel

    return module.module if isinstance(module, DistributedDataParallel) else module


def gather_rng_states(ctx: DistributedContext, state: dict) -> list[dict]:
    """Every rank's RNG state, collected on every rank (a checkpoint stores them all)."""
    if not ctx.enabled:
        return [state]
    import torch.distributed as dist

    states: list = [None] * ctx.world_size
    dist.all_gather_object(states, state)
    return states


def pick_rng_state(ctx: DistributedContext, states: list[dict]) -> dict:
    """This rank's RNG state from a checkpoint; a different world size resumes with a warning about data order."""
    if len(states) != ctx.world_size:
        warnings.warn(f"resuming a {len(states)}-process run with {ctx.world_size} process(es): parameters and "
                      f"data position carry over, but per-rank random streams and batch slices differ from the "
                      f"original run", stacklevel=2)
        return states[0]
    return states[ctx.rank]


def barrier(ctx: DistributedContext) -> None:
    if ctx.enabled:
        import torch.distributed as dist

        dist.barrier()


def teardown(ctx: DistributedContext) -> None:
    if ctx.enabled:
        import torch.distributed as dist

        if dist.is_initialized():
            dist.destroy_process_group()
