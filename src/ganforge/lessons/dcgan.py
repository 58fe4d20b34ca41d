"""The DCGAN on MNIST: its architecture as a table (layer, output shape, parameters, FLOPs), grids over training.

The `mnist-dcgan` preset's networks are walked layer by layer with forward hooks on one image; FLOPs count a
multiply-add as 2 for convolutions and linear layers, and one per output value for the others (BatchNorm,
activations). Then the preset trains through the Trainer and the lesson shows its sample grids over time.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from .common import build_trainer, grids_over_training, run_fid, scratch, table


def layer_flops(module: nn.Module, inputs: torch.Tensor, output: torch.Tensor) -> int:
    """FLOPs of one layer's forward on one sample."""
    if isinstance(module, nn.ConvTranspose2d):  # every input value is spread over a k x k x out/groups window
        kh, kw = module.kernel_size
        return 2 * inputs[0].numel() * (module.out_channels // module.groups) * kh * kw
    if isinstance(module, nn.Conv2d):
        kh, kw = module.kernel_size
        return 2 * output.numel() * (module.in_channels // module.groups) * kh * kw
    if isinstance(module, nn.Linear):
        return 2 * module.in_features * module.out_features * (output.numel() // module.out_features)
    return output.numel()


def architecture(net: nn.Module, inputs: dict[str, torch.Tensor]) -> list[dict]:
    """One row per leaf layer: name, type, output shape, parameters, FLOPs (batch of 1, eval mode)."""
    rows: list[dict] = []
    hooks = []
    for name, module in net.named_modules():
        if list(module.children()):
            continue

        def record(mod: nn.Module, args: tuple, output: torch.Tensor, name: str = name) -> None:
            rows.append({"layer": name, "type": type(mod).__name__, "shape": tuple(output.shape[1:]),
                         "params": sum(p.numel() for p in mod.parameters()),
                         "flops": layer_flops(mod, args, output)})

        hooks.append(module.register_forward_hook(record))
    was_training = net.training
    net.eval()
    try:
        with torch.no_grad():
            net(**inputs)
    finally:
        net.train(was_training)
        for hook in hooks:
            hook.remove()
    return rows


def architecture_table(rows: list[dict]) -> str:
    body = [[r["layer"], r["type"], " x ".join(str(s) for s in r["shape"]), f"{r['params']:,}", f"{r['flops']:,}"]
            for r in rows]
    body.append(["total", "", "", f"{sum(r['params'] for r in rows):,}", f"{sum(r['flops'] for r in rows):,}"])
    return table(["layer", "type", "output (C x H x W)", "parameters", "FLOPs"], body)


def run(out: Path, fast: bool) -> str:
    overrides = (["train.steps=60", "train.sample_every=20", "eval.every=0", "model.g_width=8", "model.d_width=8"]
                 if fast else ["train.steps=1000", "train.sample_every=200", "eval.every=0"])
    fid_n = 256 if fast else 5000
    with scratch("dcgan") as folder:
        trainer = build_trainer("mnist-dcgan", overrides, folder / "run")
        g, d = trainer.raw("G"), trainer.raw("D")
        z = {"z": torch.zeros(1, trainer.config.model.latent_dim)}
        g_rows = architecture(g, z)
        d_rows = architecture(d, {"x": torch.zeros(1, 1, 28, 28)})
        result = trainer.fit()
        _, steps = grids_over_training(result.run_dir, out / "grids-over-training.png",
                                       f"mnist-dcgan: the same 64 z over {result.steps} steps")
        (out / "final-samples.png").write_bytes(sorted((result.run_dir / "samples").glob("step_*.png"))[-1]
                                                .read_bytes())
        fid = run_fid(result.run_dir, fid_n)
    arch = "\n\n".join([f"Generator\n\n{architecture_table(g_rows)}", f"Discriminator\n\n{architecture_table(d_rows)}"])
    print(arch, flush=True)
    size = "widths 8 (the fast version)" if fast else "widths 32, as the preset ships"
    lines = [
        "# Lesson: DCGAN", "",
        f"`mnist-dcgan` ({size}): transposed convolutions with BatchNorm and ReLU up from a 100-d z, strided "
        f"convolutions with LeakyReLU(0.2) down to one logit, no fully connected hidden layer (Radford et al. "
        f"2016). FLOPs per image (a multiply-add counts 2):", "", arch, "",
        f"Trained {result.steps} steps of batch 64 in {result.seconds:.0f} s (EMA samples; grids at steps "
        f"{', '.join(str(s) for s in steps)}); domain FID of {fid_n} samples: **{fid:.1f}**.", "",
        "Figures: grids-over-training.png, final-samples.png.",
    ]
    return "\n".join(lines) + "\n"
