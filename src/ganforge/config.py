"""Typed, validated run configuration.

A config is built in layers: dataclass defaults, then a named preset, then a YAML file (`--config`), then
`--set section.key=value` overrides. Every layer goes through `config_from_dict`, which rejects unknown keys and
wrongly typed values with one line naming the key, and `validate`, which checks names against the registries and
values against their allowed ranges.
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .errors import GanforgeError


@dataclass
class DataConfig:
    dataset: str = "mnist-5k"
    data_dir: str = "data"
    download: bool = False
    resize: bool = False  # resize a dataset whose resolution differs from the model's, once, at load time


@dataclass
class ModelConfig:
    generator: str = "dcgan"
    discriminator: str = "dcgan"
    latent_dim: int = 100
    resolution: int = 28
    channels: int = 1
    g_width: int = 64
    d_width: int = 64
    init: str = "dcgan"


@dataclass
class LossConfig:
    name: str = "non-saturating"
    label_smoothing: float = 0.0  # one-sided: D's target for real images is 1 - label_smoothing


@dataclass
class OptimizerConfig:
    name: str = "adam"
    lr_g: float = 2e-4
    lr_d: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    weight_decay: float = 0.0


@dataclass
class AlgorithmConfig:
    name: str = "gan"
    d_steps: int = 1
    g_steps: int = 1
    reuse_fakes: bool = True  # phase G scores the fakes phase D drew (as pytorch/examples); False draws fresh noise


@dataclass
class TrainConfig:
    steps: int | None = None  # generator updates; derived from epochs when unset
    epochs: float | None = None
    batch_size: int = 64
    seed: int = 0
    device: str = "auto"
    ema: bool = True
    ema_decay: float = 0.999
    log_every: int = 10
    sample_every: int = 500
    checkpoint_every: int = 500
    keep_checkpoints: int = 2
    num_samples: int = 64
    backend: str = "auto"  # multi-process only: gloo on CPU, nccl on CUDA
    sync_batchnorm: bool = False  # multi-process only: BatchNorm statistics over the global batch
    dist_timeout: float = 300.0  # seconds to wait for every rank at the rendezvous and at each collective


@dataclass
class Config:
    preset: str = ""
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    optim: OptimizerConfig = field(default_factory=OptimizerConfig)
    algorithm: AlgorithmConfig = field(default_factory=AlgorithmConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# --------------------------------------------------------------------------------------------------- presets
PRESETS: dict[str, tuple[str, dict[str, Any]]] = {
    "mnist-dcgan": (
        "DCGAN on the built-in 5,000 MNIST digits (the default; about 2 minutes on 2 CPU cores)",
        {
            "model": {"generator": "dcgan", "discriminator": "dcgan", "resolution": 28, "channels": 1,
                      "g_width": 32, "d_width": 32, "latent_dim": 100},
            "train": {"steps": 4000, "batch_size": 64, "ema": True, "ema_decay": 0.995,
                      "sample_every": 500, "checkpoint_every": 500},
        },
    ),
    "mnist-mlp": (
        "the course's MLP GAN: 100-256-512-784 G, 784-512-256-1 D, BCE-with-logits, Adam 2e-4, batch 64",
        {
            "model": {"generator": "mlp", "discriminator": "mlp", "resolution": 28, "channels": 1,
                      "latent_dim": 100, "init": "default"},
            "optim": {"beta1": 0.9, "beta2": 0.999},
            "train": {"epochs": 50, "batch_size": 64, "ema": False, "sample_every": 500,
                      "checkpoint_every": 500},
        },
    ),
    "mnist-mlp-relu": (
        "the course's first-day MLP GAN: Linear+ReLU generator, Linear+LeakyReLU discriminator",
        {
            "model": {"generator": "mlp-relu", "discriminator": "mlp-relu", "resolution": 28, "channels": 1,
                      "latent_dim": 100, "init": "default"},
            "optim": {"beta1": 0.9, "beta2": 0.999},
            "train": {"epochs": 50, "batch_size": 64, "ema": False},
        },
    ),
    "digits-mlp": (
        "the MLP GAN on scikit-learn's 1,797 8x8 digits (seconds on a CPU)",
        {
            "data": {"dataset": "digits"},
            "model": {"generator": "mlp", "discriminator": "mlp", "resolution": 8, "channels": 1,
                      "latent_dim": 100, "init": "default"},
            "optim": {"beta1": 0.9, "beta2": 0.999},
            "train": {"epochs": 100, "batch_size": 64, "ema": False, "sample_every": 500},
        },
    ),
    "cifar10-dcgan": (
        "DCGAN 32x32 RGB on CIFAR-10 (needs --download once; a GPU is advised)",
        {
            "data": {"dataset": "cifar10"},
            "model": {"generator": "dcgan", "discriminator": "dcgan", "resolution": 32, "channels": 3,
                      "g_width": 64, "d_width": 64},
            "train": {"epochs": 30, "batch_size": 128, "ema": True, "ema_decay": 0.999,
                      "sample_every": 1000, "checkpoint_every": 1000},
        },
    ),
}

DEFAULT_PRESET = "mnist-dcgan"


def preset_names() -> list[str]:
    return sorted(PRESETS)


def preset_dict(name: str) -> dict[str, Any]:
    if name not in PRESETS:
        close = difflib.get_close_matches(name, PRESETS, n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        raise GanforgeError(f"unknown preset '{name}'{hint}; `ganforge presets` lists them: {', '.join(preset_names())}")
    data = copy.deepcopy(PRESETS[name][1])
    data["preset"] = name
    return data


# --------------------------------------------------------------------------------------------------- building
def deep_merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def parse_override(text: str) -> dict[str, Any]:
    """'train.steps=100' -> {'train': {'steps': 100}}; the value is read as YAML (numbers, booleans, lists)."""
    if "=" not in text:
        raise GanforgeError(f"--set '{text}' needs the form section.key=value, e.g. --set train.steps=100")
    key, raw = text.split("=", 1)
    parts = key.strip().split(".")
    if not all(parts):
        raise GanforgeError(f"--set '{text}' has an empty key part; use section.key=value")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    nested: dict[str, Any] = {parts[-1]: value}
    for part in reversed(parts[:-1]):
        nested = {part: nested}
    return nested


def load_yaml(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise GanforgeError(f"config file '{path}' does not exist; pass the path of a YAML file to --config")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise GanforgeError(f"config file '{path}' is not valid YAML{where}; fix the syntax") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise GanforgeError(f"config file '{path}' must hold a mapping of sections (data:, model:, train:, ...)")
    return data


def build_config(
    preset: str | None = None,
    config_file: str | Path | None = None,
    overrides: list[str] | None = None,
    base: dict[str, Any] | None = None,
) -> Config:
    """Layer defaults, preset, YAML file and --set overrides into a validated Config."""
    layers: list[dict[str, Any]] = []
    file_data = load_yaml(config_file) if config_file else {}
    override_data: dict[str, Any] = {}
    for text in overrides or []:
        override_data = deep_merge(override_data, parse_override(text))
    if base is not None:
        layers.append(base)
    else:
        name = preset or file_data.get("preset") or override_data.get("preset") or DEFAULT_PRESET
        layers.append(preset_dict(str(name)))
    layers += [file_data, override_data]
    merged: dict[str, Any] = {}
    for layer in layers:
        merged = deep_merge(merged, layer)
    config = config_from_dict(merged)
    validate(config)
    return config


def config_from_dict(data: dict[str, Any]) -> Config:
    return _build(Config, data, "")


def _build(cls: type, data: Any, prefix: str) -> Any:
    if not isinstance(data, dict):
        raise GanforgeError(f"config section '{prefix.rstrip('.') or 'root'}' must be a mapping, got {data!r}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    kwargs = {}
    for key, value in data.items():
        if key not in names:
            close = difflib.get_close_matches(str(key), names, n=1)
            hint = f" (did you mean '{prefix}{close[0]}'?)" if close else ""
            raise GanforgeError(f"unknown config key '{prefix}{key}'{hint}; allowed keys: "
                                f"{', '.join(prefix + n for n in names)}")
        kwargs[key] = _coerce(hints[key], value, f"{prefix}{key}")
    return cls(**kwargs)


def _coerce(hint: Any, value: Any, key: str) -> Any:
    if dataclasses.is_dataclass(hint):
        return _build(hint, value, key + ".")
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(hint)
        if value is None and type(None) in options:
            return None
        errors = []
        for option in options:
            if option is type(None):
                continue
            try:
                return _coerce(option, value, key)
            except GanforgeError as exc:
                errors.append(str(exc))
        raise GanforgeError(errors[0] if errors else f"config key '{key}' has an invalid value {value!r}")
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            if isinstance(value, str):
                value = [v.strip() for v in value.split(",") if v.strip()]
            else:
                raise GanforgeError(f"config key '{key}' must be a list, got {value!r}")
        (item,) = typing.get_args(hint)[:1] or (Any,)
        return origin(_coerce(item, v, key) for v in value)
    if origin is dict:
        if not isinstance(value, dict):
            raise GanforgeError(f"config key '{key}' must be a mapping, got {value!r}")
        return dict(value)
    if hint is Any:
        return value
    if hint is bool:
        if isinstance(value, bool):
            return value
        raise GanforgeError(f"config key '{key}' must be true or false, got {value!r}")
    if hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise GanforgeError(f"config key '{key}' must be a whole number, got {value!r}")
    if hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
        raise GanforgeError(f"config key '{key}' must be a number, got {value!r}")
    if hint is str:
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            return str(value)
        raise GanforgeError(f"config key '{key}' must be text, got {value!r}")
    return value


# --------------------------------------------------------------------------------------------------- validation
def _require(condition: bool, message: str) -> None:
    if not condition:
        raise GanforgeError(message)


def validate(config: Config) -> None:
    """Range checks and registry look-ups; each failure is one line naming the key and what is allowed."""
    from . import data, losses, models, training  # registries; imported here to keep `import ganforge` cheap

    data.check_dataset_name(config.data.dataset)
    for key, registry, value in [
        ("model.generator", models.GENERATORS, config.model.generator),
        ("model.discriminator", models.DISCRIMINATORS, config.model.discriminator),
        ("model.init", models.INITS, config.model.init),
        ("loss.name", losses.LOSSES, config.loss.name),
        ("optim.name", training.OPTIMIZERS, config.optim.name),
        ("algorithm.name", training.ALGORITHMS, config.algorithm.name),
    ]:
        _require(value in registry, f"{key}: {registry.unknown_message(value)}")

    m, t, o, a = config.model, config.train, config.optim, config.algorithm
    _require(m.latent_dim >= 1, f"model.latent_dim must be >= 1, got {m.latent_dim}")
    _require(m.channels in (1, 3), f"model.channels must be 1 (grayscale) or 3 (RGB), got {m.channels}")
    _require(m.resolution >= 4, f"model.resolution must be >= 4, got {m.resolution}")
    _require(m.g_width >= 1 and m.d_width >= 1, "model.g_width and model.d_width must be >= 1")
    _require(0.0 <= config.loss.label_smoothing < 0.5,
             f"loss.label_smoothing must be in [0, 0.5), got {config.loss.label_smoothing}")
    _require(o.lr_g > 0 and o.lr_d > 0, f"optim.lr_g and optim.lr_d must be > 0, got {o.lr_g} and {o.lr_d}")
    _require(0 <= o.beta1 < 1 and 0 <= o.beta2 < 1, "optim.beta1 and optim.beta2 must be in [0, 1)")
    _require(o.weight_decay >= 0, "optim.weight_decay must be >= 0")
    _require(a.d_steps >= 1 and a.g_steps >= 1, "algorithm.d_steps and algorithm.g_steps must be >= 1")
    _require(t.steps is not None or t.epochs is not None, "set train.steps or train.epochs (how long to train)")
    _require(t.steps is None or t.steps >= 1, f"train.steps must be >= 1, got {t.steps}")
    _require(t.epochs is None or t.epochs > 0, f"train.epochs must be > 0, got {t.epochs}")
    _require(t.batch_size >= 1, f"train.batch_size must be >= 1, got {t.batch_size}")
    _require(0.0 <= t.ema_decay < 1.0, f"train.ema_decay must be in [0, 1), got {t.ema_decay}")
    for key in ("log_every", "sample_every", "checkpoint_every", "keep_checkpoints", "num_samples"):
        value = getattr(t, key)
        _require(value >= 1, f"train.{key} must be >= 1, got {value}")
    _require(t.backend in ("auto", "gloo", "nccl"), f"train.backend must be auto, gloo or nccl, got '{t.backend}'")
    _require(t.dist_timeout > 0, f"train.dist_timeout must be > 0 seconds, got {t.dist_timeout}")
    if t.device != "auto":
        from .utils import resolve_device

        resolve_device(t.device)


def config_differences(old: dict[str, Any], new: dict[str, Any], prefix: str = "") -> list[str]:
    """Keys whose values differ between two config dicts, as 'key: old -> new' lines."""
    out = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            out += config_differences(a, b, f"{prefix}{key}.")
        elif a != b:
            out.append(f"{prefix}{key}: {a!r} -> {b!r}")
    return out
