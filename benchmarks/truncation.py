"""The truncation trick's trade: FLD, precision, recall and class fidelity of a conditional generator against psi.

BigGAN's truncation (Brock et al. 2019) resamples every entry of z whose magnitude exceeds psi, so smaller psi keeps
samples near the mode of the prior: precision (the share of fakes inside the real manifold) should rise and recall
(the share of reals covered by the fakes) should fall. Every psi uses the same seed, the same n and the same real
set; psi = 1.0 is not the untruncated prior (1 sigma is still a threshold), so the untruncated row is reported too.

Without --run, trains the `mnist-acgan` preset first, the conditional preset that meets its class-fidelity target
here (the quick form trains 300 steps, a smoke test only); any run or export whose z is normal works, BigGAN-lite's
included.

    python -m benchmarks.truncation [--run runs/mnist-acgan-...] [--n 10000] [--quick]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any

from benchmarks.common import DOCS_DIR, RESULTS_DIR, benchmark, main_for, print_table, timestamp, write_result

PSIS = (0.25, 0.5, 0.75, 1.0, None)  # None: no truncation
PRESET = "mnist-acgan"


def options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--run", metavar="DIR", help=f"a trained run or export folder (default: train {PRESET} first)")
    p.add_argument("--n", type=int, default=None, help="generated (and real) images per psi (default 10000)")


def train_default(quick: bool, folder: Path) -> Path:
    from ganforge.configure import build_config
    from ganforge.training.trainer import Trainer

    overrides = ["train.steps=300", "eval.every=0", "train.sample_every=0"] if quick else []
    config = build_config(PRESET, overrides=overrides)
    out = folder / PRESET
    Trainer(config, out).fit()
    return out


def plot(rows: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    truncated = [r for r in rows if r["psi"] is not None]
    psis = [r["psi"] for r in truncated]
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.4))
    left.plot(psis, [r["precision"] for r in truncated], "o-", label="precision")
    left.plot(psis, [r["recall"] for r in truncated], "s-", label="recall")
    left.set_xlabel("truncation psi")
    left.set_ylim(0, 1)
    right.plot(psis, [r["fid"] for r in truncated], "o-", color="C3")
    right.set_xlabel("truncation psi")
    right.set_ylabel("FLD (lenet-mnist)")
    untruncated = rows[-1]
    if untruncated["psi"] is None:
        right.axhline(untruncated["fid"], color="grey", linestyle="--", label="untruncated")
        left.axhline(untruncated["precision"], color="C0", linestyle=":", linewidth=0.8, label="precision, untruncated")
        left.axhline(untruncated["recall"], color="C1", linestyle=":", linewidth=0.8, label="recall, untruncated")
        right.legend()
    left.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


@benchmark("truncation", help="FLD, precision, recall and class fidelity of a conditional generator against truncation psi", options=options)
def run(args: argparse.Namespace) -> dict[str, Any]:
    from ganforge.metrics.evaluate import evaluate_model

    n = args.n or (2000 if args.quick else 10000)
    with tempfile.TemporaryDirectory() as scratch:
        model = Path(args.run) if args.run else train_default(args.quick, Path(scratch))
        rows = []
        for psi in PSIS:
            result = evaluate_model(model, metrics=["fid", "pr", "class-fidelity"], n=n, truncation=psi)
            values = result["metrics"]
            rows.append({"psi": psi, "fid": values["fid"], "precision": values["precision"],
                         "recall": values["recall"], "class_fidelity": values["class_fidelity"]})
    print_table(f"truncation of {model} (n={n}, lenet-mnist features, seed 0)",
                ["psi", "FLD", "precision", "recall", "class fidelity"],
                [["none" if r["psi"] is None else r["psi"], r["fid"], r["precision"], r["recall"], r["class_fidelity"]]
                 for r in rows])
    result = {"model": str(model), "n": n, "rows": rows}
    if not args.no_write:
        write_result("truncation", result)
        stamp = timestamp()
        plot(rows, RESULTS_DIR / f"truncation-{stamp}.png")
        if not args.quick:
            plot(rows, DOCS_DIR / "truncation.png")
    return result


if __name__ == "__main__":
    main_for("truncation")
