"""CycleGAN (Zhu et al. 2017) and DiscoGAN (Kim et al. 2017): unpaired translation both ways, held by cycles.

Networks: G, the two translators (`G.AtoB`, `G.BtoA`, one optimiser over both as the reference code has it), and
D, the two domain discriminators (`D.A`, `D.B`). Phase G (D frozen): each translation is judged real by its target
domain's D, each round trip returns its input (`cycle_weight` x the cycle distance), and, with `identity_weight`,
each translator leaves images of its own target domain unchanged (the paper's 0.5 lambda). Phase D: each D scores
real images of its domain against translations drawn from a history pool of `pool_size` earlier fakes (Shrivastava
et al. 2017), the sum halved.

DiscoGAN is the same two-way game with its own choices, as settings rather than a copy: the round trip measured by
the squared distance with weight 1 beside each adversarial term, no identity term, no pool, the sigmoid loss, an
encoder-decoder G and a one-logit D (its preset).

The exported network is G: it declares an input image and a `direction` (AtoB or BtoA).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..config import Config, option
from ..errors import GanforgeError
from ..inputs import Choice, GeneratorInputs
from ..models import build_discriminator, build_generator
from .base import FAMILIES, Phase, TrainingContext
from .translation import TranslationFamily, TranslationSettings, tile_columns

Tensor = torch.Tensor
DIRECTIONS = ("AtoB", "BtoA")
DISTANCES = {"l1": F.l1_loss, "mse": F.mse_loss}


@dataclass
class CycleSettings(TranslationSettings):
    cycle_weight: float = option(10.0, low=0.0)  # lambda of the cycle-consistency term
    identity_weight: float = option(0.5, low=0.0, hint="x cycle_weight; 0 = off")  # the paper's 0.5 lambda
    cycle_distance: str = option("l1", choices=tuple(DISTANCES))
    pool_size: int = option(50, low=0, high=10000, hint="0 = D sees only the newest fakes")


@dataclass
class DiscoSettings(CycleSettings):
    cycle_weight: float = option(1.0, low=0.0)
    identity_weight: float = option(0.0, low=0.0, hint="x cycle_weight; 0 = off")
    cycle_distance: str = option("mse", choices=tuple(DISTANCES))
    pool_size: int = option(0, low=0, high=10000, hint="0 = D sees only the newest fakes")


class TwoWayGenerator(nn.Module):
    """G(image, direction): translator AtoB or BtoA for each sample (direction 0 or 1)."""

    def __init__(self, a_to_b: nn.Module, b_to_a: nn.Module) -> None:
        super().__init__()
        self.AtoB, self.BtoA = a_to_b, b_to_a
        self.inputs = GeneratorInputs({"image": a_to_b.inputs["image"], "direction": Choice(DIRECTIONS)})

    def forward(self, image: Tensor, direction: Tensor) -> Tensor:
        backward = direction.bool().view(-1, 1, 1, 1)
        if not backward.any():
            return self.AtoB(image=image)
        if backward.all():
            return self.BtoA(image=image)
        return torch.where(backward, self.BtoA(image=image), self.AtoB(image=image))


class ImagePool:
    """The history of generated images D learns from: until full, every fake goes in and comes out; then each fake,
    with probability 1/2, is swapped for a stored one (which is returned) and otherwise returned itself.

    The contents are training state: saved in checkpoints, so a resumed run draws exactly what it would have."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.images: Tensor | None = None  # (stored, C, H, W)

    def query(self, fakes: Tensor) -> Tensor:
        fakes = fakes.detach()
        if self.size == 0:
            return fakes
        out = []
        for image in fakes:
            image = image.unsqueeze(0)
            stored = 0 if self.images is None else self.images.shape[0]
            if stored < self.size:
                self.images = image.clone() if self.images is None else torch.cat([self.images, image])
                out.append(image)
            elif torch.rand(()) < 0.5:
                index = int(torch.randint(stored, ()))
                out.append(self.images[index:index + 1].clone())
                self.images[index] = image[0]
            else:
                out.append(image)
        return torch.cat(out)

    def state_dict(self) -> dict[str, Any]:
        return {"images": self.images.clone()} if self.images is not None else {}

    def load_state_dict(self, state: dict[str, Any], device: torch.device) -> None:
        self.images = state["images"].to(device) if "images" in state else None


@FAMILIES.register("cyclegan", help="CycleGAN (Zhu et al. 2017): two translators, two PatchGANs, LSGAN, cycle and "
                                    "identity losses, a pool of 50 fakes")
class CycleGAN(TranslationFamily):
    settings = CycleSettings

    @classmethod
    def build_networks(cls, config: Config) -> dict[str, nn.Module]:
        m = config.model
        a_channels = m.input_channels or m.channels
        generator = TwoWayGenerator(build_generator(cls.model_for(config, a_channels, m.channels)),
                                    build_generator(cls.model_for(config, m.channels, a_channels)))
        discriminators = nn.ModuleDict({"A": build_discriminator(cls.model_for(config, 0, a_channels)),
                                        "B": build_discriminator(cls.model_for(config, 0, m.channels))})
        return {"G": generator, "D": discriminators}

    @classmethod
    def check_config(cls, config: Config) -> None:
        super().check_config(config)
        m, a = config.model, config.algorithm
        if a.identity_weight and m.input_channels and m.input_channels != m.channels:
            raise GanforgeError(f"algorithm.identity_weight={a.identity_weight} feeds each translator images of its "
                                f"own output domain, but domain A has {m.input_channels} channels and B {m.channels}; "
                                f"set algorithm.identity_weight=0")
        if a.direction != "AtoB":
            raise GanforgeError(f"algorithm.direction={a.direction}: {a.name} learns both directions at once; keep "
                                f"AtoB and pick a direction when translating (--direction BtoA)")

    def __init__(self, loop: TrainingContext) -> None:
        super().__init__(loop)
        if any(net is not loop.raw(name) for name, net in loop.nets.items()):
            raise GanforgeError(f"{loop.config.algorithm.name} runs each translator several times per step, which "
                                f"multi-process training does not support yet; train with one process (no --nproc)")
        settings = loop.config.algorithm
        self.distance = DISTANCES[settings.cycle_distance]
        self.pools = {"A": ImagePool(settings.pool_size), "B": ImagePool(settings.pool_size)}
        self._last: dict[str, Tensor] = {}

    def phases(self) -> list[Phase]:
        return [Phase("G", ("G",), self.generator_loss, frozen=("D",)), Phase("D", ("D",), self.discriminator_loss)]

    def generator_loss(self) -> dict[str, Tensor]:
        settings = self.loop.config.algorithm
        g, d = self.loop.raw("G"), self.loop.nets["D"]
        batch = self.loop.next_real_batch()
        real_a, real_b = batch["A"], batch["B"]
        fake_b, fake_a = g.AtoB(image=real_a), g.BtoA(image=real_b)
        adversarial = (self.loss.generator(d["B"](fake_b), None) + self.loss.generator(d["A"](fake_a), None))
        cycle = self.distance(g.BtoA(image=fake_b), real_a) + self.distance(g.AtoB(image=fake_a), real_b)
        loss = adversarial + settings.cycle_weight * cycle
        out = {"adversarial": adversarial.detach(), "cycle": cycle.detach()}
        if settings.identity_weight:
            identity = self.distance(g.AtoB(image=real_b), real_b) + self.distance(g.BtoA(image=real_a), real_a)
            loss = loss + settings.cycle_weight * settings.identity_weight * identity
            out["identity"] = identity.detach()
        self._last = {"A": real_a, "B": real_b, "fake_A": fake_a.detach(), "fake_B": fake_b.detach()}
        out["loss"] = loss
        return out

    def discriminator_loss(self) -> dict[str, Tensor]:
        d, last = self.loop.nets["D"], self._last
        out: dict[str, Tensor] = {}
        total = 0.0
        for domain in ("A", "B"):
            real_logits = d[domain](last[domain])
            fake_logits = d[domain](self.pools[domain].query(last[f"fake_{domain}"]))
            total = total + 0.5 * self.loss.discriminator(real_logits, fake_logits, self.real_target)
            out[f"d_real_{domain}"] = self.loss.score(real_logits)
            out[f"d_fake_{domain}"] = self.loss.score(fake_logits)
        out["loss"] = total
        return out

    # ------------------------------------------------------------------ previews: both ways, there and back
    def preview_inputs(self, n: int, seed: int) -> tuple[dict[str, Tensor], int | None]:
        held = self.loop.held_out(max(1, min(n, 8) // 2))
        k = held["A"].shape[0]
        direction = torch.cat([torch.zeros(k, dtype=torch.long), torch.ones(k, dtype=torch.long)])
        return {"image": torch.cat([held["A"], held["B"]]), "direction": direction.to(held["A"].device)}, 3

    def preview(self, net: nn.Module, inputs: dict[str, Tensor]) -> Tensor:
        translated = net(**inputs)
        back = net(image=translated, direction=1 - inputs["direction"])
        return tile_columns([inputs["image"], translated, back])

    def state_dict(self) -> dict[str, Any]:
        return {domain: pool.state_dict() for domain, pool in self.pools.items()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for domain, pool in self.pools.items():
            pool.load_state_dict(state.get(domain, {}), self.loop.device)


@FAMILIES.register("discogan", help="DiscoGAN (Kim et al. 2017): the two-way game with a squared reconstruction "
                                    "distance, no identity term, no pool")
class DiscoGAN(CycleGAN):
    settings = DiscoSettings
