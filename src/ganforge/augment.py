"""DiffAugment (Zhao et al. 2020): differentiable colour, translation and cutout for D's inputs.

The paper's point is that augmenting only the real images teaches G to produce augmented-looking images; applying
the same random, *differentiable* transforms to real and fake batches, in D's phase and in G's, lets D see more
varied data while G's gradient passes through the augmentation. Every transform here is built from additions,
multiplications, masks and index gathers, so autograd reaches G. Random draws use the `generator` given (or torch's
global RNG), so a fixed seed reproduces the same augmentation.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from .config import AugmentConfig, Config
from .errors import GanforgeError
from .registry import Registry

Tensor = torch.Tensor
Augmentation = Callable[[Tensor, AugmentConfig, "torch.Generator | None"], Tensor]
AUGMENTS: Registry[Augmentation] = Registry("augmentation")


def _uniform(x: Tensor, generator: torch.Generator | None, *shape: int) -> Tensor:
    """Per-sample U[0, 1) draws shaped to broadcast over an image batch."""
    return torch.rand(x.shape[0], *shape, generator=generator, device=x.device, dtype=x.dtype)


@AUGMENTS.register("color", help="random brightness (+-0.5), saturation (x0..2) and contrast (x0.5..1.5) per image")
def color(x: Tensor, config: AugmentConfig, generator: torch.Generator | None = None) -> Tensor:
    x = x + (_uniform(x, generator, 1, 1, 1) - 0.5)
    channel_mean = x.mean(dim=1, keepdim=True)
    x = (x - channel_mean) * (_uniform(x, generator, 1, 1, 1) * 2) + channel_mean
    image_mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - image_mean) * (_uniform(x, generator, 1, 1, 1) + 0.5) + image_mean


@AUGMENTS.register("translation", help="random shift by up to augment.translation of the side, zero-filled")
def translation(x: Tensor, config: AugmentConfig, generator: torch.Generator | None = None) -> Tensor:
    n, _, h, w = x.shape
    sy, sx = int(h * config.translation + 0.5), int(w * config.translation + 0.5)
    if sy == 0 and sx == 0:
        return x
    dy = torch.randint(-sy, sy + 1, (n, 1, 1), generator=generator, device=x.device)
    dx = torch.randint(-sx, sx + 1, (n, 1, 1), generator=generator, device=x.device)
    padded = torch.nn.functional.pad(x, (sx, sx, sy, sy)).permute(0, 2, 3, 1)  # (n, h + 2sy, w + 2sx, c)
    rows = torch.arange(h, device=x.device).view(1, h, 1) - dy + sy
    cols = torch.arange(w, device=x.device).view(1, 1, w) - dx + sx
    batch = torch.arange(n, device=x.device).view(n, 1, 1)
    return padded[batch, rows, cols].permute(0, 3, 1, 2)


@AUGMENTS.register("cutout", help="zero a random square of side augment.cutout x the image side")
def cutout(x: Tensor, config: AugmentConfig, generator: torch.Generator | None = None) -> Tensor:
    n, _, h, w = x.shape
    ch, cw = int(h * config.cutout + 0.5), int(w * config.cutout + 0.5)
    top = torch.randint(0, h - ch + 1, (n, 1, 1), generator=generator, device=x.device)
    left = torch.randint(0, w - cw + 1, (n, 1, 1), generator=generator, device=x.device)
    rows = torch.arange(h, device=x.device).view(1, h, 1)
    cols = torch.arange(w, device=x.device).view(1, 1, w)
    inside = (rows >= top) & (rows < top + ch) & (cols >= left) & (cols < left + cw)
    return x * (~inside).unsqueeze(1).to(x.dtype)


def diff_augment(x: Tensor, policy: Sequence[str], config: AugmentConfig | None = None,
                 generator: torch.Generator | None = None) -> Tensor:
    """Apply the named augmentations in order (the paper's order is color, translation, cutout)."""
    if x.dim() != 4:
        raise GanforgeError(f"DiffAugment needs image batches (N, C, H, W), got shape {tuple(x.shape)}; "
                            f"clear augment.policy for non-image data")
    config = config or AugmentConfig()
    for name in policy:
        x = AUGMENTS.get(name)(x, config, generator)
    return x


def check_config(config: Config) -> None:
    """augment.policy: every name must be a registered augmentation."""
    for name in config.augment.policy:
        if name not in AUGMENTS:
            raise GanforgeError(f"augment.policy: {AUGMENTS.unknown_message(name)}")
