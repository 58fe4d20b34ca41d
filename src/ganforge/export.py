"""Exported generators, as diffusers stores models: `generator.safetensors` + `config.json`, loaded with no pickle."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .config import Config, config_from_dict
from .errors import GanforgeError
from .utils import atomic_write_bytes, atomic_write_json, ensure_writable_dir

WEIGHTS_FILE = "generator.safetensors"
CONFIG_FILE = "config.json"
EXPORT_FORMAT = "ganforge-generator"


def read_config(folder: Path) -> tuple[Config, dict[str, Any]]:
    """The config of a run or export folder, and the export metadata (empty for a run)."""
    if not folder.is_dir():
        raise GanforgeError(f"'{folder}' does not exist; pass a run folder (runs/...) or an export folder")
    path = folder / CONFIG_FILE
    if not path.is_file():
        raise GanforgeError(f"'{folder}' is not a ganforge run or export (no {CONFIG_FILE}); pass a folder that "
                            f"`ganforge train` or `ganforge export` wrote")
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise GanforgeError(f"'{path}' is not valid JSON; the folder is damaged") from None
    if data.get("format") == EXPORT_FORMAT:
        return config_from_dict(data["config"]), data
    return config_from_dict(data), {}


def generator_state_from_run(run_dir: Path, use_ema: bool = True) -> tuple[dict[str, torch.Tensor], int, str]:
    from .training.checkpoint import latest_checkpoint, load_checkpoint

    state = load_checkpoint(latest_checkpoint(run_dir))
    if use_ema and state.get("ema") is not None:
        return state["ema"], state["step"], "ema"
    return state["generator"], state["step"], "generator"


def export_run(run_dir: str | Path, out_dir: str | Path, use_ema: bool = True) -> Path:
    """Write the run's latest generator (EMA weights when kept) as safetensors + config.json."""
    from safetensors.torch import save

    run_dir = Path(run_dir)
    config, _ = read_config(run_dir)
    weights, step, kind = generator_state_from_run(run_dir, use_ema)
    out = ensure_writable_dir(out_dir)
    tensors = {k: v.contiguous() for k, v in weights.items()}
    atomic_write_bytes(out / WEIGHTS_FILE, save(tensors, metadata={"format": EXPORT_FORMAT}))
    atomic_write_json(out / CONFIG_FILE, {"format": EXPORT_FORMAT, "version": 1, "weights": kind, "step": step,
                                          "config": config.to_dict()})
    return out


def load_generator(path: str | Path, device: torch.device | str | None = "cpu", use_ema: bool = True) -> nn.Module:
    """Rebuild a generator from an export folder or a run folder (its latest checkpoint), in eval mode."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from .models import build_generator

    folder = Path(path)
    config, meta = read_config(folder)
    generator = build_generator(config.model)
    if meta:
        try:
            weights = load_file(str(folder / WEIGHTS_FILE))
        except (SafetensorError, OSError, FileNotFoundError) as exc:
            raise GanforgeError(f"cannot read '{folder / WEIGHTS_FILE}' ({exc}); export the run again") from None
    else:
        weights, _, _ = generator_state_from_run(folder, use_ema)
    try:
        generator.load_state_dict(weights)
    except RuntimeError as exc:
        first = str(exc).splitlines()[0]
        raise GanforgeError(f"weights in '{folder}' do not match its config.json ({first})") from None
    generator.requires_grad_(False)
    return generator.to(device if device is not None else "cpu").eval()
