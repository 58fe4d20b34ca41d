"""The two phases of one training step: phase D moves only D, phase G moves only G, measured on one batch.

Phase D scores a real batch (labelled 1) and a fake batch (labelled 0, detached); phase G scores the same fakes
labelled 1 with D frozen. The lesson runs the `gan` family's own phases through the Trainer on the course's
first-day preset (`mnist-mlp-relu`), records the batch phase D drew, and reports D's scores on it before and after
each phase with the parameter-change norm of both networks: exactly 0 for the network a phase does not train.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from .common import build_trainer, pyplot, save_figure, scratch, table


def _params(net: nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in net.parameters()]


def change_norm(before: list[torch.Tensor], net: nn.Module) -> float:
    """||theta_after - theta_before|| over all of a network's parameters."""
    return float(torch.sqrt(sum(((p.detach() - b) ** 2).sum() for p, b in zip(net.parameters(), before))))


@dataclass
class PhaseMeasurements:
    d_real: list[float]  # mean D(x) before phase D, after phase D, after phase G
    d_fake: list[float]  # mean D(G(z)) at the same moments (G(z) recomputed from the same z)
    moved: dict[str, dict[str, float]]  # phase -> network -> parameter-change norm


def measure_phases(trainer) -> PhaseMeasurements:
    """One step of the trainer's phases D then G, with what they drew recorded through the loop's own doors."""
    drawn: dict[str, dict[str, torch.Tensor]] = {}
    next_real, sample_inputs = trainer.next_real_batch, trainer.sample_inputs

    def recording_real() -> dict[str, torch.Tensor]:
        drawn["real"] = next_real()
        return drawn["real"]

    def recording_inputs(n: int) -> dict[str, torch.Tensor]:
        drawn["inputs"] = sample_inputs(n)
        return drawn["inputs"]

    trainer.next_real_batch, trainer.sample_inputs = recording_real, recording_inputs
    generator, discriminator = trainer.raw("G"), trainer.raw("D")
    phases = {phase.name: phase for phase in trainer.phases}

    @torch.no_grad()
    def scores(d: nn.Module) -> tuple[float, float]:
        fake = generator(**drawn["inputs"])
        return float(torch.sigmoid(d(drawn["real"]["image"])).mean()), float(torch.sigmoid(d(fake)).mean())

    try:
        g0, d0 = _params(generator), _params(discriminator)
        d_before = copy.deepcopy(discriminator)
        trainer.run_phase(phases["D"])
        before = scores(d_before)
        after_d = scores(discriminator)
        moved = {"D": {"G": change_norm(g0, generator), "D": change_norm(d0, discriminator)}}
        g1, d1 = _params(generator), _params(discriminator)
        trainer.run_phase(phases["G"])
        after_g = scores(discriminator)
        moved["G"] = {"G": change_norm(g1, generator), "D": change_norm(d1, discriminator)}
    finally:
        trainer.next_real_batch, trainer.sample_inputs = next_real, sample_inputs
    return PhaseMeasurements([before[0], after_d[0], after_g[0]], [before[1], after_d[1], after_g[1]], moved)


def moved_word(before: float, after: float) -> str:
    return "raised" if after > before else "lowered" if after < before else "left unchanged"


def run(out: Path, fast: bool) -> str:
    warmup = 0 if fast else 200
    with scratch("two-phases") as folder:
        trainer = build_trainer("mnist-mlp-relu", ["train.steps=1000", "eval.every=0"], folder / "run")
        for _ in range(warmup):  # a G that has learned a little, so D's scores are not trivially separated
            trainer.train_step()
        m = measure_phases(trainer)
        trainer.runlog.close()

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.2))
    moments = ["before phase D", "after phase D", "after phase G"]
    xs = torch.arange(3).float()
    ax.bar(xs - 0.18, m.d_real, width=0.36, label="D(x), real batch")
    ax.bar(xs + 0.18, m.d_fake, width=0.36, label="D(G(z)), same z")
    for x, real, fake in zip(xs, m.d_real, m.d_fake):
        ax.text(float(x) - 0.18, real, f"{real:.3f}", ha="center", va="bottom", fontsize=7)
        ax.text(float(x) + 0.18, fake, f"{fake:.3f}", ha="center", va="bottom", fontsize=7)
    ax.set_xticks(xs.tolist(), moments)
    ax.set_ylim(0, 1.05)
    ax.legend(fontsize=8)
    ax.set_title(f"phase D moved D by {m.moved['D']['D']:.3g}, G by {m.moved['D']['G']:g}; "
                 f"phase G moved G by {m.moved['G']['G']:.3g}, D by {m.moved['G']['D']:g}", fontsize=8)
    fig.tight_layout()
    save_figure(fig, out / "two-phases.png")

    lines = [
        "# Lesson: the two phases", "",
        f"`mnist-mlp-relu` (the course's first-day GAN) after {warmup} training steps, then one step of its two "
        f"phases run by the Trainer's phase loop, on the batch phase D drew (64 real digits, 64 fakes):", "",
        table(["moment", "mean D(x)", "mean D(G(z))"],
              [[name, f"{r:.4f}", f"{f:.4f}"] for name, r, f in zip(moments, m.d_real, m.d_fake)]), "",
        table(["phase", "norm of D's parameter change", "norm of G's parameter change"],
              [[phase, f"{m.moved[phase]['D']:.6g}", f"{m.moved[phase]['G']:.6g}"] for phase in ("D", "G")]), "",
        f"Phase D {moved_word(m.d_real[0], m.d_real[1])} D(x) and {moved_word(m.d_fake[0], m.d_fake[1])} "
        f"D(G(z)); G's change in phase D is {m.moved['D']['G']:g} (the fakes are detached, and only D's optimiser "
        f"steps). Phase G {moved_word(m.d_fake[1], m.d_fake[2])} D(G(z)); D's change in phase G is "
        f"{m.moved['G']['D']:g} (D is frozen and its optimiser does not step), so D(x) stayed "
        f"{m.d_real[2]:.4f}. G never receives a real image: real data enters only in phase D.", "",
        "Figure: two-phases.png.",
    ]
    return "\n".join(lines) + "\n"
