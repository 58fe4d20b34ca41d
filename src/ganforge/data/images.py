"""The in-memory image set and the uint8 <-> [-1, 1] conversions used everywhere."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..errors import GanforgeError


@dataclass
class ImageSet:
    """All images of a dataset as one uint8 tensor (N, C, H, W); class labels (N,) when the dataset has them.

    Batches are dicts keyed like `tensors()`: "image", and "label" for a labelled set.
    """

    name: str
    images: torch.Tensor
    labels: torch.Tensor | None = None
    class_names: list[str] | None = None

    def __len__(self) -> int:
        return self.images.shape[0]

    def keys(self) -> tuple[str, ...]:
        return ("image", "label") if self.labels is not None else ("image",)

    @property
    def num_classes(self) -> int:
        if self.labels is None:
            return 0
        return len(self.class_names) if self.class_names else int(self.labels.max()) + 1

    def tensors(self, keys: tuple[str, ...], reader: str) -> dict[str, torch.Tensor]:
        """The tensors of `keys`, or one line saying which the dataset lacks and how to provide them."""
        missing = [key for key in keys if key not in self.keys()]
        if missing:
            hint = (" (put its images in one sub-folder per class, folder:PATH/<class>/*.png, or set "
                    "model.num_classes=0)" if "label" in missing else "")
            raise GanforgeError(f"{reader} reads '{', '.join(missing)}' from every batch, but dataset '{self.name}' "
                                f"has only {', '.join(self.keys())}{hint}")
        everything = {"image": self.images, "label": self.labels}
        return {key: everything[key] for key in keys}

    def groups(self) -> tuple[tuple[str, ...], ...]:
        """Keys that share rows: all of them (an image and its label)."""
        return (self.keys(),)

    def held_out(self) -> dict[str, torch.Tensor]:
        """The test split: none here (the whole set trains)."""
        return {}

    def check_classes(self, num_classes: int) -> None:
        """A conditional model must have a class for every label the dataset holds."""
        if num_classes and self.labels is not None and self.num_classes > num_classes:
            raise GanforgeError(f"dataset '{self.name}' has {self.num_classes} classes but model.num_classes is "
                                f"{num_classes}; use --set model.num_classes={self.num_classes}")

    @property
    def channels(self) -> int:
        return self.images.shape[1]

    @property
    def resolution(self) -> int:
        return self.images.shape[-1]

    def fit_to(self, resolution: int, channels: int, resize: bool) -> ImageSet:
        """Check (or, with data.resize, convert) the images to the model's resolution and channels, once."""
        return ImageSet(self.name, fit_images(self.images, self.name, resolution, channels, resize), self.labels,
                        self.class_names)


def fit_images(images: torch.Tensor, dataset: str, size: int, channels: int, resize: bool, key: str = "",
               native: int | None = None) -> torch.Tensor:
    """uint8 images checked against (or, with data.resize, converted to) size x size and the given channels;
    `native` is the resolution to suggest instead (the largest domain's, for a smaller one under `key`)."""
    if images.shape[1] != channels:
        if not resize:
            raise GanforgeError(
                f"dataset '{dataset}' has {images.shape[1]} channel(s) but model.channels is {channels}; "
                f"use --set model.channels={images.shape[1]} or --set data.resize=true to convert the images")
        images = convert_channels(images, channels)
    if images.shape[-2:] != (size, size):
        if not resize:
            where = f" under '{key}'" if key else ""
            raise GanforgeError(
                f"dataset '{dataset}' is {images.shape[-2]}x{images.shape[-1]}{where} but the model loads {size}x"
                f"{size} (model.resolution, or data.load_size); use --set model.resolution="
                f"{native or images.shape[-1]} or --set data.resize=true")
        images = resize_images(images, size)
    return images


def convert_channels(images: torch.Tensor, channels: int) -> torch.Tensor:
    """Grayscale <-> RGB (ITU-R 601 luma for RGB -> gray): uint8 images stay uint8 (rounded), float images (a
    generator's, with their gradients) stay float."""
    if channels == 3:
        return images.expand(-1, 3, -1, -1).contiguous()
    weights = torch.tensor([0.299, 0.587, 0.114], device=images.device).view(1, 3, 1, 1)
    gray = (images.float() * weights).sum(1, keepdim=True)
    return gray if images.is_floating_point() else gray.round().clamp(0, 255).to(torch.uint8)


def resize_images(images: torch.Tensor, resolution: int) -> torch.Tensor:
    """Bilinear, antialiased: uint8 images are rounded back to uint8, float images stay float (and differentiable)."""
    out = F.interpolate(images.float(), size=(resolution, resolution), mode="bilinear", antialias=True,
                        align_corners=False)
    return out if images.is_floating_point() else out.round().clamp(0, 255).to(torch.uint8)


def is_image(tensor: torch.Tensor) -> bool:
    """Batches hold images as uint8 (N, C, H, W) and everything else (labels, label maps) in other types."""
    return tensor.dtype == torch.uint8 and tensor.dim() == 4


def center_crop(images: torch.Tensor, size: int) -> torch.Tensor:
    """The central size x size window of images (what evaluation sees of jittered data); smaller sides are kept
    (super-resolution's small inputs)."""
    top, left = max(0, (images.shape[-2] - size) // 2), max(0, (images.shape[-1] - size) // 2)
    return images[..., top:top + size, left:left + size]


def normalize(images: torch.Tensor) -> torch.Tensor:
    """uint8 [0, 255] -> float [-1, 1] (on whatever device the images are)."""
    return images.float().div_(127.5).sub_(1.0)


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """float [-1, 1] -> uint8 [0, 255], rounding to nearest."""
    return images.detach().add(1.0).mul(127.5).round_().clamp_(0, 255).to(torch.uint8)
