"""Stacked MNIST in the lab: 1,000 modes (digit triples in the R, G, B channels), counted as the papers count them.

Each run is an ordinary image run (`Trainer`, the same phase loop, data stream and checkpoints as `ganforge train`)
on `stacked-mnist`, written to `<out>/runs/<recipe>-seed<k>/`, so `ganforge eval` and `ganforge sample` work on it;
its mode count is written there too (`stacked-modes.json`) as soon as the run ends.
After training, `eval.n` samples (26,000 in the recipes: PacGAN Table 2's protocol; VEEGAN Table 2 uses 25,600) of
the sampling network (its EMA when on) are classified channel by channel with `lenet-mnist` (the `stacked-modes`
metric): modes covered and KL(mode histogram || uniform).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ..config import Config
from ..metrics.evaluate import generated_batches
from ..metrics.extractors import ExtractorOptions, build_extractor
from ..metrics.stacked import STACKED_MODES, stacked_mode_histogram, stacked_mode_scores
from ..presets import Catalogue
from ..training.loop import NonFiniteLoss
from ..utils import atomic_write_json
from .runner import LAB_DATASETS, LabKind, RunOutcome, lab_config, mean_and_std, mean_std_cell

STACKED_RECIPES = Catalogue(Path(__file__).resolve().parent / "recipes" / "stacked", "*.yaml",
                            "stacked-MNIST lab algorithm")
STACKED_BASE_STEPS = int(STACKED_RECIPES.layer("_base")["train"]["steps"])
EVAL_SAMPLES = int(STACKED_RECIPES.layer("_base")["eval"]["n"])
EVAL_SEED = 12345  # the same noise for every run, as the 2D lab's snapshots
GRID_SAMPLES = 16  # samples per recipe in the lab's grid (seed 0)

# (algorithm, modes, KL, source): the rows the papers report, set beside ours in the table
PUBLISHED = (("DCGAN", 99.0, 3.40, "VEEGAN Table 2"), ("ALI", 16.0, 5.40, "VEEGAN Table 2"),
             ("Unrolled GAN", 48.7, 4.32, "VEEGAN Table 2"), ("VEEGAN", 150.0, 2.95, "VEEGAN Table 2"),
             ("PacDCGAN2", 1000.0, 0.06, "PacGAN Table 2"))


@dataclass
class StackedCoverage:
    modes: int  # digit triples generated at least once
    total_modes: int
    kl: float  # KL(mode histogram || uniform over the 1,000 triples), nats
    counts: list[int]

    def describe(self) -> str:
        return f"{self.modes}/{self.total_modes} modes, KL {self.kl:.3f}"


def stacked_config(recipe: str, overrides: list[str] | None = None, steps: int | None = None) -> Config:
    """A stacked-MNIST recipe with the lab's overrides, validated as an image run."""
    return lab_config(recipe, overrides, steps, STACKED_RECIPES, images=True)


def train_stacked(recipe: str, dataset: str, seed: int, steps: int | None, overrides: list[str] | None,
                  snapshots: int, out: str) -> RunOutcome:
    """One run through the image trainer, then the mode count of eval.n samples; `snapshots` > 0 keeps a few
    samples for the lab's grid."""
    from ..training.trainer import Trainer

    config = stacked_config(recipe, [*(overrides or []), f"train.seed={seed}"], steps)
    start, cpu_start = time.perf_counter(), time.process_time()
    trainer = Trainer(config, Path(out) / "runs" / f"{recipe}-seed{seed}", progress=False, quiet=True,
                      overwrite=True)
    try:
        trainer.fit()
    except NonFiniteLoss as exc:  # a diverged run is a result of the lab, not a crash of it
        return RunOutcome(recipe, dataset, seed, None, time.perf_counter() - start, [], str(exc),
                          time.process_time() - cpu_start, config.train.steps)
    classifier = build_extractor("lenet-mnist", ExtractorOptions(device=str(trainer.device)))
    images = torch.cat(list(generated_batches(trainer.sampling_network(), config.eval.n, EVAL_SEED, trainer.device)))
    scores = stacked_mode_scores(stacked_mode_histogram(images, classifier))
    atomic_write_json(trainer.run_dir / "stacked-modes.json", {"n": config.eval.n, "seed": EVAL_SEED, **scores})
    coverage = StackedCoverage(scores["stacked_modes"], STACKED_MODES, scores["stacked_kl"], scores["stacked_counts"])
    kept = [(trainer.step, images[:GRID_SAMPLES].tolist())] if snapshots else []
    return RunOutcome(recipe, dataset, seed, coverage, time.perf_counter() - start, kept,
                      cpu_seconds=time.process_time() - cpu_start, steps=trainer.step)


def summarise(outcomes: list[RunOutcome]) -> dict[str, Any]:
    ok = [o for o in outcomes if o.coverage is not None]
    first = outcomes[0]
    modes_mean, modes_std = mean_and_std([float(o.coverage.modes) for o in ok])
    kl_mean, kl_std = mean_and_std([o.coverage.kl for o in ok], digits=4)
    return {
        "dataset": first.dataset, "algorithm": first.recipe, "seeds": len(outcomes),
        "diverged": len(outcomes) - len(ok),
        "total_modes": STACKED_MODES, "steps": first.steps,
        "eval_samples": sum(ok[0].coverage.counts) if ok else None,
        "modes_mean": modes_mean, "modes_std": modes_std, "kl_mean": kl_mean, "kl_std": kl_std,
        "all_modes_seeds": sum(o.coverage.modes == STACKED_MODES for o in ok),
        "seconds_per_run": round(sum(o.seconds for o in outcomes) / len(outcomes), 1),
        "cpu_seconds_per_run": round(sum(o.cpu_seconds for o in outcomes) / len(outcomes), 1),
        "runs": [{"seed": o.seed, "modes": o.coverage.modes if o.coverage else None,
                  "kl": round(o.coverage.kl, 4) if o.coverage else None,
                  "counts": o.coverage.counts if o.coverage else None, "failure": o.failure} for o in outcomes],
        "published": [{"algorithm": name, "modes": modes, "kl": kl, "source": source}
                      for name, modes, kl, source in PUBLISHED],
    }


def plot(dataset: str, outcomes: dict[str, RunOutcome], out: Path) -> Path:
    """One row per recipe (seed 0): its first samples of the evaluation noise, as RGB images."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = list(outcomes)
    fig, axes = plt.subplots(len(rows), 1, figsize=(GRID_SAMPLES * 0.6, 0.75 * len(rows)), squeeze=False)
    for ax, recipe in zip(axes[:, 0], rows):
        snaps = outcomes[recipe].snapshots
        if snaps:
            step, samples = snaps[-1]
            strip = torch.tensor(samples, dtype=torch.uint8).permute(2, 0, 3, 1).reshape(28, -1, 3)
            ax.imshow(strip.numpy(), interpolation="nearest")
            ax.set_title(f"{recipe}, step {step}", fontsize=7, loc="left")
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    path = out / f"{dataset}-samples.png"
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def format_table(table: list[dict[str, Any]]) -> str:
    """Our rows (mean ± std over seeds) and, below them, the published ones."""
    lines = ["| dataset | algorithm | modes (of 1,000) | KL to uniform | seeds with all 1,000 | seeds | steps | "
             "s/run |",
             "|---|---|---|---|---|---|---|---|"]
    for row in table:
        if row["modes_mean"] is None:
            modes, kl = "diverged", "-"
        else:
            modes, kl = mean_std_cell(row, "modes", 1), mean_std_cell(row, "kl", 3)
        diverged = f" ({row['diverged']} diverged)" if row["diverged"] else ""
        lines.append(f"| {row['dataset']} | {row['algorithm']} | {modes} | {kl} | {row['all_modes_seeds']} | "
                     f"{row['seeds']}{diverged} | {row['steps']} | {row['seconds_per_run']} |")
    for name, modes, kl, source in PUBLISHED:
        lines.append(f"| stacked MNIST ({source}) | {name} | {modes:g} | {kl:.2f} | | | | |")
    return "\n".join(lines) + "\n"


STACKED_LAB = LabKind(recipes=STACKED_RECIPES, base_steps=STACKED_BASE_STEPS, eval_samples=EVAL_SAMPLES,
                      train=train_stacked, check=stacked_config, summarise=summarise, plot=plot,
                      format_table=format_table)
LAB_DATASETS.add("stacked-mnist", STACKED_LAB,
                 help="stacked MNIST: 3 digits as R, G, B, 1,000 modes (image recipes)")
