"""`shapes-segmenter`: a small segmentation network trained in this project on the real `shapes-seg` images, the
judge of semantic image synthesis in miniature (the SPADE paper's protocol: segment generated images with a network
trained on real ones, and score the result against the label maps they were painted from, as mIoU).

`scripts/train_shapes_segmenter.py` trains it, seeded, on the 4,500 training scenes; the weights ship with the
package and their sha256 is checked on every load. Its 128-d features (the mean and standard deviation over the
image of its last hidden layer) also give a Frechet distance for these scenes, comparable only with other ganforge
shapes-segmenter numbers.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from ..data.images import normalize
from ..data.shapes import SHAPE_CLASSES
from .extractors import EXTRACTORS, Extractor, ExtractorOptions, load_shipped_weights, no_inception_options

WEIGHTS_PATH = Path(__file__).resolve().parent / "weights" / "shapes-segmenter.safetensors"
WEIGHTS_SHA256 = "7fc4a2b75e1b1663def486d88b481ea6efd7e3cda6d01c430f58df39c5e2d425"
HELD_OUT_MIOU = 0.9998  # measured by scripts/train_shapes_segmenter.py on the 500 test scenes


class ShapesSegmenter(nn.Module):
    """Four 3x3 convs dilated 1, 2, 4, 8 (a 31 px receptive field: a whole 32 px scene), then a 1x1 classifier
    per pixel (66k parameters, 264 KB)."""

    hidden = 64
    feature_dim = 2 * hidden

    def __init__(self, classes: int = len(SHAPE_CLASSES)) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        fan_in = 3
        for dilation, width in ((1, 32), (2, 32), (4, self.hidden), (8, self.hidden)):
            layers += [nn.Conv2d(fan_in, width, 3, padding=dilation, dilation=dilation), nn.ReLU()]
            fan_in = width
        self.body = nn.Sequential(*layers)
        self.classify = nn.Conv2d(self.hidden, classes, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Images in [-1, 1] (N, 3, H, W) -> (features (N, 128), per-pixel class logits (N, classes, H, W))."""
        hidden = self.body(x)
        features = torch.cat([hidden.mean((2, 3)), hidden.std((2, 3))], 1)
        return features, self.classify(hidden)


class SegmenterExtractor(Extractor):
    name = "shapes-segmenter"
    dim = ShapesSegmenter.feature_dim
    input_size = 32
    channels = 3
    resize = "none"
    comparable = False
    default_metrics = ("fid",)
    batch_size = 500
    classes = len(SHAPE_CLASSES)

    def prepare(self, images: torch.Tensor) -> torch.Tensor:
        return normalize(images)

    def segment(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 images (N, 3, H, W) -> the class the network sees at each pixel, int64 (N, 1, H, W)."""
        images = self.check_images(images)
        out = []
        with torch.inference_mode():
            for batch in images.split(self.batch_size):
                _, logits = self.network(self.prepare(batch.to(self.device)))
                out.append(logits.argmax(1, keepdim=True).cpu())
        return torch.cat(out)


def mean_iou(predicted: torch.Tensor, truth: torch.Tensor, classes: int) -> float:
    """Mean over classes of intersection / union, each counted over every pixel of the set (the usual protocol);
    classes absent from both are left out."""
    predicted, truth = predicted.flatten(), truth.flatten()
    both = torch.bincount(truth * classes + predicted, minlength=classes * classes).view(classes, classes)
    intersection = both.diag().double()
    union = both.sum(0).double() + both.sum(1).double() - intersection
    present = union > 0
    return float((intersection[present] / union[present]).mean())


def load_segmenter(path: Path = WEIGHTS_PATH, expected_sha256: str = WEIGHTS_SHA256) -> ShapesSegmenter:
    """The shipped segmenter, after checking that its file is the one this code was released with."""
    return load_shipped_weights(ShapesSegmenter(), path, expected_sha256, "shapes-segmenter",
                                "scripts/train_shapes_segmenter.py", "metrics/segmenter.py")


@EXTRACTORS.register("shapes-segmenter", help="ganforge's shapes-seg segmenter (128-d features, per-pixel classes): "
                                              "offline, FID and mIoU of semantic synthesis")
def build_segmenter(options: ExtractorOptions) -> SegmenterExtractor:
    from ..utils import resolve_device

    no_inception_options("shapes-segmenter", options)
    return SegmenterExtractor(load_segmenter(), WEIGHTS_SHA256, resolve_device(options.device), options.batch_size,
                              f"ganforge {WEIGHTS_PATH.name}")
