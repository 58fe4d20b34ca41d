"""Evaluation: features of real and generated images through one extractor, the chosen metrics, one result dict.

Used by `ganforge eval` (a run, an export, or two image folders) and by the trainer (`eval.every`). Generated images
come from the seeded noise `ganforge sample` uses, so `--seed S --n N` evaluates exactly the images
`ganforge sample --seed S --n N` would write. Nothing here touches the global RNGs: evaluation during training must
not change what training does next.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from .. import __version__
from ..data.images import to_uint8
from ..errors import GanforgeError
from ..families import FAMILIES
from ..sampling import seeded_inputs
from .extractors import DATASET_EVALUATION, Extractor, ExtractorOptions, build_extractor, default_extractor
from .conditional import GENERATOR_METRICS, GeneratorProbe
from .scores import METRICS, FeatureSet, compute_metrics, parse_metric_names
from .stats import RealSet, check_compatible, dataset_features, load_stats

GENERATION_CHUNK = 1000


def generated_batches(generator: nn.Module, n: int, seed: int, device: torch.device,
                      chunk: int = GENERATION_CHUNK, truncation: float | None = None,
                      fixed: dict[str, Any] | None = None) -> Iterator[torch.Tensor]:
    """uint8 images of the n seeded inputs `ganforge sample --seed` draws (optionally truncated, or with inputs
    fixed: label=3), chunk by chunk, in eval mode."""
    if n < 2:
        raise GanforgeError(f"--n must be >= 2 (metrics compare sets of images), got {n}")
    values = seeded_inputs(generator.inputs, n, seed, truncation)
    for name, given in (fixed or {}).items():
        values[name] = generator.inputs[name].value(name, given, n)
    was_training = generator.training
    generator.eval()
    try:
        with torch.inference_mode():
            for start in range(0, n, chunk):
                part = {k: v[start:start + chunk].to(device) for k, v in values.items()}
                yield to_uint8(generator(**part)).cpu()
    finally:
        generator.train(was_training)


def extract_all(extractor: Extractor, batches: Iterator[torch.Tensor], which: str) -> tuple[FeatureSet, tuple]:
    """Features of a stream of image batches (never all images in memory at once) and their image shape."""
    features, logits, shape = [], [], None
    for images in batches:
        if shape is None:
            shape = tuple(images.shape[1:])
        part = extractor.run(images, which)
        features.append(part.features)
        if part.logits is not None:
            logits.append(part.logits)
    out = np.concatenate(features)
    return FeatureSet(features=out, logits=np.concatenate(logits) if logits else None, count=out.shape[0]), shape


def check_same_images(real_shape: Any, fake_shape: Any, real_name: str, fake_name: str) -> None:
    """Metrics between sets of different sizes or channels would partly measure the resizing: refuse them."""
    if real_shape is None or fake_shape is None or tuple(real_shape) == tuple(fake_shape):
        return
    real, fake = ("x".join(str(v) for v in shape) for shape in (real_shape, fake_shape))
    raise GanforgeError(f"the real images ({real_name}) are {real} but the generated ones ({fake_name}) are {fake} "
                        f"(channels x height x width); compare sets of the same size and channels")


def run_metrics(metrics: list[str], real: RealSet, fake: FeatureSet, extractor: Extractor, seed: int
                ) -> dict[str, Any]:
    """The feature metrics among `metrics` (generator metrics are `run_probes`')."""
    metrics = feature_metrics(metrics)
    uses_real = any(METRICS.get(name).uses_real for name in metrics)
    if uses_real:
        check_compatible(real.meta, extractor)
    return compute_metrics(metrics, real.features, fake, seed)


def choose_metrics(metrics: str | list[str] | None, extractor: Extractor, dataset: str = "") -> list[str]:
    """The metrics asked for; else the dataset's own (when judged with its extractor), else the extractor's."""
    if metrics:
        return parse_metric_names(metrics, GENERATOR_METRICS)
    if dataset in DATASET_EVALUATION and DATASET_EVALUATION.get(dataset).extractor == extractor.name:
        return list(DATASET_EVALUATION.get(dataset).metrics)
    return list(extractor.default_metrics)


def feature_metrics(metrics: list[str]) -> list[str]:
    return [name for name in metrics if name in METRICS]


def run_probes(metrics: list[str], probe: GeneratorProbe) -> dict[str, Any]:
    """The generator metrics among `metrics`: they ask the generator for images of each class or code."""
    out: dict[str, Any] = {}
    for name in metrics:
        if name in GENERATOR_METRICS:
            out.update(GENERATOR_METRICS.get(name)(probe))
    return out


def labelled_images(dataset: str, data_dir: str, download: bool, resolution: int, channels: int,
                    fit: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
    """All images of a dataset and its labels (None when unlabelled), at the generator's size when `fit`."""
    from ..data import load_dataset

    image_set = load_dataset(dataset, data_dir, download, resolution, channels)
    if fit:
        image_set = image_set.fit_to(resolution, channels, resize=True)
    return image_set.images, image_set.labels


# ------------------------------------------------------------------------------------------------ generators
def evaluate_model(model: str | Path, *, dataset: str | None = None, ref: str | Path | None = None,
                   metrics: str | list[str] | None = None, n: int = 10000, n_real: int | None = None,
                   extractor: str | None = None, options: ExtractorOptions | None = None, seed: int = 0,
                   use_ema: bool = True, data_dir: str = "data", use_cache: bool = True,
                   truncation: float | None = None, metric_settings: dict[str, Any] | None = None
                   ) -> dict[str, Any]:
    """Metrics of a run or export folder (or a best.safetensors) against a dataset or a statistics file; with
    `truncation`, of the truncated samples `ganforge sample --truncation` draws; `metric_settings` holds a generator
    metric's options under its name (ppl: a `PPLSettings`)."""
    from .. import limits
    from ..export import load_generator, read_model_config

    limits.check_count("n", n, limits.EVAL, low=2)

    options = options or ExtractorOptions()
    start = time.perf_counter()
    config, info = read_model_config(Path(model))
    if FAMILIES.get(config.algorithm.name).translates:
        from .translation import evaluate_translation

        if dataset or ref or truncation is not None:
            raise GanforgeError("an image-to-image model is evaluated on its dataset's test split; drop --dataset, "
                                "--ref and --truncation")
        return evaluate_translation(model, config, metrics=metrics, extractor=extractor, options=options,
                                    data_dir=data_dir, use_ema=use_ema)
    dataset = dataset or config.data.dataset
    name = extractor or default_extractor(config.model.resolution, config.model.channels, dataset)
    net = build_extractor(name, options)
    chosen = choose_metrics(metrics, net, dataset)
    generator = load_generator(model, device=net.device, use_ema=use_ema)
    fit = config.data.resize and dataset == config.data.dataset  # the training data, converted as training did
    # real images first: a wrong dataset, statistics file or image size fails before minutes of generation
    real = _real_set(net, chosen, ref, dataset, n_real if n_real is not None else n, data_dir, options.download,
                     config.model.resolution, config.model.channels, use_cache, fit)
    model_shape = (config.model.channels, config.model.resolution, config.model.resolution)
    check_same_images(real.meta.get("image_shape"), model_shape, _real_name(real), str(model))
    if any(METRICS.get(name).uses_real for name in feature_metrics(chosen)):
        check_compatible(real.meta, net)
    values: dict[str, Any] = {}
    fake_info: dict[str, Any] = {"n": n, "image_shape": list(model_shape)}
    if feature_metrics(chosen):
        fake, fake_shape = extract_all(net, generated_batches(generator, n, seed, net.device, truncation=truncation),
                                       "fake")
        values = run_metrics(chosen, real, fake, net, seed)
        fake_info = {"n": fake.count, "image_shape": list(fake_shape)}
    probe = GeneratorProbe(generator, net, n, seed, net.device, truncation=truncation, real=lambda: labelled_images(
        dataset, data_dir, options.download, config.model.resolution, config.model.channels, fit),
        settings=dict(metric_settings or {}))
    values.update(run_probes(chosen, probe))
    return _result(values, net, real, {"model": str(model), **info, "use_ema": use_ema, "seed": seed,
                                       "truncation": truncation, **fake_info}, start)


def _real_set(net: Extractor, metrics: list[str], ref: str | Path | None, dataset: str, n: int, data_dir: str,
              download: bool, resolution: int, channels: int, use_cache: bool, fit: bool = False) -> RealSet:
    if not any(METRICS.get(name).uses_real for name in feature_metrics(metrics)):
        return RealSet(FeatureSet(), {"extractor": net.name, "weights_sha256": net.weights_sha256,
                                      "resize": net.resize, "dataset": None, "n": 0})
    if ref is not None:
        return load_stats(ref)
    return dataset_features(dataset, net, n, data_dir, download, resolution, channels, use_cache, fit)


def _real_name(real: RealSet) -> str:
    return str(real.meta.get("path") or real.meta.get("dataset"))


# ------------------------------------------------------------------------------------------------ folders
def folder_shape(folder: str | Path) -> tuple[int, int]:
    """(channels, resolution) of a folder's first image: gray or RGB, and its shorter side."""
    from PIL import Image

    from ..data.folder import GRAY_MODES, image_files

    root = Path(folder)
    if not root.is_dir():
        raise GanforgeError(f"image folder '{root}' does not exist; pass an existing folder")
    files = image_files(root)
    if not files:
        raise GanforgeError(f"image folder '{root}' holds no .jpg/.png/.webp images; add images or pick another")
    for path in files:
        try:
            with Image.open(path) as img:
                return (1 if img.mode in GRAY_MODES else 3), min(img.size)
        except Exception:  # PIL raises many types for corrupt files; try the next one
            continue
    raise GanforgeError(f"none of the {len(files)} image files in '{root}' could be read; they are corrupt")


def evaluate_folders(real_dir: str | Path, fake_dir: str | Path, *, metrics: str | list[str] | None = None,
                     extractor: str | None = None, options: ExtractorOptions | None = None,
                     seed: int = 0) -> dict[str, Any]:
    """Metrics between two folders of images, no model involved; both must hold images of one size and mode."""
    from ..data import load_dataset

    options = options or ExtractorOptions()
    start = time.perf_counter()
    real_shape, fake_shape = folder_shape(real_dir), folder_shape(fake_dir)
    if real_shape != fake_shape:
        check_same_images((real_shape[0], real_shape[1], real_shape[1]), (fake_shape[0], fake_shape[1], fake_shape[1]),
                          str(real_dir), str(fake_dir))
    channels, resolution = real_shape
    net = build_extractor(extractor or default_extractor(resolution, channels), options)
    chosen = choose_metrics(metrics, net)
    sets = []
    for folder, which in ((real_dir, "real"), (fake_dir, "fake")):
        images = load_dataset(f"folder:{folder}", resolution=resolution, channels=channels).images
        sets.append(net.run(images, which))
    meta = {"extractor": net.name, "weights_sha256": net.weights_sha256, "resize": net.resize,
            "folder": str(real_dir), "n": sets[0].count, "image_shape": [channels, resolution, resolution]}
    values = run_metrics(chosen, RealSet(sets[0], meta), sets[1], net, seed)
    return _result(values, net, RealSet(sets[0], meta),
                   {"folder": str(fake_dir), "n": sets[1].count, "image_shape": [channels, resolution, resolution]},
                   start)


# ------------------------------------------------------------------------------------------------ output
def _result(values: dict[str, Any], net: Extractor, real: RealSet, fake: dict[str, Any], start: float
            ) -> dict[str, Any]:
    real_info = {k: v for k, v in real.meta.items() if k in ("dataset", "folder", "path", "n", "image_shape")}
    return {"metrics": values, "extractor": net.metadata(), "real": real_info, "fake": fake,
            "ganforge_version": __version__, "created": datetime.now().isoformat(timespec="seconds"),
            "seconds": round(time.perf_counter() - start, 2)}


def format_table(result: dict[str, Any]) -> str:
    """The metrics as an aligned two-column table; a `_std` value is shown as +- next to its mean."""
    values = result["metrics"]
    rows = []
    for key, value in values.items():
        if key.endswith("_std") or isinstance(value, list):
            continue
        text = f"{value}" if isinstance(value, (int, str)) else f"{value:.6g}"
        if f"{key}_std" in values:
            text += f" +- {values[key + '_std']:.2g}"
        rows.append((key, text))
    width = max((len(k) for k, _ in rows), default=6)
    ext = result["extractor"]
    note = "" if ext["comparable"] else " (not comparable with published numbers)"
    head = (f"extractor {ext['extractor']} (weights {ext['weights_sha256'][:12]}, resize {ext['resize']}){note}; "
            f"real {result['real'].get('n') or '?'}, generated {result['fake']['n']}")
    return "\n".join([head, *(f"{k:<{width}}  {v}" for k, v in rows)])


# ------------------------------------------------------------------------------------------------ training
class TrainingEvaluator:
    """Evaluation during training: the extractor is built when training starts (a missing weights file stops the
    run before its first step), the real features on first use.

    Generated images come from a fixed seed (the same noise every time, so successive values compare the
    generator, not the noise), and everything runs inside a forked RNG so training continues exactly as without it.
    """

    def __init__(self, config: Any, device: torch.device) -> None:
        self.config = config
        self.device = device
        self.real: RealSet | None = None
        ev, model = config.eval, config.model
        with torch.random.fork_rng(devices=self._devices()):
            name = ev.extractor or default_extractor(model.resolution, model.channels, config.data.dataset)
            try:
                self.extractor = build_extractor(name, ExtractorOptions(device=str(device)))
            except GanforgeError as error:
                raise GanforgeError(f"{error} (evaluation during training: --set eval.every=0 trains without it)") \
                    from None
        self.metrics = choose_metrics(list(ev.metrics), self.extractor)

    def _devices(self) -> list[torch.device]:
        return [self.device] if self.device.type == "cuda" else []

    def __call__(self, generator: nn.Module) -> dict[str, Any]:
        config = self.config
        with torch.random.fork_rng(devices=self._devices()):
            if self.real is None:
                self.real = _real_set(self.extractor, self.metrics, None, config.data.dataset, config.eval.n,
                                      config.data.data_dir, False, config.model.resolution, config.model.channels,
                                      True, config.data.resize)
            seed = config.train.seed + 1
            values: dict[str, Any] = {}
            if feature_metrics(self.metrics):
                fake, shape = extract_all(self.extractor, generated_batches(generator, config.eval.n, seed,
                                                                            self.device), "fake")
                check_same_images(self.real.meta.get("image_shape"), shape, config.data.dataset, "the generator")
                values = run_metrics(self.metrics, self.real, fake, self.extractor, seed)
            values.update(run_probes(self.metrics, GeneratorProbe(
                generator, self.extractor, config.eval.n, seed, self.device, real=self.labelled_real)))
        return {k: v for k, v in values.items() if isinstance(v, (int, float))}

    def labelled_real(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        c = self.config
        return labelled_images(c.data.dataset, c.data.data_dir, False, c.model.resolution, c.model.channels,
                               c.data.resize)
