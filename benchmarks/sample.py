"""Generator throughput: images/s of `ganforge.Sampler` at batch 1, 64 and 512 for the MLP and DCGAN presets.

The Sampler decodes under `torch.inference_mode()` in eval mode and converts to uint8 (what `ganforge sample` and a
server do). Two columns put that choice in context, interleaved with it: the same forward under `torch.no_grad()`,
and with autograd left on (what a forgotten context manager costs). Untrained weights: speed does not depend on them.

    python -m benchmarks.sample [--quick] [--reps N]
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

import torch

from benchmarks.common import benchmark, interleave, main_for, print_table, reps, write_result

MODELS = {"mlp (mnist-mlp)": "mnist-mlp", "dcgan 28x28 (mnist-dcgan)": "mnist-dcgan"}
BATCHES = (1, 64, 512)


def build_generator(preset: str) -> torch.nn.Module:
    from ganforge.configure import build_config
    from ganforge.models import build_generator as build
    from ganforge.utils import resolve_device

    config = build_config(preset)
    torch.manual_seed(0)
    return build(config.model).to(resolve_device(config.train.device)).eval()


def modes(generator: torch.nn.Module, batch: int, calls: int) -> dict[str, Callable[[], None]]:
    """The three ways of running the same forward passes, each `calls` batches of `batch` noise vectors."""
    from ganforge.data import to_uint8
    from ganforge.sampling import Sampler

    sampler = Sampler(generator, batch_size=batch)
    device = next(generator.parameters()).device
    z = torch.randn(batch, generator.latent_dim, generator=torch.Generator().manual_seed(0))

    def with_sampler() -> None:
        for _ in range(calls):
            sampler.decode({"z": z})

    def no_grad() -> None:
        with torch.no_grad():
            for _ in range(calls):
                to_uint8(generator(z.to(device))).cpu()

    def autograd_on() -> None:
        for _ in range(calls):
            to_uint8(generator(z.to(device))).cpu()

    return {"Sampler (inference_mode)": with_sampler, "no_grad": no_grad, "autograd on": autograd_on}


@benchmark("sample", help="generator images/s at batch 1, 64, 512 for the MLP and DCGAN presets")
def run(args: argparse.Namespace) -> dict[str, Any]:
    n_reps = reps(args, full=7, quick=2)
    rows, result = [], {}
    for label, preset in MODELS.items():
        generator = build_generator(preset)
        for batch in BATCHES:
            calls = max(1, (64 if args.quick else 512) // batch)  # about the same images per measurement
            stats = interleave(modes(generator, batch, calls), n_reps, warmup=1)
            speeds = {mode: calls * batch / s.median for mode, s in stats.items()}
            result[f"{label}, batch {batch}"] = {mode: {"images_per_s": speeds[mode], "seconds": s}
                                                 for mode, s in stats.items()}
            best = stats["Sampler (inference_mode)"]
            rows.append([label, batch, speeds["Sampler (inference_mode)"], f"{best.spread:.0%}",
                         speeds["no_grad"], speeds["autograd on"]])
    print_table(f"generator throughput, images/s ({n_reps} interleaved repetitions, {torch.get_num_threads()} "
                f"threads)", ["model", "batch", "Sampler (inference_mode)", "spread", "no_grad", "autograd on"], rows)
    out = {"threads": torch.get_num_threads(), "cases": result}
    if not args.no_write:
        write_result("sample", out)
    return out


if __name__ == "__main__":
    main_for("sample")
