"""Typed run configuration: the ground floor every other module stands on.

A config is a tree of dataclasses. Each field declares its type and, where it has one, its allowed range next to
its default (`option(...)`), so a value is checked the moment it is read, whichever layer it came from: a preset, a
YAML file or `--set section.key=value`. This module knows no registry: whether a name exists (a loss, a dataset, a
family) is checked by the owner of that name, in `ganforge.configure`.

The `algorithm` section belongs to the training family it names: a family with settings of its own subclasses
`AlgorithmConfig` next to its code and passes that class to `config_from_dict`.
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import math
import sys
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from . import files, limits
from .errors import GanforgeError
from .limits import Cap

CONFIG_VERSION = 2  # 2: optimiser settings keyed by network name, algorithm sections typed by family


def option(default: Any = dataclasses.MISSING, *, factory: Any = dataclasses.MISSING, low: float | None = None,
           high: float | None = None, low_open: bool = False, high_open: bool = False,
           choices: tuple[str, ...] | None = None, hint: str = "", cap: Cap | None = None) -> Any:
    """A dataclass field with its allowed values: [low, high] (open ends with low_open/high_open) or `choices`.

    For a list or dict field the bounds apply to every item or value. `hint` follows the allowed range in the error
    ("train.threads must be >= 0 (0 = PyTorch's default), got -1"). `cap` is a documented cap of
    `ganforge.limits`: the field's `high`, named with its reason when exceeded ("train.batch_size must be <= 65536
    (one batch must fit in memory)"). Every float must also be finite.
    """
    metadata = {"low": low, "high": high, "low_open": low_open, "high_open": high_open, "choices": choices,
                "hint": hint}
    if cap is not None:
        metadata.update(high=cap.high, cap_why=cap.why)
    if factory is not dataclasses.MISSING:
        return field(default_factory=factory, metadata=metadata)
    return field(default=default, metadata=metadata)


@dataclass
class DataConfig:
    dataset: str = "mnist-5k"
    data_dir: str = "data"
    download: bool = False
    resize: bool = False  # resize a dataset whose resolution differs from the model's, once, at load time
    # pix2pix's jitter: images loaded at this size, each training batch randomly cropped to model.resolution (pairs
    # alike)
    load_size: int = option(0, low=0, cap=limits.IMAGE_SIZE, hint="0 = images at model.resolution, no random crop")
    flip: bool = False  # random horizontal flips of training batches (both halves of a pair alike)
    # train on this many images, spread evenly over the set (class-sorted sets keep every class): the small-data regime
    limit: int = option(0, low=0, hint="0 = every training image")


@dataclass
class ModelConfig:
    generator: str = "dcgan"
    discriminator: str = "dcgan"
    latent_dim: int = option(100, low=1, cap=limits.LATENT)
    resolution: int = option(28, low=1, cap=limits.IMAGE_SIZE)
    channels: int = option(1, low=1, cap=limits.WIDTH)
    g_width: int = option(64, low=1, cap=limits.WIDTH)
    d_width: int = option(64, low=1, cap=limits.WIDTH)
    init: str = "dcgan"
    spectral_norm: bool = False  # spectral normalisation of D's conv/linear layers (Miyato et al. 2018)
    spectral_norm_layers: list[str] = field(default_factory=list)  # ... only these D layers (by name); [] = all
    d_norm: str = option("default", choices=("default", "none", "layer", "instance"),
                         hint="default is the architecture's own")  # D's normalisation layers
    g_norm: str = option("default", choices=("default", "batch", "instance", "none"),
                         hint="default is the architecture's own")  # image-to-image G's normalisation layers
    # channels of an image-to-image G's input
    input_channels: int = option(0, low=0, cap=limits.WIDTH, hint="0 = model.channels")
    g_depth: int = option(0, low=0, cap=limits.DEPTH, hint="0 = down to 1x1")  # U-Net levels (pix2pix's unet_256: 8)
    # residual blocks of the CycleGAN generator (6 at 128 px, 9 at 256 px)
    g_blocks: int = option(6, low=0, cap=limits.DEPTH)
    # residual blocks at each resolution of R3GAN's G and D (its CIFAR-10 config: 2)
    stage_blocks: int = option(2, low=1, cap=limits.DEPTH)
    # PatchGAN strided layers: 3 = the 70x70 patches of pix2pix at 256 px
    d_layers: int = option(3, low=1, cap=limits.DEPTH)
    upscale: int = option(1, choices=(1, 2, 4, 8))  # super-resolution factor: G's input is resolution / upscale
    domains: list[str] = field(default_factory=list)  # the domains a multi-domain G translates into (StarGAN)
    # classes of a label-map G's input (SPADE)
    label_classes: int = option(0, low=0, cap=limits.LABEL_CLASSES, hint="0 = no label map")
    # how MSG-GAN's D joins each scale's image to its features: simple, lin_cat or cat_lin (the paper's phi)
    msg_combine: str = "simple"
    d_scales: int = option(1, low=1, high=5)  # multi-scale D: PatchGANs on the input at 1, 1/2, ... (pix2pixHD's 3)
    # PacGAN: D judges m samples at once (Lin et al. 2018)
    pack: int = option(1, low=1, cap=limits.BATCH, hint="1 = no packing")
    minibatch_std: bool = False  # a minibatch standard-deviation feature before D's last layer (Karras et al. 2018)
    # samples per group (ProGAN's 4)
    minibatch_std_group: int = option(4, low=2, cap=limits.BATCH, hint="a spread needs two samples")
    # StyleGAN's mapping network z -> w: its fully connected layers, and their learning-rate multiplier
    mapping_layers: int = option(8, low=1, cap=limits.DEPTH)
    mapping_lr: float = option(0.01, low=0.0, high=1.0, low_open=True)
    # StyleGAN3-T's synthesis: its filtered layers, the pixels each feature map carries beyond the image on every
    # side (cropped at the end), and the resampling filters (nearest: the ablation without low-pass filters)
    synthesis_layers: int = option(5, low=1, cap=limits.DEPTH)
    synthesis_margin: int = option(4, low=0, high=64)
    synthesis_filter: str = option("kaiser", choices=("kaiser", "nearest"))
    # Salimans et al.'s kernels before D's head
    minibatch_discrimination: int = option(0, low=0, cap=limits.WIDTH, hint="0 = off")
    # class labels G and D are conditioned on
    num_classes: int = option(0, low=0, cap=limits.LABEL_CLASSES, hint="0 = unconditional")
    g_conditioning: str = "concat"  # how G reads the label: concat (one-hot beside z) or cbn (conditional BatchNorm)
    d_conditioning: str = "concat"  # how D reads the label: concat (a learned label map), projection, or none
    # what a projection D's class embedding meets: D's last features averaged over positions (mean), or the whole map
    projection_features: str = option("mean", choices=("mean", "map"))
    # BigGAN's G: the shared class embedding also feeds the first linear layer (as in BigGAN-deep), not only the CBNs
    class_into_linear: bool = False


@dataclass
class LossConfig:
    name: str = "non-saturating"
    label_smoothing: float = option(0.0, low=0.0, high=0.5, high_open=True)  # one-sided: D's real target 1 - this
    ls_a: float = 0.0  # least-squares (LSGAN) label for fakes in D's loss
    ls_b: float = 1.0  # ... for reals in D's loss
    ls_c: float = 1.0  # ... the value G wants D to give its fakes


@dataclass
class NetworkOptimizerConfig:
    """One network's departures from the optimiser section's shared settings (unset = shared)."""

    name: str | None = None
    lr: float | None = option(None, low=0.0, low_open=True)
    beta1: float | None = option(None, low=0.0, high=1.0, high_open=True)
    beta2: float | None = option(None, low=0.0, high=1.0, high_open=True)
    weight_decay: float | None = option(None, low=0.0)
    lr_end: float | None = option(None, low=0.0)
    beta2_end: float | None = option(None, low=0.0, high=1.0, high_open=True)


@dataclass
class OptimizerConfig:
    """Shared optimiser settings; `optim.<network>.<key>` (e.g. optim.D.lr) overrides one of them for one network.

    Every network has an optimiser of its own, built from these settings and its own overrides (TTUR when the
    learning rates differ). Which names are valid is the family's to say.
    """

    name: str = "adam"
    lr: float = option(2e-4, low=0.0, low_open=True)
    beta1: float = option(0.5, low=0.0, high=1.0, high_open=True)
    beta2: float = option(0.999, low=0.0, high=1.0, high_open=True)
    weight_decay: float = option(0.0, low=0.0)
    schedule: str = "constant"  # learning-rate schedule over train.steps: constant, linear, cosine, ...
    lr_end: float = option(0.0, low=0.0)  # the learning rate a non-constant schedule reaches at the last step
    # Adam's beta2 at the last step, along optim.schedule (R3GAN: 0.9 -> 0.99)
    beta2_end: float | None = option(None, low=0.0, high=1.0, high_open=True, hint="unset = beta2 throughout")
    fused: bool = True  # Adam as one fused kernel over all parameters (1.18x an MLP epoch on 2 cores); false = foreach
    networks: dict[str, NetworkOptimizerConfig] = field(default_factory=dict, metadata={"flatten": True})

    def for_network(self, name: str) -> OptimizerConfig:
        """The settings one network's optimiser is built with: the shared ones with its overrides applied."""
        own = self.networks.get(name)
        changes = {} if own is None else {k: v for k, v in dataclasses.asdict(own).items() if v is not None}
        return dataclasses.replace(self, networks={}, **changes)


@dataclass
class AlgorithmConfig:
    """The training family (`name`); families with settings of their own extend this class."""

    name: str = "gan"


@dataclass
class RegularizeConfig:
    penalties: dict[str, float] = option(factory=dict, low=0.0, hint="0 = off")  # name -> weight, e.g. {gp: 10}
    # lazy regularisation: name -> its own phase every N steps
    every: dict[str, int] = option(factory=dict, low=1, cap=limits.STEPS)
    instance_noise: float = option(0.0, low=0.0)  # std of Gaussian noise added to D's inputs, annealed linearly to 0
    # ... over this many steps (default: the whole run)
    instance_noise_steps: int | None = option(None, low=1, cap=limits.STEPS)
    orthogonal: float = option(0.0, low=0.0, hint="0 = off")  # BigGAN's orthogonal regularisation of G's weights
    schedule: str = "constant"  # the penalties' weights over train.steps, by the names of optim.schedule
    # name -> the weight a non-constant schedule reaches at the last step (unset names: 0); R3GAN: gamma 0.05 -> 0.005
    penalties_end: dict[str, float] = option(factory=dict, low=0.0)


@dataclass
class AugmentConfig:
    policy: list[str] = field(default_factory=list)  # DiffAugment: any of color, translation, cutout
    translation: float = option(0.125, low=0.0, high=0.5)  # largest shift, as a fraction of the image side
    cutout: float = option(0.5, low=0.0, high=1.0, low_open=True)  # side of the cut-out square, fraction of the side
    # ADA (Karras et al. 2020): every op of ada_ops applied per sample with probability p, p steered toward ada_target
    ada: bool = False
    ada_target: float = option(0.6, low=0.0, high=1.0)  # the r_t = E[sign(D(real))] that p steers toward
    ada_interval: int = option(4, low=1, cap=limits.STEPS)  # D steps between updates of p
    ada_kimg: float = option(500.0, low=0.0, low_open=True)  # thousands of real images for p to move from 0 to 1
    ada_p: float = option(0.0, low=0.0, high=1.0)  # p at the start (with ada_kimg huge: a fixed p)
    ada_ops: list[str] = field(default_factory=lambda: ["blit", "geometric", "color"])  # the paper's 'bgc'


@dataclass
class TrainConfig:
    steps: int | None = option(None, low=1, cap=limits.STEPS)  # generator updates; derived from epochs when unset
    epochs: float | None = option(None, low=0.0, low_open=True, cap=limits.EPOCHS)
    batch_size: int = option(64, low=1, cap=limits.BATCH)
    seed: int = option(0, low=0, high=limits.MAX_SEED, hint="the seeds torch accepts")
    device: str = "auto"
    ema: bool = True
    ema_decay: float = option(0.999, low=0.0, high=1.0, high_open=True)
    # steps during which the EMA copies G instead of averaging: a slow average must not carry the first random weights
    ema_start: int = option(0, low=0, cap=limits.STEPS, hint="0 = average from the first step")
    log_every: int = option(10, low=1, cap=limits.STEPS)
    sample_every: int = option(500, low=1, cap=limits.STEPS)
    checkpoint_every: int = option(500, low=1, cap=limits.STEPS)
    keep_checkpoints: int = option(2, low=1, cap=limits.KEEP)
    num_samples: int = option(64, low=1, cap=limits.PREVIEW)
    backend: str = option("auto", choices=("auto", "gloo", "nccl"))  # multi-process only: gloo on CPU, nccl on CUDA
    sync_batchnorm: bool = False  # multi-process only: BatchNorm statistics over the global batch
    # seconds to wait at the rendezvous and collectives
    dist_timeout: float = option(300.0, low=0.0, low_open=True, high=7 * 86400.0, hint="seconds")
    channels_last: bool | None = None  # NHWC layout for convolutional nets; unset: on the CPU only, where measured
    compile: bool = False  # torch.compile the networks at start-up (timed apart; eager again if it fails)
    threads: int = option(0, low=0, cap=limits.THREADS, hint="0 = PyTorch's default")  # torch intra-op threads

    def check(self, prefix: str) -> None:
        if self.steps is None and self.epochs is None:
            raise GanforgeError("set train.steps or train.epochs (how long to train)")


@dataclass
class EvalConfig:
    # evaluate every N steps (rank 0, EMA generator when kept)
    every: int = option(0, low=0, cap=limits.STEPS, hint="0 = off")
    metrics: list[str] = field(default_factory=lambda: ["fid"])  # names from the metrics registries
    # generated images per evaluation
    n: int = option(2000, low=2, cap=limits.EVAL, hint="metrics compare sets of images")
    extractor: str = ""  # empty: lenet-mnist for gray data, inception otherwise

    def check(self, prefix: str) -> None:
        if not self.metrics:
            raise GanforgeError("eval.metrics must name at least one metric, e.g. [fid]")


@dataclass
class Config:
    version: int = CONFIG_VERSION
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
        return _to_dict(self)


# --------------------------------------------------------------------------------------------------- layers
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
    except (yaml.YAMLError, RecursionError, ValueError):  # ValueError: an int past Python's 4,300 digits
        value = raw
    nested: dict[str, Any] = {parts[-1]: value}
    for part in reversed(parts[:-1]):
        nested = {part: nested}
    return upgrade_layer(nested)


def load_yaml(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file() and files.is_utf8(str(path)):
        raise GanforgeError(f"config file '{files.show(path)}' does not exist; pass the path of a YAML file to "
                            f"--config")
    text = files.read_text(path, "config file")
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise GanforgeError(f"config file '{files.show(path)}' is not valid YAML{where}; fix the syntax") from None
    except (RecursionError, ValueError):  # ValueError: an int past Python's 4,300 digits
        raise GanforgeError(f"config file '{files.show(path)}' nests too deeply or holds a number too long to be "
                            f"a config") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise GanforgeError(f"config file '{files.show(path)}' must hold a mapping of sections (data:, model:, "
                            f"train:, ...)")
    return upgrade_layer(data)


# Shorthands of the first config layout, still accepted in files and --set: the two-network families' rates.
ALIASES = {("optim", "lr_g"): ("optim", "G", "lr"), ("optim", "lr_d"): ("optim", "D", "lr")}


def upgrade_layer(data: dict[str, Any]) -> dict[str, Any]:
    """One config layer with the shorthands above rewritten to their full keys (a layer's own value wins)."""
    out = copy.deepcopy(data)
    for (section, old), (_, *new) in ALIASES.items():
        block = out.get(section)
        if isinstance(block, dict) and old in block:
            target = block
            for part in new[:-1]:
                target = target.setdefault(part, {})
            target[new[-1]] = block.pop(old)
    return out


def upgrade_saved(data: dict[str, Any], algorithm_type: type[AlgorithmConfig]) -> dict[str, Any]:
    """A config written by an earlier ganforge (no `version`) in today's layout.

    Version 1 wrote every algorithm setting of every family into one section; the keys that the family it trained
    does not have are dropped (they had no effect on that run).
    """
    if data.get("version", 1) >= CONFIG_VERSION:
        return data
    out = upgrade_layer(data)
    names = {f.name for f in dataclasses.fields(algorithm_type)}
    out["algorithm"] = {k: v for k, v in out.get("algorithm", {}).items() if k in names}
    out["version"] = CONFIG_VERSION
    return out


# --------------------------------------------------------------------------------------------------- building
def config_from_dict(data: dict[str, Any], algorithm_type: type[AlgorithmConfig] = AlgorithmConfig) -> Config:
    """A typed, range-checked Config; `algorithm_type` is the settings class of the family the config names."""
    if not isinstance(data, dict):
        raise GanforgeError(f"a config must be a mapping of sections, got {type(data).__name__}")
    data = dict(data)
    algorithm = data.pop("algorithm", {})
    config = _build(Config, data, "")
    config.algorithm = _build(algorithm_type, algorithm, "algorithm.")
    return config


def _build(cls: type, data: Any, prefix: str) -> Any:
    if not isinstance(data, dict):
        raise GanforgeError(f"config section '{prefix.rstrip('.') or 'root'}' must be a mapping, got {_short(data)}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    flattened = next((f for f in fields.values() if f.metadata.get("flatten")), None)
    kwargs: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    for key, value in data.items():
        if key in fields and fields[key] is not flattened:
            kwargs[key] = _checked(fields[key], _coerce(hints[key], value, f"{prefix}{key}"), f"{prefix}{key}")
        elif flattened is not None and isinstance(value, dict):
            extra[str(key)] = value
        else:
            names = [n for n, f in fields.items() if f is not flattened]
            close = difflib.get_close_matches(str(key), names, n=1)
            hint = f" (did you mean '{prefix}{close[0]}'?)" if close else ""
            more = f", or {prefix}<network>.<key>" if flattened is not None else ""
            raise GanforgeError(f"unknown config key '{prefix}{key}'{hint}; allowed keys: "
                                f"{', '.join(prefix + n for n in names)}{more}")
    if flattened is not None:
        kwargs[flattened.name] = _coerce(hints[flattened.name], extra, prefix.rstrip("."))
    instance = cls(**kwargs)
    if hasattr(instance, "check"):
        instance.check(prefix)
    return instance


def _checked(spec: dataclasses.Field, value: Any, key: str) -> Any:
    """The value if it lies in the field's declared range; otherwise one line naming the key and what is allowed."""
    meta = spec.metadata
    if value is None:
        return value
    _check_finite(value, key)
    if not meta:
        return value
    if isinstance(value, dict):
        items = [(f"{key}.{name}", item) for name, item in value.items()]
    elif isinstance(value, list):
        items = [(key, item) for item in value]
    else:
        items = [(key, value)]
    for where, item in items:
        if meta.get("choices") is not None and item not in meta["choices"]:
            raise GanforgeError(f"{where} must be one of {', '.join(map(str, meta['choices']))}, got {_short(item)}")
        if isinstance(item, (int, float)) and not _in_range(item, meta):
            if meta.get("cap_why") is not None and item > meta["high"]:  # over a documented cap: say which
                why = f" ({meta['cap_why']})" if meta["cap_why"] else ""
                raise GanforgeError(f"{where} must be <= {_number(meta['high'])}{why}, got {_short(item)}")
            shown = meta if meta.get("cap_why") is None else {**meta, "high": None}  # below: the low end
            hint = f" ({meta['hint']})" if meta.get("hint") else ""
            raise GanforgeError(f"{where} must be {_describe_range(shown)}{hint}, got {_short(item)}")
    return value


def _check_finite(value: Any, key: str) -> None:
    """Every float in a config is finite, whether its field declares a range or not."""
    items = value.items() if isinstance(value, dict) else ((None, v) for v in value) if isinstance(
        value, (list, tuple)) else ((None, value),)
    for name, item in items:
        if isinstance(item, float) and not math.isfinite(item):
            where = key if name is None else f"{key}.{name}"
            raise GanforgeError(f"{where} must be a finite number, got {item!r}")


def _in_range(value: float, meta: dict[str, Any]) -> bool:
    if isinstance(value, float) and not math.isfinite(value):
        return False
    low, high = meta.get("low"), meta.get("high")
    if low is not None and (value < low or (meta["low_open"] and value == low)):
        return False
    return not (high is not None and (value > high or (meta["high_open"] and value == high)))


def _describe_range(meta: dict[str, Any]) -> str:
    low, high = _number(meta.get("low")), _number(meta.get("high"))
    if low is not None and high is not None:
        return f"in {'(' if meta['low_open'] else '['}{low}, {high}{')' if meta['high_open'] else ']'}"
    if low is not None:
        return f"{'>' if meta['low_open'] else '>='} {low}"
    return f"{'<' if meta['high_open'] else '<='} {high}"


def _number(value: float | None) -> str | None:
    """A bound as a message writes it: whole numbers in full (1_000_000_000), fractions as %g."""
    if value is None:
        return None
    if isinstance(value, int) or float(value).is_integer():
        whole = int(value)
        return f"{whole:_}" if abs(whole) >= 10**6 else str(whole)
    return f"{value:g}"


def _coerce(hint: Any, value: Any, key: str) -> Any:
    if dataclasses.is_dataclass(hint):
        return _build(hint, value, key + ".")
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(hint)
        if value is None and type(None) in options:
            return None
        errors = []
        for choice in options:
            if choice is type(None):
                continue
            try:
                return _coerce(choice, value, key)
            except GanforgeError as exc:
                errors.append(str(exc))
        raise GanforgeError(errors[0] if errors else f"config key '{key}' has an invalid value {_short(value)}")
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            if isinstance(value, str):
                value = [v.strip() for v in value.split(",") if v.strip()]
            else:
                raise GanforgeError(f"config key '{key}' must be a list, got {_short(value)}")
        (item,) = typing.get_args(hint)[:1] or (Any,)
        return origin(_coerce(item, v, key) for v in value)
    if origin is dict:
        if not isinstance(value, dict):
            raise GanforgeError(f"config key '{key}' must be a mapping, got {_short(value)}")
        value_hint = (typing.get_args(hint) or (Any, Any))[1]
        return {str(k): _coerce(value_hint, v, f"{key}.{k}") for k, v in value.items()}
    if hint is Any:
        return value
    if hint is bool:
        if isinstance(value, bool):
            return value
        raise GanforgeError(f"config key '{key}' must be true or false, got {_short(value)}")
    if hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, float) and not math.isfinite(value):
            raise GanforgeError(f"config key '{key}' must be a whole number, got {value!r}")
        raise GanforgeError(f"config key '{key}' must be a whole number, got {_short(value)}")
    if hint is float:
        if isinstance(value, (int, float, str)) and not isinstance(value, bool):
            try:
                return float(value)
            except OverflowError:
                raise GanforgeError(f"config key '{key}' must be a finite number, got {_short(value)}") from None
            except ValueError:
                pass
        raise GanforgeError(f"config key '{key}' must be a number, got {_short(value)}")
    if hint is str:
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            text = str(value)
            try:
                text.encode("utf-8")
            except UnicodeEncodeError:
                raise GanforgeError(f"config key '{key}' holds bytes that are not valid UTF-8; use UTF-8 text"
                                    ) from None
            return text
        raise GanforgeError(f"config key '{key}' must be text, got {_short(value)}")
    return value


def _short(value: Any) -> str:
    """A bad value as a message shows it: its repr, cut when long (a 10,000-digit number, a pasted file)."""
    try:
        text = repr(value)
    except ValueError:  # ints past the interpreter's digit limit refuse str()
        return f"a number of more than {sys.get_int_max_str_digits()} digits"
    return text if len(text) <= 60 else f"{text[:40]}... ({len(text)} characters)"


def _to_dict(obj: Any) -> Any:
    """dataclasses.asdict, with a flattened field's entries written beside the section's own keys."""
    if dataclasses.is_dataclass(obj):
        out: dict[str, Any] = {}
        for f in dataclasses.fields(obj):
            value = _to_dict(getattr(obj, f.name))
            if f.metadata.get("flatten"):
                out.update({name: {k: v for k, v in entry.items() if v is not None} for name, entry in value.items()})
            else:
                out[f.name] = value
        return out
    if isinstance(obj, dict):
        return {k: _to_dict(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_to_dict(v) for v in obj)
    return copy.deepcopy(obj)


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
