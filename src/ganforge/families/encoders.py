"""What the encoder families share (MRGAN/MDGAN, BiGAN/ALI, VEEGAN): a network from data back to the latent, and a
discriminator of (x, z) pairs.

The encoder (`E`, VEEGAN's reconstructor `F`) is the registered discriminator's body with a linear head to
`model.latent_dim` values (twice that for a Gaussian encoder: a mean and a log standard deviation), so it reads
images and 2D points alike. The joint discriminator D(x, z) of BiGAN/ALI and VEEGAN scores a pair: on vectors (the
lab's points) the registered MLP over the concatenation [x, z]; on images the registered D's body for x, a linear
embedding of z, and a joint head over both, as BiGAN's and ALI's D_x, D_z and D_xz.

A family with an encoder names it in `Family.encoder`: exports carry its weights beside the generator's
(`encoder.safetensors`) and `ganforge encode` runs it.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import ClassVar

import torch
from torch import nn

from ..config import Config, ModelConfig
from ..errors import GanforgeError
from ..models import DISCRIMINATORS, apply_init
from ..models.stabilizers import apply_spectral_norm, replace_batchnorm, require_body_and_head
from .base import CompileTarget, TrainingContext
from .gan import TwoPhaseGAN

Tensor = torch.Tensor


def _body(config: ModelConfig, channels: int, needed_by: str) -> tuple[nn.Module, int]:
    """The registered D's body for inputs of `channels` values (a fresh copy), and its flattened feature width."""
    net = DISCRIMINATORS.get(config.discriminator)(replace(config, channels=channels))
    require_body_and_head(net, config.discriminator, f"{needed_by} cannot be built on it",
                          "choose another model.discriminator (dcgan, toy-mlp, ...)")
    return net.body, math.prod(net.feature_shape)


class Encoder(nn.Module):
    """x -> z: a D body, flattened, then a linear map to the latent. Gaussian (ALI): the head gives a mean and a log
    standard deviation; `forward` returns the mean (what `ganforge encode` reports), `draw` a reparameterised
    sample mean + std * eps (what ALI trains with)."""

    def __init__(self, body: nn.Module, features: int, latent_dim: int, input_shape: tuple[int, ...],
                 gaussian: bool = False) -> None:
        super().__init__()
        self.body, self.latent_dim, self.gaussian = body, latent_dim, gaussian
        self.input_shape = input_shape  # what one sample looks like: (C, H, W) or (dim,)
        self.head = nn.Linear(features, latent_dim * (2 if gaussian else 1))

    def moments(self, x: Tensor) -> tuple[Tensor, Tensor | None]:
        out = self.head(self.body(x).flatten(1))
        if not self.gaussian:
            return out, None
        return out[:, :self.latent_dim], out[:, self.latent_dim:]

    def forward(self, x: Tensor) -> Tensor:
        return self.moments(x)[0]

    def draw(self, x: Tensor) -> Tensor:
        mean, log_std = self.moments(x)
        return mean if log_std is None else mean + log_std.exp() * torch.randn_like(mean)


def build_encoder(config: Config, gaussian: bool = False) -> Encoder:
    m = config.model
    body, features = _body(m, m.channels, "an encoder")
    shape = (m.channels,) if m.resolution == 1 else (m.channels, m.resolution, m.resolution)
    encoder = Encoder(body, features, m.latent_dim, shape, gaussian)
    apply_init(encoder, m.init)
    return encoder


class JointDiscriminator(nn.Module):
    """D(x, z) -> one logit per pair. Vectors: the registered MLP over [x, z]. Images: D's body on x, a linear
    embedding of z (LeakyReLU 0.2), and a joint head (Linear, LeakyReLU 0.2, Linear) over both features."""

    conditions = ("z",)  # what it reads besides x, by the name G's latent has

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.vectors = config.resolution == 1
        if self.vectors:
            net = DISCRIMINATORS.get(config.discriminator)(_widened(config))
            require_body_and_head(net, config.discriminator, "the joint (x, z) discriminator cannot be built on it",
                                  "choose another model.discriminator (toy-mlp, dcgan, ...)")
            self.body, self.head = net.body, net.head
        else:
            self.body, features = _body(config, config.channels, "the joint (x, z) discriminator")
            width = config.d_width * 8
            self.z_embed = nn.Sequential(nn.Linear(config.latent_dim, width), nn.LeakyReLU(0.2))
            self.head = nn.Sequential(nn.Linear(features + width, width), nn.LeakyReLU(0.2), nn.Linear(width, 1))

    def forward(self, x: Tensor, z: Tensor) -> Tensor:
        if x.shape[0] != z.shape[0]:
            raise ValueError(f"the joint discriminator pairs x and z row by row, got {x.shape[0]} x and "
                             f"{z.shape[0]} z")
        if self.vectors:
            return self.head(self.body(torch.cat([x, z], dim=1))).view(-1)
        joint = torch.cat([self.body(x).flatten(1), self.z_embed(z)], dim=1)
        return self.head(joint).view(-1)


def _widened(config: ModelConfig) -> ModelConfig:
    return replace(config, channels=config.channels + config.latent_dim)


def build_joint_discriminator(config: Config) -> JointDiscriminator:
    m = config.model
    net = JointDiscriminator(m)
    replace_batchnorm(net, m.d_norm)
    apply_init(net, m.init)
    if m.spectral_norm:
        apply_spectral_norm(net, m.spectral_norm_layers)
    return net


class EncoderGAN(TwoPhaseGAN):
    """What the encoder families share over the two-phase family: the real images phase D drew, kept for the phases
    after it (`_x`, as the data gives them, before D's transforms), and the checks of an unconditional model (and
    of a joint D, when `joint`)."""

    joint: ClassVar[bool] = False  # D judges (x, z) pairs

    def __init__(self, loop: TrainingContext) -> None:
        super().__init__(loop)
        self._x: Tensor | None = None

    @classmethod
    def check_config(cls, config: Config) -> None:
        super().check_config(config)
        check_unconditional(config, cls.joint)

    def draw(self) -> tuple[dict[str, Tensor], Tensor, Tensor, dict[str, Tensor]]:
        batch, real, fake, inputs = super().draw()
        self._x = batch["image"]
        return batch, real, fake, inputs

    def compile_targets(self, batch_size: int) -> list[CompileTarget]:
        targets = super().compile_targets(batch_size)
        return targets[:1] if self.joint else targets  # a joint D takes pairs: the generator alone


def check_unconditional(config: Config, joint: bool) -> None:
    """The encoder families are unconditional; a joint D takes none of the x-only D's add-ons."""
    m, name = config.model, config.algorithm.name
    if m.num_classes:
        raise GanforgeError(f"algorithm.name={name} learns an encoder of unlabelled data, but model.num_classes="
                            f"{m.num_classes}; set model.num_classes=0")
    if joint:
        extras = [f"model.{key}" for key, on in (("pack", m.pack > 1), ("minibatch_std", m.minibatch_std),
                                                 ("minibatch_discrimination", m.minibatch_discrimination)) if on]
        if extras:
            raise GanforgeError(f"{', '.join(extras)}: algorithm.name={name} judges (x, z) pairs with a joint "
                                f"discriminator, which takes none of them; drop them")
        if config.regularize.penalties:
            raise GanforgeError(f"regularize.penalties {sorted(config.regularize.penalties)}: algorithm.name={name} "
                                f"has a joint (x, z) discriminator, for which no penalty is implemented; drop them")
