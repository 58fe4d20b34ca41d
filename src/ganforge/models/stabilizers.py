"""Discriminator options that work on any registered D: normalisation swap, minibatch features, spectral norm, packing.

A registered discriminator is `head(body(x))`: `body` maps inputs to features of shape `feature_shape`, `head` maps
those to one logit per sample. That split is all these options need, so they apply to the DCGAN, MLP, SNGAN and 2D
lab discriminators alike (and to any family added later) without touching their code.
"""

from __future__ import annotations

import dataclasses
import math

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from ..config import ModelConfig
from ..errors import GanforgeError

_BATCHNORMS = (nn.BatchNorm1d, nn.BatchNorm2d)
_WEIGHTED = (nn.Conv2d, nn.ConvTranspose2d, nn.Linear, nn.Embedding)  # what spectral norm normalises


def replace_batchnorm(net: nn.Module, mode: str) -> None:
    """`none` drops D's BatchNorm layers; `layer` swaps them for layer normalisation (GroupNorm with one group);
    `instance` for instance normalisation without affine parameters (CycleGAN's PatchGAN).

    Gradient penalties need per-sample gradients, which BatchNorm mixes across the batch; the WGAN-GP paper uses
    layer normalisation in the critic instead.
    """
    if mode == "default":
        return
    for name, child in list(net.named_children()):
        if isinstance(child, _BATCHNORMS):
            setattr(net, name, norm_layer(mode, child.num_features))
        else:
            replace_batchnorm(child, mode)


NORM_LAYERS = {"batch": nn.BatchNorm2d, "instance": nn.InstanceNorm2d,  # instance: no affine, as pix2pix/CycleGAN
               "layer": lambda channels: nn.GroupNorm(1, channels), "none": lambda channels: nn.Identity()}


def norm_layer(mode: str, channels: int) -> nn.Module:
    """A 2D normalisation layer by name (model.g_norm / model.d_norm): batch, instance, layer or none."""
    return NORM_LAYERS[mode](channels)


def has_batchnorm(net: nn.Module) -> bool:
    return any(isinstance(m, _BATCHNORMS) for m in net.modules())


def scores_samples_independently(net: nn.Module) -> bool:
    """True when one forward over a concatenated batch gives exactly the logits of separate forwards: no layer mixes
    samples (BatchNorm, minibatch features) and none changes state per forward (spectral norm's power iteration)."""
    from torch.nn.utils import parametrize

    return not any(isinstance(m, (*_BATCHNORMS, MinibatchStdDev, MinibatchDiscrimination))
                   or parametrize.is_parametrized(m) for m in net.modules())


class MinibatchStdDev(nn.Module):
    """Karras et al. 2018: the standard deviation of every feature over a group of samples, averaged to one number
    per group and given to each sample of the group. A collapsed G yields near-zero spread, which D can see."""

    def __init__(self, group_size: int = 4) -> None:
        super().__init__()
        self.group_size = group_size

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        n = features.shape[0]
        group = math.gcd(min(self.group_size, n), n)
        grouped = features.reshape(group, n // group, -1)  # sample i belongs to group column i % (n // group)
        # The variance spelled out: torch's var over a short leading dim is 10x slower on CPU (30 % of a lab step).
        centred = grouped - grouped.mean(dim=0, keepdim=True)
        spread = centred.square().mean(dim=0).add(1e-8).sqrt().mean(dim=1)  # one value per column
        return spread.repeat(group).view(n, 1)


class MinibatchDiscrimination(nn.Module):
    """Salimans et al. 2016: each sample's features are projected to `kernels` rows of `kernel_dim` numbers; for each
    row, the summed exp(-L1 distance) to the other samples of the batch is a feature. Samples that look alike (mode
    collapse) give large values D can learn to reject."""

    def __init__(self, in_features: int, kernels: int, kernel_dim: int = 5) -> None:
        super().__init__()
        self.kernels, self.kernel_dim = kernels, kernel_dim
        self.projection = nn.Parameter(torch.randn(in_features, kernels * kernel_dim) * 0.1)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        m = (features @ self.projection).view(-1, self.kernels, self.kernel_dim).transpose(0, 1)  # (kernels, n, d)
        distances = torch.cdist(m, m, p=1)  # (kernels, n, n) L1 distances, without an (n, n, kernels, d) tensor
        return (torch.exp(-distances).sum(dim=2) - 1.0).transpose(0, 1)  # minus each sample's exp(0) with itself


class MinibatchHead(nn.Module):
    """D's head plus a linear read-out of batch-level features computed from the flattened body features.

    Adding `w . extra` to the head's logit equals concatenating `extra` to the features before a linear head (the
    DCGAN head is a convolution over the whole last map, i.e. linear too), so no architecture needs rewriting.
    """

    def __init__(self, head: nn.Module, extras: list[nn.Module], extra_dim: int) -> None:
        super().__init__()
        self.head = head
        self.extras = nn.ModuleList(extras)
        self.readout = nn.Linear(extra_dim, 1, bias=False)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        flat = features.flatten(1)
        extra = torch.cat([module(flat) for module in self.extras], dim=1)
        return self.head(features).view(-1) + self.readout(extra).view(-1)


class Packed(nn.Module):
    """PacGAN (Lin et al. 2018): D judges `pack` samples at once, concatenated along the channel (or feature) axis.

    Consecutive samples form a pack, so a batch of n gives n / pack logits; a mode-collapsed G produces packs of
    near-duplicates, which a packed D spots far more easily than single samples.
    """

    def __init__(self, discriminator: nn.Module, pack: int) -> None:
        super().__init__()
        self.discriminator = discriminator
        self.pack = pack

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = x.shape[0]
        if n % self.pack:
            raise GanforgeError(f"a batch of {n} cannot be split into packs of model.pack={self.pack}; "
                                f"use a batch size that is a multiple of {self.pack}")
        return self.discriminator(x.reshape(n // self.pack, self.pack * x.shape[1], *x.shape[2:]))


def require_body_and_head(net: nn.Module, name: str, consequence: str, fix: str) -> None:
    """What adds to a D's features (minibatch features, a projection, ACGAN's and InfoGAN's heads) needs the
    `body`/`head`/`feature_shape` split; one line naming what cannot be done and how to fix it otherwise."""
    if not all(hasattr(net, part) for part in ("body", "head", "feature_shape")):
        raise GanforgeError(f"discriminator '{name}' does not expose body/head, so {consequence}; {fix}")


def add_minibatch_features(net: nn.Module, config: ModelConfig) -> None:
    if not (config.minibatch_std or config.minibatch_discrimination):
        return
    require_body_and_head(net, config.discriminator, "minibatch features cannot be added",
                          "set model.minibatch_std=false and model.minibatch_discrimination=0")
    in_features = math.prod(net.feature_shape)
    extras: list[nn.Module] = []
    if config.minibatch_std:
        extras.append(MinibatchStdDev(config.minibatch_std_group))
    if config.minibatch_discrimination:
        extras.append(MinibatchDiscrimination(in_features, config.minibatch_discrimination))
    extra_dim = int(config.minibatch_std) + config.minibatch_discrimination
    net.head = MinibatchHead(net.head, extras, extra_dim)


def apply_spectral_norm(net: nn.Module, layers: list[str] | None = None) -> list[str]:
    """Spectrally normalise every conv/linear layer (and class embedding) of `net`, or those whose names start with
    one of `layers`.

    Returns the names it normalised; Miyato et al. 2018 divide each weight by its largest singular value, estimated
    by one power iteration per forward pass, which bounds D's Lipschitz constant layer by layer.
    """
    chosen = [name for name, module in net.named_modules() if isinstance(module, _WEIGHTED)
              and (not layers or any(name == p or name.startswith(p + ".") for p in layers))]
    if layers and not chosen:
        raise GanforgeError(f"model.spectral_norm_layers {layers} match no conv/linear layer of the discriminator; "
                            f"its layers are: {', '.join(n for n, m in net.named_modules() if isinstance(m, _WEIGHTED))}")
    modules = dict(net.named_modules())
    for name in chosen:
        spectral_norm(modules[name])
    return chosen


def packed_config(config: ModelConfig) -> ModelConfig:
    """The config a registered D is built from under packing: `pack` times the input channels."""
    return dataclasses.replace(config, channels=config.channels * config.pack)
