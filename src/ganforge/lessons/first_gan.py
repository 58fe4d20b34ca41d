"""The course's first-day GAN on MNIST: per-epoch losses, a grid per epoch, the curves, its FID against DCGAN's.

The course's first day writes a GAN of `Linear` + `ReLU` layers for G and `Linear` + `LeakyReLU` for D, trained
with binary cross-entropy: the `mnist-mlp-relu` preset (Adam 2e-4 with PyTorch's default betas, batch 64, 50
epochs, as its code sets them). It trains through the Trainer, printing D's and G's losses once per epoch as the
course's loop does, and at the end both it and the `mnist-dcgan` preset are scored by the domain FID.
"""

from __future__ import annotations

from pathlib import Path

from .common import build_trainer, pyplot, records, run_fid, save_figure, scratch


def train_per_epoch(preset: str, overrides: list[str], run_dir: Path):
    """Train `preset` with one log line and one sample grid per epoch (the course prints once per epoch)."""
    trainer = build_trainer(preset, overrides, run_dir)
    per_epoch = trainer.stream.batches_per_epoch
    trainer.config.train.log_every = per_epoch
    trainer.config.train.sample_every = per_epoch
    return trainer.fit(), per_epoch


def run(out: Path, fast: bool) -> str:
    epochs = 2 if fast else 50
    fid_n = 256 if fast else 5000
    dcgan_overrides = (["train.steps=30", "eval.every=0", "model.g_width=8", "model.d_width=8"] if fast
                       else ["train.steps=1000", "eval.every=0"])
    with scratch("first-gan") as folder:
        result, per_epoch = train_per_epoch("mnist-mlp-relu", [f"train.epochs={epochs}", "train.num_samples=64"],
                                            folder / "mlp-relu")
        logged = [r for r in records(result.run_dir) if "loss_d" in r]
        lines_out = [f"Epoch [{i}/{epochs}] | D Loss: {r['loss_d']:.4f} | G Loss: {r['loss_g']:.4f}"
                     for i, r in enumerate(logged)]
        print("\n".join(lines_out), flush=True)
        grids = sorted((result.run_dir / "samples").glob("step_*.png"))
        (out / "epochs").mkdir(exist_ok=True)
        for epoch, grid in enumerate(grids, start=1):
            (out / "epochs" / f"epoch_{epoch:03d}.png").write_bytes(grid.read_bytes())
        fid_mlp = run_fid(result.run_dir, fid_n)
        dcgan = build_trainer("mnist-dcgan", dcgan_overrides, folder / "dcgan").fit()
        fid_dcgan = run_fid(dcgan.run_dir, fid_n)

    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(8, 3.2))
    steps = [r["step"] / per_epoch for r in logged]
    axes[0].plot(steps, [r["loss_d"] for r in logged], label="D loss")
    axes[0].plot(steps, [r["loss_g"] for r in logged], label="G loss")
    axes[0].set_xlabel("epoch")
    axes[0].legend(fontsize=8)
    axes[0].set_title("the losses the course prints (last batch of each epoch)", fontsize=8)
    axes[1].plot(steps, [r["d_real"] for r in logged], label="D(x)")
    axes[1].plot(steps, [r["d_fake"] for r in logged], label="D(G(z))")
    axes[1].set_xlabel("epoch")
    axes[1].set_ylim(0, 1)
    axes[1].legend(fontsize=8)
    fig.tight_layout()
    save_figure(fig, out / "losses.png")
    if grids:
        (out / "final-samples.png").write_bytes((out / "epochs" / f"epoch_{len(grids):03d}.png").read_bytes())

    dcgan_what = ("its 30-step fast version, widths 8" if fast
                  else f"the preset's networks, {dcgan.steps} steps of 64 (about 13 epochs), {dcgan.seconds:.0f} s")
    lines = [
        "# Lesson: the first-day GAN", "",
        f"`mnist-mlp-relu`: G = Linear(100, 128) + ReLU + Linear(128, 784) + Tanh, D = Linear(784, 128) + "
        f"LeakyReLU(0.2) + Linear(128, 1), BCE with logits, Adam 2e-4, batch 64, {epochs} epochs of the 5,000 "
        f"built-in digits ({per_epoch} batches each; {result.steps} steps in {result.seconds:.0f} s).", "",
        "```", *lines_out, "```", "",
        f"Domain FID ({fid_n} samples against the built-in digits, lenet-mnist features, as `ganforge eval "
        f"--metrics fid --n {fid_n}`): first-day GAN **{fid_mlp:.1f}**, `mnist-dcgan` ({dcgan_what}) "
        f"**{fid_dcgan:.1f}**.", "",
        "Figures: losses.png, epochs/epoch_NNN.png (one grid per epoch, the same 64 noise vectors), "
        "final-samples.png.",
    ]
    return "\n".join(lines) + "\n"
