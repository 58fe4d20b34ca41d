"""Training-state checkpoints: everything needed to continue a run exactly, written atomically, read without pickle.

A checkpoint is one torch file of tensors and plain values, loaded with `weights_only=True`: the config, every
network's weights, optimiser and EMA state keyed by network name (`nets`, `optim`, `ema`), the family's own state
(`algorithm`), the data position, every RNG, and the step. Files are `checkpoints/state-<step>.pt`; the newest
`keep` survive, so a crash while writing (or a corrupt file) leaves the previous good one to resume from.
Checkpoints of the first format (one generator and one discriminator) are read into this layout.
"""

from __future__ import annotations

import io
import json
import random
import re
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .errors import GanforgeError
from .files import show
from .utils import atomic_write_bytes

FORMAT_VERSION = 2
REQUIRED = ("config", "nets", "optim", "ema", "algorithm", "data", "rng", "noise_rng", "step")
SECTIONS = ("nets", "optim", "ema", "algorithm", "data")  # mappings (rng: one per rank, a list)
_NAME = re.compile(r"^state-(\d+)\.pt$")


def capture_rng() -> dict[str, Any]:
    np_state = np.random.get_state()
    py_state = random.getstate()
    state = {
        "torch": torch.get_rng_state(),
        "numpy": {"keys": torch.from_numpy(np_state[1].astype(np.int64)), "pos": int(np_state[2]),
                  "has_gauss": int(np_state[3]), "cached_gaussian": float(np_state[4])},
        "python": {"version": int(py_state[0]), "state": torch.tensor(py_state[1], dtype=torch.int64),
                   "gauss_next": py_state[2]},
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    n = state["numpy"]
    np.random.set_state(("MT19937", n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"],
                         n["cached_gaussian"]))
    p = state["python"]
    random.setstate((p["version"], tuple(int(v) for v in p["state"].tolist()), p["gauss_next"]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def checkpoint_dir(run_dir: str | Path) -> Path:
    return Path(run_dir) / "checkpoints"


def list_checkpoints(run_dir: str | Path) -> list[Path]:
    """Checkpoint files of a run, oldest first."""
    folder = checkpoint_dir(run_dir)
    if not folder.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in folder.iterdir() if (m := _NAME.match(p.name))]
    return [p for _, p in sorted(found)]


def save_checkpoint(run_dir: str | Path, step: int, state: dict[str, Any], keep: int) -> Path:
    path = checkpoint_dir(run_dir) / f"state-{step:08d}.pt"
    buffer = io.BytesIO()
    torch.save({"format_version": FORMAT_VERSION, "step": step, **state}, buffer)
    atomic_write_bytes(path, buffer.getvalue())
    for old in list_checkpoints(run_dir)[:-keep]:
        old.unlink(missing_ok=True)
    return path


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read one checkpoint; a truncated or corrupt file is a one-line error that keeps the file and names a fallback."""
    path = Path(path)
    if not path.is_file():
        raise GanforgeError(f"checkpoint '{show(path)}' does not exist")
    try:
        state = upgrade(torch.load(path, map_location=map_location, weights_only=True))
    except Exception as exc:  # torch raises RuntimeError/EOFError/UnpicklingError for damaged files
        older = [p for p in list_checkpoints(path.parent.parent) if p != path and _step(p) < _step(path)]
        fallback = (f"; the previous checkpoint is '{older[-1]}': resume from it with --checkpoint {older[-1]}"
                    if older else "; no earlier checkpoint exists, so the run must start again")
        reason = str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__
        raise GanforgeError(f"checkpoint '{show(path)}' is damaged ({reason}); it was left in place{fallback}"
                            ) from None
    return state


def upgrade(state: Any) -> dict[str, Any]:
    """A loaded checkpoint in today's layout, or ValueError when it is not a complete ganforge training state."""
    if not isinstance(state, dict) or state.get("format_version") not in (1, FORMAT_VERSION):
        raise ValueError("not a ganforge training state")
    if state["format_version"] == 1:
        state = {**state, "format_version": FORMAT_VERSION, "algorithm": {},
                 "nets": {"G": state.get("generator"), "D": state.get("discriminator")},
                 "optim": {"G": state.get("opt_g"), "D": state.get("opt_d")},
                 "ema": {} if state.get("ema") is None else {"G": state["ema"]}}
    missing = [key for key in REQUIRED if state.get(key) is None]
    if missing:
        raise ValueError(f"the state lacks {', '.join(missing)}")
    problems = [f"'{key}' is {type(state[key]).__name__}, not a mapping" for key in SECTIONS
                if not isinstance(state[key], dict)]
    if not isinstance(state["rng"], (list, dict)) or not state["rng"]:
        problems.append("its RNG state is empty")
    if not isinstance(state["config"], str):
        problems.append("its config is not JSON text")
    if isinstance(state["step"], bool) or not isinstance(state["step"], int) or state["step"] < 0:
        problems.append(f"its step is {state['step']!r}")
    for section in ("nets", "ema"):
        for name, weights in (state[section].items() if isinstance(state[section], dict) else ()):
            if not isinstance(weights, dict) or not all(isinstance(v, torch.Tensor) for v in weights.values()):
                problems.append(f"{section}.{name} is not a set of tensors")
    if problems:
        raise ValueError("; ".join(problems[:3]))
    return state


def tensor_mismatches(expected: dict[str, torch.Tensor], given: dict[str, torch.Tensor]) -> list[str]:
    """How `given` tensors differ from a network's `expected` state: missing, extra, other shapes or dtypes."""
    problems = [f"{k} is missing" for k in expected if k not in given]
    problems += [f"{k} is not part of this network" for k in given if k not in expected]
    for k, v in expected.items():
        if k not in given:
            continue
        if tuple(given[k].shape) != tuple(v.shape):
            problems.append(f"{k} is {tuple(given[k].shape)}, the config builds {tuple(v.shape)}")
        elif given[k].dtype != v.dtype:
            problems.append(f"{k} is {str(given[k].dtype).removeprefix('torch.')}, the network holds "
                            f"{str(v.dtype).removeprefix('torch.')}")
    return problems


def list_problems(problems: list[str]) -> str:
    """The first three problems, and how many more there are."""
    more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
    return "; ".join(problems[:3]) + more


def saved_config(state: dict[str, Any], path: str | Path) -> dict[str, Any]:
    """The config dict a checkpoint was written with, or one line when its JSON is damaged."""
    try:
        data = json.loads(state["config"])
    except (json.JSONDecodeError, RecursionError):
        data = None
    if not isinstance(data, dict):
        raise GanforgeError(f"checkpoint '{show(path)}' holds a config that is not a JSON mapping; it is damaged: "
                            f"resume from an earlier checkpoint with --checkpoint")
    return data


def section(state: dict[str, Any], key: str, name: str, path: str | Path) -> Any:
    """`state[key][name]` (a network's weights or optimiser state), or one line naming what the checkpoint lacks."""
    if name not in state[key]:
        held = ", ".join(map(str, state[key])) or "none"
        raise GanforgeError(f"checkpoint '{show(path)}' has no {key} state for network '{name}' (it holds: {held}); "
                            f"it belongs to another model or is damaged")
    return state[key][name]


def latest_checkpoint(run_dir: str | Path) -> Path:
    found = list_checkpoints(run_dir)
    if not found:
        if not Path(run_dir).is_dir():
            raise GanforgeError(f"run directory '{run_dir}' does not exist; pass a folder under runs/ to --resume")
        raise GanforgeError(f"run directory '{run_dir}' has no checkpoints/state-*.pt to resume from")
    return found[-1]


def _step(path: Path) -> int:
    match = _NAME.match(path.name)
    return int(match.group(1)) if match else -1
