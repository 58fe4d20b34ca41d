"""Exported generators, as diffusers stores models: `generator.safetensors` + `config.json`, loaded with no pickle.

config.json (format version 2) says what a reader needs without building anything: the family, which of its
networks generates (`network`), the inputs it declares (`inputs`: latent, class, codes), the image it makes, the
weights' origin (EMA or raw, step) and the full training config. `load_generator` rebuilds that network from the
config, checks its declaration and every tensor's shape against the files, and returns it ready to call with the
declared inputs. Exports of version 1 (an unconditional G, before families) load the same way.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .config import Config
from .configure import load_config
from .errors import GanforgeError
from .families import FAMILIES, restructure, structure_of
from .inputs import GeneratorInputs
from .utils import atomic_write_bytes, atomic_write_json, ensure_writable_dir

WEIGHTS_FILE = "generator.safetensors"
CONFIG_FILE = "config.json"
EXPORT_FORMAT = "ganforge-generator"
EXPORT_VERSION = 2


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise GanforgeError(f"'{path}' is not valid JSON; the folder is damaged") from None


def _export_config(data: Any, path: Path) -> tuple[Config, dict[str, Any]]:
    if not isinstance(data, dict) or not isinstance(data.get("config"), dict):
        raise GanforgeError(f"'{path}' is a ganforge export description without its config; export the run again")
    return load_config(data["config"]), data


def read_config(folder: Path) -> tuple[Config, dict[str, Any]]:
    """The config of a run or export folder, and the export description (empty for a run)."""
    if not folder.is_dir():
        raise GanforgeError(f"'{folder}' does not exist; pass a run folder (runs/...) or an export folder")
    path = folder / CONFIG_FILE
    if not path.is_file():
        raise GanforgeError(f"'{folder}' is not a ganforge run or export (no {CONFIG_FILE}); pass a folder that "
                            f"`ganforge train` or `ganforge export` wrote")
    data = _read_json(path)
    if isinstance(data, dict) and data.get("format") == EXPORT_FORMAT:
        return _export_config(data, path)
    return load_config(data), {}


def _weights_file_config(path: Path) -> tuple[Config, dict[str, Any]]:
    """A lone weights file (e.g. a run's best.safetensors) is described by the JSON next to it (best.json)."""
    meta_path = path.with_suffix(".json")
    if not meta_path.is_file():
        raise GanforgeError(f"'{path}' needs its description '{meta_path.name}' next to it (written with it); pass a "
                            f"run or export folder instead")
    data = _read_json(meta_path)
    if not isinstance(data, dict) or data.get("format") != EXPORT_FORMAT:
        raise GanforgeError(f"'{meta_path}' is not a ganforge generator description; pass a run or export folder")
    return _export_config(data, meta_path)


def read_model_config(path: Path) -> tuple[Config, dict[str, Any]]:
    """The config of a run folder, an export folder or a weights file, and what is known of its weights."""
    if path.is_file() and path.suffix == ".safetensors":
        config, data = _weights_file_config(path)
    else:
        config, data = read_config(path)
    return config, {k: data[k] for k in ("weights", "step") if k in data}


def sampler_state_from_run(run_dir: Path, use_ema: bool = True
                           ) -> tuple[dict[str, torch.Tensor], int, str, dict[str, int] | None]:
    """The generating network in a run's latest checkpoint: (weights, step, 'ema' or 'generator', its structure
    when it grows)."""
    from .checkpoints import latest_checkpoint, load_checkpoint

    state = load_checkpoint(latest_checkpoint(run_dir))
    name = FAMILIES.get(load_config(json.loads(state["config"])).algorithm.name).sampler
    structure = state.get("structure", {}).get(name)
    if use_ema and name in state["ema"]:
        return state["ema"][name], state["step"], "ema", structure
    return state["nets"][name], state["step"], "generator", structure


def write_generator(weights_path: Path, meta_path: Path, network: nn.Module, config: Config, step: int, kind: str,
                    extra: dict[str, Any] | None = None) -> Path:
    """A generating network as safetensors plus its description (family, declared inputs, config), atomically."""
    from safetensors.torch import save

    tensors = {k: v.detach().cpu().contiguous() for k, v in network.state_dict().items()}
    atomic_write_bytes(weights_path, save(tensors, metadata={"format": EXPORT_FORMAT}))
    family = FAMILIES.get(config.algorithm.name)
    structure = structure_of(network)
    atomic_write_json(meta_path, {
        "format": EXPORT_FORMAT, "version": EXPORT_VERSION, "family": config.algorithm.name,
        "network": family.sampler, "inputs": network.inputs.describe(),
        **({} if structure is None else {"structure": structure}),
        "image": {"channels": config.model.channels, "resolution": config.model.resolution},
        "weights": kind, "step": step, "config": config.to_dict(), **(extra or {})})
    return weights_path


def export_run(run_dir: str | Path, out_dir: str | Path, use_ema: bool = True) -> Path:
    """Write the run's latest generating network (EMA weights when kept) as safetensors + config.json."""
    run_dir = Path(run_dir)
    config, _ = read_config(run_dir)
    weights, step, kind, structure = sampler_state_from_run(run_dir, use_ema)
    network = FAMILIES.get(config.algorithm.name).build_sampler(config)
    restructure(network, structure, f"the checkpoint of '{run_dir}'")
    network = _loaded(network, weights, run_dir)
    out = ensure_writable_dir(out_dir)
    write_generator(out / WEIGHTS_FILE, out / CONFIG_FILE, network, config, step, kind)
    return out


def _loaded(network: nn.Module, weights: dict[str, torch.Tensor], source: Path) -> nn.Module:
    """`network` with `weights`, after checking that every tensor is there with its shape (first mismatches named)."""
    expected = network.state_dict()
    problems = [f"{k} is missing" for k in expected if k not in weights]
    problems += [f"{k} is not part of this network" for k in weights if k not in expected]
    problems += [f"{k} is {tuple(weights[k].shape)}, the config builds {tuple(v.shape)}" for k, v in expected.items()
                 if k in weights and tuple(weights[k].shape) != tuple(v.shape)]
    if problems:
        raise GanforgeError(f"the weights in '{source}' do not match its config.json: {'; '.join(problems[:3])}"
                            f"{f' (and {len(problems) - 3} more)' if len(problems) > 3 else ''}; export the run again")
    network.load_state_dict(weights)
    return network


def load_generator(path: str | Path, device: torch.device | str | None = "cpu", use_ema: bool = True) -> nn.Module:
    """Rebuild the generating network from an export folder, a run folder (its latest checkpoint) or a weights file
    with its JSON beside it (a run's best.safetensors), in eval mode; call it with its declared `inputs`."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    folder = Path(path)
    single = folder.is_file() and folder.suffix == ".safetensors"
    config, meta = _weights_file_config(folder) if single else read_config(folder)
    network = FAMILIES.get(config.algorithm.name).build_sampler(config)
    if "structure" in meta:  # a grown network (ProGAN's stage): rebuilt to that shape before its weights load
        if not isinstance(meta["structure"], dict):
            raise GanforgeError(f"'{folder}' records a malformed structure {meta['structure']!r}; export the run again")
        restructure(network, meta["structure"], f"'{folder}'")
    if "inputs" in meta:
        declared = GeneratorInputs.from_description(meta["inputs"])
        if declared != network.inputs:
            raise GanforgeError(f"'{folder}' declares the inputs {declared.describe()} but its config builds a "
                                f"generator of {network.inputs.describe()}; export the run again")
    if meta:
        weights_path = folder if single else folder / WEIGHTS_FILE
        try:
            weights = load_file(str(weights_path))
        except (SafetensorError, OSError, FileNotFoundError) as exc:
            raise GanforgeError(f"cannot read '{weights_path}' ({exc}); export the run again") from None
    else:
        weights, _, _, structure = sampler_state_from_run(folder, use_ema)
        restructure(network, structure, f"the checkpoint of '{folder}'")
    network = _loaded(network, weights, folder)
    network.requires_grad_(False)
    return network.to(device if device is not None else "cpu").eval()
