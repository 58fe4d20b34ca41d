"""What every benchmark shares: the registry, machine facts, the machine's matmul limit, interleaved timing, tables
and JSON results.

Why interleaved: this machine is shared and its speed drifts by tens of percent over minutes. Timing case A ten
times and then case B ten times measures the drift as much as the code; running A, B, A, B, ... and comparing each
repetition's pair cancels most of it, so every comparison here is reported as a paired ratio with its spread.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import torch

from ganforge.registry import Registry

RESULTS_DIR = Path(__file__).resolve().parent / "results"
DOCS_DIR = Path(__file__).resolve().parent.parent / "docs"
REPO_DIR = Path(__file__).resolve().parent.parent

# name -> Benchmark; `python -m benchmarks` runs them all. A module registers its run function with
# @benchmark("name", help=..., options=add_its_options) and is found by importing every module of this package.
@dataclass
class Benchmark:
    run: Callable[[argparse.Namespace], dict[str, Any]]
    options: Callable[[argparse.ArgumentParser], None] | None = None


BENCHMARKS: Registry[Benchmark] = Registry("benchmark")
RunFunction = Callable[[argparse.Namespace], dict[str, Any]]


def benchmark(name: str, help: str, options: Callable[[argparse.ArgumentParser], None] | None = None
              ) -> Callable[[RunFunction], RunFunction]:
    """Register the decorated `run(args) -> result dict` as benchmark `name` (with its own command-line options)."""

    def add(run: RunFunction) -> RunFunction:
        BENCHMARKS.add(name, Benchmark(run, options), help=help)
        return run

    return add


# ------------------------------------------------------------------------------------------------ command line
def parser(name: str) -> argparse.ArgumentParser:
    """The options every benchmark understands, plus the ones benchmark `name` adds."""
    p = argparse.ArgumentParser(prog=f"python -m benchmarks.{name}", description=BENCHMARKS.help(name))
    p.add_argument("--quick", action="store_true", help="a short smoke run: fewer and shorter repetitions")
    p.add_argument("--reps", type=int, default=None, help="interleaved repetitions per case")
    p.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's choice)")
    p.add_argument("--no-write", action="store_true", help="print the table only, write no JSON/PNG")
    options = BENCHMARKS.get(name).options
    if options is not None:
        options(p)
    return p


def main_for(name: str, argv: Sequence[str] | None = None) -> dict[str, Any]:
    """`python -m benchmarks.<name>`: parse the options and run the registered benchmark."""
    args = parser(name).parse_args(argv)
    apply_threads(args.threads)
    return BENCHMARKS.get(name).run(args)


def apply_threads(threads: int | None) -> None:
    if threads is not None:
        torch.set_num_threads(threads)


def reps(args: argparse.Namespace, full: int, quick: int) -> int:
    return args.reps if args.reps is not None else (quick if args.quick else full)


# ------------------------------------------------------------------------------------------------ the machine
def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def git_commit() -> str:
    """HEAD's hash, with '+dirty' when the working tree has uncommitted changes (the numbers may not be HEAD's)."""
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO_DIR, capture_output=True, text=True,
                              timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO_DIR,
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return (head or "unknown") + ("+dirty" if dirty else "")


def machine_info() -> dict[str, Any]:
    """The facts a reader needs to compare these numbers with their own."""
    info: dict[str, Any] = {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "interop_threads": torch.get_num_interop_threads(),
        "python": platform.python_version(),
        "git_commit": git_commit(),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "mkldnn": torch.backends.mkldnn.is_available(),
        "load_average": os.getloadavg(),  # other jobs on a shared machine: > cores means contended
    }
    return info


def matmul_gflops(n: int = 1024, seconds: float = 1.0, dtype: torch.dtype = torch.float32,
                  device: str | torch.device = "cpu") -> float:
    """The machine's practical float32 limit: the best GFLOP/s of an n x n matmul over about `seconds`.

    Why a matmul: it is the densest kernel the BLAS has, so it is the ceiling that convolutions (which the
    backend lowers to matmul-like kernels) can approach but not beat.
    """
    a = torch.randn(n, n, dtype=dtype, device=device)
    b = torch.randn(n, n, dtype=dtype, device=device)
    out = torch.empty(n, n, dtype=dtype, device=device)
    for _ in range(3):
        torch.mm(a, b, out=out)
    best = float("inf")
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        start = time.perf_counter()
        torch.mm(a, b, out=out)
        synchronize(device)
        best = min(best, time.perf_counter() - start)
    return 2 * n**3 / best / 1e9


def matmul_probe(threads: int | None = None, seconds: float = 0.2) -> Callable[[], float]:
    """A short matmul GFLOP/s reading at `threads` (default: the current count), for interleave_quiet."""
    threads = threads or torch.get_num_threads()

    def probe() -> float:
        current = torch.get_num_threads()
        torch.set_num_threads(threads)
        try:
            return matmul_gflops(1024, seconds=seconds)
        finally:
            torch.set_num_threads(current)

    return probe


def synchronize(device: str | torch.device) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


# ------------------------------------------------------------------------------------------------ timing
@dataclass
class Stats:
    """Median and spread of repeated measurements (seconds, or any positive quantity)."""

    values: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    @property
    def low(self) -> float:
        return min(self.values)

    @property
    def high(self) -> float:
        return max(self.values)

    @property
    def spread(self) -> float:
        """(max - min) / median: how much the repetitions disagree."""
        return (self.high - self.low) / self.median if self.median else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"median": self.median, "min": self.low, "max": self.high, "spread": self.spread,
                "values": self.values}


def interleave(cases: dict[str, Callable[[], Any]], reps: int, warmup: int = 1) -> dict[str, Stats]:
    """Run every case once per repetition, in turn (A B C A B C ...), and collect the seconds each one took.

    A case either returns the seconds it measured itself as a float (to leave set-up out of the timing) or
    anything else, in which case its whole call is timed. The order of the cases rotates every repetition so
    that none always runs right after the same neighbour.
    """
    names = list(cases)
    for _ in range(warmup):
        for name in names:
            cases[name]()
    times: dict[str, list[float]] = {name: [] for name in names}
    for rep in range(reps):
        shift = rep % len(names)
        for name in names[shift:] + names[:shift]:
            start = time.perf_counter()
            measured = cases[name]()
            elapsed = time.perf_counter() - start
            times[name].append(measured if isinstance(measured, float) else elapsed)
    return {name: Stats(values) for name, values in times.items()}


@dataclass
class QuietTimings:
    """interleave_quiet's answer: the kept rounds' times per case, the probe's readings, and what was dropped."""

    stats: dict[str, Stats]
    probe: Stats  # the probe's readings around the kept rounds (e.g. matmul GFLOP/s)
    rounds: int  # rounds run
    kept: int  # rounds kept (all of them when too few were quiet: see `contended`)
    contended: bool  # True when fewer than 2 rounds were quiet and every round was kept

    def to_dict(self) -> dict[str, Any]:
        return {"probe": self.probe, "rounds": self.rounds, "kept": self.kept, "contended": self.contended}


def interleave_quiet(cases: dict[str, Callable[[], Any]], reps: int, probe: Callable[[], float], keep: float = 0.8,
                     max_rounds: int | None = None, warmup: int = 1) -> QuietTimings:
    """Like `interleave`, but each round is bracketed by a probe (a higher reading = a faster machine) and only
    rounds whose probes both reach `keep` x the best reading of the run are kept.

    Why: on a shared machine other jobs come and go; with 2 busy threads on 2 cores, a round that overlaps a
    neighbour's job can run several times slower, and slower for some cases than for others (small kernels
    suffer most from a descheduled OpenMP thread). Rounds are run until `reps` of them are quiet, or
    `max_rounds` (default 3 x reps) have run.
    """
    names = list(cases)
    for _ in range(warmup):
        for name in names:
            cases[name]()
    max_rounds = max_rounds or 3 * reps
    rounds: list[tuple[float, float, dict[str, float]]] = []
    before = probe()
    while len(rounds) < max_rounds:
        shift = len(rounds) % len(names)
        times: dict[str, float] = {}
        for name in names[shift:] + names[:shift]:
            start = time.perf_counter()
            measured = cases[name]()
            elapsed = time.perf_counter() - start
            times[name] = measured if isinstance(measured, float) else elapsed
        after = probe()
        rounds.append((before, after, times))
        before = after
        best = max(max(b, a) for b, a, _ in rounds)
        if sum(min(b, a) >= keep * best for b, a, _ in rounds) >= reps:
            break
    best = max(max(b, a) for b, a, _ in rounds)
    quiet = [r for r in rounds if min(r[0], r[1]) >= keep * best]
    contended = len(quiet) < 2
    chosen = rounds if contended else quiet[-reps:]
    stats = {name: Stats([r[2][name] for r in chosen]) for name in names}
    readings = Stats([value for r in chosen for value in r[:2]])
    return QuietTimings(stats, readings, len(rounds), len(chosen), contended)


def paired_ratio(slow: Stats, fast: Stats) -> Stats:
    """Per-repetition ratios slow/fast (the speed-up of `fast`): pairs measured back to back share the noise."""
    return Stats([s / f for s, f in zip(slow.values, fast.values)])


# ------------------------------------------------------------------------------------------------ output
def print_table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A plain text table (also valid Markdown), printed and returned."""
    cells = [[_fmt(v) for v in row] for row in rows]
    widths = [max(len(str(c)), *(len(r[i]) for r in cells)) if cells else len(str(c))
              for i, c in enumerate(columns)]
    lines = [f"## {title}", "| " + " | ".join(str(c).ljust(w) for c, w in zip(columns, widths)) + " |",
             "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    lines += ["| " + " | ".join(c.ljust(w) for c, w in zip(row, widths)) + " |" for row in cells]
    text = "\n".join(lines)
    print(text, flush=True)
    return text


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        if value == 0 or abs(value) >= 100:
            return f"{value:,.0f}"
        if abs(value) >= 10:
            return f"{value:.1f}"
        return f"{value:.3g}" if abs(value) < 1 else f"{value:.2f}"
    return str(value)


def timestamp() -> str:
    return datetime.now().strftime("%Y%m%d-%H%M%S")


def write_result(name: str, result: dict[str, Any], directory: str | Path | None = None) -> Path:
    """benchmarks/results/<name>-<timestamp>.json with the machine facts added; returns the path."""
    folder = Path(directory) if directory is not None else RESULTS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}-{timestamp()}.json"
    payload = {"benchmark": name, "time": datetime.now().isoformat(timespec="seconds"), "machine": machine_info(),
               **result}
    path.write_text(json.dumps(payload, indent=2, default=_json_default) + "\n")
    print(f"wrote {path.relative_to(REPO_DIR) if path.is_relative_to(REPO_DIR) else path}", flush=True)
    return path


def _json_default(value: Any) -> Any:
    if isinstance(value, (Stats, QuietTimings)):
        return value.to_dict()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, torch.device):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} to JSON")


# ------------------------------------------------------------------------------------------------ shared set-ups
_RUN_DIRS: list[Any] = []


def ganforge_trainer(preset: str, overrides: Sequence[str] = ()) -> Any:
    """ganforge's real Trainer for `preset` + overrides, writing its run files to a temporary folder.

    Evaluation during training is off (a benchmark times `train_step`, which never runs it)."""
    import tempfile

    from ganforge.configure import build_config
    from ganforge.training.trainer import Trainer

    folder = tempfile.TemporaryDirectory(prefix="ganforge-bench-")
    _RUN_DIRS.append(folder)  # removed when the process ends
    config = build_config(preset, overrides=["eval.every=0", *overrides])
    return Trainer(config, Path(folder.name) / "run", progress=False, quiet=True)


def train_run(preset: str, overrides: Sequence[str], out: str | Path) -> dict[str, Any]:
    """Train `preset` + overrides to its end with the real Trainer (evaluation off) into run folder `out`, as
    `ganforge train` would; the folder and the training's wall-clock and CPU seconds (this process's)."""
    from ganforge.configure import build_config
    from ganforge.training.trainer import Trainer

    config = build_config(preset, overrides=["eval.every=0", *overrides])
    cpu = time.process_time()
    result = Trainer(config, Path(out), progress=False, quiet=True).fit()
    return {"run": Path(result.run_dir), "steps": result.steps, "train_s": round(result.seconds, 1),
            "train_cpu_s": round(time.process_time() - cpu, 1)}


def count_flops(fn: Callable[[], Any]) -> float:
    """FLOPs of the matmuls and convolutions (forward and backward) that one call of fn runs, counted by torch."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        fn()
    return float(counter.get_total_flops())


def synthetic_colour_images(n: int = 5000, size: int = 32, seed: int = 0) -> torch.Tensor:
    """A CIFAR-sized uint8 set (N, 3, size, size) of smooth random colour fields plus grain.

    No CIFAR-10 is on this machine (and benchmarks never download), so the colour case trains on these; the
    content does not change the cost of a dense training step.
    """
    rng = torch.Generator().manual_seed(seed)
    coarse = torch.rand(n, 3, 4, 4, generator=rng)
    fields = torch.nn.functional.interpolate(coarse, size=(size, size), mode="bilinear", align_corners=False)
    grain = 0.1 * torch.randn(n, 3, size, size, generator=rng)
    return ((fields + grain).clamp(0, 1) * 255).round().to(torch.uint8)


SYNTHETIC_COLOUR = "bench-colour32"


def register_synthetic_colour() -> str:
    """Make the synthetic colour set loadable by name through ganforge's own dataset registry (idempotent)."""
    from ganforge.data import DATASETS, ImageSet

    if SYNTHETIC_COLOUR not in DATASETS:
        DATASETS.add(SYNTHETIC_COLOUR, lambda data_dir, download: ImageSet(SYNTHETIC_COLOUR,
                                                                           synthetic_colour_images()),
                     help="benchmarks only: 5,000 synthetic 32x32 RGB images (no CIFAR-10 on disk)")
    return SYNTHETIC_COLOUR
