"""Mode coverage as the papers count it (VEEGAN, PacGAN): which modes 2,500 samples reach, and how many land near one.

A sample is *high quality* when it lies within 3 standard deviations of some mode's centre; a mode is *captured*
when at least 20 samples (of 2,500) are within 3 standard deviations of it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch

from .toy import Mixture


@dataclass
class Coverage:
    modes: int  # modes captured
    total_modes: int
    high_quality: float  # fraction of samples within 3 std of a centre, in [0, 1]
    per_mode: list[int]  # samples within 3 std of each centre

    def to_dict(self) -> dict:
        return asdict(self)

    def describe(self) -> str:
        return f"{self.modes}/{self.total_modes} modes, {100 * self.high_quality:.1f}% high quality"


def mode_coverage(samples: torch.Tensor, mixture: Mixture, threshold: int = 20, radius_std: float = 3.0
                  ) -> Coverage:
    samples = samples.detach().double().cpu()
    distances = torch.cdist(samples, mixture.centres.double())  # (n, modes)
    nearest, which = distances.min(dim=1)
    close = nearest <= radius_std * mixture.std
    per_mode = torch.bincount(which[close], minlength=len(mixture.centres))
    return Coverage(modes=int((per_mode >= threshold).sum()), total_modes=len(mixture.centres),
                    high_quality=float(close.double().mean()) if len(samples) else 0.0,
                    per_mode=[int(c) for c in per_mode])
