"""The feature-extractor interface and the EXTRACTORS registry.

An extractor turns uint8 images (N, C, H, W) into float64 features (and, for classifiers, logits). It owns its
input pipeline (resize, channel conversion, normalisation), so callers only ever pass uint8 images: the same images
give the same features whatever produced them (a generator, a folder, a dataset).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..data.images import convert_channels
from ..errors import GanforgeError
from ..registry import Registry
from .scores import FeatureSet

log = logging.getLogger("ganforge")
_said: set[str] = set()


def say_once(message: str) -> None:
    """Log a note the first time it comes up in this process (e.g. gray images repeated to 3 channels)."""
    if message not in _said:
        _said.add(message)
        log.warning(message)


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def load_shipped_weights(network: nn.Module, path: Path, expected_sha256: str, name: str, script: str,
                         source: str) -> nn.Module:
    """`network` with the weights file ganforge ships, after checking that it is the one this code was released with
    (`name` the extractor, `script` what retrains it, `source` the module holding the expected sha256)."""
    from safetensors.torch import load_file

    if not path.is_file():
        raise GanforgeError(f"the {name} weights are missing at '{path}'; reinstall ganforge or rerun {script}")
    sha256 = file_sha256(path)
    if sha256 != expected_sha256:
        raise GanforgeError(f"'{path}' has sha256 {sha256[:16]}..., expected {expected_sha256[:16]}...; the file is "
                            f"damaged or retrained: reinstall ganforge or update WEIGHTS_SHA256 in {source}")
    network.load_state_dict(load_file(str(path)))
    return network


@dataclass
class ExtractorOptions:
    """What a user may choose about an extractor: device, weights file, download permission, input pipeline."""

    device: str = "auto"
    weights: str | None = None
    download: bool = False
    resize: str | None = None
    batch_size: int | None = None


class Extractor:
    """A network plus its input pipeline. Subclasses set the attributes and implement `prepare`.

    `network(x)` returns (features, logits or None). `features()`/`logits()` batch the images, run under
    torch.inference_mode on the chosen device and return float64 arrays.
    """

    name: str = ""
    dim: int = 0
    input_size: int = 0
    channels: int = 3
    num_classes: int | None = None
    resize: str = ""
    comparable: bool = False  # True only for the standard weights whose numbers papers report
    default_metrics: tuple[str, ...] = ("fid", "kid", "pr", "dc")
    batch_size: int = 64

    def __init__(self, network: nn.Module, weights_sha256: str, device: torch.device,
                 batch_size: int | None = None, source: str = "") -> None:
        self.network = network.to(device).eval().requires_grad_(False)
        self.weights_sha256 = weights_sha256
        self.device = device
        self.source = source
        if batch_size is not None:
            if batch_size < 1:
                raise GanforgeError(f"--batch-size must be >= 1, got {batch_size}")
            self.batch_size = batch_size

    def prepare(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 (B, channels, H, W) on the device (or float in [0, 255], see `differentiable_features`) -> the
        float input the network expects."""
        raise NotImplementedError

    def check_images(self, images: torch.Tensor, which: str = "image") -> torch.Tensor:
        """uint8 (N, C, H, W) with C matching the network (gray repeated to RGB, RGB to luma, said once)."""
        if not isinstance(images, torch.Tensor) or images.dtype != torch.uint8 or images.ndim != 4:
            shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
            raise GanforgeError(f"the {which} set must be uint8 images (N, C, H, W), got {shape}")
        if images.shape[1] not in (1, 3):
            raise GanforgeError(f"the {which} set has {images.shape[1]} channels; images must be gray (1) or RGB (3)")
        if images.shape[1] != self.channels:
            say_once(f"{self.name}: gray images are repeated to 3 channels" if self.channels == 3
                     else f"{self.name}: RGB images are converted to gray (ITU-R 601 luma)")
            images = convert_channels(images, self.channels)
        return images

    def run(self, images: torch.Tensor, which: str = "image") -> FeatureSet:
        """Features (and logits when the network has them) of all images, in batches."""
        images = self.check_images(images, which)
        features, logits = [], []
        with torch.inference_mode():
            for batch in images.split(self.batch_size):
                pooled, scores = self.network(self.prepare(batch.to(self.device)))
                features.append(pooled.double().cpu())
                if scores is not None and self.num_classes is not None:
                    logits.append(scores.double().cpu())
        out = torch.cat(features).numpy() if features else np.zeros((0, self.dim))
        return FeatureSet(features=out, logits=torch.cat(logits).numpy() if logits else None, count=out.shape[0])

    def differentiable_features(self, images: torch.Tensor) -> torch.Tensor:
        """Features of float images in [-1, 1] (a generator's output, one batch) through the same pipeline as `run`,
        but without the 8-bit rounding and with gradients: PPL's epsilon steps are far below one grey level, and the
        projector optimises through the features."""
        if not images.is_floating_point() or images.ndim != 4 or images.shape[1] not in (1, 3):
            raise GanforgeError(f"differentiable features take float images (N, 1 or 3, H, W) in [-1, 1], got "
                                f"{images.dtype} {tuple(images.shape)}")
        x = images.to(self.device, torch.float32).add(1.0).mul(127.5)
        if x.shape[1] != self.channels:
            x = convert_channels(x, self.channels)
        return self.network(self.prepare(x))[0]

    def features(self, images: torch.Tensor) -> np.ndarray:
        return self.run(images).features

    def logits(self, images: torch.Tensor) -> np.ndarray:
        logits = self.run(images).logits
        if logits is None:
            raise GanforgeError(f"extractor '{self.name}' gives no logits with these weights ({self.source})")
        return logits

    def metadata(self) -> dict[str, Any]:
        """What a result must carry to be compared with another: extractor, weights hash, input pipeline."""
        return {"extractor": self.name, "weights_sha256": self.weights_sha256, "resize": self.resize,
                "input_size": self.input_size, "dim": self.dim, "comparable": self.comparable,
                "weights_source": self.source}


def no_inception_options(name: str, options: ExtractorOptions) -> None:
    """Weights files and resize modes are Inception's; silently ignoring them elsewhere would mislead."""
    if options.weights or options.resize:
        raise GanforgeError(f"--inception-weights and --resize apply to --extractor inception, not '{name}'")


ExtractorBuilder = Callable[[ExtractorOptions], Extractor]
EXTRACTORS: Registry[ExtractorBuilder] = Registry("extractor")


def build_extractor(name: str, options: ExtractorOptions | None = None) -> Extractor:
    """The extractor registered under `name`, built (weights loaded) for the options' device."""
    return EXTRACTORS.get(name)(options or ExtractorOptions())


@dataclass(frozen=True)
class DatasetEvaluation:
    """How a dataset's runs are judged when the user names no extractor (stacked MNIST: lenet-mnist per channel)."""

    extractor: str
    metrics: tuple[str, ...]


DATASET_EVALUATION: Registry[DatasetEvaluation] = Registry("dataset evaluation")


def default_extractor(resolution: int, channels: int, dataset: str = "") -> str:
    """The dataset's own extractor when it declares one; else lenet-mnist for gray (digit-like) data at any size
    (resized to 28x28), where Inception features say little and its weights may be missing offline; inception for
    colour images."""
    if dataset in DATASET_EVALUATION:
        return DATASET_EVALUATION.get(dataset).extractor
    return "lenet-mnist" if channels == 1 else "inception"
