"""Datasets by name, preloaded once as uint8 tensors (N, C, H, W) and normalised on the device per batch.

Names: `mnist-5k` and `digits` ship with installed packages (offline), `mnist-4k` is mnist-5k less the 1,000 digits
lenet-mnist holds out; `mnist`, `fashion-mnist`, `cifar10` are the torchvision sets, downloaded only with
`--download`; `folder:PATH` reads any folder of images. Two-domain sets for image-to-image translation: `paired:DIR`,
`unpaired:DIR`, the built-in `mnist-edges` and `mnist-inverted`, and the pix2pix/CycleGAN paper sets.
"""

from __future__ import annotations

from .images import ImageSet, center_crop, is_image, normalize, to_uint8
from .registry import DATASETS, check_config, check_dataset_name, load_dataset
from .stream import BatchStream, GroupedStream, limit_rows, make_stream
from .translation import TranslationSet, random_crop_flip

__all__ = ["DATASETS", "BatchStream", "GroupedStream", "ImageSet", "TranslationSet", "center_crop", "check_config",
           "check_dataset_name", "is_image", "limit_rows", "load_dataset", "make_stream", "normalize",
           "random_crop_flip", "to_uint8"]
