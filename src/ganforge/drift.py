"""Watching what a served generator makes: reference statistics stored at export, running statistics while serving.

At export, `reference_statistics` draws a fixed set of images from the generator's declared inputs (seed 0, every
input drawn as in training) and stores each channel's pixel mean and standard deviation (in [0, 1]) in the export's
config.json. While serving, `RunningStatistics` keeps the same figures over the last `window` images generated, and
`distance` compares the two: the sum over channels of the squared Frechet (2-Wasserstein) distance between the two
normal laws N(mean, std^2), (m1 - m2)^2 + (s1 - s2)^2. It stays near zero while the server makes what the export
made and moves when the weights, the inputs asked for (one class only, a low truncation) or the code change.
Image-to-image models have no seeded reference (their inputs come from users) and report no drift.

With an extractor (`ganforge export --drift-extractor lenet-mnist`), the export also stores the mean and covariance of
the reference images' features (`reference.safetensors`, beside the weights), and the server keeps the features of
its last `window` images and reports their Frechet distance to the reference (FID's formula on that window): slower
to compute, but it sees changes of content that leave the pixel statistics alone.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .errors import GanforgeError
from .inputs import GivenInput

Tensor = torch.Tensor
REFERENCE_IMAGES = 512
REFERENCE_SEED = 0
DEFAULT_WINDOW = 1024
FEATURES_FILE = "reference.safetensors"


def channel_moments(images: Tensor) -> Tensor:
    """uint8 (N, C, H, W) -> (N, 2, C) float64: each image's per-channel pixel mean and mean square, in [0, 1]."""
    x = images.to(torch.float64).div_(255).flatten(2)
    return torch.stack([x.mean(dim=2), x.square().mean(dim=2)], dim=1)


def _mean_std(moments: Tensor) -> tuple[list[float], list[float]]:
    """Pooled per-channel mean and std of images of one size, from their (N, 2, C) moments."""
    mean, square = moments.mean(dim=0)
    return mean.tolist(), (square - mean.square()).clamp_min(0).sqrt().tolist()


def seeded(network: nn.Module) -> bool:
    """Whether the network draws every input from a seed (no image or label map given by a user)."""
    return not network.inputs.of_kind(GivenInput)


def reference_statistics(network: nn.Module, n: int = REFERENCE_IMAGES, seed: int = REFERENCE_SEED,
                         extractor: Any = None) -> tuple[dict[str, Any], dict[str, Tensor]] | None:
    """Per-channel mean/std of n images drawn from the declared inputs with `seed`, and with an extractor the
    mean/covariance of their features (None for image-to-image)."""
    from .sampling import Sampler

    if not seeded(network):
        return None
    images = Sampler(network).sample(n, seed=seed)
    mean, std = _mean_std(channel_moments(images))
    reference: dict[str, Any] = {"images": n, "seed": seed, "channel_mean": mean, "channel_std": std}
    if extractor is None:
        return reference, {}
    features = torch.from_numpy(extractor.features(images))
    reference.update(extractor=extractor.metadata(), features_file=FEATURES_FILE)
    return reference, {"feature_mean": features.mean(dim=0), "feature_cov": torch.cov(features.T)}


def write_reference(export_dir: Path, n: int = REFERENCE_IMAGES, extractor: str | None = None
                    ) -> dict[str, Any] | None:
    """Add the reference statistics of the export's own generator to its config.json (what `serve` compares to);
    with an extractor, its feature statistics go to reference.safetensors."""
    from safetensors.torch import save

    from .export import CONFIG_FILE, _read_json, load_generator
    from .metrics import build_extractor
    from .utils import atomic_write_bytes, atomic_write_json

    network = load_generator(export_dir)
    built = None
    if extractor is not None and seeded(network):
        built = build_extractor(extractor)
    statistics = reference_statistics(network, n, extractor=built)
    if statistics is None:
        return None
    reference, tensors = statistics
    if tensors:
        atomic_write_bytes(Path(export_dir) / FEATURES_FILE, save({k: v.contiguous() for k, v in tensors.items()}))
    path = Path(export_dir) / CONFIG_FILE
    atomic_write_json(path, {**_read_json(path), "reference": reference})
    return reference


def parse_reference(data: Any, channels: int, source: str) -> dict[str, Any] | None:
    """The stored reference, checked (a damaged one is named), or None when the export has none."""
    if data is None:
        return None
    ok = isinstance(data, dict) and all(
        isinstance(data.get(key), list) and len(data[key]) == channels
        and all(isinstance(v, (int, float)) for v in data[key]) for key in ("channel_mean", "channel_std"))
    if not ok:
        raise GanforgeError(f"'{source}' holds a malformed drift reference; export the model again")
    return data


class _Ring:
    """The last `size` rows written, thread-safe (written by the forward thread, read by /metrics)."""

    def __init__(self, size: int, *shape: int) -> None:
        self.rows = torch.zeros(size, *shape, dtype=torch.float64)
        self._next = 0
        self.seen = 0
        self._lock = threading.Lock()

    def add(self, rows: Tensor) -> None:
        rows = rows[-len(self.rows):]
        with self._lock:
            slots = (self._next + torch.arange(len(rows))) % len(self.rows)
            self.rows[slots] = rows.to(torch.float64)
            self._next = int(slots[-1] + 1) % len(self.rows)
            self.seen += len(rows)

    def filled(self) -> Tensor:
        with self._lock:
            return self.rows[:min(self.seen, len(self.rows))].clone()


class RunningStatistics:
    """Per-channel moments (and, with an extractor, features) of the last `window` images a server generated."""

    def __init__(self, channels: int, window: int = DEFAULT_WINDOW, extractor: Any = None) -> None:
        if window < 1:
            raise GanforgeError(f"the drift window must be >= 1 image, got {window}")
        self.moments = _Ring(window, 2, channels)
        self.extractor = extractor
        self.features = _Ring(window, extractor.dim) if extractor is not None else None

    def update(self, images: Tensor) -> None:
        self.moments.add(channel_moments(images))
        if self.features is not None:
            self.features.add(torch.from_numpy(self.extractor.features(images)))

    def summary(self) -> tuple[int, list[float], list[float]] | None:
        """(images in the window, channel means, channel stds), or None before the first image."""
        rows = self.moments.filled()
        return None if len(rows) == 0 else (len(rows), *_mean_std(rows))

    def feature_distance(self, reference: dict[str, Tensor]) -> float | None:
        """Frechet distance of the window's features to the reference's (None before two images)."""
        from .metrics.scores import frechet_distance

        rows = self.features.filled() if self.features is not None else torch.zeros(0)
        if len(rows) < 2:
            return None
        try:
            return float(frechet_distance(rows.mean(dim=0).numpy(), torch.cov(rows.T).numpy(),
                                          reference["feature_mean"].double().numpy(),
                                          reference["feature_cov"].double().numpy()))
        except GanforgeError:  # a covariance whose square root is not real: no figure rather than a wrong one
            return None


def distance(reference: dict[str, Any], mean: list[float], std: list[float]) -> float:
    """Sum over channels of the squared Frechet distance between N(mean, std^2) and the reference's law."""
    return float(sum((m - rm) ** 2 + (s - rs) ** 2 for m, s, rm, rs in
                     zip(mean, std, reference["channel_mean"], reference["channel_std"])))
