"""When D wins: equal learning rates, a D ten times faster, TTUR, and the course's rule of skipping D's step.

The course's remedies for a D whose loss falls to zero: give G and D different learning rates, or skip D's update
while its loss is already low. Each variant is the `mnist-mlp` preset (the course's MLP pair) with `--set`
overrides only (`optim.D.lr`, `optim.G.lr`, `algorithm.balance_threshold`), trained by the Trainer; the lesson
plots D(x) and D(G(z)) side by side and scores each with the domain FID.
"""

from __future__ import annotations

from pathlib import Path

from .common import build_trainer, pyplot, records, run_fid, save_figure, scratch, table

VARIANTS = {
    "equal lr 2e-4 (the course's code)": [],
    "D wins: D lr 2e-3, G lr 2e-4": ["optim.D.lr=2e-3"],
    "TTUR: D lr 4e-4, G lr 1e-4": ["optim.D.lr=4e-4", "optim.G.lr=1e-4"],
    "D lr 2e-3 + skip D while its loss < 0.7": ["optim.D.lr=2e-3", "algorithm.balance_threshold=0.7"],
}


def run(out: Path, fast: bool) -> str:
    steps, fid_n = (20, 256) if fast else (800, 2000)
    results = {}
    with scratch("balance") as folder:
        for i, (name, overrides) in enumerate(VARIANTS.items()):
            result = build_trainer("mnist-mlp", [f"train.steps={steps}", "train.log_every=10", "eval.every=0",
                                                 *overrides], folder / f"run{i}").fit()
            logged = [r for r in records(result.run_dir) if "d_real" in r]
            results[name] = {"records": logged, "fid": run_fid(result.run_dir, fid_n), "seconds": result.seconds,
                             "skips": int(logged[-1].get("skips_d", 0))}

    plt = pyplot()
    fig, axes = plt.subplots(1, len(results), figsize=(3.2 * len(results), 3.0), sharey=True, squeeze=False)
    for ax, (name, result) in zip(axes[0], results.items()):
        steps_logged = [r["step"] for r in result["records"]]
        ax.plot(steps_logged, [r["d_real"] for r in result["records"]], label="D(x)")
        ax.plot(steps_logged, [r["d_fake"] for r in result["records"]], label="D(G(z))")
        ax.axhline(0.5, color="grey", lw=0.6, ls=":")
        ax.set_ylim(0, 1)
        ax.set_xlabel("step")
        ax.set_title(name, fontsize=7)
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    save_figure(fig, out / "balance.png")

    def tail_mean(result: dict, key: str) -> float:
        tail = result["records"][len(result["records"]) // 2:]
        return sum(r[key] for r in tail) / len(tail)

    equal, wins, _, skipping = results.values()
    rows = [[name, f"{tail_mean(r, 'd_real'):.3f}", f"{tail_mean(r, 'd_fake'):.3f}",
             f"{tail_mean(r, 'loss_d'):.3f}", str(r["skips"]), f"{r['fid']:.1f}"] for name, r in results.items()]
    lines = [
        "# Lesson: the balance between G and D", "",
        f"`mnist-mlp` (the course's MLP pair), {steps} steps of batch 64 each; means over the second half of "
        f"training; domain FID of {fid_n} samples at the end:", "",
        table(["variant", "D(x)", "D(G(z))", "D loss", "D steps skipped", "FID"], rows), "",
        f"With D's learning rate ten times G's, D's loss over the second half averaged "
        f"{tail_mean(wins, 'loss_d'):.3f} against {tail_mean(equal, 'loss_d'):.3f} with equal rates (2 log 2 = "
        f"1.386 is the loss of a D that cannot tell), with D(x) {tail_mean(wins, 'd_real'):.3f} and D(G(z)) "
        f"{tail_mean(wins, 'd_fake'):.3f}. The skip rule (`algorithm.balance_threshold`: no D update while D's "
        f"loss is below it, the course's 'skip D's training when its loss is already low') skipped "
        f"{skipping['skips']} of {steps} D steps and moved D's loss to {tail_mean(skipping, 'loss_d'):.3f}; FID "
        f"{skipping['fid']:.1f} against {wins['fid']:.1f} without it.", "",
        "Figure: balance.png (D(x) and D(G(z)) over training, one panel per variant).",
    ]
    return "\n".join(lines) + "\n"
