"""Training families by name (`algorithm.name`): each module builds its named networks, declares the batches it
reads and lists its phases; `ganforge.training` runs them."""

from __future__ import annotations

from .base import FAMILIES, CompileTarget, Family, Phase, TrainingContext
from . import (acgan, began, cyclegan, gan, infogan, pix2pix, semantic, srgan, stargan,  # noqa: F401  (fill the registry)
               unrolled)

__all__ = ["FAMILIES", "CompileTarget", "Family", "Phase", "TrainingContext"]
