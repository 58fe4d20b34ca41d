"""Mode-regularised GAN and MDGAN (Che et al. 2017): an encoder E maps data to the latent, G(E(x)) must return x.

Networks: G, D and E. The regularisers, with d the squared L2 distance summed over a sample's pixels:

- geometric: lambda1 * ||x - G(E(x))||^2, which pulls G's manifold onto the data's;
- mode: lambda2 * D's generator objective on G(E(x)) (-log D(G(E(x))) for the non-saturating loss), which asks that
  the reconstruction of every real sample, the rare modes' included, be judged real.

Phase D is the two-phase family's (x against G(z)). Phase G minimises T_G = -log D(G(z)) + E_x[lambda1 d(x, G(E(x)))
+ lambda2 (-log D(G(E(x))))] with D and E frozen; phase E minimises T_E = E_x[lambda1 d + lambda2 (-log D(G(E(x))))]
with D and G frozen, so E's gradient reaches only E. Both read the real batch phase D judged: no extra batch per step.
The paper prints the mode term as `+ lambda2 log D(G(E(x)))`; minimised literally it would teach G and E to make
reconstructions D rejects, against the paper's own explanation of the term and its MDGAN manifold step (which
minimises -log D1(G(E(x)))), so the term is D's generator objective, as there. lambda1 = 0.2 and lambda2 = 0.4 are
the defaults (the values kozistr/Awesome-GANs's MRGAN, which follows the paper, trains with).

MDGAN (`algorithm.name=mdgan`) splits training in two steps with a discriminator each. Manifold step: D judges x
against G(E(x)) and G and E minimise lambda1 d(x, G(E(x))) - log D(G(E(x))); diffusion step: D2 judges G(E(x)) (as
its "real") against G(z) and G minimises -log D2(G(z)), spreading G's mass from the data manifold over the modes.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch
from torch import nn

from ..config import Config, option
from ..errors import GanforgeError
from ..models import build_discriminator, build_generator
from .base import FAMILIES, Phase
from .encoders import EncoderGAN, build_encoder
from .gan import TwoPhaseSettings

Tensor = torch.Tensor


@dataclass
class MRGANSettings(TwoPhaseSettings):
    lambda1: float = option(0.2, low=0.0)  # the geometric regulariser's weight: lambda1 ||x - G(E(x))||^2
    lambda2: float = option(0.4, low=0.0)  # the mode regulariser's weight: lambda2 x D's G-objective on G(E(x))


def squared_distance(x: Tensor, y: Tensor) -> Tensor:
    """d(x, y) = ||x - y||^2 summed over each sample's values, averaged over the batch."""
    return (x - y).square().flatten(1).sum(1).mean()


@FAMILIES.register("mrgan", help="mode-regularised GAN (Che et al. 2017): an encoder E, lambda1 ||x - G(E(x))||^2 "
                                 "and lambda2 -log D(G(E(x))) in G's and E's objectives")
class MRGAN(EncoderGAN):
    settings = MRGANSettings
    networks = ("G", "D", "E")
    encoder = "E"

    @classmethod
    def build_networks(cls, config: Config) -> dict[str, nn.Module]:
        return {"G": build_generator(config.model), "D": build_discriminator(config.model),
                "E": build_encoder(config)}

    def phases(self) -> list[Phase]:
        phases = [replace(p, frozen=(*p.frozen, "E")) if p.name == "G" else p for p in super().phases()]
        return [*phases, Phase("E", ("E",), self.encoder_loss, frozen=("D", "G"))]

    def regularizers(self) -> tuple[Tensor, Tensor]:
        """(d(x, G(E(x))), D's generator objective on G(E(x))) on phase D's real batch, unweighted."""
        x = self._x
        reconstruction = self.loop.nets["G"](z=self.loop.nets["E"](x))
        logits = self.loop.nets["D"](self.d_input(reconstruction))
        return squared_distance(x, reconstruction), self.loss.generator(logits, None)

    def weighted_regularizers(self) -> tuple[Tensor, Tensor]:
        a = self.loop.config.algorithm
        geometric, mode = self.regularizers()
        return a.lambda1 * geometric, a.lambda2 * mode

    def generator_loss(self) -> dict[str, Tensor]:
        out = super().generator_loss()
        geometric, mode = self.weighted_regularizers()
        out["loss"] = out["loss"] + geometric + mode
        out.update(geometric_g=geometric.detach(), mode_g=mode.detach())
        return out

    def encoder_loss(self) -> dict[str, Tensor]:
        geometric, mode = self.weighted_regularizers()
        return {"loss": geometric + mode, "geometric_e": geometric.detach(), "mode_e": mode.detach()}


@FAMILIES.register("mdgan", help="MDGAN (Che et al. 2017): a manifold step (D: x vs G(E(x)); G, E: lambda1 "
                                 "||x - G(E(x))||^2 - log D(G(E(x)))) and a diffusion step (D2: G(E(x)) vs G(z))")
class MDGAN(MRGAN):
    networks = ("G", "D", "E", "D2")
    adaptive_augment = False  # two discriminators of its own steps: no one verdict on the reals to steer p with

    @classmethod
    def build_networks(cls, config: Config) -> dict[str, nn.Module]:
        return {**super().build_networks(config), "D2": build_discriminator(config.model)}

    @classmethod
    def check_config(cls, config: Config) -> None:
        super().check_config(config)
        if config.regularize.penalties:
            raise GanforgeError(f"regularize.penalties {sorted(config.regularize.penalties)}: algorithm.name=mdgan "
                                f"has two discriminators of its own steps, for which no penalty is wired; drop them")

    def phases(self) -> list[Phase]:
        return [Phase("Dm", ("D",), self.manifold_discriminator_loss),
                Phase("GE", ("G", "E"), self.manifold_loss, frozen=("D",)),
                Phase("Dd", ("D2",), self.diffusion_discriminator_loss),
                Phase("G", ("G",), self.diffusion_loss, frozen=("D2",))]

    def real_batches_per_step(self) -> int:
        return 1

    def reconstruct(self, with_graph: bool) -> Tensor:
        nets = self.loop.nets
        if with_graph:
            return nets["G"](z=nets["E"](self._x))
        with torch.no_grad():
            return nets["G"](z=nets["E"](self._x))

    def manifold_discriminator_loss(self) -> dict[str, Tensor]:
        self._x = self.loop.next_real_batch()["image"]
        d = self.loop.nets["D"]
        real_logits, fake_logits = d(self.d_input(self._x)), d(self.d_input(self.reconstruct(with_graph=False)))
        return {"loss": self.loss.discriminator(real_logits, fake_logits, self.real_target),
                "d_real": self.loss.score(real_logits), "d_reconstructed": self.loss.score(fake_logits)}

    def manifold_loss(self) -> dict[str, Tensor]:
        distance, adversarial = self.regularizers()
        geometric = self.loop.config.algorithm.lambda1 * distance
        return {"loss": geometric + adversarial, "geometric_g": geometric.detach()}

    def diffusion_discriminator_loss(self) -> dict[str, Tensor]:
        d2 = self.loop.nets["D2"]
        fake, _ = self.generate(self._x.shape[0], with_graph=False)
        real_logits = d2(self.d_input(self.reconstruct(with_graph=False)))
        fake_logits = d2(self.d_input(fake))
        return {"loss": self.loss.discriminator(real_logits, fake_logits, self.real_target),
                "d2_reconstructed": self.loss.score(real_logits), "d2_fake": self.loss.score(fake_logits)}

    def diffusion_loss(self) -> dict[str, Tensor]:
        fake, _ = self.generate(self.loop.batch_size, with_graph=True)
        logits = self.loop.nets["D2"](self.d_input(fake))
        return {"loss": self.loss.generator(logits, None), "d_fake_g": self.loss.score(logits)}
