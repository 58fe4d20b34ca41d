"""Encoding an image with a model's encoder (`ganforge encode`): image file in, latent out (JSON or safetensors).

The encoder (`Family.encoder`: MRGAN's and BiGAN's E, VEEGAN's reconstructor F) takes images of the size and
channels it was trained on, in [-1, 1]; a file of another size is refused rather than resized, so the latent is of
the image given. A Gaussian encoder (ALI) reports its mean.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn

from .data.folder import read_image_file
from .data.images import normalize
from .errors import GanforgeError
from .utils import atomic_write_bytes, atomic_write_json

LATENT_FORMAT = "ganforge-latent"
OUTPUT_SUFFIXES = (".json", ".safetensors")


def read_encoder_input(path: str | Path, encoder: nn.Module) -> torch.Tensor:
    """One image file as the encoder's input (1, C, H, W) in [-1, 1], or a one-line error."""
    path = Path(path)
    shape = tuple(encoder.input_shape)
    if len(shape) != 3:
        raise GanforgeError(f"this model's encoder reads {shape[0]}-d points, not images")
    channels, height, width = shape
    image = read_image_file(path, channels)
    if image.shape[1:] != (height, width):
        raise GanforgeError(f"'{path}' is {image.shape[2]}x{image.shape[1]} pixels; this model's encoder takes "
                            f"{width}x{height} images (resize it to {width}x{height} first)")
    return normalize(image[None])


@torch.inference_mode()
def encode_file(encoder: nn.Module, path: str | Path) -> torch.Tensor:
    """The latent (latent_dim,) the encoder gives the image in `path`."""
    device = next(encoder.parameters()).device
    return encoder(read_encoder_input(path, encoder).to(device))[0].float().cpu()


def check_output(out: str | Path | None) -> None:
    if out is not None and Path(out).suffix.lower() not in OUTPUT_SUFFIXES:
        raise GanforgeError(f"--out '{out}': write the latent as .json or .safetensors")


def write_latent(z: torch.Tensor, out: str | Path, description: dict) -> Path:
    """The latent as JSON ({"z": [...], and what made it}) or as safetensors (tensor "z", the rest as metadata)."""
    out = Path(out)
    check_output(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix.lower() == ".json":
        atomic_write_json(out, {"format": LATENT_FORMAT, **description, "z": z.tolist()})
    else:
        from safetensors.torch import save

        metadata = {"format": LATENT_FORMAT, **{k: json.dumps(v) for k, v in description.items()}}
        atomic_write_bytes(out, save({"z": z.contiguous()}, metadata=metadata))
    return out
