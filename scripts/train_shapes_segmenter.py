"""Train the `shapes-segmenter` extractor (ganforge/metrics/segmenter.py) on the real shapes-seg scenes, seeded.

    python scripts/train_shapes_segmenter.py       # writes src/ganforge/metrics/weights/shapes-segmenter.safetensors

It trains on the 4,500 training scenes (random horizontal flips) and prints the mIoU on the 500 test scenes and the
file's sha256, which go into HELD_OUT_MIOU / WEIGHTS_SHA256 in segmenter.py. One thread, so the summation order
(and the file) does not depend on the core count.
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

from ganforge.data.images import normalize
from ganforge.data.shapes import SHAPE_CLASSES, shapes_splits
from ganforge.metrics.segmenter import WEIGHTS_PATH, ShapesSegmenter, mean_iou


def held_out_miou(network: ShapesSegmenter, images: torch.Tensor, label_maps: torch.Tensor) -> float:
    network.eval()
    with torch.inference_mode():
        _, logits = network(normalize(images))
    return mean_iou(logits.argmax(1, keepdim=True), label_maps, len(SHAPE_CLASSES))


def train(epochs: int, seed: int, batch_size: int = 64, lr: float = 3e-3) -> tuple[ShapesSegmenter, float]:
    torch.manual_seed(seed)
    train_set, test_set = shapes_splits()
    images, label_maps = normalize(train_set["B"]), train_set["A"]
    network = ShapesSegmenter()
    optimizer = torch.optim.AdamW(network.parameters(), lr=lr, weight_decay=1e-4)
    steps = epochs * math.ceil(images.shape[0] / batch_size)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=steps)
    generator = torch.Generator().manual_seed(seed)
    for epoch in range(epochs):
        network.train()
        order = torch.randperm(images.shape[0], generator=generator)
        for start in range(0, images.shape[0], batch_size):
            rows = order[start:start + batch_size]
            flip = torch.rand(rows.shape[0], generator=generator) < 0.5
            x = torch.where(flip.view(-1, 1, 1, 1), images[rows].flip(-1), images[rows])
            y = torch.where(flip.view(-1, 1, 1, 1), label_maps[rows].flip(-1), label_maps[rows])
            _, logits = network(x)
            loss = F.cross_entropy(logits, y[:, 0])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
        print(f"epoch {epoch + 1}: loss {loss.item():.4f}, test mIoU "
              f"{held_out_miou(network, test_set['B'], test_set['A']):.4f}", flush=True)
    return network, held_out_miou(network, test_set["B"], test_set["A"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=WEIGHTS_PATH)
    args = parser.parse_args()
    from safetensors.torch import save

    torch.set_num_threads(1)
    start = time.perf_counter()
    network, miou = train(args.epochs, args.seed)
    state = {k: v.contiguous() for k, v in network.state_dict().items()}
    # one metadata entry: safetensors writes several in no fixed order, which would change the file's hash
    data = save(state, metadata={"source": f"scripts/train_shapes_segmenter.py --epochs {args.epochs} --seed "
                                           f"{args.seed}; test mIoU {miou:.4f}"})
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(data)
    print(json.dumps({"out": str(args.out), "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data),
                      "test_miou": round(miou, 4), "seconds": round(time.perf_counter() - start, 1)}, indent=2))


if __name__ == "__main__":
    main()
