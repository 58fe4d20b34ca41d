"""`lenet-mnist`: a small digit classifier trained in this project, the offline extractor for MNIST-like data.

Inception features of 28x28 gray digits say little (the network never saw anything like them, and it needs 95 MB of
weights this machine cannot download), so MNIST runs are judged with this network instead: its 128-d penultimate
layer (before the ReLU) gives a Frechet LeNet Distance, and its 10 logits give mode counts and the class-histogram
KL. `scripts/train_lenet_mnist.py` trains it, seeded, on 4,000 of the 5,000 built-in `mnist-5k` digits (the dataset
`mnist-4k`) and holds the other 1,000 out (`data.registry.mnist_5k_held_out`); the weights ship with the package
and their sha256 is checked on every load.
Its numbers are comparable only with other ganforge lenet-mnist numbers, never with a paper's FID.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..data.images import resize_images
from .extractors import EXTRACTORS, Extractor, ExtractorOptions, load_shipped_weights, no_inception_options, say_once

WEIGHTS_PATH = Path(__file__).resolve().parent / "weights" / "lenet-mnist.safetensors"
WEIGHTS_SHA256 = "7b0e850d84edd37fe00beb51683352d67997fad59fe7d7ff62f354bae88071a2"
HELD_OUT_ACCURACY = 0.988  # measured by scripts/train_lenet_mnist.py on the 1,000 held-out digits
MNIST_MEAN, MNIST_STD = 0.1307, 0.3081  # the usual MNIST normalisation constants


class LeNet(nn.Module):
    """LeNet-5 in spirit: two 5x5 convs with max pools, a 128-unit layer, 10 logits (215k parameters, 860 KB).

    Small on purpose: about 3 M multiply-adds per digit, so evaluating 10,000 images takes seconds on a CPU.
    """

    feature_dim = 128

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 5, padding=2)
        self.conv2 = nn.Conv2d(16, 32, 5, padding=2)
        self.fc1 = nn.Linear(32 * 7 * 7, self.feature_dim)
        self.dropout = nn.Dropout(0.3)
        self.fc2 = nn.Linear(self.feature_dim, 10)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Normalised (N, 1, 28, 28) -> (penultimate pre-activations, logits)."""
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)  # 14x14
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)  # 7x7
        features = self.fc1(torch.flatten(x, 1))
        return features, self.fc2(self.dropout(F.relu(features)))


def normalize_digits(images: torch.Tensor) -> torch.Tensor:
    """Digits in [0, 255] (uint8, or float from a generator) -> the network input: [0, 1], then mean/std."""
    return (images.float() / 255.0 - MNIST_MEAN) / MNIST_STD


class LeNetExtractor(Extractor):
    name = "lenet-mnist"
    dim = LeNet.feature_dim
    input_size = 28
    channels = 1
    num_classes = 10
    resize = "bilinear-antialias-28"
    comparable = False
    default_metrics = ("fid", "kid", "pr", "dc", "modes")
    batch_size = 1000

    def prepare(self, images: torch.Tensor) -> torch.Tensor:
        if images.shape[-2:] != (self.input_size, self.input_size):
            say_once(f"lenet-mnist: images of {images.shape[-2]}x{images.shape[-1]} are resized to 28x28")
            images = resize_images(images, self.input_size)
        return normalize_digits(images)


def load_lenet(path: Path = WEIGHTS_PATH, expected_sha256: str = WEIGHTS_SHA256) -> LeNet:
    """The shipped classifier, after checking that its file is the one this code was released with."""
    return load_shipped_weights(LeNet(), path, expected_sha256, "lenet-mnist", "scripts/train_lenet_mnist.py",
                                "metrics/lenet.py")


@EXTRACTORS.register("lenet-mnist", help="ganforge's MNIST classifier (128-d, 10 classes): offline, MNIST-like data")
def build_lenet(options: ExtractorOptions) -> LeNetExtractor:
    from ..utils import resolve_device

    no_inception_options("lenet-mnist", options)
    return LeNetExtractor(load_lenet(), WEIGHTS_SHA256, resolve_device(options.device), options.batch_size,
                          f"ganforge {WEIGHTS_PATH.name}")
