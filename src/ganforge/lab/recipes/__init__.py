"""Named lab recipes: YAML layers over the lab's base (`_base.yaml`), one per remedy the papers compare.

The networks are those of the unrolled-GAN paper's 2D experiments (Metz et al. 2017, appendix A): z ~ N(0, I_256),
G and D with two hidden layers of 128 ReLU units. `gan-paper` trains them with that paper's optimiser (Adam 1e-4,
beta1 0.5, constant). Every other recipe shares one base optimiser that converges within the lab's short budget
(Adam 1e-3, beta1 0.5, linearly decayed to 0; batch 256) and changes only what its remedy needs, so `gan` and a
remedy's row differ in exactly one idea.
"""

from __future__ import annotations

from pathlib import Path

from ...presets import Catalogue

RECIPES = Catalogue(Path(__file__).resolve().parent, "*.yaml", "lab algorithm")
BASE_STEPS = int(RECIPES.layer("_base")["train"]["steps"])
