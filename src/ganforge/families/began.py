"""BEGAN (Berthelot et al. 2017): an auto-encoder D, and an equilibrium controller instead of a D/G schedule.

D reconstructs images; L(v) = mean |v - D(v)|^eta is its reconstruction error (the paper's eta is 1 or 2).
Phase D: L_D = L(x) - k_t L(G(z)), so D learns to reconstruct reals and, weighted by k_t, to reconstruct fakes
badly. Phase G: L_G = L(G(z)) (the same fakes). After each step k_{t+1} = clip(k_t + lambda_k (gamma L(x) -
L(G(z))), 0, 1) keeps the ratio E[L(G(z))] / E[L(x)] near gamma (lower gamma: less diversity, more quality). The
convergence measure M_global = L(x) + |gamma L(x) - L(G(z))| is logged and plotted (losses.png); it falls as
training converges. k_t is the family's state: checkpoints carry it, so a resumed run continues the controller exactly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ..config import AlgorithmConfig, Config, option
from ..errors import GanforgeError
from ..models import apply_init, build_generator
from ..models.began import AUTOENCODERS
from .base import FAMILIES, Family, Phase, TrainingContext

Tensor = torch.Tensor


@dataclass
class BEGANSettings(AlgorithmConfig):
    gamma: float = option(0.5, low=0.0, high=1.0, low_open=True)  # diversity ratio E[L(G(z))] / E[L(x)]
    lambda_k: float = option(0.001, low=0.0)  # the controller's gain (the paper's learning rate of k)
    k_init: float = option(0.0, low=0.0, high=1.0)  # k_0
    # the paper's eta: L(v) = mean |v - D(v)|^eta. On MNIST's mostly black digits, eta = 1 (a median) keeps the
    # auto-encoder at an all-black reconstruction; eta = 2 (a mean) lets it learn the strokes (see README)
    eta: int = option(1, choices=(1, 2))


@FAMILIES.register("began", help="BEGAN (Berthelot et al. 2017): auto-encoder D, L1 reconstruction loss, the k_t "
                                 "equilibrium controller; logs M_global")
class BEGAN(Family):
    settings = BEGANSettings
    plotted = (("m_global", "convergence M_global"), ("k", "k_t"))

    @classmethod
    def build_networks(cls, config: Config) -> dict[str, nn.Module]:
        generator = build_generator(config.model)
        discriminator = AUTOENCODERS.get(config.model.discriminator)(config.model)
        apply_init(discriminator, config.model.init)
        return {"G": generator, "D": discriminator}

    @classmethod
    def build_sampler(cls, config: Config) -> nn.Module:
        return build_generator(config.model)

    @classmethod
    def check_config(cls, config: Config) -> None:
        m, r = config.model, config.regularize
        if m.discriminator not in AUTOENCODERS:
            raise GanforgeError(f"algorithm.name=began needs an auto-encoder D, but model.discriminator="
                                f"{m.discriminator}; choose from: {', '.join(AUTOENCODERS.names())}")
        options = {"model.spectral_norm": m.spectral_norm, "model.pack": m.pack > 1,
                   "model.minibatch_std": m.minibatch_std, "model.minibatch_discrimination": m.minibatch_discrimination,
                   "model.num_classes": m.num_classes, "regularize.penalties": any(r.penalties.values()),
                   "regularize.instance_noise": r.instance_noise, "regularize.orthogonal": r.orthogonal,
                   "augment.policy": config.augment.policy}
        for key, used in options.items():
            if used:
                raise GanforgeError(f"{key} is a discriminator option of the two-phase families; BEGAN's auto-encoder "
                                    f"D has its own loss: drop {key} with algorithm.name=began")

    def __init__(self, loop: TrainingContext) -> None:
        super().__init__(loop)
        settings = loop.config.algorithm
        self.gamma, self.lambda_k, self.eta = settings.gamma, settings.lambda_k, settings.eta
        self.k = settings.k_init
        self._fakes: Tensor | None = None
        self._real_error: float = 0.0
        self._fake_error: float = 0.0

    def phases(self) -> list[Phase]:
        return [Phase("D", ("D",), self.discriminator_loss),
                Phase("G", ("G",), self.generator_loss, frozen=("D",), after_step=self.update_k)]

    def reconstruction_error(self, images: Tensor) -> Tensor:
        """L(v): the mean of |v - D(v)|^eta, D's reconstruction error."""
        return (self.loop.nets["D"](images) - images).abs().pow(self.eta).mean()

    def discriminator_loss(self) -> dict[str, Tensor]:
        real = self.loop.next_real_batch()["image"]
        self._fakes, _ = self.generate(real.shape[0], with_graph=True)
        real_error = self.reconstruction_error(real)
        fake_error = self.reconstruction_error(self._fakes.detach())
        self._real_error = real_error.item()
        return {"loss": real_error - self.k * fake_error, "recon_real": real_error.detach(),
                "recon_fake": fake_error.detach()}

    def generator_loss(self) -> dict[str, Tensor]:
        fake_error = self.reconstruction_error(self._fakes)
        self._fakes = None
        self._fake_error = fake_error.item()
        m_global = self._real_error + abs(self.gamma * self._real_error - self._fake_error)
        return {"loss": fake_error, "k": torch.tensor(self.k), "m_global": torch.tensor(m_global)}

    def update_k(self) -> None:
        """The proportional controller: k rises while fakes are reconstructed too well relative to reals."""
        balance = self.gamma * self._real_error - self._fake_error
        self.k = min(max(self.k + self.lambda_k * balance, 0.0), 1.0)

    def state_dict(self) -> dict[str, Any]:
        return {"k": torch.tensor(self.k, dtype=torch.float64)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.k = float(state["k"])
