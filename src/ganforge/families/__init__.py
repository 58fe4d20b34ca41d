"""Training families by name (`algorithm.name`): each module builds its named networks, declares the batches it
reads and lists its phases; `ganforge.training` runs them."""

from __future__ import annotations

from .base import FAMILIES, CompileTarget, Family, Phase, TrainingContext, restructure, structure_of
from . import (acgan, began, bigan, cyclegan, gan, infogan, mrgan, msggan, pix2pix, progan, semantic,  # noqa: F401
               srgan, stargan, stylegan2, unrolled, veegan)

__all__ = ["FAMILIES", "CompileTarget", "Family", "Phase", "TrainingContext", "restructure", "structure_of"]
