"""Generators, discriminators, weight inits and conditioning, each in a registry keyed by the names configs use.

A generator declares its inputs (`net.inputs`: noise z, and a label or codes when it has them) and maps them to
images (B, C, H, W) in [-1, 1]; a discriminator maps images (and the conditions it names in `net.conditions`) to
raw logits (B,), never a sigmoid, so that every loss can use the numerically stable logits form.
"""

from __future__ import annotations

import difflib

from torch import nn

from ..config import Config, ModelConfig
from ..errors import GanforgeError
from .conditioning import D_CONDITIONINGS, G_CONDITIONINGS, conditions_of, discriminator_config
from .began import AUTOENCODERS
from .registry import DISCRIMINATORS, GENERATORS, INITS, apply_init
from .stabilizers import (Packed, add_minibatch_features, apply_spectral_norm, packed_config, replace_batchnorm,
                          require_body_and_head)
from . import began, biggan, dcgan, infogan, mlp, msggan, progan, r3gan, semantic, sngan, stargan, stylegan2, stylegan3, superres, toy, translation  # noqa: F401,E501


def build_generator(config: ModelConfig) -> nn.Module:
    """The registered G, conditioned on classes by `model.g_conditioning` when `model.num_classes` > 0."""
    if config.num_classes:
        net = G_CONDITIONINGS.get(config.g_conditioning)(config)
    else:
        net = GENERATORS.get(config.generator)(config)
    apply_init(net, config.init)
    return net


def build_discriminator(config: ModelConfig) -> nn.Module:
    """The registered D with the model section's options applied in a fixed order: normalisation swap, minibatch
    features, weight init, class conditioning, spectral norm (on the initialised weights, class embeddings
    included), packing (outermost: it reshapes the input)."""
    net = DISCRIMINATORS.get(config.discriminator)(packed_config(discriminator_config(config)))
    replace_batchnorm(net, config.d_norm)
    add_minibatch_features(net, config)
    apply_init(net, config.init)
    if config.num_classes:
        net = D_CONDITIONINGS.get(config.d_conditioning)(net, config)
    if config.spectral_norm:
        apply_spectral_norm(net, config.spectral_norm_layers)
    return Packed(net, config.pack) if config.pack > 1 else net


def build_split_discriminator(config: ModelConfig, needed_by: str) -> nn.Module:
    """The registered D, refused unless it exposes `body`, `head` and `feature_shape`: the families that add a head
    on D's features (ACGAN's classifier, InfoGAN's Q) need that split."""
    net = build_discriminator(config)
    require_body_and_head(net, config.discriminator, needed_by, "choose another model.discriminator")
    return net


def check_config(config: Config) -> None:
    """model.*: names against the registries, and the options that cannot work together."""
    m, t = config.model, config.train
    if m.discriminator not in DISCRIMINATORS and m.discriminator not in AUTOENCODERS:
        choices = sorted({*DISCRIMINATORS.names(), *AUTOENCODERS.names()})
        close = difflib.get_close_matches(m.discriminator, choices, n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        raise GanforgeError(f"model.discriminator: unknown discriminator '{m.discriminator}'{hint}; choose from: "
                            f"{', '.join(choices)}")
    for key, registry, value in [("model.generator", GENERATORS, m.generator),
                                 ("model.init", INITS, m.init),
                                 ("model.g_conditioning", G_CONDITIONINGS, m.g_conditioning),
                                 ("model.d_conditioning", D_CONDITIONINGS, m.d_conditioning)]:
        if value not in registry:
            raise GanforgeError(f"{key}: {registry.unknown_message(value)}")
    if t.batch_size % m.pack:
        raise GanforgeError(f"model.pack={m.pack} does not divide train.batch_size={t.batch_size}: D sees batch/pack "
                            f"packed samples; use a batch size that is a multiple of {m.pack}")
    if m.pack > 1 and m.num_classes:
        raise GanforgeError(f"model.pack={m.pack} packs samples of different classes into one judgement, which "
                            f"model.num_classes={m.num_classes} cannot label; set model.pack=1 for a conditional model")
    if m.projection_features != "mean" and not (m.num_classes and m.d_conditioning == "projection"):
        raise GanforgeError(f"model.projection_features={m.projection_features} shapes a projection D, but this D "
                            f"has none; set model.d_conditioning=projection (with model.num_classes) or drop the key")
    if m.class_into_linear and not (m.num_classes and m.g_conditioning == "native"):
        raise GanforgeError("model.class_into_linear feeds the shared class embedding of a generator that reads labels "
                            "itself to its first layer; set model.g_conditioning=native (model.generator=biggan, with "
                            "model.num_classes) or drop the key")
    if m.projection_features == "map" and m.spectral_norm and (not m.spectral_norm_layers
                                                               or "embedding" in m.spectral_norm_layers):
        raise GanforgeError("model.projection_features=map starts the class embedding at zero, which spectral norm "
                            "cannot divide by its largest singular value; set model.spectral_norm_layers=[inner] "
                            "(every layer of D but the embedding)")
    if m.spectral_norm_layers and not m.spectral_norm:
        raise GanforgeError("model.spectral_norm_layers names layers to normalise, but model.spectral_norm is false; "
                            "set model.spectral_norm=true")


def count_parameters(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


__all__ = ["AUTOENCODERS", "DISCRIMINATORS", "GENERATORS", "INITS", "apply_init", "build_discriminator", "build_generator",
           "check_config", "conditions_of", "count_parameters"]
