"""Train the `lenet-mnist` extractor (ganforge/metrics/lenet.py) on the built-in mnist-5k digits, seeded.

    python scripts/train_lenet_mnist.py            # writes src/ganforge/metrics/weights/lenet-mnist.safetensors

A fixed permutation (seed 0) splits the 5,000 digits into 4,000 for training and 1,000 held out; the script prints
the held-out accuracy and the file's sha256, which go into WEIGHTS_SHA256 / HELD_OUT_ACCURACY in lenet.py. Training
uses small random affine jitter (shift, rotation, scale) because 4,000 digits are few; on the same machine and torch
build it gives the same file byte for byte (one thread: the summation order does not depend on the core count).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from ganforge.data import load_dataset
from ganforge.data.registry import MNIST_HELD_OUT, mnist_5k_split
from ganforge.metrics.lenet import WEIGHTS_PATH, LeNet, normalize_digits

def split() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """The data layer's mnist-5k split: `mnist-4k` trains, the 1,000 others are held out."""
    data = load_dataset("mnist-5k")
    train, held = mnist_5k_split()
    return data.images[train], data.labels[train], data.images[held], data.labels[held]


def jitter(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Random affine per image: rotation +-12 degrees, scale 0.9-1.1, shift +-2 pixels (of 28)."""
    n = x.shape[0]
    angle = (torch.rand(n, generator=generator) * 2 - 1) * math.radians(12)
    scale = 1 + (torch.rand(n, generator=generator) * 2 - 1) * 0.1
    shift = (torch.rand(n, 2, generator=generator) * 2 - 1) * (2 / 14)
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    background = normalize_digits(torch.zeros(1, dtype=torch.uint8))
    return F.grid_sample(x - background, grid, align_corners=False, padding_mode="zeros") + background


def accuracy(network: LeNet, images: torch.Tensor, labels: torch.Tensor) -> float:
    network.eval()
    with torch.inference_mode():
        _, logits = network(normalize_digits(images))
    return float((logits.argmax(1) == labels).float().mean())


def train(epochs: int, seed: int, batch_size: int = 64, lr: float = 2e-3) -> tuple[LeNet, float, float]:
    torch.manual_seed(seed)
    train_x, train_y, held_x, held_y = split()
    network = LeNet()
    optimizer = torch.optim.AdamW(network.parameters(), lr=lr, weight_decay=1e-4)
    steps = epochs * math.ceil(train_x.shape[0] / batch_size)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=steps)
    generator = torch.Generator().manual_seed(seed)
    inputs = normalize_digits(train_x)
    for epoch in range(epochs):
        network.train()
        order = torch.randperm(inputs.shape[0], generator=generator)
        for start in range(0, inputs.shape[0], batch_size):
            rows = order[start:start + batch_size]
            _, logits = network(jitter(inputs[rows], generator))
            loss = F.cross_entropy(logits, train_y[rows], label_smoothing=0.05)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
        if (epoch + 1) % 10 == 0:
            print(f"epoch {epoch + 1}: loss {loss.item():.4f}, held-out accuracy "
                  f"{accuracy(network, held_x, held_y):.4f}", flush=True)
    return network, accuracy(network, train_x, train_y), accuracy(network, held_x, held_y)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=WEIGHTS_PATH)
    args = parser.parse_args()
    from safetensors.torch import save

    torch.set_num_threads(1)
    start = time.perf_counter()
    network, train_acc, held_acc = train(args.epochs, args.seed)
    state = {k: v.contiguous() for k, v in network.state_dict().items()}
    # one metadata entry: safetensors writes several in no fixed order, which would change the file's hash
    data = save(state, metadata={"source": f"scripts/train_lenet_mnist.py --epochs {args.epochs} --seed {args.seed}; "
                                           f"held-out accuracy {held_acc:.4f}"})
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(data)
    print(json.dumps({"out": str(args.out), "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data),
                      "train_accuracy": round(train_acc, 4), "held_out_accuracy": round(held_acc, 4),
                      "held_out_images": MNIST_HELD_OUT, "seconds": round(time.perf_counter() - start, 1)}, indent=2))


if __name__ == "__main__":
    main()
