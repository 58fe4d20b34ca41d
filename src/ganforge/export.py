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
from . import limits
from .checkpoints import latest_checkpoint, list_problems, load_checkpoint, saved_config, section, tensor_mismatches
from .errors import GanforgeError
from .files import read_json, run_contents, show
from .families import FAMILIES, restructure, structure_of
from .inputs import GeneratorInputs
from .utils import atomic_write_bytes, atomic_write_json, ensure_writable_dir

WEIGHTS_FILE = "generator.safetensors"
ENCODER_FILE = "encoder.safetensors"  # families with an encoder (MRGAN, BiGAN/ALI, VEEGAN): data -> latent
CONFIG_FILE = "config.json"
EXPORT_FORMAT = "ganforge-generator"
EXPORT_VERSION = 2


def _read_json(path: Path) -> Any:
    return read_json(path, "description", "the folder is damaged")


def check_description(data: Any, path: Path) -> None:
    """The schema of an export's config.json (or a best.json), checked before any model is built from it."""
    def bad(what: str) -> GanforgeError:
        return GanforgeError(f"'{show(path)}' is a damaged ganforge export description ({what}); export the run "
                             f"again")

    if not isinstance(data, dict) or not isinstance(data.get("config"), dict):
        raise GanforgeError(f"'{show(path)}' is a ganforge export description without its config; export the run "
                            f"again")
    version = data.get("version", 1)
    if isinstance(version, bool) or version not in (1, EXPORT_VERSION):
        raise GanforgeError(f"'{show(path)}' is a ganforge export of version {str(version)[:20]}, which this "
                            f"ganforge ({EXPORT_VERSION}) does not read; export the run again with this version")
    for key, kind in (("family", str), ("network", str), ("weights", str), ("inputs", dict), ("image", dict)):
        if key in data and not isinstance(data[key], kind):
            raise bad(f"'{key}' is {type(data[key]).__name__}, not {kind.__name__}")
    if "weights" in data and data["weights"] not in ("ema", "generator"):
        raise bad(f"'weights' is {data['weights'][:20]!r}, not ema or generator")
    if "step" in data and (isinstance(data["step"], bool) or not isinstance(data["step"], int) or data["step"] < 0):
        raise bad(f"'step' is {str(data['step'])[:20]}, not a whole number >= 0")
    for key, value in (data.get("image") or {}).items():
        if key in ("channels", "resolution") and (isinstance(value, bool) or not isinstance(value, int)
                                                  or not 1 <= value <= limits.IMAGE_SIZE.high):
            raise bad(f"image.{key} is {str(value)[:20]}, not in [1, {limits.IMAGE_SIZE.high}]")
    if any(not isinstance(spec, dict) or not isinstance(spec.get("kind"), str)
           for spec in (data.get("inputs") or {}).values()):
        raise bad("'inputs' holds an entry that is not an input declaration")


def _export_config(data: Any, path: Path) -> tuple[Config, dict[str, Any]]:
    check_description(data, path)
    config = load_config(data["config"])
    image = data.get("image") or {}
    built = {"channels": config.model.channels, "resolution": config.model.resolution}
    if any(key in image and image[key] != value for key, value in built.items()):
        raise GanforgeError(f"'{show(path)}' declares {image} images but its config builds {built}; export the run "
                            f"again")
    family = data.get("family")
    if family is not None and family != config.algorithm.name:
        raise GanforgeError(f"'{show(path)}' declares the family '{family[:40]}' but its config trains "
                            f"'{config.algorithm.name}'; export the run again")
    return config, data


def read_config(folder: Path) -> tuple[Config, dict[str, Any]]:
    """The config of a run or export folder, and the export description (empty for a run)."""
    if not folder.is_dir():
        raise GanforgeError(f"'{show(folder)}' does not exist; pass a run folder (runs/...) or an export folder")
    path = folder / CONFIG_FILE
    if not path.is_file():
        raise GanforgeError(f"'{show(folder)}' is not a ganforge run or export (no {CONFIG_FILE}); pass a folder that "
                            f"`ganforge train` or `ganforge export` wrote")
    data = _read_json(path)
    if isinstance(data, dict) and data.get("format") == EXPORT_FORMAT:
        return _export_config(data, path)
    return load_config(data), {}


def _weights_file_config(path: Path) -> tuple[Config, dict[str, Any]]:
    """A lone weights file (e.g. a run's best.safetensors) is described by the JSON next to it (best.json)."""
    meta_path = path.with_suffix(".json")
    if not meta_path.is_file():
        raise GanforgeError(f"'{show(path)}' needs its description '{show(meta_path.name)}' next to it (written with "
                            f"it); pass a run or export folder instead")
    data = _read_json(meta_path)
    if not isinstance(data, dict) or data.get("format") != EXPORT_FORMAT:
        raise GanforgeError(f"'{show(meta_path)}' is not a ganforge generator description; pass a run or export "
                            f"folder")
    return _export_config(data, meta_path)


def read_model_config(path: Path) -> tuple[Config, dict[str, Any]]:
    """The config of a run folder, an export folder or a weights file, and what is known of its weights."""
    if path.is_file() and path.suffix == ".safetensors":
        config, data = _weights_file_config(path)
    else:
        config, data = read_config(path)
    return config, {k: data[k] for k in ("weights", "step") if k in data}


def _latest_state(run_dir: Path) -> tuple[dict[str, Any], type, Path]:
    """A run's latest checkpoint, the family that trained it, and the checkpoint's path (for error messages)."""
    path = latest_checkpoint(run_dir)
    state = load_checkpoint(path)
    return state, FAMILIES.get(load_config(saved_config(state, path)).algorithm.name), path


def _encoder_weights(run_dir: Path, name: str) -> dict[str, torch.Tensor]:
    state, _, path = _latest_state(run_dir)
    return section(state, "nets", name, path)


def sampler_state_from_run(run_dir: Path, use_ema: bool = True
                           ) -> tuple[dict[str, torch.Tensor], int, str, dict[str, int] | None]:
    """The generating network in a run's latest checkpoint: (weights, step, 'ema' or 'generator', its structure
    when it grows)."""
    return _sampler_state(*_latest_state(run_dir), use_ema)


def _sampler_state(state: dict[str, Any], family: type, path: Path,
                   use_ema: bool) -> tuple[dict[str, torch.Tensor], int, str, dict[str, int] | None]:
    name = family.sampler
    structure = state.get("structure", {}).get(name)
    if use_ema and name in state["ema"]:
        return state["ema"][name], state["step"], "ema", structure
    return section(state, "nets", name, path), state["step"], "generator", structure


def _save_weights(path: Path, network: nn.Module) -> None:
    from safetensors.torch import save

    tensors = {k: v.detach().cpu().contiguous() for k, v in network.state_dict().items()}
    atomic_write_bytes(path, save(tensors, metadata={"format": EXPORT_FORMAT}))


def write_generator(weights_path: Path, meta_path: Path, network: nn.Module, config: Config, step: int, kind: str,
                    extra: dict[str, Any] | None = None) -> Path:
    """A generating network as safetensors plus its description (family, declared inputs, config), atomically."""
    _save_weights(weights_path, network)
    family = FAMILIES.get(config.algorithm.name)
    structure = structure_of(network)
    atomic_write_json(meta_path, {
        "format": EXPORT_FORMAT, "version": EXPORT_VERSION, "family": config.algorithm.name,
        "network": family.sampler, "inputs": network.inputs.describe(),
        **({} if structure is None else {"structure": structure}),
        "image": {"channels": config.model.channels, "resolution": config.model.resolution},
        "weights": kind, "step": step, "config": config.to_dict(), **(extra or {})})
    return weights_path


def check_export_target(run_dir: Path, out: Path, overwrite: bool) -> None:
    """An export never lands in a run (the run's own config.json would be replaced) nor over another export,
    unless `overwrite` replaces that export."""
    if out.suffix.lower() in (".safetensors", ".json", ".pt", ".pth", ".ckpt"):
        raise GanforgeError(f"OUT_DIR '{show(out)}' is a folder name (the export writes {WEIGHTS_FILE} and "
                            f"{CONFIG_FILE} into it); drop the {out.suffix} suffix")
    if out.exists() and not out.is_dir():
        raise GanforgeError(f"OUT_DIR '{show(out)}' is a file, not a folder; choose another OUT_DIR")
    if out.resolve() == run_dir.resolve():
        raise GanforgeError(f"OUT_DIR '{show(out)}' is the run itself; export into another folder, e.g. "
                            f"exported/{run_dir.name}")
    held = run_contents(out)
    if not held:
        return
    description = out / CONFIG_FILE
    data = None
    if description.is_file():
        try:
            data = json.loads(description.read_bytes())
        except (ValueError, RecursionError, OSError):
            data = None
    is_export = isinstance(data, dict) and data.get("format") == EXPORT_FORMAT
    if not is_export or (out / "checkpoints").exists():
        raise GanforgeError(f"OUT_DIR '{show(out)}' already holds a run or other files ganforge would replace "
                            f"({held}); export into a new folder")
    if not overwrite:
        step = data.get("step")
        raise GanforgeError(f"OUT_DIR '{show(out)}' already holds an export (step {step}); pass --overwrite to "
                            f"replace it, or choose another OUT_DIR")


def export_run(run_dir: str | Path, out_dir: str | Path, use_ema: bool = True, overwrite: bool = False) -> Path:
    """Write the run's latest generating network (EMA weights when kept) as safetensors + config.json, refusing
    to write into a run or over another export (unless `overwrite`), and its encoder (`encoder.safetensors`) when
    the family has one."""
    run_dir, out = Path(run_dir), Path(out_dir)
    config, description = read_config(run_dir)
    if description:
        raise GanforgeError(f"'{show(run_dir)}' is an export already; pass the run it came from (exports are "
                            f"copied as folders)")
    check_export_target(run_dir, out, overwrite)
    state, family, path = _latest_state(run_dir)
    weights, step, kind, structure = _sampler_state(state, family, path, use_ema)
    network = family.build_sampler(config)
    restructure(network, structure, f"the checkpoint of '{show(run_dir)}'")
    network = _loaded(network, weights, run_dir)
    out = ensure_writable_dir(out_dir)
    extra = {}
    if family.encoder is not None:  # the encoder's raw weights (it has no EMA), beside the generator's
        encoder = _loaded(family.build_encoder(config), section(state, "nets", family.encoder, path), run_dir)
        _save_weights(out / ENCODER_FILE, encoder)
        extra = {"encoder": {"network": family.encoder, "file": ENCODER_FILE}}
    write_generator(out / WEIGHTS_FILE, out / CONFIG_FILE, network, config, step, kind, extra)
    return out


def _loaded(network: nn.Module, weights: dict[str, torch.Tensor], source: Path) -> nn.Module:
    """`network` with `weights`, after checking that every tensor is there with its shape (first mismatches named)."""
    problems = tensor_mismatches(network.state_dict(), weights)
    if problems:
        raise GanforgeError(f"the weights in '{show(source)}' do not match its config.json: "
                            f"{list_problems(problems)}; export the run again")
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
        try:
            declared = GeneratorInputs.from_description(meta["inputs"])
        except (GanforgeError, KeyError, TypeError, ValueError):
            raise GanforgeError(f"'{show(folder)}' declares inputs this ganforge cannot read; export the run again"
                                ) from None
        if declared != network.inputs:
            raise GanforgeError(f"'{folder}' declares the inputs {declared.describe()} but its config builds a "
                                f"generator of {network.inputs.describe()}; export the run again")
    if meta:
        weights_path = folder if single else folder / WEIGHTS_FILE
        if not weights_path.is_file():
            raise GanforgeError(f"'{show(folder)}' has no {WEIGHTS_FILE} beside its {CONFIG_FILE}; export the run "
                                f"again")
        try:
            weights = load_file(str(weights_path))
        except (SafetensorError, OSError, ValueError, RuntimeError, MemoryError) as exc:
            reason = str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__
            raise GanforgeError(f"cannot read '{show(weights_path)}' ({reason}); it is damaged: export the run "
                                f"again") from None
    else:
        weights, _, _, structure = sampler_state_from_run(folder, use_ema)
        restructure(network, structure, f"the checkpoint of '{folder}'")
    network = _loaded(network, weights, folder)
    network.requires_grad_(False)
    return network.to(device if device is not None else "cpu").eval()


def load_encoder(path: str | Path, device: torch.device | str | None = "cpu") -> nn.Module:
    """The encoding network (data -> latent) of a run folder (its latest checkpoint) or an export folder, in eval
    mode; a model whose family has no encoder is a one-line error."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    folder = Path(path)
    if folder.is_file():
        raise GanforgeError(f"'{folder}' is a file; pass the run or export folder of a model with an encoder")
    config, meta = read_config(folder)
    family = FAMILIES.get(config.algorithm.name)
    if family.encoder is None:
        with_encoder = ", ".join(name for name in FAMILIES.names() if FAMILIES.get(name).encoder is not None)
        raise GanforgeError(f"'{folder}' is a {config.algorithm.name} model, which has no encoder; encode with a "
                            f"model of a family that learns one ({with_encoder})")
    if meta:
        weights_path = folder / ENCODER_FILE
        try:
            weights = load_file(str(weights_path))
        except (SafetensorError, OSError, FileNotFoundError) as exc:
            raise GanforgeError(f"cannot read '{weights_path}' ({exc}); export the run again") from None
    else:
        weights = _encoder_weights(folder, family.encoder)
    network = _loaded(family.build_encoder(config), weights, folder)
    network.requires_grad_(False)
    return network.to(device if device is not None else "cpu").eval()
