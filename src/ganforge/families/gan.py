"""The two-phase GAN (Goodfellow et al. 2014), the default family, its WGAN variants, and what they share.

Networks: G and D. Phase D: a real batch labelled 1 (1 - smoothing) and a fake batch labelled 0; the fakes are
detached, so no gradient reaches G, and only D's optimiser steps. Phase G: fakes labelled 1, scored by D with D
frozen (its weight gradients would be thrown away); only G's optimiser steps, and G is only ever given its declared
inputs (noise, and a label when conditional), never real data.

Conditional networks need nothing more here: D names what it reads besides the image (`conditions`), reals are
scored with their batch's labels and fakes with the labels G was given (cGAN, projection D, BigGAN).

What D sees passes through `DiscriminatorInput` in both phases (instance noise, then DiffAugment, then ADA), so G's
gradient goes through the same transforms D was trained on; each phase D shows ADA's controller D's verdict on the
reals (`verdicts`), and ADA's p is the family's state in checkpoints. Penalties (`regularize.penalties`) are
added to phase D's loss, or run as a lazy phase of their own (`regularize.every`); `algorithm.balance_threshold`
skips D's step while its loss is below the threshold; `regularize.orthogonal` adds BigGAN's orthogonal
regularisation to phase G.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, ClassVar

import torch
from torch import nn

from ..augment import AdaptiveAugment, diff_augment
from ..config import AlgorithmConfig, Config, option
from ..errors import GanforgeError
from ..losses import build_loss
from ..models import DISCRIMINATORS, build_discriminator, build_generator, conditions_of
from ..models.stabilizers import has_batchnorm, scores_samples_independently
from ..regularizers import Penalties, Score, orthogonal_penalty, penalty_schedule
from .base import FAMILIES, CompileTarget, Family, Phase, TrainingContext

Tensor = torch.Tensor
Scorer = Callable[..., Tensor]


@dataclass
class TwoPhaseSettings(AlgorithmConfig):
    d_steps: int = option(1, low=1, high=1000)
    g_steps: int = option(1, low=1, high=1000)
    reuse_fakes: bool = True  # phase G scores the fakes phase D drew (as pytorch/examples); False draws fresh noise
    balance_threshold: float = option(0.0, low=0.0, hint="0 = off")  # skip D's step while its loss is below this


@dataclass
class WGANSettings(TwoPhaseSettings):
    clip: float = option(0.01, low=0.0, low_open=True)  # the critic's weights are clipped to [-clip, clip]


ADA_SEED_OFFSET = 0x0ADA  # ADA draws from a stream of its own, not the one train.seed gives G's noise


class DiscriminatorInput:
    """Instance noise (Gaussian, std annealed linearly to 0), DiffAugment and ADA, applied to every batch D judges."""

    def __init__(self, loop: TrainingContext) -> None:
        self.loop = loop
        self.noise_std = loop.config.regularize.instance_noise
        self.noise_steps = loop.config.regularize.instance_noise_steps
        self.augment = loop.config.augment
        self.ada: AdaptiveAugment | None = None
        if self.augment.ada:
            distributed = torch.distributed.is_available() and torch.distributed.is_initialized()
            rank = torch.distributed.get_rank() if distributed else 0
            seed = loop.config.train.seed + ADA_SEED_OFFSET * (rank + 1)
            self.ada = AdaptiveAugment(self.augment, loop.device, seed)

    def current_noise_std(self) -> float:
        if not self.noise_std:
            return 0.0
        horizon = self.noise_steps or self.loop.total_steps
        return self.noise_std * max(0.0, 1.0 - self.loop.step / horizon)

    def __call__(self, x: Tensor) -> Tensor:
        std = self.current_noise_std()
        if std > 0:
            x = x + std * torch.randn_like(x)
        if self.augment.policy:
            x = diff_augment(x, self.augment.policy, self.augment)
        if self.ada is not None:
            x = self.ada(x)
        return x

    def observe(self, realness: Tensor) -> dict[str, Tensor]:
        """D's verdict on a real batch (> 0: called real) for ADA's p; what the training log records of ADA."""
        if self.ada is None:
            return {}
        self.ada.observe(realness)
        return self.ada.stats()

    def state_dict(self) -> dict[str, Any]:
        return {} if self.ada is None else {"ada": self.ada.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if self.ada is not None:
            self.ada.load_state_dict(state["ada"])


@FAMILIES.register("gan", help="the two-phase GAN: d_steps D updates, then g_steps G updates (conditional when "
                               "model.num_classes > 0)")
class TwoPhaseGAN(Family):
    settings = TwoPhaseSettings
    adaptive_augment: ClassVar[bool] = True  # its phase D shows ADA's controller D's verdict on the reals

    @classmethod
    def build_networks(cls, config: Config) -> dict[str, nn.Module]:
        return {"G": build_generator(config.model), "D": build_discriminator(config.model)}

    @classmethod
    def build_sampler(cls, config: Config) -> nn.Module:
        return build_generator(config.model)

    @classmethod
    def batch_keys(cls, config: Config) -> tuple[str, ...]:
        return ("image", "label") if config.model.num_classes else ("image",)

    @classmethod
    def check_config(cls, config: Config) -> None:
        m = config.model
        if m.discriminator not in DISCRIMINATORS:
            raise GanforgeError(f"model.discriminator={m.discriminator} is an auto-encoder, which the "
                                f"{config.algorithm.name} family cannot score with; use algorithm.name=began, or one "
                                f"of: {', '.join(DISCRIMINATORS.names())}")
        if m.num_classes and m.d_conditioning == "none":
            raise GanforgeError(f"model.num_classes={m.num_classes} with model.d_conditioning=none: in the "
                                f"{config.algorithm.name} family nothing would tie G's label to its image; set "
                                f"model.d_conditioning=concat or projection, or algorithm.name=acgan")

    def __init__(self, loop: TrainingContext) -> None:
        super().__init__(loop)
        config, settings = loop.config, loop.config.algorithm
        self.loss = build_loss(config.loss)
        self.reuse_fakes = settings.reuse_fakes
        self.real_target = 1.0 - config.loss.label_smoothing
        self.d_input = DiscriminatorInput(loop)
        schedule = penalty_schedule(config.regularize)
        self.penalties = schedule.pop(1, Penalties({}))
        self.lazy_penalties = schedule
        discriminator = loop.raw("D")
        if (self.penalties or self.lazy_penalties) and has_batchnorm(discriminator):
            raise GanforgeError(f"regularize.penalties {sorted(config.regularize.penalties)} need per-sample input "
                                f"gradients, which the BatchNorm layers of discriminator "
                                f"'{config.model.discriminator}' mix across the batch; set model.d_norm=layer "
                                f"(or none)")
        self.joint_forward = scores_samples_independently(discriminator)
        self.conditions = conditions_of(discriminator)
        self.orthogonal = config.regularize.orthogonal
        self._fakes: tuple[Tensor, dict[str, Tensor]] | None = None
        self._real: Tensor | None = None
        self._real_conditions: dict[str, Tensor] = {}
        self._seen_fake: tuple[Tensor, dict[str, Tensor]] | None = None

    def phases(self) -> list[Phase]:
        a = self.loop.config.algorithm
        phases = [Phase("D", ("D",), self.discriminator_loss, repeats=a.d_steps,
                        after_step=self.after_discriminator_step,
                        skip=self.balance_rule if a.balance_threshold > 0 else None)]
        for every, penalties in self.lazy_penalties.items():
            name = "Dreg" if len(self.lazy_penalties) == 1 else f"Dreg{every}"
            phases.append(Phase(name, ("D",), partial(self.lazy_penalty_loss, penalties), every=every))
        phases.append(Phase("G", ("G",), self.generator_loss, repeats=a.g_steps, frozen=("D",)))
        return phases

    def real_batches_per_step(self) -> int:
        return self.loop.config.algorithm.d_steps

    def balance_rule(self, loss: float) -> str | None:
        """The course's rule: no D step while D's loss is below algorithm.balance_threshold (D is winning)."""
        threshold = self.loop.config.algorithm.balance_threshold
        return f"its loss {loss:.4f} is below algorithm.balance_threshold={threshold:g}" if loss < threshold else None

    def after_discriminator_step(self) -> None:
        """Hook for families that constrain D after each update (WGAN's weight clipping)."""

    @staticmethod
    def d_logits(output: Tensor) -> Tensor:
        """The adversarial logits in what D returns (families whose D has a second head take them apart)."""
        return output

    def scorers(self, fake_conditions: dict[str, Tensor]) -> tuple[Score, Score]:
        """D as a function of images alone: reals with their labels, fakes with G's (what the penalties take)."""
        d, real_conditions = self.loop.nets["D"], self._real_conditions
        return (lambda x: self.d_logits(d(x, **real_conditions))), (lambda x: self.d_logits(d(x, **fake_conditions)))

    def draw(self) -> tuple[dict[str, Tensor], Tensor, Tensor, dict[str, Tensor]]:
        """Phase D's batches as D sees them: (the real batch, real images, fakes, the inputs that made them)."""
        batch = self.loop.next_real_batch()
        real = self.d_input(batch["image"])
        generated, inputs = self.generate(real.shape[0], with_graph=self.reuse_fakes)
        self._fakes = (generated, inputs) if self.reuse_fakes else None
        return batch, real, self.d_input(generated.detach()), inputs

    def discriminator_loss(self) -> dict[str, Tensor]:
        batch, real, fake, inputs = self.draw()
        real_conditions = {k: batch[k] for k in self.conditions}
        fake_conditions = {k: inputs[k] for k in self.conditions}
        real_logits, fake_logits = self.score_real_and_fake(real, fake, real_conditions, fake_conditions)
        loss = self.loss.discriminator(real_logits, fake_logits, self.real_target)
        return self.with_penalties(loss, self.verdicts(real_logits, fake_logits), real, fake, real_conditions,
                                   fake_conditions)

    def verdicts(self, real_logits: Tensor, fake_logits: Tensor) -> dict[str, Tensor]:
        """What every phase D logs of its adversarial logits (d_real, d_fake), after showing them to ADA, whose r_t
        counts the reals the loss calls real."""
        return {"d_real": self.loss.score(real_logits), "d_fake": self.loss.score(fake_logits),
                **self.d_input.observe(self.loss.realness(real_logits.detach(), fake_logits.detach()))}

    def with_penalties(self, loss: Tensor, out: dict[str, Tensor], real: Tensor, fake: Tensor,
                       real_conditions: dict[str, Tensor], fake_conditions: dict[str, Tensor]) -> dict[str, Tensor]:
        """Phase D's output: its loss plus the penalties due at every D step; what D judged is kept for the lazy
        penalties and for phase G."""
        self._real, self._real_conditions, self._seen_fake = real, real_conditions, (fake, fake_conditions)
        for name, value in self.penalties(*self.scorers(fake_conditions), real, fake, step=self.loop.step,
                                          total=self.loop.total_steps).items():
            loss = loss + value
            out[f"penalty_{name}"] = value.detach()
        out["loss"] = loss
        return out

    def lazy_penalty_loss(self, penalties: Penalties) -> dict[str, Tensor]:
        """A lazy phase: the penalties on the last batches phase D judged, weighted by their interval."""
        fake, fake_conditions = self._seen_fake
        values = penalties(*self.scorers(fake_conditions), self._real, fake, step=self.loop.step,
                           total=self.loop.total_steps)
        out = {f"penalty_{name}": value.detach() for name, value in values.items()}
        out["loss"] = torch.stack(list(values.values())).sum()
        return out

    def score_real_and_fake(self, real: Tensor, fake: Tensor, real_conditions: dict[str, Tensor],
                            fake_conditions: dict[str, Tensor], d: Scorer | None = None) -> tuple[Tensor, Tensor]:
        """D's logits for both batches: the textbook's two forwards, or one over both batches concatenated when D
        scores every sample on its own (the same logits from bigger matmuls: 1.3x an MLP epoch on 2 cores)."""
        d = d or self.loop.nets["D"]
        if not self.joint_forward:
            return d(real, **real_conditions), d(fake, **fake_conditions)
        both = {k: torch.cat([real_conditions[k], fake_conditions[k]]) for k in real_conditions}
        logits = d(torch.cat([real, fake]), **both)
        n_real = logits.shape[0] * real.shape[0] // (real.shape[0] + fake.shape[0])  # a packed D: one logit per pack
        return logits[:n_real], logits[n_real:]

    def fakes_for_generator(self) -> tuple[Tensor, dict[str, Tensor]]:
        """Phase D's fakes (reuse_fakes) or fresh ones, with the inputs that made them."""
        fakes = self._fakes if self._fakes is not None else self.generate(self.loop.batch_size, with_graph=True)
        self._fakes = None
        return fakes

    def generator_loss(self) -> dict[str, Tensor]:
        d = self.loop.nets["D"]
        fake, inputs = self.fakes_for_generator()
        fake_logits = d(self.d_input(fake), **{k: inputs[k] for k in self.conditions})
        real_logits = d(self._real, **self._real_conditions) if self.loss.generator_needs_real else None
        out = {"loss": self.loss.generator(fake_logits, real_logits), "d_fake_g": self.loss.score(fake_logits)}
        return self.with_orthogonal(out)

    def with_orthogonal(self, out: dict[str, Tensor]) -> dict[str, Tensor]:
        """Phase G's loss plus the orthogonal regularisation of G's weights, when on."""
        if self.orthogonal:
            penalty = orthogonal_penalty(self.loop.raw("G"), self.orthogonal)
            out["loss"] = out["loss"] + penalty
            out["penalty_orthogonal"] = penalty.detach()
        return out

    def state_dict(self) -> dict[str, Any]:
        return self.d_input.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.d_input.load_state_dict(state)

    def compile_targets(self, batch_size: int) -> list[CompileTarget]:
        rng = torch.Generator(device=self.loop.device).manual_seed(0)
        generator, discriminator = self.loop.raw("G"), self.loop.raw("D")
        inputs = generator.inputs.sample(batch_size, rng)
        was_training = generator.training
        generator.eval()  # an example of the right shape, without moving BatchNorm's running statistics
        with torch.no_grad():
            fakes = generator(**inputs)
        generator.train(was_training)
        return [CompileTarget("the generator", generator, kwargs=inputs),
                CompileTarget("the discriminator", discriminator, (fakes,), {k: inputs[k] for k in self.conditions},
                              scored_frozen=True)]


def require_own_networks(config: Config, family: str, generator: str | None = None,
                         discriminator: str | None = None) -> None:
    """A family whose networks are its own (ProGAN, MSG-GAN, StyleGAN2/3) needs the model section to name them; they
    are registered under the family's name unless given (StyleGAN3 trains its G with StyleGAN2's D)."""
    m = config.model
    generator, discriminator = generator or family, discriminator or family
    if m.generator != generator or m.discriminator != discriminator:
        raise GanforgeError(f"algorithm.name={family} trains its own networks; set model.generator={generator} and "
                            f"model.discriminator={discriminator} (got {m.generator} and {m.discriminator})")


def refuse_options(family: str, options: dict[str, tuple[object, str]]) -> None:
    """One line for the first setting in use ({key: (its value, why it does not apply)}) that the family refuses."""
    for key, (used, reason) in options.items():
        if used:
            raise GanforgeError(f"{key} does not apply to algorithm.name={family} ({reason}); drop it")


def require_critic_loss(config: Config, family: str) -> None:
    """WGAN-style families estimate a distance with raw critic scores: a sigmoid-BCE loss makes no sense there."""
    if build_loss(config.loss).uses_sigmoid:
        raise GanforgeError(f"algorithm.name={family} trains a critic with raw scores, but loss.name="
                            f"{config.loss.name} is a sigmoid-BCE loss; set loss.name=wasserstein")


@FAMILIES.register("wgan", help="WGAN (Arjovsky et al. 2017): critic weights clipped to [-clip, clip] after each of "
                                "its d_steps updates")
class WGAN(TwoPhaseGAN):
    settings = WGANSettings

    def __init__(self, loop: TrainingContext) -> None:
        super().__init__(loop)
        self.clip = loop.config.algorithm.clip

    @classmethod
    def check_config(cls, config: Config) -> None:
        super().check_config(config)
        require_critic_loss(config, "wgan")
        if config.regularize.penalties.get("gp", 0) > 0:
            raise GanforgeError("algorithm.name=wgan clips the critic's weights, and regularize.penalties.gp adds "
                                "the gradient penalty that replaces clipping; use one: algorithm.name=wgan-gp, or "
                                "drop regularize.penalties.gp")

    @torch.no_grad()
    def after_discriminator_step(self) -> None:
        for p in self.loop.nets["D"].parameters():
            p.clamp_(-self.clip, self.clip)


@FAMILIES.register("wgan-gp", help="WGAN-GP (Gulrajani et al. 2017): critic with the gradient penalty "
                                   "regularize.penalties.gp on interpolates, no clipping")
class WGANGP(TwoPhaseGAN):
    @classmethod
    def check_config(cls, config: Config) -> None:
        super().check_config(config)
        require_critic_loss(config, "wgan-gp")
        if config.regularize.penalties.get("gp", 0) <= 0:
            raise GanforgeError("algorithm.name=wgan-gp needs the gradient penalty: set regularize.penalties.gp=10 "
                                "(the paper's lambda)")
