"""The default run's recipe search: which settings give the best digits per CPU-minute on the 5,000 built-in digits.

Every recipe is a list of `--set` overrides on a base preset (`mnist-dcgan`), trained for the same *training time*
(not the same steps: a wider net or a penalty costs time per step, and time is what the default run has), with
the clock paused at each mark to evaluate the EMA generator exactly as benchmarks/quality.py does (lenet-mnist FLD
and the class histogram of `--n` samples against the 5,000 digits). The learning-rate schedule runs over
`--steps`; the training clock is the process's CPU time by default, as in benchmarks/quality.py, so that the
recipes compare by their own cost rather than by what the machine's other jobs did meanwhile.

Search at a reduced budget with one thread (`--budget 90 --threads 1`), prune by stage, then confirm the best
recipes at the full budget with `time ganforge train PRESET` and `ganforge eval` (README, "The default run").

    python -m benchmarks.recipe_search [--recipes NAME ...] [--budget 90] [--n 10000] [--threads 1]
"""

from __future__ import annotations

import argparse
import os
from typing import Any

import torch

from benchmarks.common import benchmark, main_for, print_table, write_result
from benchmarks.quality import CLOCKS, clock_option, lenet_evaluator, preset_contestant, race

BASE = "mnist-dcgan"
WIDE = ["model.g_width=64", "model.d_width=64"]
EMA = ["train.ema_decay=0.999"]
NO_BN_D = ["model.d_norm=none"]  # zero-centred penalties are refused on a D with BatchNorm
AUG = ["augment.policy=[translation,cutout]"]
R1 = ["regularize.penalties={r1: 1}", "regularize.every={r1: 4}"]
START = "train.ema_start=1000"
FC_CONV = ["model.generator=infogan", "model.discriminator=infogan", "model.latent_dim=62"]
INFOGAN_LR = ["optim.G.lr=1e-3", "optim.D.lr=2e-4"]  # the InfoGAN paper's rates

# name -> overrides on BASE; stages in order, each one building on what the previous stage found
RECIPES: dict[str, list[str]] = {
    # stage 1: capacity and averaging, the cheapest knobs
    "dcgan-w32 (mnist-dcgan)": [],
    "w32 ema.999": EMA,
    "w48 ema.999": ["model.g_width=48", "model.d_width=48", *EMA],
    "w64 ema.999": [*WIDE, *EMA],
    "w64 ema.999 b128": [*WIDE, *EMA, "train.batch_size=128"],
    # the EMA copies G for its first 1,000 steps: a 0.999 average started at step 0 still holds 74 % of the random
    # first weights after 300 steps (measured: FLD 1,049, one class, where G alone is far better)
    "w64 ema.999 start1000 (mnist-dcgan-wide)": [*WIDE, *EMA, "train.ema_start=1000"],
    # stage 2: the objective and D's normalisation
    "w64 ema.999 hinge": [*WIDE, *EMA, "loss.name=hinge"],
    "w64 ema.999 ragan": [*WIDE, *EMA, "loss.name=relativistic-average"],
    "w64 ema.999 noBN-D r1=1/4": [*WIDE, *EMA, *NO_BN_D, *R1],
    "w64 ema.999 hinge SN beta1=0": [*WIDE, *EMA, *NO_BN_D, "loss.name=hinge", "model.spectral_norm=true",
                                     "optim.beta1=0.0", "optim.beta2=0.9"],
    # stage 3: augmentation and the optimiser
    "w64 ema.999 diffaug": [*WIDE, *EMA, *AUG],
    "w64 ema.999 lr4e-4": [*WIDE, *EMA, "optim.lr=4e-4"],
    "w64 ema.999 TTUR 1e-4/4e-4": [*WIDE, *EMA, "optim.G.lr=1e-4", "optim.D.lr=4e-4"],
    "w64 ema.999 linear-decay": [*WIDE, *EMA, "optim.schedule=linear"],
    # stage 4, at mnist-dcgan's widths: its steps are a third of the cost of w64's, which a 5-minute budget favours
    "w32 ema.999 start1000": [*EMA, START],
    "w32 ema.999 start1000 hinge": [*EMA, START, "loss.name=hinge"],
    "w32 ema.999 start1000 diffaug": [*EMA, START, *AUG],
    "w32 ema.999 start1000 noBN-D r1=1/4": [*EMA, START, *NO_BN_D, *R1],
    "w32 ema.999 start1000 lr4e-4": [*EMA, START, "optim.lr=4e-4"],
    "w32 ema.999 start1000 b128": [*EMA, START, "train.batch_size=128"],
    "w48 ema.999 start1000": ["model.g_width=48", "model.d_width=48", *EMA, START],
    # stage 5: mnist-dcgan's own EMA (0.995), which a 0.999 average started at step 1,000 lost to at 2,300 steps
    "w32 hinge": ["loss.name=hinge"],
    "w32 diffaug": AUG,
    "w32 lr4e-4": ["optim.lr=4e-4"],
    "w48": ["model.g_width=48", "model.d_width=48"],
    "w32 b128": ["train.batch_size=128"],
    "w32 noBN-D r1=1/4": [*NO_BN_D, *R1],
    # stage 6: around lr 4e-4, the one change that helped; a second seed of it and of the base says how much of the
    # gap is seed noise
    "w32 seed1": ["train.seed=1"],
    "w32 lr4e-4 seed1": ["optim.lr=4e-4", "train.seed=1"],
    "w32 lr6e-4": ["optim.lr=6e-4"],
    "w32 lr4e-4 b128": ["optim.lr=4e-4", "train.batch_size=128"],
    "w32 lr4e-4 ragan": ["optim.lr=4e-4", "loss.name=relativistic-average"],
    "w32 lr4e-4 beta2=0.99": ["optim.lr=4e-4", "optim.beta2=0.99"],
    "w32 lr6e-4 seed1": ["optim.lr=6e-4", "train.seed=1"],
    "w32 lr8e-4": ["optim.lr=8e-4"],
    # stage 7: the InfoGAN paper's MNIST networks (FC 1024 beside two 4x4 convs) as a plain GAN, no codes: at its
    # 2,000 steps mnist-infogan drew digits at FLD 9-12, which no DCGAN recipe above approached
    "fc-conv lr2e-4": FC_CONV,
    "fc-conv lr6e-4": [*FC_CONV, "optim.lr=6e-4"],
    "fc-conv G1e-3 D2e-4 (mnist-default)": [*FC_CONV, *INFOGAN_LR],
    "fc-conv G1e-3 D2e-4 seed1": [*FC_CONV, *INFOGAN_LR, "train.seed=1"],
    "fc-conv G1e-3 D2e-4 z100": [*FC_CONV[:2], *INFOGAN_LR],
}


def options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--recipes", nargs="*", default=None, help="recipe names to run (default: all)")
    p.add_argument("--budget", type=float, default=90.0, help="training seconds per recipe")
    p.add_argument("--marks", type=int, default=2, help="evaluations per recipe, evenly spaced up to the budget")
    p.add_argument("--n", type=int, default=10000, help="generated images per evaluation")
    p.add_argument("--steps", type=int, default=100000, help="train.steps of every recipe (what a schedule spans)")
    clock_option(p)
    p.add_argument("--list", action="store_true", help="print the recipes and their overrides, run nothing")


@benchmark("recipe_search", help="the default run's recipes at equal training time: lenet-mnist FLD, class KL",
           options=options)
def run(args: argparse.Namespace) -> dict[str, Any]:
    chosen = args.recipes or list(RECIPES)
    unknown = [name for name in chosen if name not in RECIPES]
    if unknown:
        raise SystemExit(f"unknown recipes {unknown}; choose from: {list(RECIPES)}")
    if args.list:
        for name in chosen:
            print(f"{name}: {' '.join(RECIPES[name]) or '(the base preset)'}")
        return {}
    threads = args.threads or 1
    torch.set_num_threads(threads)
    evaluate = lenet_evaluator(args.n)
    marks = [args.budget * (i + 1) / args.marks for i in range(args.marks)]
    results = []
    for name in chosen:
        overrides = [*RECIPES[name], f"train.steps={args.steps}", f"train.threads={threads}"]
        load = os.getloadavg()[0]
        rows = race(preset_contestant(BASE, overrides), marks, evaluate, CLOCKS[args.clock])
        results.append({"recipe": name, "overrides": RECIPES[name], "rows": rows, "load_average_1min": load})
    print_table(f"Recipe search on {BASE}: {args.budget:g} s of training per recipe, {threads} thread(s), "
                f"n = {args.n}",
                ["recipe", *[f"FLD @{m:g}s" for m in marks], "class KL", "classes", "steps", "ms/step", "load"],
                [[r["recipe"], *[row["fid"] for row in r["rows"]], r["rows"][-1]["class_kl"],
                  r["rows"][-1]["modes"], r["rows"][-1]["steps"],
                  1000 * r["rows"][-1]["train_s"] / max(r["rows"][-1]["steps"], 1), r["load_average_1min"]]
                 for r in results])
    result = {"base": BASE, "budget_s": args.budget, "threads": threads, "clock": args.clock, "n": args.n, "steps": args.steps,
              "results": results}
    if not args.no_write:
        write_result("recipe_search", result)
    return result


if __name__ == "__main__":
    main_for("recipe_search")
