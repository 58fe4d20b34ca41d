"""Datasets by name, preloaded once as uint8 tensors (N, C, H, W) and normalised on the device per batch.

Names: `mnist-5k` and `digits` ship with installed packages (offline); `mnist`, `fashion-mnist`, `cifar10` are the
torchvision sets, downloaded only with `--download`; `folder:PATH` reads any folder of images.
"""

from __future__ import annotations

from .images import ImageSet, normalize, to_uint8
from .registry import DATASETS, check_config, check_dataset_name, load_dataset
from .stream import BatchStream

__all__ = ["DATASETS", "BatchStream", "ImageSet", "check_config", "check_dataset_name", "load_dataset", "normalize",
           "to_uint8"]
