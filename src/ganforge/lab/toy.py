"""The 2D mixtures of the mode-collapse papers (Metz et al. 2017; Srivastava et al. 2017, VEEGAN; Lin et al. 2018)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..registry import Registry


@dataclass(frozen=True)
class Mixture:
    """Equal-weight isotropic Gaussians: `centres` (modes, 2) and one standard deviation."""

    name: str
    centres: torch.Tensor
    std: float

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        which = torch.randint(len(self.centres), (n,), generator=generator)
        return self.centres[which] + self.std * torch.randn(n, 2, generator=generator)


TOY_DATASETS: Registry[Mixture] = Registry("2D dataset")


def ring(modes: int = 8, radius: float = 2.0, std: float = 0.02) -> Mixture:
    angles = torch.arange(modes, dtype=torch.float64) * (2 * math.pi / modes)
    centres = torch.stack([radius * torch.cos(angles), radius * torch.sin(angles)], dim=1).float()
    return Mixture(f"ring{modes}", centres, std)


def grid(side: int = 5, spacing: float = 2.0, std: float = 0.05) -> Mixture:
    coords = (torch.arange(side, dtype=torch.float32) - (side - 1) / 2) * spacing
    centres = torch.cartesian_prod(coords, coords)
    return Mixture(f"grid{side * side}", centres, std)


TOY_DATASETS.add("ring8", ring(), help="8 Gaussians on a circle of radius 2, std 0.02")
TOY_DATASETS.add("grid25", grid(), help="5 x 5 Gaussians on a grid of spacing 2 (from -4 to 4), std 0.05")
