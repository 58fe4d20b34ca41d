"""Translation equivariance (EQ-T, integer and fractional shifts) of style generators, at initialisation and trained.

At init, each preset's generator is built as training builds it (seed `train.seed`), and the StyleGAN3-T preset is
also built with `model.synthesis_filter=nearest` (the ablation without low-pass filters). `--runs` adds trained runs
or exports (their EMA generator). Every row uses the same n, seed and translations (up to 1/8 of the image).

    python -m benchmarks.equivariance [--presets mnist-stylegan3t mnist-stylegan2] [--runs DIR ...] [--n 1000]
"""

from __future__ import annotations

import argparse
from typing import Any

import torch

from benchmarks.common import benchmark, main_for, print_table, write_result

PRESETS = ("mnist-stylegan3t", "mnist-stylegan2")
ABLATION = "model.synthesis_filter=nearest"


def options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--presets", nargs="*", default=list(PRESETS), help="presets whose generator is measured at init")
    p.add_argument("--runs", nargs="*", default=[], help="trained runs or exports to measure (EMA generator)")
    p.add_argument("--n", type=int, default=None, help="samples per row (default 1000; --quick 50)")


def initial_generator(preset: str, overrides: list[str]) -> torch.nn.Module:
    """The sampler of `preset` as its family builds it at step 0."""
    from ganforge.configure import build_config
    from ganforge.families import FAMILIES

    config = build_config(preset, overrides=overrides)
    torch.manual_seed(config.train.seed)
    return FAMILIES.get(config.algorithm.name).build_sampler(config)


@benchmark("equivariance", help="EQ-T (integer / fractional translations, PSNR dB) of style generators at init and "
                                "trained", options=options)
def run(args: argparse.Namespace) -> dict[str, Any]:
    from ganforge.export import load_generator
    from ganforge.metrics.equivariance import translation_equivariance

    n = args.n or (50 if args.quick else 1000)
    models: list[tuple[str, torch.nn.Module]] = []
    for preset in args.presets:
        models.append((f"{preset} (init)", initial_generator(preset, [])))
        if preset == "mnist-stylegan3t":
            models.append((f"{preset} {ABLATION} (init)", initial_generator(preset, [ABLATION])))
    models += [(str(path), load_generator(path)) for path in args.runs]
    rows = []
    for name, generator in models:
        result = translation_equivariance(generator, n)
        rows.append({"model": name, "eqt_int": result.integer, "eqt_frac": result.fractional, "n": n})
    print_table(f"EQ-T, PSNR dB (n={n}, seed 0, translations up to 1/8 of the image)",
                ["model", "EQ-T int", "EQ-T frac"], [[r["model"], r["eqt_int"], r["eqt_frac"]] for r in rows])
    result = {"n": n, "rows": rows}
    if not args.no_write:
        write_result("equivariance", result)
    return result


if __name__ == "__main__":
    main_for("equivariance")
