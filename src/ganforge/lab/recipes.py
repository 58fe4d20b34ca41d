"""Named lab recipes: config overrides on top of the lab's base setting, one per remedy the papers compare.

The networks are those of the unrolled-GAN paper's 2D experiments (Metz et al. 2017, appendix A): z ~ N(0, I_256),
G and D with two hidden layers of 128 ReLU units. `gan-paper` trains them with that paper's optimiser (Adam 1e-4,
beta1 0.5, constant). Every other recipe shares one base optimiser that converges within the lab's short budget
(Adam 1e-3, beta1 0.5, linearly decayed to 0; batch 256) and changes only what its remedy needs, so `gan` and a
remedy's row differ in exactly one idea.
"""

from __future__ import annotations

from typing import Any

from ..registry import Registry

LAB_BASE: dict[str, Any] = {
    "model": {"generator": "toy-mlp", "discriminator": "toy-mlp", "channels": 2, "resolution": 1,
              "latent_dim": 256, "g_width": 128, "d_width": 128, "init": "default"},
    "loss": {"name": "non-saturating"},
    "optim": {"name": "adam", "lr_g": 1e-3, "lr_d": 1e-3, "beta1": 0.5, "beta2": 0.999, "schedule": "linear"},
    "algorithm": {"name": "gan"},
    "train": {"steps": 4000, "batch_size": 256, "ema": False, "device": "cpu"},
}

RECIPES: Registry[dict[str, Any]] = Registry("lab algorithm")
RECIPES.add("gan-paper", {"optim": {"lr_g": 1e-4, "lr_d": 1e-4, "schedule": "constant"}, "train": {"batch_size": 512}},
            help="the baseline in the unrolled-GAN paper's setting: Adam 1e-4, beta1 0.5, batch 512, constant")
RECIPES.add("gan", {}, help="the plain non-saturating GAN on the lab's base optimiser (what each remedy changes)")
RECIPES.add("unrolled", {"algorithm": {"name": "unrolled", "unroll_steps": 5}},
            help="unrolled GAN, 5 look-ahead D steps, second order (Metz et al. 2017)")
RECIPES.add("pacgan", {"model": {"pack": 2}}, help="PacGAN2: D judges pairs of samples (Lin et al. 2018)")
RECIPES.add("pacgan4", {"model": {"pack": 4}}, help="PacGAN4: D judges packs of four samples")
RECIPES.add("wgan-gp", {"loss": {"name": "wasserstein"}, "algorithm": {"name": "wgan-gp", "d_steps": 5},
                        "regularize": {"penalties": {"gp": 10.0}},
                        "optim": {"beta1": 0.0, "beta2": 0.9}},
            help="WGAN-GP: critic, gradient penalty 10, n_critic 5, Adam (0, 0.9) (Gulrajani et al. 2017)")
RECIPES.add("minibatch", {"model": {"minibatch_discrimination": 5}},
            help="minibatch discrimination, 5 kernels of 5 (Salimans et al. 2016)")
RECIPES.add("minibatch-std", {"model": {"minibatch_std": True}}, help="minibatch standard deviation (Karras 2018)")
DEEP_MINIBATCH_STD = {"generator": "toy-mlp-deep", "g_width": 256, "minibatch_std": True}
RECIPES.add("minibatch-std-deep", {"model": DEEP_MINIBATCH_STD, "train": {"steps": 20000}},
            help="minibatch std with a 4 x 256 generator (the depth of PacGAN's) and 20,000 steps: all 8 ring modes "
                 "for a quarter of minibatch-std-r1's samples")
RECIPES.add("minibatch-std-r1", {"model": DEEP_MINIBATCH_STD, "regularize": {"penalties": {"r1": 0.1}},
                                 "train": {"steps": 40000, "batch_size": 512}},
            help="minibatch-std-deep plus an R1 penalty (gamma 0.1), batch 512, 40,000 steps: the lab's best on grid25")
RECIPES.add("r1", {"regularize": {"penalties": {"r1": 1.0}}}, help="R1 penalty, gamma 1 (Mescheder et al. 2018)")
RECIPES.add("lsgan", {"loss": {"name": "least-squares"}}, help="least-squares loss (Mao et al. 2017)")
RECIPES.add("hinge-sn", {"loss": {"name": "hinge"}, "model": {"spectral_norm": True}},
            help="hinge loss with a spectrally normalised D (Miyato et al. 2018)")
