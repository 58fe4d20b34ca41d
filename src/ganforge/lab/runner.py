"""Train lab recipes over several seeds; write a sample grid and a JSON table.

Each lab dataset is a `LabKind` in `LAB_DATASETS`: the 2D mixtures here (`ToyTrainer`, a `PhaseLoop` like the image
`Trainer`: the registered algorithm builds its phases from it, so the lab measures exactly the code that trains
images), stacked MNIST in `stacked.py` (the image `Trainer` itself). Runs are independent, so seeds run in parallel
worker processes (one thread each: a lab measures many small runs, not one fast one).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ..config import CONFIG_VERSION, Config, config_from_dict, deep_merge, parse_override
from ..configure import family_of, validate
from ..errors import GanforgeError
from ..families import FAMILIES
from ..presets import Catalogue
from ..registry import Registry
from ..sampling import seeded_inputs
from ..training.loop import NonFiniteLoss, PhaseLoop
from ..utils import atomic_write_bytes, atomic_write_json, ensure_writable_dir, seed_everything
from .recipes import BASE_STEPS, RECIPES
from .scoring import mode_coverage
from .toy import TOY_DATASETS, Mixture

EVAL_SAMPLES = 2500  # the papers' count


def lab_config(recipe: str, overrides: list[str] | None = None, steps: int | None = None,
               recipes: Catalogue = RECIPES, images: bool = False) -> Config:
    """A recipe of `recipes` with the lab's overrides, validated (with the dataset's checks when it trains images)."""
    merged = recipes.layer(recipe)
    for text in overrides or []:
        merged = deep_merge(merged, parse_override(text))
    if steps is not None:
        merged = deep_merge(merged, {"train": {"steps": steps}})
    merged["version"] = CONFIG_VERSION
    config = config_from_dict(merged, family_of(merged).settings)
    validate(config, images=images)
    return config


class ToyTrainer(PhaseLoop):
    """The phase loop on a 2D mixture: real batches are points of the mixture (under the "image" key)."""

    def __init__(self, config: Config, mixture: Mixture, seed: int) -> None:
        self.config, self.mixture = config, mixture
        self.device = torch.device("cpu")
        seed_everything(seed)
        family = FAMILIES.get(config.algorithm.name)
        nets = family.build_networks(config)
        self.batch_size = config.train.batch_size
        self.data_rng = torch.Generator().manual_seed(2 * seed + 1)
        self.noise_rng = torch.Generator().manual_seed(2 * seed + 2)
        self.step, self.skips = 0, {}
        self.total_steps = int(config.train.steps or 1)
        self.assemble(family, nets)

    def next_real_batch(self) -> dict[str, torch.Tensor]:
        return {"image": self.mixture.sample(self.batch_size, self.data_rng)}

    def sample_inputs(self, n: int) -> dict[str, torch.Tensor]:
        return self.generator_inputs.sample(n, self.noise_rng)

    @torch.no_grad()
    def samples(self, n: int = EVAL_SAMPLES, seed: int = 12345) -> torch.Tensor:
        """n samples from G (its EMA when on) for fixed noise, so snapshots over time are comparable."""
        return self.sampling_network()(**seeded_inputs(self.generator_inputs, n, seed))


@dataclass
class RunOutcome:
    recipe: str
    dataset: str
    seed: int
    coverage: Any  # the kind's score (`Coverage` for 2D mixtures), None when the run diverged
    seconds: float
    snapshots: list[tuple[int, list]] = field(default_factory=list)
    failure: str | None = None
    cpu_seconds: float = 0.0  # this worker's CPU time: the run's cost in core-seconds
    steps: int | None = None  # steps trained, where the kind records them


def train_toy(recipe: str, dataset: str, seed: int, steps: int | None = None, overrides: list[str] | None = None,
              snapshots: int = 0) -> RunOutcome:
    """One lab run; `snapshots` > 0 keeps that many sample sets evenly spread over training, for the plot."""
    config = lab_config(recipe, overrides, steps)
    mixture = TOY_DATASETS.get(dataset)
    start, cpu_start = time.perf_counter(), time.process_time()
    trainer = ToyTrainer(config, mixture, seed)
    total = trainer.total_steps
    marks = {round(total * (i + 1) / snapshots) for i in range(snapshots)} if snapshots else set()
    kept: list[tuple[int, list[list[float]]]] = []
    try:
        while trainer.step < total:
            trainer.train_step()
            if trainer.step in marks:
                kept.append((trainer.step, trainer.samples(500).tolist()))
    except NonFiniteLoss as exc:  # a diverged run is a result of the lab, not a crash of it
        return RunOutcome(recipe, dataset, seed, None, time.perf_counter() - start, kept, str(exc),
                          time.process_time() - cpu_start)
    coverage = mode_coverage(trainer.samples(), mixture)
    return RunOutcome(recipe, dataset, seed, coverage, time.perf_counter() - start, kept,
                      cpu_seconds=time.process_time() - cpu_start)


@dataclass
class LabResult:
    table: list[dict[str, Any]]
    json_path: Path
    plot_paths: list[Path]


def mean_and_std(values: list[float], digits: int = 3) -> tuple[float | None, float | None]:
    """Mean and population std over seeds, rounded; None for no value (every run diverged)."""
    if not values:
        return None, None
    tensor = torch.tensor(values, dtype=torch.float64)
    return round(float(tensor.mean()), digits), round(float(tensor.std(unbiased=False)), digits)


def mean_std_cell(row: dict[str, Any], key: str, digits: int) -> str:
    """A table cell "mean ± std" of `key`'s summary over seeds."""
    return f"{row[key + '_mean']:.{digits}f} ± {row[key + '_std']:.{digits}f}"


def _summarise(outcomes: list[RunOutcome]) -> dict[str, Any]:
    ok = [o for o in outcomes if o.coverage is not None]
    first = outcomes[0]
    modes_mean, modes_std = mean_and_std([float(o.coverage.modes) for o in ok])
    hq_mean, hq_std = mean_and_std([100 * o.coverage.high_quality for o in ok])
    return {
        "dataset": first.dataset, "algorithm": first.recipe, "seeds": len(outcomes), "diverged": len(outcomes) - len(ok),
        "total_modes": len(TOY_DATASETS.get(first.dataset).centres),
        "modes_mean": modes_mean, "modes_std": modes_std, "high_quality_pct_mean": hq_mean,
        "high_quality_pct_std": hq_std, "seconds_per_run": round(sum(o.seconds for o in outcomes) / len(outcomes), 1),
        "cpu_seconds_per_run": round(sum(o.cpu_seconds for o in outcomes) / len(outcomes), 1),
        "runs": [{"seed": o.seed, "modes": o.coverage.modes if o.coverage else None,
                  "high_quality_pct": round(100 * o.coverage.high_quality, 2) if o.coverage else None,
                  "per_mode": o.coverage.per_mode if o.coverage else None, "failure": o.failure} for o in outcomes],
    }


def plot_snapshots(dataset: str, outcomes: dict[str, RunOutcome], out: Path) -> Path:
    """Rows: algorithms (seed 0); columns: samples at evenly spaced steps; red crosses mark the mixture's centres."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    mixture = TOY_DATASETS.get(dataset)
    rows = list(outcomes)
    cols = max(len(o.snapshots) for o in outcomes.values())
    fig, axes = plt.subplots(len(rows), cols, figsize=(1.9 * cols, 1.9 * len(rows)), squeeze=False)
    limit = float(mixture.centres.abs().max()) + 1.0
    centres = mixture.centres.numpy()
    steps = {tuple(step for step, _ in o.snapshots) for o in outcomes.values()}
    for r, recipe in enumerate(rows):
        for c in range(cols):
            ax = axes[r][c]
            ax.set_xlim(-limit, limit)
            ax.set_ylim(-limit, limit)
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_aspect("equal")
            snaps = outcomes[recipe].snapshots
            if c < len(snaps):
                step, points = snaps[c]
                xy = torch.tensor(points).clamp(-limit, limit).numpy()
                ax.scatter(xy[:, 0], xy[:, 1], s=1, alpha=0.5, color="tab:blue")
                ax.scatter(centres[:, 0], centres[:, 1], s=12, marker="x", color="tab:red", linewidths=0.8)
                if r == 0 or len(steps) > 1:  # recipes of different lengths: every panel says its step
                    ax.set_title(f"step {step}", fontsize=8)
            if c == 0:
                ax.set_ylabel(recipe, fontsize=8)
    fig.tight_layout()
    path = out / f"{dataset}-samples.png"
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path


@dataclass(frozen=True)
class LabKind:
    """What the lab does for one kind of dataset: its recipes, one run, the summary over seeds, the plot, the table.

    `train(recipe, dataset, seed, steps, overrides, snapshots, out)` is one run in a worker process."""

    recipes: Catalogue
    base_steps: int
    eval_samples: int
    train: Callable[..., RunOutcome]
    check: Callable[[str, list[str] | None, int | None], Config]
    summarise: Callable[[list[RunOutcome]], dict[str, Any]]
    plot: Callable[[str, dict[str, RunOutcome], Path], Path]
    format_table: Callable[[list[dict[str, Any]]], str]


LAB_DATASETS: Registry[LabKind] = Registry("lab dataset")


def run_lab(datasets: list[str], recipes: list[str], seeds: int, out: str | Path, steps: int | None = None,
            overrides: list[str] | None = None, workers: int | None = None, snapshots: int = 6,
            progress: bool = True) -> LabResult:
    """Every (dataset, recipe, seed) run, in parallel; a JSON table (mean/std over seeds) and one PNG per dataset."""
    kinds = {name: LAB_DATASETS.get(name) for name in datasets}
    for kind in kinds.values():
        for name in recipes:
            kind.check(name, overrides, steps)  # refuse bad names or settings before any training starts
    if seeds < 1:
        raise GanforgeError(f"--seeds must be >= 1, got {seeds}")
    out = ensure_writable_dir(out, "lab output folder")
    jobs = [(recipe, dataset, seed, steps, overrides, snapshots if seed == 0 else 0, str(out))
            for dataset in datasets for recipe in recipes for seed in range(seeds)]
    workers = max(1, min(workers or os.cpu_count() or 1, len(jobs)))
    outcomes: list[RunOutcome] = []
    start = time.perf_counter()
    with ProcessPoolExecutor(max_workers=workers) as pool:
        for outcome in pool.map(_run_job, jobs):
            outcomes.append(outcome)
            if progress:
                score = outcome.coverage.describe() if outcome.coverage else f"diverged: {outcome.failure}"
                print(f"  {outcome.dataset} {outcome.recipe} seed {outcome.seed}: {score} "
                      f"({outcome.seconds:.1f}s)", flush=True)
    table = [kinds[d].summarise([o for o in outcomes if o.dataset == d and o.recipe == r])
             for d in datasets for r in recipes]
    plots = [kinds[d].plot(d, {o.recipe: o for o in outcomes if o.dataset == d and o.seed == 0}, out)
             for d in datasets]
    json_path = out / "lab.json"
    atomic_write_json(json_path, {"datasets": datasets, "algorithms": recipes, "seeds": seeds,
                                  "steps": steps or {d: kind.base_steps for d, kind in kinds.items()},
                                  "overrides": overrides or [],
                                  "eval_samples": {d: kind.eval_samples for d, kind in kinds.items()},
                                  "wall_seconds": round(time.perf_counter() - start, 1), "table": table})
    atomic_write_bytes(out / "lab.md", format_lab(table).encode())
    return LabResult(table, json_path, plots)


def format_lab(table: list[dict[str, Any]]) -> str:
    """One table per kind of dataset, in the order the datasets were named."""
    kinds = list(dict.fromkeys(LAB_DATASETS.get(row["dataset"]) for row in table))
    return "\n".join(kind.format_table([row for row in table if LAB_DATASETS.get(row["dataset"]) is kind])
                     for kind in kinds)


def _run_job(job: tuple) -> RunOutcome:
    """A worker process's run, on one thread."""
    torch.set_num_threads(1)
    dataset = job[1]
    return LAB_DATASETS.get(dataset).train(*job)


def _train_toy_job(recipe: str, dataset: str, seed: int, steps: int | None, overrides: list[str] | None,
                   snapshots: int, out: str) -> RunOutcome:
    """A 2D run keeps nothing on disk but the lab's own files."""
    return train_toy(recipe, dataset, seed, steps, overrides, snapshots)


def format_table(table: list[dict[str, Any]]) -> str:
    lines = ["| dataset | algorithm | modes (of total) | high-quality samples % | seeds | s/run |",
             "|---|---|---|---|---|---|"]
    for row in table:
        if row["modes_mean"] is None:
            modes, quality = "diverged", "-"
        else:
            modes = f"{mean_std_cell(row, 'modes', 1)} (of {row['total_modes']})"
            quality = mean_std_cell(row, "high_quality_pct", 1)
        diverged = f" ({row['diverged']} diverged)" if row["diverged"] else ""
        lines.append(f"| {row['dataset']} | {row['algorithm']} | {modes} | {quality} | {row['seeds']}{diverged} | "
                     f"{row['seconds_per_run']} |")
    return "\n".join(lines) + "\n"




TOY_LAB = LabKind(recipes=RECIPES, base_steps=BASE_STEPS, eval_samples=EVAL_SAMPLES, train=_train_toy_job,
                  check=lab_config, summarise=_summarise, plot=plot_snapshots, format_table=format_table)
for _name in TOY_DATASETS.names():
    LAB_DATASETS.add(_name, TOY_LAB, help=TOY_DATASETS.help(_name))
