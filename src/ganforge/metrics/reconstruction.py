"""How well an encoder family's E inverts its G: x -> E(x) -> G(E(x)), on digits the model never trained on.

Two numbers, each beside the same number for a random latent (G(z), z drawn as `ganforge sample` draws it, paired
with the x in order) so that they mean something: the pixel mean squared error between x and its reconstruction,
in the [-1, 1] scale the networks see (0 is exact; a blank image against the held-out digits scores 0.44), and
the label agreement, the share of x whose reconstruction a classifier (lenet-mnist for digits) puts in x's class.
The classifier's accuracy on x itself is reported too: agreement cannot be expected above it.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from ..data.images import normalize, to_uint8
from ..errors import GanforgeError
from ..sampling import seeded_inputs

Classify = Callable[[torch.Tensor], np.ndarray]  # uint8 images (N, C, H, W) -> logits (N, classes)


def _latent_name(generator: nn.Module) -> str:
    names = list(getattr(generator, "inputs", {}) or {})
    if len(names) != 1:
        raise GanforgeError(f"reconstruction needs an unconditional generator with one latent input, this one "
                            f"declares {names or 'none'}; use a model of an encoder family (mrgan, bigan, veegan)")
    return names[0]


def _device(*networks: nn.Module) -> torch.device:
    for network in networks:
        for parameter in network.parameters():
            return parameter.device
    return torch.device("cpu")


@torch.inference_mode()
def reconstruction_error(generator: nn.Module, encoder: nn.Module, images: torch.Tensor, labels: torch.Tensor,
                         classify: Classify, seed: int = 0, chunk: int = 500) -> dict[str, float]:
    """MSE(x, G(E(x))) and the label agreement of G(E(x)) with x's class, and both for G(z) with random z.

    `images` are uint8 (N, C, H, W) of the size G makes, `labels` their classes (N,)."""
    if images.dtype != torch.uint8 or images.ndim != 4 or images.shape[0] < 1:
        raise GanforgeError(f"images must be uint8 (N, C, H, W) with N >= 1, got {images.dtype} "
                            f"{tuple(images.shape)}")
    if labels.shape != (images.shape[0],):
        raise GanforgeError(f"labels must be one class per image ({images.shape[0]},), got {tuple(labels.shape)}")
    name, device = _latent_name(generator), _device(generator, encoder)
    random_z = seeded_inputs(generator.inputs, images.shape[0], seed)[name]
    was_training = generator.training, encoder.training
    generator.eval(), encoder.eval()
    squared = {"mse": [], "random_mse": []}
    made: dict[str, list[torch.Tensor]] = {"reconstruction": [], "random": []}
    try:
        for x_uint8, z in zip(images.split(chunk), random_z.split(chunk)):
            x = normalize(x_uint8.to(device))
            for key, latent in (("reconstruction", encoder(x)), ("random", z.to(device))):
                out = generator(**{name: latent})
                if out.shape != x.shape:
                    raise GanforgeError(f"the generator makes {tuple(out.shape[1:])} images but the digits are "
                                        f"{tuple(x.shape[1:])}; measure on images of the model's size")
                squared["mse" if key == "reconstruction" else "random_mse"].append(
                    (out.float() - x).pow(2).flatten(1).mean(1).cpu())
                made[key].append(to_uint8(out).cpu())
    finally:
        generator.train(was_training[0]), encoder.train(was_training[1])
    labels = labels.cpu().numpy()

    def agreement(batch: torch.Tensor) -> float:
        return float((classify(batch).argmax(axis=1) == labels).mean())

    return {"n": int(images.shape[0]),
            "mse": float(torch.cat(squared["mse"]).mean()),
            "random_mse": float(torch.cat(squared["random_mse"]).mean()),
            "label_agreement": agreement(torch.cat(made["reconstruction"])),
            "random_agreement": agreement(torch.cat(made["random"])),
            "classifier_accuracy": agreement(images.cpu())}
