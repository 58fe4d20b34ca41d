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
    spectral_norm: bool = False  # spectral normalisation of D's conv/linear layers (Miyato et al. 2018)
    spectral_norm_layers: list[str] = field(default_factory=list)  # ... only these D layers (by name); [] = all
    d_norm: str = "default"  # D's normalisation layers: default (the architecture's), none, or layer
    pack: int = 1  # PacGAN: D judges m samples at once, concatenated along channels (Lin et al. 2018)
    minibatch_std: bool = False  # a minibatch standard-deviation feature before D's last layer (Karras et al. 2018)
    minibatch_std_group: int = 4  # samples per minibatch-std group (ProGAN's 4); the batch is split into such groups
    minibatch_discrimination: int = 0  # kernels of Salimans et al.'s minibatch discrimination before D's head; 0 = off


@dataclass
class LossConfig:
    name: str = "non-saturating"
    label_smoothing: float = 0.0  # one-sided: D's target for real images is 1 - label_smoothing
    ls_a: float = 0.0  # least-squares (LSGAN) label for fakes in D's loss
    ls_b: float = 1.0  # ... for reals in D's loss
    ls_c: float = 1.0  # ... the value G wants D to give its fakes


@dataclass
class OptimizerConfig:
    name: str = "adam"
    lr_g: float = 2e-4
    lr_d: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    weight_decay: float = 0.0
    schedule: str = "constant"  # learning-rate schedule over train.steps: constant, or linear (decay to 0)
    fused: bool = True  # Adam as one fused kernel over all parameters (1.18x an MLP epoch on 2 cores); false = foreach


@dataclass
class AlgorithmConfig:
    name: str = "gan"
    d_steps: int = 1
    g_steps: int = 1
    reuse_fakes: bool = True  # phase G scores the fakes phase D drew (as pytorch/examples); False draws fresh noise
    clip: float = 0.01  # wgan: the critic's weights are clipped to [-clip, clip] after every critic step
    unroll_steps: int = 5  # unrolled: k look-ahead steps of D inside G's loss (Metz et al. 2017)
    unroll_second_order: bool = True  # unrolled: backpropagate through the look-ahead (False: first-order only)
    balance_threshold: float = 0.0  # skip D's step while its loss is below this (the course's balance rule); 0 = off


@dataclass
class RegularizeConfig:
    penalties: dict[str, float] = field(default_factory=dict)  # name -> weight, e.g. {gp: 10} or {r1: 10, r2: 10}
    every: dict[str, int] = field(default_factory=dict)  # lazy regularisation: name -> apply every N D steps
    instance_noise: float = 0.0  # std of Gaussian noise added to D's inputs, annealed linearly to 0
    instance_noise_steps: int | None = None  # ... over this many steps (default: the whole run)


@dataclass
class AugmentConfig:
    policy: list[str] = field(default_factory=list)  # DiffAugment: any of color, translation, cutout
    translation: float = 0.125  # largest shift, as a fraction of the image side (the DiffAugment paper's 1/8)
    cutout: float = 0.5  # side of the cut-out square, as a fraction of the image side


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
    channels_last: bool = True  # NHWC layout when G or D has convolutions (1.06-1.16x on 2 CPU cores; see README)
    compile: bool = False  # torch.compile G and D at start-up (timed apart; eager again if it fails)
    threads: int = 0  # torch intra-op threads; 0 = PyTorch's default (one per core)


@dataclass
class EvalConfig:
    every: int = 0  # evaluate every N steps (rank 0, EMA generator when kept); 0 = off
    metrics: list[str] = field(default_factory=lambda: ["fid"])  # names from `ganforge.metrics.METRICS`
    n: int = 2000  # generated images per evaluation (and real ones, at most the dataset)
    extractor: str = ""  # empty: lenet-mnist for 28x28 gray data, inception otherwise


@dataclass
class Config:
    preset: str = ""
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    optim: OptimizerConfig = field(default_factory=OptimizerConfig)
    algorithm: AlgorithmConfig = field(default_factory=AlgorithmConfig)
    regularize: RegularizeConfig = field(default_factory=RegularizeConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# --------------------------------------------------------------------------------------------------- presets
MNIST_DCGAN_MODEL: dict[str, Any] = {"generator": "dcgan", "discriminator": "dcgan", "resolution": 28, "channels": 1,
                                     "g_width": 32, "d_width": 32, "latent_dim": 100}
OBJECTIVE_PRESET_TRAIN: dict[str, Any] = {"steps": 4000, "batch_size": 64, "ema": True, "ema_decay": 0.995,
                                          "sample_every": 500, "checkpoint_every": 500}
PRESETS: dict[str, tuple[str, dict[str, Any]]] = {
    "mnist-dcgan": (
        "DCGAN on the built-in 5,000 MNIST digits (the default; about 2 minutes on 2 CPU cores)",
        {
            "model": {"generator": "dcgan", "discriminator": "dcgan", "resolution": 28, "channels": 1,
                      "g_width": 32, "d_width": 32, "latent_dim": 100},
            "train": {"steps": 4000, "batch_size": 64, "ema": True, "ema_decay": 0.995,
                      "sample_every": 500, "checkpoint_every": 500},
            # Frechet LeNet Distance of 2,000 EMA samples every 1,000 steps (lenet-mnist, offline), best.safetensors
            "eval": {"every": 1000, "n": 2000, "metrics": ["fid"]},
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
    "mnist-wgan": (
        "WGAN (Arjovsky et al. 2017): DCGAN critic, weight clipping 0.01, RMSprop 5e-5, n_critic 5",
        {
            "model": MNIST_DCGAN_MODEL,
            "loss": {"name": "wasserstein"},
            "algorithm": {"name": "wgan", "d_steps": 5, "clip": 0.01},
            "optim": {"name": "rmsprop", "lr_g": 5e-5, "lr_d": 5e-5},
            "train": OBJECTIVE_PRESET_TRAIN,
        },
    ),
    "mnist-wgan-gp": (
        "WGAN-GP (Gulrajani et al. 2017): gradient penalty 10 on interpolates, layer-norm critic, Adam 1e-4 (0, 0.9), "
        "n_critic 5",
        {
            "model": {**MNIST_DCGAN_MODEL, "d_norm": "layer"},
            "loss": {"name": "wasserstein"},
            "algorithm": {"name": "wgan-gp", "d_steps": 5},
            "regularize": {"penalties": {"gp": 10.0}},
            "optim": {"name": "adam", "lr_g": 1e-4, "lr_d": 1e-4, "beta1": 0.0, "beta2": 0.9},
            "train": OBJECTIVE_PRESET_TRAIN,
        },
    ),
    "mnist-lsgan": (
        "LSGAN (Mao et al. 2017): least-squares loss with 0-1 labels (a=0, b=c=1), DCGAN, Adam 2e-4 (0.5, 0.999)",
        {
            "model": MNIST_DCGAN_MODEL,
            "loss": {"name": "least-squares", "ls_a": 0.0, "ls_b": 1.0, "ls_c": 1.0},
            "train": OBJECTIVE_PRESET_TRAIN,
        },
    ),
    "mnist-hinge": (
        "hinge loss + spectrally normalised D (no BatchNorm) + TTUR: Adam lr_g 1e-4, lr_d 4e-4, betas (0, 0.9)",
        {
            "model": {**MNIST_DCGAN_MODEL, "spectral_norm": True, "d_norm": "none"},
            "loss": {"name": "hinge"},
            "optim": {"name": "adam", "lr_g": 1e-4, "lr_d": 4e-4, "beta1": 0.0, "beta2": 0.9},
            "train": OBJECTIVE_PRESET_TRAIN,
        },
    ),
    "cifar10-sngan": (
        "SNGAN ResNet 32x32 (Miyato et al. 2018): hinge, spectral norm, Adam 2e-4 (0, 0.9), n_critic 5 "
        "(needs --download once; a GPU is advised)",
        {
            "data": {"dataset": "cifar10"},
            "model": {"generator": "sngan", "discriminator": "sngan", "resolution": 32, "channels": 3,
                      "g_width": 256, "d_width": 128, "latent_dim": 128, "spectral_norm": True, "init": "xavier"},
            "loss": {"name": "hinge"},
            "algorithm": {"d_steps": 5},
            "optim": {"name": "adam", "lr_g": 2e-4, "lr_d": 2e-4, "beta1": 0.0, "beta2": 0.9},
            "train": {"steps": 50000, "batch_size": 64, "ema": True, "ema_decay": 0.9999,
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
        value_hint = (typing.get_args(hint) or (Any, Any))[1]
        return {str(k): _coerce(value_hint, v, f"{key}.{k}") for k, v in value.items()}
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


def validate(config: Config, images: bool = True) -> None:
    """Range checks and registry look-ups; each failure is one line naming the key and what is allowed.

    `images=False` (the 2D lab) skips the checks that only image data needs: dataset name, channels, resolution.
    """
    from . import augment, data, losses, models, regularizers, training  # registries; imported here: cheap import

    if images:
        data.check_dataset_name(config.data.dataset)
    for key, registry, value in [
        ("model.generator", models.GENERATORS, config.model.generator),
        ("model.discriminator", models.DISCRIMINATORS, config.model.discriminator),
        ("model.init", models.INITS, config.model.init),
        ("loss.name", losses.LOSSES, config.loss.name),
        ("optim.name", training.OPTIMIZERS, config.optim.name),
        ("optim.schedule", training.SCHEDULES, config.optim.schedule),
        ("algorithm.name", training.ALGORITHMS, config.algorithm.name),
    ]:
        _require(value in registry, f"{key}: {registry.unknown_message(value)}")

    m, t, o, a = config.model, config.train, config.optim, config.algorithm
    _require(m.latent_dim >= 1, f"model.latent_dim must be >= 1, got {m.latent_dim}")
    if images:
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
    _require(t.threads >= 0, f"train.threads must be >= 0 (0 = PyTorch's default), got {t.threads}")
    if t.device != "auto":
        from .utils import resolve_device

        resolve_device(t.device)
    _validate_objectives(config, losses.build_loss(config.loss), regularizers.REGULARIZERS, augment.AUGMENTS)
    training.ALGORITHMS.get(a.name).check_config(config)
    _validate_eval(config)


def _validate_eval(config: Config) -> None:
    """eval.*: ranges and names (metrics and extractor registries), checked before any training starts."""
    from . import metrics

    e = config.eval
    _require(e.every >= 0, f"eval.every must be >= 0 (0 = off), got {e.every}")
    _require(e.n >= 2, f"eval.n must be >= 2 (metrics compare sets of images), got {e.n}")
    _require(bool(e.metrics), f"eval.metrics must name at least one metric: {', '.join(metrics.METRICS.names())}")
    for name in e.metrics:
        _require(name in metrics.METRICS, f"eval.metrics: {metrics.METRICS.unknown_message(name)}")
    _require(not e.extractor or e.extractor in metrics.EXTRACTORS,
             f"eval.extractor: {metrics.EXTRACTORS.unknown_message(e.extractor)} (or empty for the default)")


def _validate_objectives(config: Config, loss: Any, penalties: Any, augments: Any) -> None:
    """Losses, regularisers, augmentation and D options: ranges, names, and combinations that cannot work."""
    m, r, g, t = config.model, config.regularize, config.augment, config.train
    _require(m.d_norm in ("default", "none", "layer"),
             f"model.d_norm must be default (the architecture's own), none or layer, got '{m.d_norm}'")
    _require(m.pack >= 1, f"model.pack must be >= 1 (1 = no packing), got {m.pack}")
    _require(t.batch_size % m.pack == 0,
             f"model.pack={m.pack} does not divide train.batch_size={t.batch_size}: D sees batch/pack packed "
             f"samples; use a batch size that is a multiple of {m.pack}")
    _require(not m.spectral_norm_layers or m.spectral_norm,
             "model.spectral_norm_layers names layers to normalise, but model.spectral_norm is false; set "
             "model.spectral_norm=true")
    _require(m.minibatch_std_group >= 2,
             f"model.minibatch_std_group must be >= 2 (a spread needs two samples), got {m.minibatch_std_group}")
    _require(m.minibatch_discrimination >= 0,
             f"model.minibatch_discrimination must be >= 0 (0 = off), got {m.minibatch_discrimination}")
    _require(config.loss.label_smoothing == 0 or loss.has_targets,
             f"loss.label_smoothing={config.loss.label_smoothing} has no meaning with loss.name={config.loss.name} "
             f"(it has no real target to soften); set loss.label_smoothing=0")
    for name, weight in r.penalties.items():
        _require(name in penalties, f"regularize.penalties: {penalties.unknown_message(name)}")
        _require(weight >= 0, f"regularize.penalties.{name} must be >= 0 (0 = off), got {weight}")
    for name, every in r.every.items():
        _require(r.penalties.get(name, 0) > 0,
                 f"regularize.every.{name} is set but regularize.penalties.{name} is not; give the penalty a weight")
        _require(every >= 1, f"regularize.every.{name} must be >= 1, got {every}")
    _require(r.instance_noise >= 0, f"regularize.instance_noise must be >= 0, got {r.instance_noise}")
    _require(r.instance_noise_steps is None or r.instance_noise_steps >= 1,
             f"regularize.instance_noise_steps must be >= 1, got {r.instance_noise_steps}")
    for name in g.policy:
        _require(name in augments, f"augment.policy: {augments.unknown_message(name)}")
    _require(0 <= g.translation <= 0.5, f"augment.translation must be in [0, 0.5], got {g.translation}")
    _require(0 < g.cutout <= 1, f"augment.cutout must be in (0, 1], got {g.cutout}")
    a = config.algorithm
    _require(a.clip > 0, f"algorithm.clip must be > 0, got {a.clip}")
    _require(a.unroll_steps >= 1, f"algorithm.unroll_steps must be >= 1, got {a.unroll_steps}")
    _require(a.balance_threshold >= 0, f"algorithm.balance_threshold must be >= 0 (0 = off), got "
                                       f"{a.balance_threshold}")


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
