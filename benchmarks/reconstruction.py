"""Reconstruction by the encoder families' E on held-out MNIST digits: x against G(E(x)), against a random latent.

The held-out digits are the 1,000 of mnist-5k that neither the models nor lenet-mnist trained on: the models train
on `mnist-4k` (the other 4,000, the split lenet-mnist was trained on), so every x here is new to E, G and the
classifier alike. For each model it reports (ganforge.metrics.reconstruction):

- the pixel MSE between x and G(E(x)) in [-1, 1], and the same for G(z) with random z (paired with x in order);
- the label agreement: the share of x whose reconstruction lenet-mnist puts in x's class, and the same for G(z)
  (chance, about 10 %); lenet-mnist's own accuracy on the x is the ceiling.

G is the EMA generator that `ganforge export` writes beside E (what `ganforge encode` then `sample` would use) and,
in a second pair of columns, the raw G that E trained against. Models: `--runs` (run or export folders of mrgan,
mdgan, bigan or veegan models trained on mnist-4k, e.g. those benchmarks/missing_modes.py leaves with `--keep`), or,
when none is given, `--presets` trained here for `--steps` steps (seed 0, one thread each, `--workers` at a time).

    python -m benchmarks.reconstruction [--presets mnist-mrgan mnist-bigan mnist-veegan] [--steps 1000]
    python -m benchmarks.reconstruction --runs /tmp/runs/mnist-mrgan-seed0 [--presets mnist-bigan mnist-veegan]
    python -m benchmarks.reconstruction --quick    # 50 steps each: the machinery only
"""

from __future__ import annotations

import argparse
import tempfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from benchmarks.common import benchmark, main_for, print_table, train_run, write_result

DATASET = "mnist-4k"


def options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--runs", nargs="*", default=[], help="run or export folders of encoder models (trained on "
                                                         f"{DATASET})")
    p.add_argument("--presets", nargs="*", default=None, help="presets to train here (default: mnist-mrgan "
                                                              "mnist-bigan mnist-veegan when --runs is empty)")
    p.add_argument("--steps", type=int, default=1000, help="training steps of each preset trained here")
    p.add_argument("--workers", type=int, default=3, help="presets trained at a time, one thread each")
    p.add_argument("--keep", metavar="DIR", help="leave the runs trained here in DIR/<preset>-seed0")


def _train(job: tuple[str, int, str]) -> dict[str, Any]:
    preset, steps, folder = job
    trained = train_run(preset, [f"data.dataset={DATASET}", f"train.steps={steps}", "train.seed=0",
                                 "train.threads=1"], Path(folder) / f"{preset}-seed0")
    return {**trained, "run": str(trained["run"])}


def measure(model: str | Path) -> dict[str, Any]:
    """Both pairs (EMA G, E) and (raw G, E) of one model on the held-out digits."""
    from ganforge.data.registry import mnist_5k_held_out
    from ganforge.export import load_encoder, load_generator, read_model_config
    from ganforge.metrics.extractors import build_extractor
    from ganforge.metrics.reconstruction import reconstruction_error

    config, _ = read_model_config(Path(model))
    if config.data.dataset != DATASET:
        raise SystemExit(f"'{model}' was trained on {config.data.dataset}, which may hold the held-out digits; "
                         f"train it with --set data.dataset={DATASET}")
    images, labels = mnist_5k_held_out()
    classify = build_extractor("lenet-mnist").logits
    encoder = load_encoder(model)
    row: dict[str, Any] = {"model": str(model), "algorithm": config.algorithm.name, "preset": config.preset,
                           "steps": config.train.steps, "seed": config.train.seed}
    for key, use_ema in (("ema", True), ("raw", False)):
        row[key] = reconstruction_error(load_generator(model, use_ema=use_ema), encoder, images, labels, classify)
    return row


@benchmark("reconstruction", help="pixel MSE and lenet-mnist label agreement of G(E(x)) on 1,000 held-out digits, "
                                  "against G(z) for random z", options=options)
def run(args: argparse.Namespace) -> dict[str, Any]:
    if args.quick:  # a smoke run of the machinery: the numbers mean nothing
        args.steps = min(args.steps, 50)
    presets = args.presets if args.presets is not None else ([] if args.runs else
                                                             ["mnist-mrgan", "mnist-bigan", "mnist-veegan"])
    with tempfile.TemporaryDirectory(prefix="ganforge-reconstruction-") as scratch:
        folder = Path(args.keep) if args.keep else Path(scratch)
        with ProcessPoolExecutor(max_workers=max(1, min(args.workers, len(presets) or 1))) as pool:
            trained = list(pool.map(_train, [(preset, args.steps, str(folder)) for preset in presets]))
        models = [*args.runs, *(t["run"] for t in trained)]
        rows = [measure(model) for model in models]
    for row in rows:
        row["training"] = next((t for t in trained if t["run"] == row["model"]), None)
    first = rows[0]["ema"] if rows else {}
    print_table(f"Reconstruction of {first.get('n', 0)} held-out mnist-5k digits (not in {DATASET}); pixel MSE in "
                f"[-1, 1], label agreement by lenet-mnist (its accuracy on these x: "
                f"{first.get('classifier_accuracy', float('nan')):.3f})",
                ["model", "steps", "MSE G(E(x))", "MSE G(z) random", "agreement G(E(x))", "agreement G(z) random",
                 "MSE raw G", "agreement raw G"],
                [[r["preset"] or r["algorithm"], r["steps"], r["ema"]["mse"], r["ema"]["random_mse"],
                  r["ema"]["label_agreement"], r["ema"]["random_agreement"], r["raw"]["mse"], r["raw"]["label_agreement"]]
                 for r in rows])
    result = {"dataset": DATASET, "held_out": "mnist-5k rows of data.registry.mnist_5k_split()[1]",
              "steps_trained_here": args.steps if presets else None, "rows": rows}
    if not args.no_write:
        write_result("reconstruction", result)
    return result


if __name__ == "__main__":
    main_for("reconstruction")
