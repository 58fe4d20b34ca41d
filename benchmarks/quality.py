"""Time to quality: Frechet LeNet Distance against training wall-clock, ganforge presets against the textbook loop.

What users feel is not seconds per step but how good the digits are after a minute or five. Each contestant trains
on the 5,000 built-in digits, and at each wall-clock mark (default 30 s, 1, 2, 5 minutes of *training*) the clock is
paused, the sampling network (ganforge's EMA generator; the textbook's G, which keeps no EMA) is evaluated (lenet-mnist
FLD and the class histogram of `--n` samples against the 5,000 digits, the `ganforge eval` metrics), and the clock
resumes: evaluation time is excluded, so a slow evaluation cannot make a contestant look slow.

Contestants: ganforge presets (`--presets`, default: the default preset and `mnist-r3gan`; a name the catalogue does
not hold is skipped with a printed line) and `textbook`, the pytorch/examples DCGAN loop of benchmarks/textbook.py
(nz 100, ngf = ndf = 64, BCE, Adam 2e-4 (0.5, 0.999), a DataLoader over PIL images). pytorch/examples has no 28x28
DCGAN, so the textbook runs its 32x32 variant on the digits resized to 32 by its own transform (Resize(32)), and its
images are resized back to 28 (antialiased bilinear) for LeNet. Contestants run one after another, each on
`--threads` threads (default 1), so each has the machine's cores to itself as far as other jobs allow (the JSON keeps
the load average).

The training clock (`--clock`) is by default this process's CPU time, not the wall: on one thread it is the
wall-clock the contestant would take on a core of its own, and on this shared machine (other jobs come and go) the
wall would measure the neighbours as much as the contestant, differently for each one. `--clock wall` is there for
a quiet machine.

    python -m benchmarks.quality [--presets mnist-recipe mnist-r3gan] [--marks 30 60 120 300] [--n 10000]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.common import (DOCS_DIR, RESULTS_DIR, benchmark, ganforge_trainer, main_for, print_table, timestamp,
                               write_result)

TEXTBOOK = "textbook"
DEFAULT_MARKS = (30.0, 60.0, 120.0, 300.0)
# the training clock: "cpu" is this process's CPU time (threads together), which on one thread is the wall-clock the
# run would take on an idle core; "wall" is wall-clock, which on a shared machine also measures the neighbours' jobs
CLOCKS: dict[str, Callable[[], float]] = {"cpu": time.process_time, "wall": time.perf_counter}


@dataclass
class Contestant:
    """One training procedure seen from outside: advance it by one step, or hand over what would generate samples."""

    name: str
    step: Callable[[], None]
    snapshot: Callable[[], nn.Module]  # a generator with `.inputs` (ganforge's declaration), as `ganforge eval` reads
    max_steps: int | None = None  # a preset stops at its train.steps; later marks evaluate its final weights
    finish: Callable[[Path], None] | None = None  # leave what it trained in a folder (a run `ganforge eval` reads)


Evaluate = Callable[[nn.Module], dict[str, Any]]


def lenet_evaluator(n: int, seed: int = 1, overrides: Sequence[str] = ()) -> Evaluate:
    """FLD + class histogram of n seeded samples against the 5,000 digits: the evaluation the trainer runs during
    training (`TrainingEvaluator`), with eval.n = n and the `modes` metric added; `overrides` set the real set's
    data settings (32x32 contestants: data.resize=true, model.resolution=32)."""
    from ganforge.configure import build_config
    from ganforge.metrics.evaluate import TrainingEvaluator
    from ganforge.presets import DEFAULT_PRESET
    from ganforge.utils import resolve_device

    config = build_config(DEFAULT_PRESET, overrides=[f"eval.n={n}", "eval.metrics=[fid,modes]",
                                                     f"train.seed={seed - 1}", *overrides])
    evaluator = TrainingEvaluator(config, resolve_device(config.train.device))
    return lambda generator: evaluator(generator)


def race(contestant: Contestant, marks: Sequence[float], evaluate: Evaluate,
         clock: Callable[[], float] = time.perf_counter,
         on_mark: Callable[[dict[str, Any]], None] | None = None) -> list[dict[str, Any]]:
    """Train until each mark of training time, evaluating at each with the clock paused; one row per mark.

    `train_s` is the training time actually spent when the mark was reached (the step that crosses a mark ends
    past it); `eval_s` is the evaluation's own time, which the training clock never sees. `on_mark(row)` runs in
    the same pause (to save what a long run has measured so far).
    """
    rows: list[dict[str, Any]] = []
    trained, steps = 0.0, 0
    for mark in sorted(marks):
        start = clock()
        while trained + (clock() - start) < mark and (contestant.max_steps is None or steps < contestant.max_steps):
            contestant.step()
            steps += 1
        trained += clock() - start  # the clock stops here ...
        paused = clock()
        values = evaluate(contestant.snapshot())
        eval_s = clock() - paused
        rows.append({"contestant": contestant.name, "mark_s": mark, "train_s": round(trained, 3), "steps": steps,
                     "fid": values.get("fid"), "class_kl": values.get("class_kl"), "modes": values.get("modes"),
                     "eval_s": round(eval_s, 3)})
        if on_mark is not None:
            on_mark(rows[-1])  # ... and the clock restarts at the next mark's `start`
        print(f"{contestant.name}: {mark:g} s -> {steps} steps, FLD {values.get('fid', float('nan')):.2f}, "
              f"KL {values.get('class_kl', float('nan')):.3f}, {values.get('modes')} classes "
              f"(evaluation {eval_s:.1f} s, not counted)", flush=True)
    return rows


# ------------------------------------------------------------------------------------------------ contestants
def preset_contestant(preset: str, overrides: Sequence[str] = ()) -> Contestant:
    """ganforge's Trainer for a preset, driven step by step (its evaluation during training is off)."""
    trainer = ganforge_trainer(preset, overrides)

    def finish(folder: Path) -> None:
        """The run as `ganforge train` leaves it at this step: config, last sample grid, checkpoint."""
        import shutil

        trainer.save_samples()
        trainer.save_checkpoint()
        shutil.copytree(trainer.run_dir, folder, dirs_exist_ok=True)

    return Contestant(preset, lambda: trainer.train_step(), trainer.sampling_network, trainer.total_steps, finish)


class ResizedGenerator(nn.Module):
    """The textbook's G seen as a ganforge generator: the declared latent input, images resized to the digits' 28."""

    def __init__(self, generator: nn.Module, latent_dim: int, size: int) -> None:
        super().__init__()
        from ganforge.inputs import latent_only

        self.generator, self.latent_dim, self.size = generator, latent_dim, size
        self.inputs = latent_only(latent_dim)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        images = self.generator(z.view(z.shape[0], self.latent_dim, 1, 1))
        return F.interpolate(images, size=(self.size, self.size), mode="bilinear", antialias=True, align_corners=False)


def textbook_contestant(ngf: int = 64, ndf: int = 64, image_size: int = 32, seed: int = 0) -> Contestant:
    """The pytorch/examples DCGAN loop on the built-in digits, at its 32x32 size (see the module's docstring)."""
    from benchmarks.textbook import TextbookDCGAN, images_hwc
    from ganforge.data import load_dataset

    digits = load_dataset("mnist-5k").images
    loop = TextbookDCGAN(images_hwc(digits), image_size, batch_size=64, ngf=ngf, ndf=ndf, seed=seed)
    view = ResizedGenerator(loop.netG, loop.nz, digits.shape[-1])
    return Contestant(TEXTBOOK, lambda: loop.run(1), lambda: view)


def known_presets(names: Sequence[str]) -> list[str]:
    """The names the preset catalogue holds; each other one is skipped with a printed line (e.g. a preset another
    branch adds, before it is merged)."""
    from ganforge.presets import PRESETS

    kept = []
    for name in names:
        if name in PRESETS.entries:
            kept.append(name)
        else:
            print(f"skipping preset '{name}': not in this checkout's presets", flush=True)
    return kept


# ------------------------------------------------------------------------------------------------ the benchmark
def merged_rows(paths: Sequence[Path], running: set[str]) -> list[dict[str, Any]]:
    """Rows of earlier runs for contestants not run now (the textbook measured once, a preset added later); each
    keeps a `from` naming its file."""
    rows: list[dict[str, Any]] = []
    for path in paths:
        earlier = json.loads(Path(path).read_text())
        rows += [{**row, "from": str(path)} for row in earlier["rows"] if row["contestant"] not in running]
    return rows


def first_reaching(rows: list[dict[str, Any]], target: float) -> float | None:
    """Training seconds at the first mark whose FLD is at or below `target` (None: never within the marks)."""
    for row in rows:
        if row["fid"] is not None and row["fid"] <= target:
            return row["train_s"]
    return None


def summarise(rows: list[dict[str, Any]], reference: str = TEXTBOOK) -> dict[str, Any]:
    """For each contestant, when it first reached the reference's FLD at the reference's last mark."""
    ref_rows = [r for r in rows if r["contestant"] == reference]
    if not ref_rows:
        return {}
    target, target_s = ref_rows[-1]["fid"], ref_rows[-1]["train_s"]
    out: dict[str, Any] = {"reference": reference, "reference_fid": target, "reference_s": target_s}
    for name in dict.fromkeys(r["contestant"] for r in rows):
        if name == reference:
            continue
        reached = first_reaching([r for r in rows if r["contestant"] == name], target)
        out[name] = {"reached_s": reached, "fraction_of_reference": None if reached is None else reached / target_s}
    return out


def plot(rows: list[dict[str, Any]], path: Path, clock: str = "cpu") -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    for name in dict.fromkeys(r["contestant"] for r in rows):
        mine = [r for r in rows if r["contestant"] == name]
        ax.plot([r["train_s"] / 60 for r in mine], [r["fid"] for r in mine], marker="o", label=name)
    what = "CPU time, one thread" if clock == "cpu" else "wall-clock"
    ax.set_xlabel(f"training {what}, minutes (evaluation excluded)")
    ax.set_ylabel("lenet-mnist FLD (lower is better)")
    ax.set_yscale("log")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    ax.set_title("quality per CPU-minute (5,000 MNIST digits)")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    print(f"wrote {path}", flush=True)


def clock_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--clock", choices=sorted(CLOCKS), default="cpu",
                   help="training clock: cpu = this process's CPU time (on 1 thread, an idle core's wall-clock), wall")


def options(p: argparse.ArgumentParser) -> None:
    from ganforge.presets import DEFAULT_PRESET

    p.add_argument("--presets", nargs="*", default=[DEFAULT_PRESET, "mnist-r3gan"],
                   help="ganforge presets to race (unknown ones are skipped with a line)")
    p.add_argument("--no-textbook", action="store_true", help="leave out the pytorch/examples loop")
    p.add_argument("--marks", type=float, nargs="+", default=list(DEFAULT_MARKS),
                   help="training seconds at which to evaluate")
    p.add_argument("--n", type=int, default=10000, help="generated images per evaluation")
    p.add_argument("--set", dest="overrides", action="append", default=[],
                   help="a config override for every preset contestant (e.g. model.g_width=8 in tests)")
    p.add_argument("--eval-set", dest="eval_overrides", action="append", default=[],
                   help="KEY=VALUE for the real set of the evaluation, e.g. data.resize=true and model.resolution=32 "
                        "for 32x32 contestants (repeatable)")
    p.add_argument("--textbook-width", type=int, default=64, help="the textbook's ngf = ndf (64 as in the examples)")
    p.add_argument("--keep-runs", type=Path, default=None,
                   help="leave each preset's run (config, samples, checkpoint) in DIR/<preset> for ganforge eval/sample")
    p.add_argument("--merge", type=Path, action="append", default=[],
                   help="an earlier quality JSON whose contestants not run now join the table and plot")
    clock_option(p)
    p.add_argument("--plot", type=Path, default=DOCS_DIR / "quality-per-minute.png")


@benchmark("quality", help="Frechet LeNet Distance against training wall-clock: presets vs the textbook DCGAN loop",
           options=options)
def run(args: argparse.Namespace) -> dict[str, Any]:
    threads = args.threads or 1
    torch.set_num_threads(threads)
    overrides = [f"train.threads={threads}", *args.overrides]
    evaluate = lenet_evaluator(args.n, overrides=args.eval_overrides)
    builders: list[Callable[[], Contestant]] = [
        (lambda name=name: preset_contestant(name, overrides)) for name in known_presets(args.presets)]
    if not args.no_textbook:
        builders.append(lambda: textbook_contestant(args.textbook_width, args.textbook_width))
    rows: list[dict[str, Any]] = []
    load_before = os.getloadavg()
    partial = None if args.no_write else RESULTS_DIR / f"quality-{timestamp()}.partial.json"
    for build in builders:
        contestant, so_far = build(), []

        def on_mark(row: dict[str, Any], contestant: Contestant = contestant, so_far: list = so_far) -> None:
            """Keep what is measured so far (a long run on a busy machine may be stopped before its end)."""
            so_far.append(row)
            if args.keep_runs is not None and contestant.finish is not None:
                contestant.finish(args.keep_runs / contestant.name)
            if partial is not None:
                partial.parent.mkdir(parents=True, exist_ok=True)
                partial.write_text(json.dumps({"rows": [*rows, *so_far], "partial": True}, indent=2) + "\n")

        rows += race(contestant, args.marks, evaluate, CLOCKS[args.clock], on_mark)
    rows += merged_rows(args.merge, {r["contestant"] for r in rows})
    print_table(f"Time to quality ({threads} thread(s) per contestant, evaluation excluded; n = {args.n})",
                ["contestant", "mark s", "train s", "steps", "FLD", "class KL", "classes"],
                [[r["contestant"], r["mark_s"], r["train_s"], r["steps"], r["fid"], r["class_kl"], r["modes"]]
                 for r in rows])
    summary = summarise(rows)
    for name, value in summary.items():
        if isinstance(value, dict):
            reached = value["reached_s"]
            print(f"{name}: reaches the textbook's {summary['reference_fid']:.1f} at "
                  + ("never within the marks" if reached is None
                     else f"{reached:.0f} s ({value['fraction_of_reference']:.2f} of its {summary['reference_s']:.0f} s)"),
                  flush=True)
    result = {"threads": threads, "clock": args.clock, "n": args.n, "marks": args.marks, "overrides": args.overrides, "rows": rows,
              "summary": summary, "load_average_before": load_before, "load_average_after": os.getloadavg()}
    if not args.no_write:
        write_result("quality", result)
        plot(rows, args.plot, args.clock)
        if partial is not None and partial.exists():
            partial.unlink()
    return result


if __name__ == "__main__":
    main_for("quality")
