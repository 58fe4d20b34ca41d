"""The mode-collapse lab: 2D mixtures and stacked MNIST, where every mode can be counted, trained with the same
algorithms, losses and regularisers as the image trainer (`ganforge lab ring8 --algorithms gan,unrolled,...`,
`ganforge lab stacked-mnist --algorithms stacked-dcgan,stacked-pacgan2`)."""

from __future__ import annotations

from .recipes import RECIPES
from .runner import LAB_DATASETS, LabKind, LabResult, ToyTrainer, run_lab, train_toy
from .scoring import Coverage, mode_coverage
from .stacked import STACKED_RECIPES, train_stacked
from .toy import TOY_DATASETS, Mixture

__all__ = ["LAB_DATASETS", "RECIPES", "STACKED_RECIPES", "TOY_DATASETS", "Coverage", "LabKind", "LabResult",
           "Mixture", "ToyTrainer", "mode_coverage", "run_lab", "train_stacked", "train_toy"]
