"""The mode-collapse lab: 2D mixtures where every mode can be counted, trained with the same algorithms, losses and
regularisers as the image trainer (`ganforge lab ring8 --algorithms gan,unrolled,...`)."""

from __future__ import annotations

from .recipes import RECIPES
from .runner import LabResult, ToyTrainer, run_lab, train_toy
from .scoring import Coverage, mode_coverage
from .toy import TOY_DATASETS, Mixture

__all__ = ["RECIPES", "TOY_DATASETS", "Coverage", "LabResult", "Mixture", "ToyTrainer", "mode_coverage", "run_lab",
           "train_toy"]
