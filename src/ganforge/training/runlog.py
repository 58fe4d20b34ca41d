"""What a run writes for people: metrics.jsonl, TensorBoard events, losses.png and sample grids."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..utils import atomic_write_bytes

PLOTTED = (("loss_d", "D loss"), ("loss_g", "G loss"))
PROBABILITIES = (("d_real", "mean D(x)"), ("d_fake", "mean D(G(z))"))


class RunLog:
    """Appends one JSON line per logged step (mirrored to TensorBoard) and redraws the loss plot on demand."""

    def __init__(self, run_dir: Path, resume_step: int | None = None, tensorboard: bool = True,
                 plotted: tuple[tuple[str, str], ...] = ()) -> None:
        self.run_dir = run_dir
        self.plotted = plotted  # the family's own curves (BEGAN's convergence measure), one panel each
        self.metrics_path = run_dir / "metrics.jsonl"
        if resume_step is not None:
            self._truncate_after(resume_step)
        self._writer = None
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:  # tensorboard is a dependency, but a broken install should not stop training
                SummaryWriter = None
            if SummaryWriter is not None:
                self._writer = SummaryWriter(str(run_dir / "tensorboard"), purge_step=resume_step)

    def _truncate_after(self, step: int) -> None:
        """On resume, drop lines past the checkpoint: the resumed run logs those steps again."""
        if self.metrics_path.exists():
            kept = [line for line in self.metrics_path.read_text().splitlines()
                    if line.strip() and json.loads(line).get("step", 0) <= step]
            atomic_write_bytes(self.metrics_path, "".join(line + "\n" for line in kept).encode())
        events = self.run_dir / "events.log"
        if events.exists():
            kept = [line for line in events.read_text().splitlines() if int(line.split()[1].rstrip(":")) <= step]
            atomic_write_bytes(events, "".join(line + "\n" for line in kept).encode())

    def log(self, record: dict[str, Any]) -> None:
        with self.metrics_path.open("a") as handle:
            handle.write(json.dumps(record) + "\n")
        if self._writer is not None:
            step = record["step"]
            for key, value in record.items():
                if key != "step" and isinstance(value, (int, float)):
                    self._writer.add_scalar(key, value, step)

    def event(self, step: int, message: str) -> None:
        """One line in events.log for things that happen at a step (the balance rule firing, ...)."""
        with (self.run_dir / "events.log").open("a") as handle:
            handle.write(f"step {step}: {message}\n")

    def records(self) -> list[dict[str, Any]]:
        if not self.metrics_path.exists():
            return []
        return [json.loads(line) for line in self.metrics_path.read_text().splitlines() if line.strip()]

    def plot_losses(self) -> Path | None:
        records = self.records()
        if not records:
            return None
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        outputs = [(key, label) for key, label in PROBABILITIES if any(key in r for r in records)]
        panels = 1 + bool(outputs) + len(self.plotted)  # a family without D(x) / D(G(z)) (BEGAN) gets no empty panel
        fig, axes = plt.subplots(1, panels, figsize=(5 * panels, 3.6), squeeze=False)
        axes = list(axes[0])
        ax_loss = axes.pop(0)
        for key, label in PLOTTED:  # evaluation lines (eval.every) carry metrics, not losses: skip them
            rows = [r for r in records if key in r]
            if rows:
                ax_loss.plot([r["step"] for r in rows], [r[key] for r in rows], label=label, linewidth=1)
        ax_loss.set_xlabel("step")
        ax_loss.set_title("losses")
        ax_loss.legend()
        if outputs:
            ax_prob = axes.pop(0)
            for key, label in outputs:
                rows = [r for r in records if key in r]
                ax_prob.plot([r["step"] for r in rows], [r[key] for r in rows], label=label, linewidth=1)
            ax_prob.set_xlabel("step")
            ax_prob.set_ylim(0, 1)
            ax_prob.set_title("discriminator outputs")
            ax_prob.legend()
        for ax, (key, title) in zip(axes, self.plotted):
            rows = [r for r in records if key in r]
            ax.plot([r["step"] for r in rows], [r[key] for r in rows], linewidth=1)
            ax.set_xlabel("step")
            ax.set_title(title)
        fig.tight_layout()
        path = self.run_dir / "losses.png"
        fig.savefig(path, dpi=90)
        plt.close(fig)
        return path

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
