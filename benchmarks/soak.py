"""Kill-and-resume soak: train, SIGKILL at random moments (during checkpoint writes too) N times, resume each time.

Asserts what `--resume` promises: after N kills the final weights (every network, every EMA) equal an
uninterrupted run's bit for bit, and no checkpoint left on disk is ever unreadable (writes are atomic: a kill
mid-write leaves the previous file and a stray temp file, never half a checkpoint). Checkpoints are written every
`--checkpoint-every` steps (default 2), so many kills land inside a write.

    python -m benchmarks.soak [--kills 20] [--steps 400] [--quick]
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.common import benchmark, main_for, print_table, write_result

PRESET = "digits-mlp"


def options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--kills", type=int, default=20, help="SIGKILLs before the run may finish (default 20)")
    p.add_argument("--steps", type=int, default=400, help="training steps of the run (default 400)")
    p.add_argument("--checkpoint-every", type=int, default=2, help="steps between checkpoints (default 2)")
    p.add_argument("--seed", type=int, default=0, help="seed of the kill times")


def train_args(steps: int, every: int) -> list[str]:
    sets = [f"train.steps={steps}", f"train.checkpoint_every={every}", "train.sample_every=100000",
            "train.log_every=10", "train.keep_checkpoints=2", "eval.every=0"]
    return ["train", PRESET, *[a for s in sets for a in ("--set", s)], "--quiet"]


def ganforge(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "ganforge", *args], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)


def readable(run: Path) -> tuple[int, int]:
    """(checkpoints on disk, unreadable ones): every file must load completely."""
    from ganforge.checkpoints import list_checkpoints, load_checkpoint
    from ganforge.errors import GanforgeError

    found = list_checkpoints(run)
    bad = 0
    for path in found:
        try:
            load_checkpoint(path)
        except GanforgeError:
            bad += 1
    return len(found), bad


def final_weights(run: Path) -> dict[str, Any]:
    from ganforge.checkpoints import list_checkpoints, load_checkpoint

    state = load_checkpoint(list_checkpoints(run)[-1])
    return {"step": state["step"], "nets": state["nets"], "ema": state["ema"]}


def same(a: dict[str, Any], b: dict[str, Any]) -> bool:
    import torch

    if a["step"] != b["step"]:
        return False
    return all(torch.equal(a[kind][net][k], b[kind][net][k]) for kind in ("nets", "ema") for net in a[kind]
               for k in a[kind][net])


@benchmark("soak", help="SIGKILL a run N times at random moments and resume it: same final weights, no unreadable "
                        "checkpoint", options=options)
def run(args: argparse.Namespace) -> dict[str, Any]:
    kills, steps = (3, 60) if args.quick else (args.kills, args.steps)
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory(prefix="ganforge-soak-") as tmp:
        reference, soaked = Path(tmp) / "reference", Path(tmp) / "soaked"
        start = time.perf_counter()
        done = ganforge(*train_args(steps, args.checkpoint_every), "--out", str(reference))
        if done.wait() != 0:
            raise SystemExit(f"the reference run failed: {done.stderr.read()}")
        seconds = time.perf_counter() - start
        log, killed, unreadable, attempts = [], 0, 0, 0
        while True:
            attempts += 1
            first = not soaked.exists()
            command = train_args(steps, args.checkpoint_every) + ["--out", str(soaked)] if first else \
                ["train", "--resume", str(soaked), "--quiet"]
            proc = ganforge(*command)
            if killed < kills:
                time.sleep(rng.uniform(0.3, max(0.5, seconds * 0.6)))  # start-up is ~half of a short run
                if proc.poll() is None:
                    os.kill(proc.pid, signal.SIGKILL)
                    killed += 1
            code = proc.wait()
            on_disk, bad = readable(soaked)
            unreadable += bad
            log.append({"attempt": attempts, "killed": code == -signal.SIGKILL, "exit": code,
                        "checkpoints": on_disk, "unreadable": bad})
            if code == 0:
                break
            if code != -signal.SIGKILL:
                raise SystemExit(f"attempt {attempts} failed with exit code {code}: {proc.stderr.read().strip()}")
            if on_disk == 0:  # killed before its first checkpoint: nothing to resume, so the run starts again
                shutil.rmtree(soaked, ignore_errors=True)
        equal = same(final_weights(reference), final_weights(soaked))
    rows = [[kills, killed, attempts, unreadable, "yes" if equal else "NO"]]
    print_table(f"kill-and-resume soak: {PRESET}, {steps} steps, a checkpoint every {args.checkpoint_every}",
                ["kills asked", "kills done", "processes", "unreadable checkpoints", "final weights equal"], rows)
    result = {"preset": PRESET, "steps": steps, "checkpoint_every": args.checkpoint_every, "kills": killed,
              "processes": attempts, "unreadable_checkpoints": unreadable, "final_weights_equal": equal,
              "attempts": log}
    if not args.no_write:
        write_result("soak", result)
    if not equal or unreadable:
        raise SystemExit("soak failed: the resumed run differs or a checkpoint was unreadable")
    return result


if __name__ == "__main__":
    main_for("soak")
