"""Class conditioning as building blocks around any registered network (`model.num_classes` > 0).

Generators (`model.g_conditioning`): `concat` feeds G the one-hot label beside z (Mirza & Osindero 2014; the same
wrapper feeds InfoGAN its codes), `cbn` turns every BatchNorm of G class-conditional (de Vries et al. 2017, as
BigGAN and the projection-discriminator paper use it), `native` is for architectures that read the label
themselves (BigGAN's shared embedding). Discriminators (`model.d_conditioning`): `concat` gives D a learned map per
class as one more input channel, `projection` adds the inner product of a class embedding with D's pooled features
to its logit (Miyato & Koyama 2018), `none` leaves D blind to labels (ACGAN, whose D predicts them instead).

A conditional G declares its inputs (`inputs`: z and label); a conditional D names what it reads besides the
image (`conditions`), so the families pass labels without knowing how a network uses them.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

import torch
from torch import nn

from ..config import ModelConfig
from ..errors import GanforgeError
from ..inputs import ClassLabel, GeneratorInputs, Latent
from ..registry import Registry
from .registry import GENERATORS
from .stabilizers import require_body_and_head

Tensor = torch.Tensor
G_CONDITIONINGS: Registry[Callable[[ModelConfig], nn.Module]] = Registry("generator conditioning")
D_CONDITIONINGS: Registry[Callable[[nn.Module, ModelConfig], nn.Module]] = Registry("discriminator conditioning")
_BATCHNORMS = (nn.BatchNorm1d, nn.BatchNorm2d)


def conditions_of(discriminator: nn.Module) -> tuple[str, ...]:
    """What a D reads besides the image (batch keys, e.g. ('label',)); () for an unconditional D."""
    return tuple(getattr(discriminator, "conditions", ()))


def class_inputs(config: ModelConfig) -> GeneratorInputs:
    return GeneratorInputs({"z": Latent(config.latent_dim), "label": ClassLabel(config.num_classes)})


class ConcatInputs(nn.Module):
    """G(inputs) = backbone(every declared input encoded and concatenated): z, one-hot labels and codes, continuous
    codes as they are. The backbone is any registered generator built for a latent of the concatenated width."""

    def __init__(self, backbone: nn.Module, inputs: GeneratorInputs) -> None:
        super().__init__()
        self.backbone = backbone
        self.inputs = inputs

    def forward(self, **values: Tensor) -> Tensor:
        return self.backbone(self.inputs.encode(values))


def concat_backbone(config: ModelConfig, inputs: GeneratorInputs) -> ConcatInputs:
    """The registered generator of `config`, fed `inputs` concatenated."""
    return ConcatInputs(plain_backbone(dataclasses.replace(config, latent_dim=inputs.width)), inputs)


def plain_backbone(config: ModelConfig) -> nn.Module:
    """The registered generator of `config`, which must read noise alone for a conditioning block to wrap it."""
    net = GENERATORS.get(config.generator)(config)
    if len(net.inputs) != 1:
        raise GanforgeError(f"generator '{config.generator}' reads {', '.join(net.inputs)} itself; set "
                            f"model.g_conditioning=native")
    return net


class ClassConditionalBatchNorm(nn.Module):
    """BatchNorm without affine parameters, then a per-class scale (starting at 1) and shift (starting at 0).

    `label` is set by the generator that owns this layer for the duration of one forward pass, so the backbone's
    own code runs unchanged.
    """

    def __init__(self, norm: nn.Module, classes: int) -> None:
        super().__init__()
        self.norm = type(norm)(norm.num_features, eps=norm.eps, momentum=norm.momentum, affine=False)
        self.gain = nn.Embedding(classes, norm.num_features)
        self.shift = nn.Embedding(classes, norm.num_features)
        nn.init.ones_(self.gain.weight)
        nn.init.zeros_(self.shift.weight)
        self.label: Tensor | None = None

    def forward(self, x: Tensor) -> Tensor:
        if self.label is None:
            raise RuntimeError("ClassConditionalBatchNorm needs a label: call the generator that owns it")
        shape = (-1, x.shape[1]) + (1,) * (x.dim() - 2)
        return self.norm(x) * self.gain(self.label).view(shape) + self.shift(self.label).view(shape)


class ConditionalNormGenerator(nn.Module):
    """A registered generator whose BatchNorm layers are all class-conditional."""

    def __init__(self, backbone: nn.Module, config: ModelConfig) -> None:
        super().__init__()
        self.backbone = backbone
        self.inputs = class_inputs(config)
        self.norms: list[ClassConditionalBatchNorm] = []
        self._swap(backbone, config.num_classes)
        if not self.norms:
            raise GanforgeError(f"generator '{config.generator}' has no BatchNorm layer to condition; set "
                                f"model.g_conditioning=concat")

    def _swap(self, module: nn.Module, classes: int) -> None:
        for name, child in list(module.named_children()):
            if isinstance(child, _BATCHNORMS):
                conditional = ClassConditionalBatchNorm(child, classes)
                setattr(module, name, conditional)
                self.norms.append(conditional)
            else:
                self._swap(child, classes)

    def forward(self, z: Tensor, label: Tensor) -> Tensor:
        for norm in self.norms:
            norm.label = label
        try:
            return self.backbone(z)
        finally:
            for norm in self.norms:
                norm.label = None


@G_CONDITIONINGS.register("concat", help="one-hot label concatenated with z (Mirza & Osindero 2014)")
def concat_generator(config: ModelConfig) -> nn.Module:
    return concat_backbone(config, class_inputs(config))


@G_CONDITIONINGS.register("cbn", help="class-conditional BatchNorm in every BatchNorm layer of G (de Vries et al. 2017)")
def cbn_generator(config: ModelConfig) -> nn.Module:
    return ConditionalNormGenerator(plain_backbone(config), config)


@G_CONDITIONINGS.register("native", help="the architecture reads the label itself (biggan: shared embedding and "
                                         "hierarchical z into conditional BatchNorm)")
def native_generator(config: ModelConfig) -> nn.Module:
    net = GENERATORS.get(config.generator)(config)
    if not any(isinstance(spec, ClassLabel) for spec in net.inputs.values()):
        raise GanforgeError(f"generator '{config.generator}' does not read labels itself; set "
                            f"model.g_conditioning=concat or cbn")
    return net


class LabelMapDiscriminator(nn.Module):
    """D(x, y) = inner([x, m_y]): a learned image-sized map per class joins the image as one more channel."""

    def __init__(self, inner: nn.Module, classes: int, height: int, width: int) -> None:
        super().__init__()
        self.inner = inner
        self.size = (height, width)
        self.embedding = nn.Embedding(classes, height * width)
        self.conditions = ("label",)

    def forward(self, x: Tensor, label: Tensor) -> Tensor:
        label_map = self.embedding(label).view(-1, 1, *self.size).to(x.dtype)
        return self.inner(torch.cat([x, label_map], dim=1))


class ProjectionDiscriminator(nn.Module):
    """D(x, y) = psi(phi(x)) + <e_y, phi(x)>: phi is D's body, psi its linear head, e_y a class embedding.

    An SNGAN/BigGAN body ends in the paper's global sum already, and its features are used as they are. A DCGAN
    body ends in a feature map: `model.projection_features=mean` averages it over positions (the embedding
    Glorot-uniform, as in the paper's code); `map` meets the whole map, the embedding starting at zero so that D
    starts as the unconditional D and learns the class term from the data. A two-layer body's averaged features
    are local stroke statistics, which say little about which digit they belong to: measured on the built-in digits,
    `mean` leaves G at chance (11 % class fidelity), `map` with a slower D reaches the cGAN's (see the README).
    A body that ends in a global pool can still offer `map`: it declares `pooled_map_shape`, the map its last module
    (the pool) sums, and the embedding meets that map while the head reads the pooled features as before.
    """

    def __init__(self, inner: nn.Module, classes: int, features: str = "mean") -> None:
        super().__init__()
        self.inner = inner
        map_shape = pooled_map_shape(inner)
        self.whole_map = features == "map" and (len(inner.feature_shape) > 1 or map_shape is not None)
        # (the layers before the pool, the pool): a tuple, so the body's modules are not registered twice
        self._pool_split = (inner.body[:-1], inner.body[-1]) if self.whole_map and map_shape else None
        self.embedding = nn.Embedding(classes, math.prod(map_shape or inner.feature_shape) if self.whole_map
                                      else inner.feature_shape[0])
        if self.whole_map:
            nn.init.zeros_(self.embedding.weight)
        else:
            nn.init.xavier_uniform_(self.embedding.weight)
        self.conditions = ("label",)

    def forward(self, x: Tensor, label: Tensor) -> Tensor:
        if self._pool_split is not None:
            before_pool, pool = self._pool_split
            unpooled = before_pool(x)
            features, projected = pool(unpooled), unpooled.flatten(1)
        else:
            features = self.inner.body(x)
            projected = features.flatten(1)
        if not self.whole_map:
            projected = features.mean(dim=(2, 3)) if features.dim() == 4 else features
        return self.inner.head(features).view(-1) + (self.embedding(label) * projected).sum(dim=1)


def pooled_map_shape(inner: nn.Module) -> tuple[int, ...] | None:
    """The map a D's body pools in its last module, when the D declares it (BigGAN's sum over positions)."""
    shape = getattr(inner, "pooled_map_shape", None)
    return tuple(shape) if shape is not None else None


def discriminator_config(config: ModelConfig) -> ModelConfig:
    """The config the registered D is built from: one more input channel when the label map joins the image."""
    if config.num_classes and config.d_conditioning == "concat":
        return dataclasses.replace(config, channels=config.channels + 1)
    return config


@D_CONDITIONINGS.register("concat", help="a learned map per class as one more input channel")
def concat_discriminator(inner: nn.Module, config: ModelConfig) -> nn.Module:
    return LabelMapDiscriminator(inner, config.num_classes, config.resolution, config.resolution)


@D_CONDITIONINGS.register("projection", help="inner product of a class embedding with D's pooled features "
                                             "(Miyato & Koyama 2018)")
def projection_discriminator(inner: nn.Module, config: ModelConfig) -> nn.Module:
    require_body_and_head(inner, config.discriminator, "a projection cannot be added",
                          "set model.d_conditioning=concat")
    if config.projection_features == "map" and len(inner.feature_shape) == 1 and pooled_map_shape(inner) is None:
        raise GanforgeError(f"model.projection_features=map: discriminator '{config.discriminator}' pools its "
                            f"features and declares no map before the pool; set model.projection_features=mean")
    return ProjectionDiscriminator(inner, config.num_classes, config.projection_features)


@D_CONDITIONINGS.register("none", help="D does not read labels (ACGAN's D predicts them instead)")
def unconditional_discriminator(inner: nn.Module, config: ModelConfig) -> nn.Module:
    return inner
