"""Mode collapse on the 2D ring: the vanilla GAN against its remedies, through the lab, as a GIF and a grid.

ring8 is 8 Gaussians on a circle (std 0.02). Each recipe is the lab's own (`ganforge lab --list`), trained by the
lab's phase loop with seed 0; the lesson keeps G's samples (fixed noise) at evenly spaced steps and counts, as
the VEEGAN and PacGAN papers do, the modes captured (at least 20 of 2,500 samples within 3 std of a centre) and
the share of high-quality samples (within 3 std of any centre).
"""

from __future__ import annotations

import dataclasses
import io
from pathlib import Path

from ..utils import atomic_write_bytes
from .common import pyplot, table

DATASET = "ring8"


def animate(outcomes: dict, path: Path, limit: float = 3.0) -> Path:
    """One GIF frame per snapshot, one panel per recipe; red crosses are the mixture's centres."""
    from PIL import Image

    from ..lab.toy import TOY_DATASETS

    plt = pyplot()
    centres = TOY_DATASETS.get(DATASET).centres.numpy()
    frames = []
    count = min(len(o.snapshots) for o in outcomes.values())
    for index in range(count):
        fig, axes = plt.subplots(1, len(outcomes), figsize=(2.2 * len(outcomes), 2.5), squeeze=False)
        for ax, (recipe, outcome) in zip(axes[0], outcomes.items()):
            step, points = outcome.snapshots[index]
            xs = [min(max(p[0], -limit), limit) for p in points]
            ys = [min(max(p[1], -limit), limit) for p in points]
            ax.scatter(xs, ys, s=1, alpha=0.5, color="tab:blue")
            ax.scatter(centres[:, 0], centres[:, 1], s=12, marker="x", color="tab:red", linewidths=0.8)
            ax.set_xlim(-limit, limit)
            ax.set_ylim(-limit, limit)
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_aspect("equal")
            ax.set_title(f"{recipe}, step {step}", fontsize=7)
        fig.tight_layout()
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=60)
        plt.close(fig)
        buffer.seek(0)
        frames.append(Image.open(buffer).convert("P", palette=Image.ADAPTIVE))
    gif = io.BytesIO()
    frames[0].save(gif, format="GIF", save_all=True, append_images=frames[1:], duration=400, loop=0)
    atomic_write_bytes(path, gif.getvalue())
    return path


def run(out: Path, fast: bool) -> str:
    from ..lab.runner import plot_snapshots, train_toy

    recipes = ["gan", "minibatch-std"] if fast else ["gan-paper", "gan", "pacgan", "minibatch-std"]
    steps, frames = (100, 4) if fast else (None, 12)
    outcomes = {recipe: train_toy(recipe, DATASET, seed=0, steps=steps, snapshots=frames) for recipe in recipes}
    animate(outcomes, out / "mode-collapse.gif")
    every_other = {recipe: dataclasses.replace(o, snapshots=o.snapshots[1::2] if len(o.snapshots) > 6
                                               else o.snapshots) for recipe, o in outcomes.items()}
    grid = plot_snapshots(DATASET, every_other, out)
    grid.replace(out / "mode-collapse.png")

    rows = []
    for recipe, o in outcomes.items():
        if o.coverage is None:
            rows.append([f"`{recipe}`", "diverged", "-", f"{o.seconds:.0f}"])
        else:
            rows.append([f"`{recipe}`", f"{o.coverage.modes} of {o.coverage.total_modes}",
                         f"{100 * o.coverage.high_quality:.1f}", f"{o.seconds:.0f}"])
    trained = f"{steps} steps each (the fast version)" if fast else "each recipe's own length (4,000 steps)"
    lines = [
        "# Lesson: mode collapse and its remedies", "",
        f"ring8, seed 0, {trained}, through the lab (`ganforge lab ring8 --algorithms {','.join(recipes)} "
        f"--seeds 1` trains the same runs):", "",
        table(["recipe", "modes captured", "high-quality samples %", "seconds"], rows), "",
        "`gan-paper` is the unrolled-GAN paper's setting (Adam 1e-4, batch 512), the vanilla game whose G "
        "collapses onto a few modes and hops between them in that paper; `gan` is the same game on the lab's "
        "faster base optimiser (Adam 1e-3, batch 256, linear decay); "
        "`pacgan` lets D judge pairs of samples, so a collapsed pair is easy to reject; `minibatch-std` gives D the "
        "batch's standard deviation as a feature, so a batch without spread looks fake. One seed only: the lab's "
        "README table gives the mean and spread over 5 seeds.", "",
        "Figures: mode-collapse.gif (samples over training, all recipes side by side), mode-collapse.png (the "
        "same as a grid: rows are recipes, columns steps).",
    ]
    return "\n".join(lines) + "\n"
