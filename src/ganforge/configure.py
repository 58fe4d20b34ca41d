"""A run's config from its layers, checked section by section by the owner of each name: the one validation step.

Layers, later ones winning: a preset (`presets/<family>/<name>.yaml`), a YAML file (`--config`), `--set` overrides.
The merged dict becomes a typed `Config` (ranges are checked there, in `ganforge.config`); then every owner checks
the names and combinations it is responsible for: the data registry its dataset, the model registries their
architectures, the losses, regularisers and augmentations theirs, the optimisers theirs, the family its own
section, the metrics theirs. Each failure is one line naming the key and what is allowed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from . import augment, data, limits, losses, metrics, models, regularizers
from .config import CONFIG_VERSION, Config, config_from_dict, deep_merge, load_yaml, parse_override, upgrade_saved
from .errors import GanforgeError
from .families import FAMILIES, Family
from .presets import DEFAULT_PRESET, preset_dict
from .training import optim
from .utils import resolve_device


def family_of(data: dict[str, Any]) -> type[Family]:
    """The family a config dict names (`algorithm.name`, default gan)."""
    section = data.get("algorithm") or {}
    name = section.get("name", "gan") if isinstance(section, dict) else None
    if not isinstance(name, str) or name not in FAMILIES:
        raise GanforgeError(f"algorithm.name: {FAMILIES.unknown_message(str(name))}")
    return FAMILIES.get(name)


def load_config(data: dict[str, Any]) -> Config:
    """The typed config of a dict ganforge wrote (a run's config.json, an export, a checkpoint), of any version."""
    if not isinstance(data, dict):
        raise GanforgeError(f"a saved config must be a mapping of sections, got {type(data).__name__}")
    family = family_of(data)
    return config_from_dict(upgrade_saved(data, family.settings), family.settings)


def build_config(preset: str | None = None, config_file: str | Path | None = None,
                 overrides: list[str] | None = None, base: dict[str, Any] | None = None) -> Config:
    """Layer a preset (or `base`, a saved config), a YAML file and --set overrides into a validated Config."""
    file_data = load_yaml(config_file) if config_file else {}
    file_data.pop("description", None)
    extends = file_data.pop("extends", None)
    override_data: dict[str, Any] = {}
    for text in overrides or []:
        override_data = deep_merge(override_data, parse_override(text))
    if base is not None:
        merged = load_config(base).to_dict()
    else:
        name = preset or extends or file_data.get("preset") or override_data.get("preset") or DEFAULT_PRESET
        merged = preset_dict(str(name))
    for layer in (file_data, override_data):
        merged = deep_merge(merged, layer)
    merged["version"] = CONFIG_VERSION  # every layer above is in today's layout
    family = family_of(merged)
    config = config_from_dict(merged, family.settings)
    validate(config)
    return config


def validate(config: Config, images: bool = True) -> None:
    """Every owner's checks; `images=False` (the 2D lab) skips the dataset's, which only image data needs."""
    family = FAMILIES.get(config.algorithm.name)
    if images:
        data.check_config(config)
    models.check_config(config)
    losses.check_config(config)
    regularizers.check_config(config)
    augment.check_config(config)
    optim.check_config(config, family.networks)
    family.check_config(config)
    if config.augment.ada and not family.adaptive_augment:
        raise GanforgeError(f"augment.ada does not apply to algorithm.name={config.algorithm.name} (its "
                            f"discriminator's real inputs and verdicts do not pass through ADA); set "
                            f"augment.ada=false")
    metrics.check_config(config)
    if config.train.device != "auto":
        resolve_device(config.train.device)
    m, t = config.model, config.train
    size = max(m.resolution, config.data.load_size)
    pixels = m.channels * size * size
    for key, count in (("train.batch_size", t.batch_size), ("train.num_samples", t.num_samples)):
        if count * pixels > limits.MAX_ELEMENTS:
            raise GanforgeError(f"{key}={count} images of {m.channels}x{size}x{size} make one tensor of "
                                f"{count * pixels:,} values, more than the "
                                f"{limits.MAX_ELEMENTS:,} ganforge allows; lower {key} or the resolution")


MAX_PARAMETERS = 2**31  # 8 GiB of float32 weights across a family's networks: past any model ganforge targets


def check_buildable(config: Config) -> dict[str, int]:
    """Build the family's networks on torch's meta device (shapes only, no memory) and count their parameters:
    what `--dry-run` checks beyond the config itself. A config the architectures cannot build is one line."""
    import torch

    family = FAMILIES.get(config.algorithm.name)
    try:
        with torch.device("meta"):
            nets = family.build_networks(config)
    except GanforgeError:
        raise
    except Exception as exc:  # an architecture refusing a shape it cannot build (its own messages vary)
        reason = str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__
        raise GanforgeError(f"the {config.algorithm.name} family cannot build its networks from this config "
                            f"({reason}); check model.resolution, model.channels and the widths") from None
    counts = {name: sum(p.numel() for p in net.parameters()) for name, net in nets.items()}
    if sum(counts.values()) > MAX_PARAMETERS:
        sizes = ", ".join(f"{name} {count:,}" for name, count in counts.items())
        raise GanforgeError(f"this config builds {sum(counts.values()):,} parameters ({sizes}), more than the "
                            f"{MAX_PARAMETERS:,} (8 GiB of weights) ganforge accepts; lower model.g_width, "
                            f"model.d_width or model.latent_dim")
    return counts
