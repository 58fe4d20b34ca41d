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


def write_generator(weights_path: Path, meta_path: Path, weights: dict[str, torch.Tensor], config: Config,
                    step: int, kind: str, extra: dict[str, Any] | None = None) -> Path:
    """Generator weights as safetensors plus their export-format JSON (config, step, which weights), atomically."""
    from safetensors.torch import save

    tensors = {k: v.detach().cpu().contiguous() for k, v in weights.items()}
    atomic_write_bytes(weights_path, save(tensors, metadata={"format": EXPORT_FORMAT}))
    atomic_write_json(meta_path, {"format": EXPORT_FORMAT, "version": 1, "weights": kind, "step": step,
                                  "config": config.to_dict(), **(extra or {})})
    return weights_path


def export_run(run_dir: str | Path, out_dir: str | Path, use_ema: bool = True) -> Path:
    """Write the run's latest generator (EMA weights when kept) as safetensors + config.json."""
    run_dir = Path(run_dir)
    config, _ = read_config(run_dir)
    weights, step, kind = generator_state_from_run(run_dir, use_ema)
    out = ensure_writable_dir(out_dir)
    write_generator(out / WEIGHTS_FILE, out / CONFIG_FILE, weights, config, step, kind)
    return out


def _weights_file_config(path: Path) -> tuple[Config, dict[str, Any]]:
    """A lone weights file (e.g. a run's best.safetensors) is described by the JSON next to it (best.json)."""
    meta_path = path.with_suffix(".json")
    try:
        data = json.loads(meta_path.read_text())
    except (OSError, json.JSONDecodeError, UnicodeDecodeError):
        raise GanforgeError(f"'{path}' needs its description '{meta_path.name}' next to it (written with it); pass a "
                            f"run or export folder instead") from None
    if data.get("format") != EXPORT_FORMAT:
        raise GanforgeError(f"'{meta_path}' is not a ganforge generator description; pass a run or export folder")
    return config_from_dict(data["config"]), data


def read_model_config(path: Path) -> tuple[Config, dict[str, Any]]:
    """The config of a run folder, an export folder or a weights file, and what is known of its weights."""
    if path.is_file() and path.suffix == ".safetensors":
        config, data = _weights_file_config(path)
    else:
        config, data = read_config(path)
    return config, {k: data[k] for k in ("weights", "step") if k in data}


def load_generator(path: str | Path, device: torch.device | str | None = "cpu", use_ema: bool = True) -> nn.Module:
    """Rebuild a generator from an export folder, a run folder (its latest checkpoint) or a weights file with its
    JSON beside it (a run's best.safetensors), in eval mode."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from .models import build_generator

    folder = Path(path)
    single = folder.is_file() and folder.suffix == ".safetensors"
    config, meta = _weights_file_config(folder) if single else read_config(folder)
    generator = build_generator(config.model)
    if meta:
        weights_path = folder if single else folder / WEIGHTS_FILE
        try:
            weights = load_file(str(weights_path))
        except (SafetensorError, OSError, FileNotFoundError) as exc:
            raise GanforgeError(f"cannot read '{weights_path}' ({exc}); export the run again") from None
    else:
        weights, _, _ = generator_state_from_run(folder, use_ema)
    try:
        generator.load_state_dict(weights)
    except RuntimeError as exc:
        first = str(exc).splitlines()[0]
        raise GanforgeError(f"weights in '{folder}' do not match its config.json ({first})") from None
    generator.requires_grad_(False)
    return generator.to(device if device is not None else "cpu").eval()
