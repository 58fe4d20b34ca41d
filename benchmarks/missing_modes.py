"""MNIST missing modes (Che et al. 2017, "Mode Regularized GANs", section on MNIST): over many short runs, how many
digit classes a GAN never generates, the plain GAN against the mode-regularised one on the same generator.

Each family (`--families`, default mnist-dcgan and mnist-mrgan, which is mnist-dcgan's G and D plus MRGAN's encoder
and regularisers) trains `--seeds` runs of `--steps` steps (train.seed 0, 1, ...) with the real Trainer on one
thread each, `--workers` runs at a time. Training uses `mnist-4k`, the 4,000 built-in digits lenet-mnist was trained
on, so that the runs can be reused by benchmarks/reconstruction.py (`--keep DIR`) on the 1,000 held-out digits.
Each run's EMA generator (what `ganforge sample` and `eval` use) then draws `--n` samples, the `modes` metric of
`ganforge eval` (lenet-mnist argmax) counts them per class, and the run reports:

- missing classes: classes with no sample at all (the paper's "missing modes": never generated);
- classes under `--min-share` (default 1 %) of the samples, a looser count that also catches near-misses;
- KL(class histogram || uniform) in nats.

The table gives the mean (and standard deviation) over seeds per family. Runs compare at equal steps, as the paper's
do; an MRGAN step costs about 2.3x a DCGAN step here, and the JSON keeps each run's CPU seconds.

    python -m benchmarks.missing_modes [--families mnist-dcgan mnist-mrgan] [--seeds 5] [--steps 600] [--workers 4]
    python -m benchmarks.missing_modes --quick     # 2 seeds x 50 steps, 2,000 samples: the machinery only
"""

from __future__ import annotations

import argparse
import os
import tempfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common import benchmark, main_for, print_table, train_run, write_result

DATASET = "mnist-4k"


def options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--families", nargs="+", default=["mnist-dcgan", "mnist-mrgan"], help="presets to compare")
    p.add_argument("--seeds", type=int, default=5, help="runs per preset (train.seed 0 .. seeds-1)")
    p.add_argument("--steps", type=int, default=600, help="training steps of every run")
    p.add_argument("--n", type=int, default=10000, help="samples classified per run")
    p.add_argument("--min-share", type=float, default=0.01, help="the looser count: classes below this share")
    p.add_argument("--workers", type=int, default=4, help="runs at a time, one thread each")
    p.add_argument("--keep", metavar="DIR", help="leave the runs in DIR/<preset>-seed<k> (default: a temporary "
                                                 "folder, removed); finished runs already there are measured, not "
                                                 "trained again")
    p.add_argument("--set", dest="overrides", nargs="*", default=[], help="config overrides for every run")


def measure_run(preset: str, seed: int, steps: int, n: int, min_share: float, overrides: list[str],
                folder: str) -> dict[str, Any]:
    """One seed of one preset: train, then the class histogram of n EMA samples (lenet-mnist)."""
    from ganforge.metrics.evaluate import evaluate_model
    from ganforge.metrics.scores import class_kl_to_uniform, missing_classes

    run = Path(folder) / f"{preset}-seed{seed}"
    if finished(run, preset, seed, steps):
        trained: dict[str, Any] = {"run": run, "steps": steps, "train_s": None, "train_cpu_s": None, "reused": True}
    else:
        trained = train_run(preset, [f"data.dataset={DATASET}", f"train.steps={steps}", f"train.seed={seed}",
                                     "train.threads=1", *overrides], run)
    counts = np.asarray(evaluate_model(trained["run"], metrics=["modes"], n=n, seed=seed)["metrics"]["class_counts"])
    return {"preset": preset, "seed": seed, **trained, "class_counts": counts.tolist(),
            "missing": missing_classes(counts), "under_min_share": missing_classes(counts, min_share),
            "class_kl": class_kl_to_uniform(counts), "load_average_1min": os.getloadavg()[0]}


def finished(run: Path, preset: str, seed: int, steps: int) -> bool:
    """A run of this preset, seed and length on DATASET that reached its last step (left by an earlier --keep)."""
    import json

    from ganforge.checkpoints import list_checkpoints

    if not (run / "config.json").is_file():
        return False
    config = json.loads((run / "config.json").read_text())
    same = (config.get("preset"), config["train"]["seed"], config["train"]["steps"], config["data"]["dataset"]) == \
        (preset, seed, steps, DATASET)
    found = list_checkpoints(run)
    return same and bool(found) and found[-1].name == f"state-{steps:08d}.pt"


def _job(job: tuple) -> dict[str, Any]:
    return measure_run(*job)


def summarise(runs: list[dict[str, Any]], presets: list[str]) -> list[dict[str, Any]]:
    """Per preset: mean and standard deviation over its seeds of each count and of the KL."""
    rows = []
    for preset in presets:
        mine = [r for r in runs if r["preset"] == preset]
        row: dict[str, Any] = {"preset": preset, "runs": len(mine)}
        for key in ("missing", "under_min_share", "class_kl", "train_cpu_s"):
            values = np.asarray([r[key] for r in mine if r[key] is not None], np.float64)
            row[key], row[f"{key}_std"] = ((float(values.mean()), float(values.std())) if values.size
                                           else (None, None))
        row["runs_missing_any"] = sum(r["missing"] > 0 for r in mine)
        rows.append(row)
    return rows


@benchmark("missing_modes", help="MNIST classes never generated over many short runs: mnist-dcgan against "
                                 "mnist-mrgan (Che et al. 2017)", options=options)
def run(args: argparse.Namespace) -> dict[str, Any]:
    if args.quick:  # a smoke run of the machinery: the numbers mean nothing
        args.seeds, args.steps, args.n = min(args.seeds, 2), min(args.steps, 50), min(args.n, 2000)
    with tempfile.TemporaryDirectory(prefix="ganforge-modes-") as scratch:
        folder = Path(args.keep) if args.keep else Path(scratch)
        jobs = [(preset, seed, args.steps, args.n, args.min_share, args.overrides, str(folder))
                for seed in range(args.seeds) for preset in args.families]
        with ProcessPoolExecutor(max_workers=args.workers) as pool:
            runs = []
            for outcome in pool.map(_job, jobs):
                runs.append({**outcome, "run": str(outcome["run"])})
                cost = "reused" if outcome.get("reused") else f"{outcome['train_cpu_s']:.0f} s CPU"
                print(f"{outcome['preset']} seed {outcome['seed']}: {outcome['missing']} missing, "
                      f"{outcome['under_min_share']} under {args.min_share:.0%}, KL {outcome['class_kl']:.3f} "
                      f"({cost})", flush=True)
    rows = summarise(runs, args.families)
    share = f"{args.min_share:.0%}"
    print_table(f"MNIST missing modes: {args.seeds} seeds x {args.steps} steps on {DATASET}, {args.n} EMA samples "
                f"per run, lenet-mnist, 1 thread per run",
                ["preset", "runs", "missing (0 samples)", f"under {share}", "runs missing any", "class KL",
                 "CPU s/run"],
                [[r["preset"], r["runs"], f"{r['missing']:.1f} +- {r['missing_std']:.1f}",
                  f"{r['under_min_share']:.1f} +- {r['under_min_share_std']:.1f}", r["runs_missing_any"],
                  f"{r['class_kl']:.3f} +- {r['class_kl_std']:.3f}",
                  None if r["train_cpu_s"] is None else round(r["train_cpu_s"])] for r in rows])
    result = {"dataset": DATASET, "seeds": args.seeds, "steps": args.steps, "n": args.n, "min_share": args.min_share,
              "overrides": args.overrides, "workers": args.workers, "summary": rows, "runs": runs}
    if not args.no_write:
        write_result("missing_modes", result)
    return result


if __name__ == "__main__":
    main_for("missing_modes")
