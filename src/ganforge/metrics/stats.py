"""Reference statistics of real images: computed once per (dataset, extractor, n), cached, written atomically.

The npz layout is pytorch-fid's (`mu`, `sigma`) plus metadata entries (extractor, weights sha256, image count,
resize mode, image shape) stored as plain arrays, so pytorch-fid can read our files and we never need pickle to
read them back. Cached files also hold the features themselves (float32, as the networks compute them), which KID,
precision/recall and density/coverage need.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..data import load_dataset
from ..errors import GanforgeError
from ..files import describe_os_error, show
from ..utils import atomic_write_bytes
from .extractors import Extractor, say_once
from .scores import FeatureSet, check_features

CACHE_ENV = "GANFORGE_CACHE"
STATS_FORMAT = "ganforge-stats-1"
_META_KEYS = ("format", "extractor", "weights_sha256", "resize", "dataset", "n", "image_shape")


def cache_dir() -> Path:
    """$GANFORGE_CACHE, else ~/.cache/ganforge."""
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "ganforge")


@dataclass
class RealSet:
    """Features of real images and where they came from."""

    features: FeatureSet
    meta: dict[str, Any]


def real_images(dataset: str, n: int | None, data_dir: str = "data", download: bool = False,
                resolution: int = 28, channels: int = 1, fit: bool = False) -> torch.Tensor:
    """n images of a dataset (all when n is None or larger): a fixed seeded subset, so the same n gives the same set.

    `fit` converts them to resolution/channels as training with data.resize=true did, so they match the generator.
    """
    image_set = load_dataset(dataset, data_dir, download, resolution, channels)
    images = image_set.fit_to(resolution, channels, resize=True).images if fit else image_set.images
    if n is not None and n < images.shape[0]:
        order = torch.randperm(images.shape[0], generator=torch.Generator().manual_seed(0))
        images = images[order[:n].sort().values]
    return images


def stats_meta(extractor: Extractor, dataset: str, n: int, image_shape: tuple[int, ...]) -> dict[str, Any]:
    return {"format": STATS_FORMAT, "extractor": extractor.name, "weights_sha256": extractor.weights_sha256,
            "resize": extractor.resize, "dataset": dataset, "n": int(n), "image_shape": list(image_shape)}


def save_stats(path: str | Path, features: FeatureSet, meta: dict[str, Any], with_features: bool = False) -> Path:
    """mu, sigma (+ features) and metadata in one npz, written atomically."""
    mu, sigma = features.stats("real")
    arrays: dict[str, np.ndarray] = {"mu": mu, "sigma": sigma}
    if with_features and features.features is not None:
        arrays["features"] = features.features.astype(np.float32)
        if features.logits is not None:
            arrays["logits"] = features.logits.astype(np.float32)
    for key in _META_KEYS:
        arrays[f"meta_{key}"] = np.asarray(meta[key])
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    path = Path(path)
    try:
        atomic_write_bytes(path, buffer.getvalue())
    except OSError as exc:
        raise GanforgeError(f"cannot write statistics to '{show(path)}' ({describe_os_error(exc).split(': ', 1)[-1]}); "
                            f"choose another --out") from None
    return path


def load_stats(path: str | Path) -> RealSet:
    """Read an npz of ours or pytorch-fid's (mu/sigma only); never unpickles."""
    path = Path(path)
    if not path.is_file():
        raise GanforgeError(f"statistics file '{show(path)}' does not exist; make one with `ganforge stats DATASET "
                            f"--out {show(path.name)}`")
    arrays = _read_npz(path)
    if "mu" not in arrays or "sigma" not in arrays:
        raise GanforgeError(f"statistics file '{show(path)}' has no mu/sigma arrays; make it with `ganforge stats`")
    _check_stats_arrays(arrays, path)
    try:
        meta: dict[str, Any] = {key: arrays[f"meta_{key}"].tolist() for key in _META_KEYS if f"meta_{key}" in arrays}
    except (ValueError, TypeError):
        raise GanforgeError(f"statistics file '{show(path)}' holds metadata that is not plain values; make it again "
                            f"with `ganforge stats`") from None
    meta["path"] = str(path)
    features = arrays.get("features")
    logits = arrays.get("logits")
    count = meta.get("n") if isinstance(meta.get("n"), int) and not isinstance(meta.get("n"), bool) else 0
    real = FeatureSet(features=None if features is None else check_features(features, "real"),
                      logits=None if logits is None else logits.astype(np.float64),
                      mu=arrays["mu"].astype(np.float64), sigma=arrays["sigma"].astype(np.float64), count=count)
    return RealSet(real, meta)


MAX_NPZ_BYTES = 8 * 2**30  # one array of a statistics file, uncompressed: 1M features of 2048 floats fit


def _read_npz(path: Path) -> dict[str, np.ndarray]:
    """Every array of an npz, never unpickling, refusing damaged archives and arrays too large to hold (an npz
    declares its sizes, so a zip bomb is refused before it is inflated)."""
    def damaged(reason: str) -> GanforgeError:
        return GanforgeError(f"cannot read statistics file '{show(path)}' ({reason}); it is not an npz of "
                             f"mu/sigma: make it again with `ganforge stats`")

    try:
        data = np.load(path, allow_pickle=False)
        if not isinstance(data, np.lib.npyio.NpzFile):
            raise damaged("a single .npy array, not an npz archive")
        with data:
            for info in data.zip.infolist():
                if info.file_size > MAX_NPZ_BYTES:
                    raise damaged(f"'{info.filename}' would take {info.file_size / 2**30:.0f} GiB")
            return {key: data[key] for key in data.files}
    except GanforgeError:
        raise
    except Exception as exc:  # zipfile, zlib, numpy and the OS each raise their own types for a damaged file
        reason = " ".join(str(exc).split())[:120] or type(exc).__name__
        raise damaged(reason) from None


def _check_stats_arrays(arrays: dict[str, np.ndarray], path: Path) -> None:
    """mu is a vector of d numbers, sigma d x d, features (when there) n x d: all finite."""
    mu, sigma = arrays["mu"], arrays["sigma"]
    problem = None
    if mu.ndim != 1 or mu.size == 0 or not np.issubdtype(mu.dtype, np.number):
        problem = f"mu has shape {mu.shape} and type {mu.dtype}, not a vector of numbers"
    elif sigma.shape != (mu.size, mu.size) or not np.issubdtype(sigma.dtype, np.number):
        problem = f"sigma has shape {sigma.shape}, not {(mu.size, mu.size)}"
    elif not (np.isfinite(mu).all() and np.isfinite(sigma).all()):
        problem = "mu or sigma holds NaN or infinite values"
    for key in ("features", "logits"):
        array = arrays.get(key)
        if problem is None and array is not None and (array.ndim != 2 or not np.issubdtype(array.dtype, np.number)):
            problem = f"{key} has shape {array.shape}, not (images, dimensions)"
    features = arrays.get("features")
    if problem is None and features is not None and features.shape[1] != mu.size:
        problem = f"features have {features.shape[1]} dimensions but mu has {mu.size}"
    if problem is not None:
        raise GanforgeError(f"statistics file '{show(path)}' is damaged: {problem}; make it again with "
                            f"`ganforge stats`")


def check_compatible(meta: dict[str, Any], extractor: Extractor) -> None:
    """Refuse statistics made by another extractor or other weights: their numbers would mean nothing together."""
    where = meta.get("path", "the reference statistics")
    name = meta.get("extractor")
    if name is None:
        if extractor.name != "inception":
            raise GanforgeError(f"'{where}' has no extractor metadata (pytorch-fid layout), so it can only be used "
                                f"with --extractor inception, not '{extractor.name}'")
        say_once(f"'{where}' carries no metadata: assuming it was made with the standard FID Inception")
        return
    if name != extractor.name:
        raise GanforgeError(f"'{where}' was computed with extractor '{name}', not '{extractor.name}'; use "
                            f"--extractor {name} or make new statistics with `ganforge stats ... --extractor "
                            f"{extractor.name}`")
    if meta.get("weights_sha256") != extractor.weights_sha256:
        raise GanforgeError(f"'{where}' was computed with {name} weights of sha256 "
                            f"{str(meta.get('weights_sha256'))[:12]}..., not the {extractor.weights_sha256[:12]}... "
                            f"loaded now; make new statistics with `ganforge stats`")
    if meta.get("resize") != extractor.resize:
        raise GanforgeError(f"'{where}' was computed with resize mode '{meta.get('resize')}', not "
                            f"'{extractor.resize}'; pass --resize {meta.get('resize')} or make new statistics")


def _cache_path(dataset: str, extractor: Extractor, n: int | None, fitted: str = "") -> Path:
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in dataset)
    count = "all" if n is None else n
    return (cache_dir() / "stats" /
            f"{safe}{fitted}-{extractor.name}-{extractor.resize}-{extractor.weights_sha256[:12]}-n{count}.npz")


def dataset_features(dataset: str, extractor: Extractor, n: int | None, data_dir: str = "data",
                     download: bool = False, resolution: int = 28, channels: int = 1,
                     use_cache: bool = True, fit: bool = False) -> RealSet:
    """Features of n real images of a named dataset, from the cache when there (folders are never cached)."""
    cacheable = use_cache and not dataset.startswith("folder:")
    path = _cache_path(dataset, extractor, n, f"-fit{channels}x{resolution}" if fit else "")
    if cacheable and path.is_file():
        cached = _try_cached(path, extractor)
        if cached is not None:
            return cached
    images = real_images(dataset, n, data_dir, download, resolution, channels, fit)
    features = extractor.run(images, "real")
    meta = stats_meta(extractor, dataset, features.count, tuple(images.shape[1:]))
    if cacheable:
        save_stats(path, features, meta, with_features=True)
    return RealSet(features, meta)


def _try_cached(path: Path, extractor: Extractor) -> RealSet | None:
    """A cached set, or None when it is unreadable or stale (it is then recomputed and rewritten)."""
    try:
        cached = load_stats(path)
        check_compatible(cached.meta, extractor)
    except GanforgeError:
        return None
    return cached if cached.features.features is not None else None
