"""Noise, interpolation and image grids: the same seed gives the same images on any machine with this torch build.

Noise is always drawn on the CPU from its own seeded generator and then moved to the model's device, so sampling on
a GPU gives the same latent vectors as on a CPU.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
from torch import nn

from .data.images import to_uint8
from .errors import GanforgeError


def latent_noise(n: int, latent_dim: int, seed: int) -> torch.Tensor:
    return torch.randn(n, latent_dim, generator=torch.Generator().manual_seed(seed))


def slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation between latent vectors a and b at fractions t (Shoemake), linear when parallel."""
    a_unit, b_unit = a / a.norm(), b / b.norm()
    omega = torch.acos((a_unit * b_unit).sum().clamp(-1.0, 1.0))
    t = t.view(-1, 1)
    if omega.abs() < 1e-6:
        return (1 - t) * a + t * b
    return (torch.sin((1 - t) * omega) * a + torch.sin(t * omega) * b) / torch.sin(omega)


def make_grid_image(images: torch.Tensor, nrow: int | None = None, padding: int = 2):
    """uint8 (N, C, H, W) -> a PIL image tiling them, nrow per row (default: a square)."""
    from PIL import Image

    n, c, h, w = images.shape
    nrow = nrow or max(1, math.ceil(math.sqrt(n)))
    rows = math.ceil(n / nrow)
    canvas = torch.zeros(c, rows * (h + padding) + padding, nrow * (w + padding) + padding, dtype=torch.uint8)
    for i in range(n):
        r, col = divmod(i, nrow)
        top, left = padding + r * (h + padding), padding + col * (w + padding)
        canvas[:, top:top + h, left:left + w] = images[i].cpu()
    array = canvas.permute(1, 2, 0).numpy()
    return Image.fromarray(array[..., 0] if c == 1 else array, mode="L" if c == 1 else "RGB")


def save_grid(images: torch.Tensor, path: str | Path, nrow: int | None = None) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        make_grid_image(images, nrow).save(path)
    except (OSError, ValueError) as exc:
        raise GanforgeError(f"cannot write image '{path}' ({exc}); check the path and its extension (.png)") from None
    return path


class Sampler:
    """Turns seeds into uint8 images with a generator (the EMA weights when the model has them)."""

    def __init__(self, generator: nn.Module, device: torch.device | str | None = None, batch_size: int = 256) -> None:
        self.device = torch.device(device) if device is not None else next(generator.parameters()).device
        self.generator = generator.to(self.device).eval()
        self.latent_dim: int = generator.latent_dim
        self.batch_size = batch_size

    @torch.inference_mode()
    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Latent vectors (N, latent_dim) -> uint8 images (N, C, H, W) on the CPU, in batches."""
        out = [to_uint8(self.generator(chunk.to(self.device))).cpu() for chunk in z.split(self.batch_size)]
        return torch.cat(out)

    def sample(self, n: int, seed: int = 0) -> torch.Tensor:
        if n < 1:
            raise GanforgeError(f"--n must be >= 1, got {n}")
        return self.decode(latent_noise(n, self.latent_dim, seed))

    def interpolate(self, seed_a: int, seed_b: int, steps: int) -> torch.Tensor:
        if steps < 2:
            raise GanforgeError(f"--steps must be >= 2, got {steps}")
        a = latent_noise(1, self.latent_dim, seed_a)[0]
        b = latent_noise(1, self.latent_dim, seed_b)[0]
        return self.decode(slerp(a, b, torch.linspace(0, 1, steps)))
