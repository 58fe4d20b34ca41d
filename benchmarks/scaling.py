"""How a DCGAN training step's cost grows with batch size (16..256 at 64x64) and resolution (32, 64, 128 at batch 64).

Every configuration is ganforge's `Trainer.train_step()` of the `mnist-dcgan` preset with the pytorch/examples
widths (64) on the built-in digits resized to the resolution; one step of each configuration per round, rounds
interleaved between matmul probes (quiet rounds only). The plot (benchmarks/results/scaling-*.png and
docs/performance-scaling.png) draws step time against pixels x batch, with the line a purely linear cost would
follow through the 64x64, batch-64 point, and the achieved GFLOP/s of each configuration: where that rate falls,
cost grows faster than the work.

Note that the resolution sweep is not pixels alone: DCGAN adds a layer pair per doubling, and with a fixed base
width the deepest layers get wider, so FLOPs per image grow faster than pixels. The table reports FLOPs to separate
the two effects.

    python -m benchmarks.scaling [--quick] [--reps N]
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import torch

from benchmarks.common import (DOCS_DIR, RESULTS_DIR, benchmark, count_flops, ganforge_trainer, interleave_quiet,
                               main_for, matmul_probe, print_table, reps, timestamp, write_result)

BASE = ["model.g_width=64", "model.d_width=64", "model.latent_dim=100", "train.ema=false", "data.resize=true"]
FULL = [(64, 16), (64, 32), (64, 64), (64, 128), (64, 256), (32, 64), (128, 64)]  # (resolution, batch)
QUICK = [(64, 16), (64, 64), (32, 64)]
REFERENCE = (64, 64)


def label(resolution: int, batch: int) -> str:
    return f"{resolution}x{resolution} b{batch}"


@benchmark("scaling", help="DCGAN step time against batch size (16..256) and resolution (32, 64, 128), PNG plot")
def run(args: argparse.Namespace) -> dict[str, Any]:
    configs = QUICK if args.quick else FULL
    trainers = {(r, b): ganforge_trainer("mnist-dcgan", [*BASE, f"model.resolution={r}", f"train.batch_size={b}"])
                for r, b in configs}
    flops = {key: count_flops(t.train_step) for key, t in trainers.items()}
    timings = interleave_quiet({label(*key): t.train_step for key, t in trainers.items()},
                               reps(args, full=5, quick=1), matmul_probe(), warmup=1)
    stats = timings.stats
    ref = stats[label(*REFERENCE)].median
    ref_work = REFERENCE[0] ** 2 * REFERENCE[1]
    rows, points = [], []
    for (r, b), t in trainers.items():
        s = stats[label(r, b)]
        work = r * r * b
        linear = ref * work / ref_work
        gflops = flops[(r, b)] / s.median / 1e9
        points.append({"resolution": r, "batch": b, "pixels_x_batch": work, "seconds": s, "gflop": flops[(r, b)] / 1e9,
                       "gflops": gflops, "linear_prediction": linear, "vs_linear": s.median / linear})
        rows.append([label(r, b), s.median, f"{s.spread:.0%}", b / s.median, flops[(r, b)] / 1e9, gflops,
                     f"{s.median / linear:.2f}"])
    print_table(f"DCGAN step time, {torch.get_num_threads()} threads, {timings.kept} of {timings.rounds} rounds kept "
                f"(vs linear: measured / pixels x batch scaled from {label(*REFERENCE)})",
                ["config", "s/step", "spread", "images/s", "GFLOP/step", "GFLOP/s", "vs linear"], rows)
    out: dict[str, Any] = {"threads": torch.get_num_threads(), "points": points, "rounds": timings}
    if not args.no_write:
        png = RESULTS_DIR / f"scaling-{timestamp()}.png"
        plot(points, [png, DOCS_DIR / "performance-scaling.png"])
        out["plot"] = str(png)
        write_result("scaling", out)
    return out


def plot(points: list[dict[str, Any]], paths: list[Path]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    ref = next(p for p in points if (p["resolution"], p["batch"]) == REFERENCE)
    works = sorted(p["pixels_x_batch"] for p in points)
    left.plot(works, [ref["seconds"].median * w / ref["pixels_x_batch"] for w in works], "--", color="grey",
              label="linear in pixels x batch")
    for sweep, keep, marker in (("batch 16..256 at 64x64", lambda p: p["resolution"] == 64, "o"),
                                ("resolution 32, 64, 128 at batch 64", lambda p: p["batch"] == 64, "s")):
        chosen = sorted((p for p in points if keep(p)), key=lambda p: p["pixels_x_batch"])
        xs = [p["pixels_x_batch"] for p in chosen]
        left.plot(xs, [p["seconds"].median for p in chosen], marker=marker, label=sweep)
        right.plot(xs, [p["gflops"] for p in chosen], marker=marker, label=sweep)
        for p in chosen:
            right.annotate(label(p["resolution"], p["batch"]), (p["pixels_x_batch"], p["gflops"]), fontsize=7,
                           textcoords="offset points", xytext=(3, 3))
    left.set(xscale="log", yscale="log", xlabel="pixels x batch", ylabel="seconds per training step",
             title="DCGAN step time (ganforge, CPU)")
    right.set(xscale="log", xlabel="pixels x batch", ylabel="achieved GFLOP/s", title="convolution throughput",
              ylim=(0, None))
    left.legend(fontsize=8)
    right.legend(fontsize=8)
    fig.tight_layout()
    for path in paths:
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=110)
        print(f"wrote {path}", flush=True)
    plt.close(fig)


if __name__ == "__main__":
    main_for("scaling")
