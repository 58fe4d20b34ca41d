"""What a training family is: its named networks, the data it reads, its phases and its own state.

A family (`algorithm.name`) is one module: it builds its networks by name (`{"G": ..., "D": ...}`), says which batch
keys it needs, and lists its phases. The loop (`ganforge.training`) only runs phases: for each one it freezes the
networks the phase names, computes the loss, refuses a non-finite one, and steps the optimisers of the networks the
phase updates. Nothing outside a family names its networks, except through `sampler` (the network that generates,
for samples, evaluation and exports).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

import torch
from torch import nn

from ..config import AlgorithmConfig, Config
from ..data.images import to_uint8
from ..errors import GanforgeError
from ..inputs import GeneratorInputs, GivenInput
from ..registry import Registry
from ..sampling import training_grid

Tensor = torch.Tensor


@dataclass
class Phase:
    """One optimiser turn: `loss()` runs the forward passes and returns {'loss': tensor, other stats...}.

    Only the optimisers of `networks` step. `frozen` networks are scored but get no weight gradients (and, under DDP,
    no gradient sync). A phase with `every` = N > 1 is lazy: it runs on steps divisible by N, and the optimisers of
    its networks get lazy regularisation's correction (StyleGAN2: lr x N/(N+1), betas ** N/(N+1)).
    """

    name: str
    networks: tuple[str, ...]
    loss: Callable[[], dict[str, Tensor]]
    repeats: int = 1
    every: int = 1
    frozen: tuple[str, ...] = ()
    after_step: Callable[[], None] | None = None  # e.g. weight clipping after a critic step
    skip: Callable[[float], str | None] | None = None  # given the loss, why not to step now (the balance rule)
    starts: int = 0  # the first step it runs at (SRGAN's adversarial phase after the SRResNet pre-training)


@dataclass
class CompileTarget:
    """A network for `train.compile`, inputs like the ones training feeds it, and whether a phase scores it frozen
    (D in phase G: frozen weights, an input that needs its gradient)."""

    name: str
    net: nn.Module
    args: tuple[Tensor, ...] = ()
    kwargs: dict[str, Tensor] = field(default_factory=dict)
    scored_frozen: bool = False


class TrainingContext(Protocol):
    """What the loop offers a family: its networks (as the loop runs them: DDP-wrapped under torchrun), their
    optimisers, real batches and generator inputs, and where training stands."""

    config: Config
    device: torch.device
    step: int
    total_steps: int
    batch_size: int
    nets: dict[str, nn.Module]
    optimizers: dict[str, torch.optim.Optimizer]
    generator_inputs: GeneratorInputs

    def raw(self, name: str) -> nn.Module: ...

    def next_real_batch(self) -> dict[str, Tensor]: ...

    def sample_inputs(self, n: int) -> dict[str, Tensor]: ...

    def held_out(self, n: int) -> dict[str, Tensor]: ...

    def event(self, message: str) -> None: ...


class Family:
    """Base class. A subclass names its networks, builds them, lists its phases and keeps its own state."""

    settings: ClassVar[type[AlgorithmConfig]] = AlgorithmConfig  # the algorithm section's dataclass
    networks: ClassVar[tuple[str, ...]] = ("G", "D")  # in construction order: it fixes the initial weights
    sampler: ClassVar[str] = "G"  # the network that generates: samples, EMA, evaluation, exports
    encoder: ClassVar[str | None] = None  # the network from data back to the latent, if any: exported, `encode`
    plotted: ClassVar[tuple[tuple[str, str], ...]] = ()  # (logged key, title): extra curves in losses.png
    translates: ClassVar[bool] = False  # its sampler maps input images (evaluated on a test split, `translate`)
    grows: ClassVar[bool] = False  # its `grow()` drives networks that change structure (progressive growing)
    adaptive_augment: ClassVar[bool] = False  # it runs augment.ada: its D's inputs and verdicts on reals reach ADA

    def __init__(self, loop: TrainingContext) -> None:
        self.loop = loop
        if not self.translates and loop.generator_inputs.of_kind(GivenInput):
            config = loop.config
            raise GanforgeError(f"model.generator '{config.model.generator}' translates an input image, which the "
                                f"{config.algorithm.name} family does not feed it; train it with an image-to-image "
                                f"family (pix2pix, cyclegan, srgan, stargan, spade, ...), or pick a noise generator "
                                f"(`ganforge presets` lists both)")
        growing = [name for name, net in loop.nets.items() if structure_of(loop.raw(name)) is not None]
        if growing and not self.grows:
            raise GanforgeError(f"network {growing[0]} grows progressively, which the {loop.config.algorithm.name} "
                                f"family does not drive; train it with algorithm.name=progan")

    @classmethod
    def build_networks(cls, config: Config) -> dict[str, nn.Module]:
        raise NotImplementedError

    @classmethod
    def build_sampler(cls, config: Config) -> nn.Module:
        """The generating network alone (what an export holds), built as build_networks builds it."""
        return cls.build_networks(config)[cls.sampler]

    @classmethod
    def build_encoder(cls, config: Config) -> nn.Module:
        """The encoding network alone (what an export holds beside the sampler), as build_networks builds it."""
        if cls.encoder is None:
            raise GanforgeError(f"the {config.algorithm.name} family has no encoder")
        return cls.build_networks(config)[cls.encoder]

    @classmethod
    def batch_keys(cls, config: Config) -> tuple[str, ...]:
        """The keys of the real batches this family reads (a dataset must provide them)."""
        return ("image",)

    @classmethod
    def check_config(cls, config: Config) -> None:
        """Refuse, at config load, settings this family cannot train with (a GanforgeError naming both)."""

    @classmethod
    def check_dataset(cls, config: Config, dataset: Any) -> None:
        """Refuse, once the data is loaded, a dataset the config does not fit (StarGAN: its domain names)."""

    def phases(self) -> list[Phase]:
        raise NotImplementedError

    def real_batches_per_step(self) -> int:
        """How many real batches one training step consumes (to turn train.epochs into steps)."""
        return 1

    def generate(self, n: int, with_graph: bool) -> tuple[Tensor, dict[str, Tensor]]:
        """The sampling network on n fresh inputs: (images, the inputs); without the graph when the fakes only
        feed a discriminator update."""
        inputs = self.loop.sample_inputs(n)
        generator = self.loop.nets[self.sampler]
        if with_graph:
            return generator(**inputs), inputs
        with torch.no_grad():
            return generator(**inputs), inputs

    def preview_inputs(self, n: int, seed: int) -> tuple[dict[str, Tensor], int | None]:
        """The fixed inputs of the sample grids saved during training, and the grid's row length."""
        return training_grid(self.loop.raw(self.sampler).inputs, n, seed)

    def preview(self, net: nn.Module, inputs: dict[str, Tensor]) -> Tensor:
        """The grid's images (uint8, in grid order) that the sampling network `net` makes of `inputs`."""
        return to_uint8(net(**inputs))

    def compile_targets(self, batch_size: int) -> list[CompileTarget]:
        """The networks `train.compile` compiles, each with an input like the ones training feeds it."""
        return []

    def grow(self) -> tuple[str, ...]:
        """Called by the loop before every step: change the structure of networks now (ProGAN adds a resolution)
        and return the names of those whose parameters changed. The loop then rebuilds their optimisers (the moments
        of surviving parameters kept, new ones starting at zero), their EMA and their DDP wrappers. A network that
        grows implements `structure()` (a small dict of ints) and `restructure(structure)`; checkpoints and exports
        record its structure, so it is rebuilt to that shape before its weights are loaded."""
        return ()

    def state_dict(self) -> dict[str, Any]:
        """State the family keeps across steps (BEGAN's k_t, an image pool): saved in every checkpoint."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what state_dict saved."""


def structure_of(net: nn.Module) -> dict[str, int] | None:
    """A growing network's structure (see `Family.grow`), None for a network of fixed shape."""
    method = getattr(net, "structure", None)
    return dict(method()) if callable(method) else None


def restructure(net: nn.Module, structure: dict[str, Any] | None, source: str = "") -> None:
    """Bring a growing network to a recorded structure before its weights are loaded; refused for a fixed one."""
    if not structure:
        return
    method = getattr(net, "restructure", None)
    if not callable(method):
        raise GanforgeError(f"{source or 'the saved state'} records a structure {dict(structure)} for a network "
                            f"that does not grow; it was written by another model")
    method({str(k): int(v) for k, v in structure.items()})


FAMILIES: Registry[type[Family]] = Registry("family")
