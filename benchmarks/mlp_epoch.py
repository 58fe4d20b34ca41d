"""One epoch of the course's MLP GAN on the 5,000 built-in MNIST digits: ganforge against the course's loop.

The textbook side (textbook.TextbookMLP) is the course's loop: a DataLoader over PIL images with ToTensor/Normalize,
sigmoid + BCELoss, default Adam 2e-4. ganforge's side is `Trainer.train_step()` of the `mnist-mlp` preset (the same
model, optimiser and batch of 64), 78 steps = one epoch (the incomplete last batch is dropped on both sides).
Epochs are interleaved between matmul probes (only quiet rounds count, see common.interleave_quiet); the variants
with `train.compile` report their one-off compile time apart from the epoch time and how many epochs it takes to
earn it back. The `floor` row is the same computation with no framework at all (floor.HandWrittenMLPStep: bare
kernels, the backward by hand, on the same data path): the limit of this step on this machine, so the table shows
how much of ganforge's time is overhead and how much is the kernels.

    python -m benchmarks.mlp_epoch [--quick] [--reps N]
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

import torch

from benchmarks.common import (benchmark, count_flops, ganforge_trainer, interleave_quiet, main_for, matmul_probe,
                               paired_ratio, print_table, reps, write_result)
from benchmarks.floor import HandWrittenMLPStep
from benchmarks.textbook import TextbookMLP, images_hwc

PRESET = "mnist-mlp"
FLOOR = "floor: hand-written, no framework"

# label -> extra overrides of the preset (its defaults first: that is what `ganforge train mnist-mlp` runs)
VARIANTS: dict[str, list[str]] = {
    "ganforge (preset defaults)": [],
    "ganforge + compile": ["train.compile=true"],
    "ganforge threads=1": ["train.threads=1"],
}


def run_epoch(trainer: Any, steps: int, threads: int) -> Callable[[], None]:
    def epoch() -> None:
        torch.set_num_threads(threads)
        for _ in range(steps):
            trainer.train_step()

    return epoch


def textbook_epoch(textbook: TextbookMLP, threads: int) -> Callable[[], None]:
    def epoch() -> None:
        torch.set_num_threads(threads)
        textbook.epoch()

    return epoch


def floor_epoch(trainer: Any, steps: int, threads: int) -> Callable[[], None]:
    """Hand-written steps from the trainer's initial weights, on a data stream of their own."""
    from ganforge.data import BatchStream

    floor = HandWrittenMLPStep(trainer)
    stream = BatchStream({"image": trainer.stream.tensors["image"]}, trainer.batch_size, seed=0)
    noise = torch.Generator().manual_seed(0)
    latent_dim = trainer.config.model.latent_dim

    def epoch() -> None:
        torch.set_num_threads(threads)
        for _ in range(steps):
            floor.step(stream.next()["image"], torch.randn(trainer.batch_size, latent_dim, generator=noise))

    return epoch


@benchmark("mlp_epoch", help="the course's MLP GAN, one epoch of 5,000 MNIST digits: ganforge vs the textbook loop")
def run(args: argparse.Namespace) -> dict[str, Any]:
    from ganforge.data import load_dataset

    threads = torch.get_num_threads()
    textbook = TextbookMLP(images_hwc(load_dataset("mnist-5k").images), batch_size=64, seed=0)
    variants = VARIANTS if not args.quick else {k: v for k, v in VARIANTS.items() if "compile" not in k}
    trainers = {}
    for label, overrides in variants.items():
        trainers[label] = ganforge_trainer(PRESET, overrides)
    torch.set_num_threads(threads)  # a variant's train.threads applies only while it runs
    steps = trainers["ganforge (preset defaults)"].stream.batches_per_epoch
    flops = {"textbook": count_flops(lambda: textbook.step(next(textbook.batches)))}
    flops.update({label: count_flops(t.train_step) for label, t in trainers.items()})
    cases = {"textbook": textbook_epoch(textbook, threads)}
    for label, trainer in trainers.items():
        cases[label] = run_epoch(trainer, steps, trainer.config.train.threads or threads)
    cases[FLOOR] = floor_epoch(trainers["ganforge (preset defaults)"], steps, threads)
    flops[FLOOR] = flops["ganforge (preset defaults)"]
    n_reps = reps(args, full=7, quick=2)
    timings = interleave_quiet(cases, n_reps, matmul_probe(threads), warmup=1)
    torch.set_num_threads(threads)
    stats, machine = timings.stats, timings.probe.median
    rows, result = [], {}
    for name, s in stats.items():
        ratio = paired_ratio(stats["textbook"], s)
        compile_s = trainers[name].compile_seconds if name in trainers else 0.0
        saved = stats["ganforge (preset defaults)"].median - s.median
        payback = f"{compile_s / saved:.1f}" if compile_s and saved > 0 else ""
        achieved = flops[name] * steps / s.median / 1e9
        rows.append([name, s.median, f"{s.spread:.0%}", steps * 64 / s.median, f"{achieved:.1f}",
                     f"{achieved / machine:.0%}", f"{ratio.median:.2f} ({ratio.low:.2f}-{ratio.high:.2f})",
                     f"{compile_s:.1f}" if compile_s else "", payback])
        result[name] = {"epoch_seconds": s, "images_per_s": steps * 64 / s.median, "speed_vs_textbook": ratio,
                        "gflop_per_step": flops[name] / 1e9, "gflops": achieved, "compile_seconds": compile_s}
    print_table(f"MLP GAN, one epoch ({steps} steps of 64), {timings.kept} of {timings.rounds} interleaved rounds "
                f"kept, {threads} threads; matmul {machine:.0f} GFLOP/s",
                ["path", "s/epoch", "spread", "images/s", "GFLOP/s", "of matmul", "speed-up (range)",
                 "compile s", "epochs to repay"], rows)
    overhead = paired_ratio(stats["ganforge (preset defaults)"], stats[FLOOR])  # time over the floor's time
    print(f"ganforge's epoch takes {overhead.median:.2f}x the hand-written floor's time "
          f"({overhead.low:.2f}-{overhead.high:.2f} over rounds)")
    out = {"steps_per_epoch": steps, "threads": threads, "matmul_gflops": timings.probe, "rounds": timings,
           "paths": result, "ganforge_time_over_floor": overhead}
    if not args.no_write:
        write_result("mlp_epoch", out)
    return out


if __name__ == "__main__":
    main_for("mlp_epoch")
