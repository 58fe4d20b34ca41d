"""Image-to-image models side by side on one held-out split: L1, PSNR, SSIM, domain FID, class kept, cycle L1.

Each `--run LABEL=DIR` is evaluated as `ganforge eval DIR` would (every test image of the source domain translated
once, lenet-mnist features for digits). `--bicubic` adds the row every super-resolution paper starts from: the test
inputs enlarged by bicubic interpolation, scored the same way. Without runs, the quick form trains a few steps of
`mnist-srgan` (a smoke test only).

    python -m benchmarks.translation --run "L1 only=runs/l1" --run "pix2pix=runs/p2p"
    python -m benchmarks.translation --bicubic --run "SRResNet=runs/srresnet" --run "SRGAN=runs/srgan"
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any

from benchmarks.common import benchmark, main_for, print_table, write_result

def options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--run", action="append", default=[], metavar="LABEL=DIR",
                   help="a trained run or export to evaluate (repeat for several)")
    p.add_argument("--bicubic", action="store_true", help="add the bicubic-upscaling row (super-resolution runs)")


def bicubic_row(model: Path) -> dict[str, float]:
    """The first run's test inputs enlarged by bicubic interpolation, scored as a model's outputs are."""
    import torch.nn.functional as F

    from ganforge.export import read_model_config
    from ganforge.metrics.extractors import ExtractorOptions, build_extractor
    from ganforge.metrics.translation import TRANSLATION_METRICS, direction_scores, suited_extractor, test_split

    config, _ = read_model_config(model)
    dataset, test = test_split(config)
    source, target = ("A", "B") if config.algorithm.direction == "AtoB" else ("B", "A")
    enlarged = F.interpolate(test[source].float(), size=test[target].shape[-2:], mode="bicubic",
                             align_corners=False).round().clamp(0, 255).byte()
    extractor = build_extractor(suited_extractor(dataset, config), ExtractorOptions())
    return direction_scores(enlarged, test[target], test[target], test.get(f"label_{source}"), extractor,
                            list(TRANSLATION_METRICS), dataset.extractor_view(target))


def train_quick(folder: Path) -> Path:
    from ganforge.configure import build_config
    from ganforge.training.trainer import Trainer

    config = build_config("mnist-srgan", overrides=["train.steps=20", "algorithm.pretrain_steps=10",
                                                    "train.sample_every=20", "model.g_width=8", "model.d_width=8"])
    Trainer(config, folder / "srgan", quiet=True).fit()
    return folder / "srgan"


@benchmark("translation", help="image-to-image runs (and bicubic) on one held-out split: L1, PSNR, SSIM, FID, "
                               "class kept", options=options)
def run(args: argparse.Namespace) -> dict[str, Any]:
    from ganforge.metrics.evaluate import evaluate_model

    with tempfile.TemporaryDirectory() as scratch:
        runs = [tuple(item.split("=", 1)) for item in args.run]
        if not runs:
            if not args.quick:
                raise SystemExit("pass --run LABEL=DIR (one or more), or --quick for a smoke test")
            runs, args.bicubic = [("SRGAN (20 steps)", str(train_quick(Path(scratch))))], True
        rows: list[dict[str, Any]] = []
        if args.bicubic:
            rows.append({"model": "bicubic", **bicubic_row(Path(runs[0][1]))})
        for label, folder in runs:
            result = evaluate_model(Path(folder))
            rows.append({"model": label, "run": folder, **result["metrics"]})
    keys = [key for key in rows[-1] if key not in ("model", "run")]
    print_table("image-to-image models on the held-out test split (lenet-mnist features for digits)",
                ["model", *keys], [[row["model"], *[row.get(key, "") for key in keys]] for row in rows])
    result = {"rows": rows}
    if not args.no_write:
        write_result("translation", result)
    return result


if __name__ == "__main__":
    main_for("translation")
