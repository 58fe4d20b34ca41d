"""Any folder of images, read once into memory: resized (shorter side) and centre-cropped to the model's size.

A folder whose images all sit in sub-folders (`PATH/<class>/...`, as torchvision's ImageFolder) is labelled: one
class per sub-folder, in sorted order. Images directly in PATH make it an unlabelled set.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch

from ..errors import GanforgeError
from .images import ImageSet

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp"}
GRAY_MODES = ("1", "L", "LA", "I", "I;16", "F")  # PIL modes of one-channel images (LA: gray with alpha)
log = logging.getLogger("ganforge")


def image_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())


def read_image(path: Path, resolution: int | None, channels: int) -> np.ndarray:
    """One image as uint8 (C, H, W); with a resolution, resized on its shorter side and centre-cropped."""
    from PIL import Image

    with Image.open(path) as img:
        img = img.convert("L" if channels == 1 else "RGB")
        if resolution is not None:
            scale = resolution / min(img.size)
            size = (max(resolution, round(img.width * scale)), max(resolution, round(img.height * scale)))
            img = img.resize(size, Image.Resampling.BICUBIC)
            left, top = (img.width - resolution) // 2, (img.height - resolution) // 2
            img = img.crop((left, top, left + resolution, top + resolution))
        array = np.asarray(img, dtype=np.uint8)
    return array[None] if array.ndim == 2 else array.transpose(2, 0, 1)


def read_image_file(path: str | Path, channels: int | None = None, resolution: int | None = None) -> torch.Tensor:
    """One image file a user names (an encoder's input, a projector's target) as uint8 (C, H, W), in `channels`
    (None: the file's own, 1 for gray, 3 for colour), resized as `read_image` does when a resolution is given; a
    missing, misnamed or unreadable file is a one-line error."""
    from PIL import Image

    path = Path(path)
    if not path.is_file():
        raise GanforgeError(f"image '{path}' does not exist; pass a .png/.jpg/.webp file")
    if path.suffix.lower() not in IMAGE_SUFFIXES:
        raise GanforgeError(f"'{path}' is not a .png/.jpg/.webp image")
    try:
        if channels is None:
            with Image.open(path) as img:
                channels = 1 if img.mode in GRAY_MODES else 3
        return torch.from_numpy(read_image(path, resolution, channels).copy())
    except Exception:  # PIL raises many types for corrupt files
        raise GanforgeError(f"cannot read image '{path}'; it is corrupt or not an image") from None


def load_folder(path: str | Path, resolution: int, channels: int) -> ImageSet:
    root = Path(path)
    if not root.is_dir():
        raise GanforgeError(f"image folder '{root}' does not exist; pass an existing folder as folder:PATH")
    files = image_files(root)
    if not files:
        raise GanforgeError(f"image folder '{root}' holds no .jpg/.png/.webp images; add images or pick another")
    labelled = all(len(file.relative_to(root).parts) > 1 for file in files)
    class_names = sorted({file.relative_to(root).parts[0] for file in files}) if labelled else None
    class_index = {name: i for i, name in enumerate(class_names or [])}
    arrays, labels, skipped = [], [], 0
    for file in files:
        try:
            arrays.append(read_image(file, resolution, channels))
        except Exception:  # PIL raises many types for corrupt files; all mean "unreadable"
            skipped += 1
            continue
        if class_names is not None:
            labels.append(class_index[file.relative_to(root).parts[0]])
    if skipped:
        log.warning("skipped %d unreadable image file(s) of %d in %s", skipped, len(files), root)
    if not arrays:
        raise GanforgeError(f"none of the {len(files)} image files in '{root}' could be read; they are corrupt")
    label_tensor = torch.tensor(labels, dtype=torch.int64) if class_names is not None else None
    return ImageSet(f"folder:{root}", torch.from_numpy(np.stack(arrays)), label_tensor, class_names)
