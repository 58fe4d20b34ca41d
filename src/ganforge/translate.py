"""Translating images with an image-to-image model (`ganforge translate`): files in, files out, any size.

The model says what it takes (`generator.inputs`): an input image with its channels (or a label map of class
indices, read from single-channel PNGs), and for two-way models a `direction`. Images are converted to the model's
channels, translated at their own size (the networks are fully convolutional and pad internally), and written as
PNGs under the input's file names.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from .data.folder import IMAGE_SUFFIXES, image_files, read_image
from .data.images import to_uint8
from .data.translation import read_label_map
from . import limits
from .errors import GanforgeError
from .files import show
from .families.translation import source_input
from .inputs import Choice, GivenInput, ImageInput, LabelMap

Tensor = torch.Tensor


def read_source(path: Path, spec: GivenInput) -> Tensor:
    """One file as the stored form of what the model takes: uint8 (C, H, W) in the model's channels, or a label
    map's int64 (1, H, W) class indices."""
    readers = {ImageInput: lambda: read_image(path, None, spec.channels), LabelMap: lambda: read_label_map(path)}
    _check_size(path)
    try:
        return torch.from_numpy(readers[type(spec)]().copy())
    except GanforgeError:
        raise
    except Exception:  # PIL raises many types for corrupt files
        raise GanforgeError(f"cannot read image '{path}'; it is corrupt or not an image") from None


def _check_size(path: Path) -> None:
    """Refuse an image too large to translate from its header alone, before any pixel is decoded."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            width, height = image.size
    except Exception:  # PIL raises many types for corrupt files (and DecompressionBombError for huge ones)
        raise GanforgeError(f"cannot read image '{show(path)}'; it is corrupt, not an image, or too large"
                            ) from None
    if max(width, height) > limits.IMAGE_SIZE.high:
        raise GanforgeError(f"image '{show(path)}' is {width}x{height}, larger than the {limits.IMAGE_SIZE.high} "
                            f"pixels a side ganforge translates; shrink it first")


class Translator:
    """Calls an image-to-image generator on stored inputs of any size (uint8 images (C, H, W), or label maps
    (1, H, W) of class indices), in eval mode, without gradients."""

    def __init__(self, generator: nn.Module, device: torch.device | str | None = None) -> None:
        given = source_input(generator)
        if given is None:
            raise GanforgeError(f"this model generates from {', '.join(generator.inputs)}, not from an input image; "
                                f"use `ganforge sample`")
        self.device = torch.device(device) if device is not None else next(generator.parameters()).device
        self.generator = generator.to(self.device).eval()
        self.source_name, self.spec = given
        self.choices = generator.inputs.of_kind(Choice)

    def options(self, direction: str | None = None, domain: str | None = None) -> dict[str, Tensor]:
        """The non-image inputs for one image: `direction` for two-way models (default: the first it offers)."""
        chosen = {"direction": direction, "domain": domain}
        for flag, given in chosen.items():
            if given is not None and flag not in self.choices:
                offered = ", ".join(f"--{n} ({'/'.join(s.options)})" for n, s in self.choices.items()) or "none"
                raise GanforgeError(f"--{flag} {given}: this model has no {flag} to choose (its options: {offered}); "
                                    f"drop --{flag}")
        return {name: spec.value(name, chosen.get(name) or spec.options[0], 1, self.device)
                for name, spec in self.choices.items()}

    @torch.inference_mode()
    def __call__(self, source: Tensor, direction: str | None = None, domain: str | None = None) -> Tensor:
        """One stored input (C, H, W) -> its translation, uint8 (C', H, W), or upscale times larger for
        super-resolution."""
        channels = getattr(self.spec, "channels", 1)
        if source.dim() != 3 or source.shape[0] != channels:
            raise GanforgeError(f"the model takes {channels}-channel {self.spec.noun}s, got shape "
                                f"{tuple(source.shape)}")
        x = self.spec.prepare(source[None].to(self.device))
        return to_uint8(self.generator(**{self.source_name: x}, **self.options(direction, domain)))[0].cpu()


def input_files(path: str | Path) -> list[Path]:
    """The images to translate: one file, or every image under a folder."""
    path = Path(path)
    if path.is_file():
        if path.suffix.lower() not in IMAGE_SUFFIXES:
            raise GanforgeError(f"'{path}' is not a .png/.jpg/.webp image; pass an image or a folder of them")
        return [path]
    if not path.is_dir():
        raise GanforgeError(f"--input '{path}' does not exist; pass an image file or a folder of images")
    files = image_files(path)
    if not files:
        raise GanforgeError(f"--input folder '{path}' holds no .png/.jpg/.webp images")
    return files


def translate_files(translator: Translator, source: str | Path, out_dir: Path, direction: str | None = None,
                    domain: str | None = None) -> list[Path]:
    """Translate every image of `source` into `out_dir` (same relative names, .png); unreadable files are named."""
    from .sampling import make_grid_image, save_image

    root = Path(source)
    written = []
    translator.options(direction, domain)  # a wrong --direction fails before any file is read
    for path in input_files(root):
        source = read_source(path, translator.spec)
        try:
            output = translator(source, direction, domain)
        except GanforgeError as exc:
            raise GanforgeError(f"'{path}': {exc}") from None
        relative = path.name if root.is_file() else path.relative_to(root)
        target = (out_dir / relative).with_suffix(".png")
        target.parent.mkdir(parents=True, exist_ok=True)
        save_image(make_grid_image(output[None], nrow=1, padding=0), target)
        written.append(target)
    return written
