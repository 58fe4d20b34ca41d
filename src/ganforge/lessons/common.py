"""What every lesson shares: training a preset through the library's Trainer, the domain FID, sharpness, figures.

Lessons never train with a loop of their own: `train_preset` is the Trainer `ganforge train` runs, and the FID is
`ganforge eval`'s (Frechet distance in `lenet-mnist` features against the built-in digits).
"""

from __future__ import annotations

import io
import json
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch

from ..utils import atomic_write_bytes

DOMAIN_EXTRACTOR = "lenet-mnist"
DOMAIN_DATASET = "mnist-5k"


@contextmanager
def scratch(name: str) -> Iterator[Path]:
    """A temporary folder for a lesson's training runs: the lesson keeps its figures, not the checkpoints."""
    with tempfile.TemporaryDirectory(prefix=f"ganforge-lesson-{name}-") as folder:
        yield Path(folder)


def build_trainer(preset: str, overrides: list[str], run_dir: Path):
    """The Trainer of `ganforge train PRESET --set ...` (quiet: the lesson prints its own summary)."""
    from ..configure import build_config
    from ..training.trainer import Trainer

    config = build_config(preset=preset, overrides=list(overrides))
    return Trainer(config, run_dir, quiet=True, progress=False)


def records(run_dir: Path) -> list[dict[str, Any]]:
    """The run's metrics.jsonl lines."""
    path = run_dir / "metrics.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def run_fid(model: Path, n: int) -> float:
    """The domain FID of a run or export, exactly as `ganforge eval MODEL --metrics fid --n N` computes it."""
    from ..metrics.evaluate import evaluate_model

    result = evaluate_model(model, metrics="fid", n=n, extractor=DOMAIN_EXTRACTOR, seed=0)
    return float(result["metrics"]["fid"])


def images_fid(images: torch.Tensor) -> float:
    """The domain FID of uint8 digits (N, 1, 28, 28) from any model, through the same extractor, real set and
    Frechet distance as `run_fid`."""
    from ..metrics import ExtractorOptions, build_extractor
    from ..metrics.evaluate import run_metrics
    from ..metrics.stats import dataset_features

    net = build_extractor(DOMAIN_EXTRACTOR, ExtractorOptions(device="cpu"))
    real = dataset_features(DOMAIN_DATASET, net, images.shape[0])
    return float(run_metrics(["fid"], real, net.run(images, "fake"), net, 0)["fid"])


def sharpness(images: torch.Tensor) -> float:
    """Mean image-gradient magnitude of uint8 images, pixels in [0, 1]: blur lowers it, crisp strokes raise it."""
    x = images.double() / 255.0
    dx = x[..., :-1, 1:] - x[..., :-1, :-1]
    dy = x[..., 1:, :-1] - x[..., :-1, :-1]
    return float(torch.sqrt(dx ** 2 + dy ** 2).mean())


def real_digits(n: int, seed: int = 0) -> torch.Tensor:
    """n built-in digits (uint8, shuffled: the set is sorted by class)."""
    from ..data import load_dataset

    images = load_dataset(DOMAIN_DATASET).images
    order = torch.randperm(images.shape[0], generator=torch.Generator().manual_seed(seed))
    return images[order[:n]]


def pyplot():
    """matplotlib's pyplot on the file-only backend (lessons run on machines without a display)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path: Path, dpi: int = 80) -> Path:
    """Write a matplotlib figure atomically and close it."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    pyplot().close(fig)
    atomic_write_bytes(path, buffer.getvalue())
    return path


def grids_over_training(run_dir: Path, path: Path, title: str, most: int = 6) -> tuple[Path, list[int]]:
    """The run's sample grids (the same fixed inputs) at up to `most` evenly spread steps, side by side."""
    from PIL import Image

    files = sorted((run_dir / "samples").glob("step_*.png"))
    if len(files) > most:
        files = [files[round(i * (len(files) - 1) / (most - 1))] for i in range(most)]
    steps = [int(f.stem.split("_")[1]) for f in files]
    plt = pyplot()
    fig, axes = plt.subplots(1, len(files), figsize=(2.2 * len(files), 2.6), squeeze=False)
    for ax, file, step in zip(axes[0], files, steps):
        with Image.open(file) as img:
            ax.imshow(img.convert("L"), cmap="gray", vmin=0, vmax=255)
        ax.set_title(f"step {step}", fontsize=9)
        ax.axis("off")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return save_figure(fig, path), steps


def table(header: list[str], rows: list[list[Any]]) -> str:
    """A markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)
