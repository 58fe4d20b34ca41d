"""`random-conv`: a seeded, untrained conv net, FOR TESTS ONLY.

It exists so that tests can run the whole evaluation path (any image size, gray or RGB, features and logits) in
milliseconds with no weights file. Its numbers measure nothing about image quality.
"""

from __future__ import annotations

import hashlib

import torch
import torch.nn.functional as F
from torch import nn

from ..data.images import resize_images
from .extractors import EXTRACTORS, Extractor, ExtractorOptions, no_inception_options

SEED = 1234


class RandomConvNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, 3, stride=2, padding=1)
        self.conv2 = nn.Conv2d(16, 32, 3, stride=2, padding=1)
        self.head = nn.Linear(32, 10)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = F.relu(self.conv2(F.relu(self.conv1(x))))
        features = torch.cat([x.mean(dim=(2, 3)), x.amax(dim=(2, 3))], 1)  # 64-d
        return features, self.head(features[:, :32])


def seeded_network() -> RandomConvNet:
    """The same weights on every machine, without touching the caller's global RNG state."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(SEED)
        return RandomConvNet()


def state_sha256(network: nn.Module) -> str:
    from safetensors.torch import save

    return hashlib.sha256(save({k: v.contiguous() for k, v in network.state_dict().items()})).hexdigest()


class RandomConvExtractor(Extractor):
    name = "random-conv"
    dim = 64
    input_size = 32
    channels = 3
    num_classes = 10
    resize = "bilinear-antialias-32"
    default_metrics = ("fid", "kid", "pr", "dc")
    batch_size = 256

    def prepare(self, images: torch.Tensor) -> torch.Tensor:
        if images.shape[-2:] != (self.input_size, self.input_size):
            images = resize_images(images, self.input_size)
        return images.float() / 127.5 - 1.0


@EXTRACTORS.register("random-conv", help="TEST ONLY: a seeded untrained conv net; its numbers mean nothing")
def build_random_conv(options: ExtractorOptions) -> RandomConvExtractor:
    from ..utils import resolve_device

    no_inception_options("random-conv", options)
    network = seeded_network()
    return RandomConvExtractor(network, state_sha256(network), resolve_device(options.device), options.batch_size,
                               "seeded random weights (test only)")
