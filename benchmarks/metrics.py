"""Feature-extraction speed: ganforge's Inception vs pytorch-fid's on the same images and weights, and lenet-mnist.

    python -m benchmarks.metrics            # 1,000 images per Inception case, interleaved repetitions
    python -m benchmarks.metrics --quick    # 100 images, one repetition

Both Inception networks get the same state_dict (the one `ganforge eval --extractor inception` would load here;
pytorch-fid's loader is pointed at it) and the same 1,000 seeded 32x32 RGB uint8 images, in batches of 50
(pytorch-fid's default), under no_grad/inference_mode in this one process. pytorch-fid is timed from uint8 in memory
to features, its file reading left out, so the comparison is network + resize + normalisation only.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

import torch

from benchmarks.common import benchmark, interleave, main_for, paired_ratio, print_table, reps, write_result


def seeded_images(n: int, size: int = 32, channels: int = 3) -> torch.Tensor:
    generator = torch.Generator().manual_seed(0)
    coarse = torch.randint(0, 256, (n, channels, size // 4, size // 4), generator=generator).float()
    return torch.nn.functional.interpolate(coarse, size=(size, size), mode="bilinear").round().to(torch.uint8)


def pytorch_fid_network(state: dict[str, torch.Tensor]) -> torch.nn.Module:
    import pytorch_fid.inception as reference

    loader = reference.load_state_dict_from_url
    reference.load_state_dict_from_url = lambda *args, **kwargs: state
    try:
        return reference.InceptionV3([3]).eval()
    finally:
        reference.load_state_dict_from_url = loader


@benchmark("metrics", help="Inception feature extraction vs pytorch-fid, and lenet-mnist, images/s")
def run(args: argparse.Namespace) -> dict[str, Any]:
    from ganforge.data import load_dataset
    from ganforge.metrics import ExtractorOptions, build_extractor
    from ganforge.metrics.inception import load_weights, locate_weights

    n = 100 if args.quick else 1000
    repetitions = reps(args, full=2, quick=1)
    images = seeded_images(n)
    weights = load_weights(locate_weights())
    ours = {mode: build_extractor("inception", ExtractorOptions(device="cpu", resize=mode, batch_size=50))
            for mode in ("tensorflow", "pytorch-fid")}
    state = dict(ours["tensorflow"].network.state_dict())
    reference = pytorch_fid_network(state)

    def pytorch_fid() -> None:
        with torch.no_grad():
            for batch in images.split(50):
                reference(batch.float() / 255)[0].squeeze(-1).squeeze(-1).cpu().numpy()

    def ganforge(mode: str) -> Callable[[], None]:
        return lambda: ours[mode].features(images).shape and None

    cases = {
        "ganforge inception (tensorflow resize)": ganforge("tensorflow"),
        "ganforge inception (pytorch-fid resize)": ganforge("pytorch-fid"),
        "pytorch-fid InceptionV3": pytorch_fid,
    }
    timed = interleave(cases, repetitions, warmup=0)

    digits = load_dataset("mnist-5k").images
    lenet_images = digits.repeat(2, 1, 1, 1)  # 10,000 digits
    lenet = build_extractor("lenet-mnist", ExtractorOptions(device="cpu"))
    lenet.features(digits[:1000])
    lenet_times = interleave({"lenet-mnist": lambda: lenet.features(lenet_images).shape and None},
                             reps(args, full=5, quick=2), warmup=1)["lenet-mnist"]

    rows = [[name, n, stats.median, n / stats.median] for name, stats in timed.items()]
    rows.append(["lenet-mnist", lenet_images.shape[0], lenet_times.median, lenet_images.shape[0] / lenet_times.median])
    table = print_table("feature extraction, images/s (median of interleaved repetitions)",
                        ["extractor", "images", "seconds", "images/s"], rows)
    ratio = paired_ratio(timed["pytorch-fid InceptionV3"], timed["ganforge inception (pytorch-fid resize)"])
    print(f"ganforge / pytorch-fid speed (same pipeline): {ratio.median:.2f}x")
    result = {"images": n, "repetitions": repetitions, "inception_weights_sha256": weights.sha256,
              "cases": {name: {"seconds": stats, "images_per_s": n / stats.median} for name, stats in timed.items()},
              "lenet_mnist": {"images": lenet_images.shape[0], "seconds": lenet_times,
                              "images_per_s": lenet_images.shape[0] / lenet_times.median},
              "speed_ratio_vs_pytorch_fid": ratio, "table": table}
    if not args.no_write:
        write_result("metrics", result)
    return result


if __name__ == "__main__":
    started = time.perf_counter()
    main_for("metrics")
    print(f"total {time.perf_counter() - started:.0f} s")
