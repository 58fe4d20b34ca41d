"""DCGAN training throughput: ganforge's Trainer against the pytorch/examples loop, side by side in one process.

Two cases, both batch 64 with the examples' sizes (nz 100, ngf = ndf = 64, Adam 2e-4, betas (0.5, 0.999)), the
same seed and the same data:
  - 64x64x1: the 5,000 built-in MNIST digits resized to 64 (the textbook resizes per item with PIL, ganforge once);
  - 32x32x3: 5,000 synthetic CIFAR-sized colour images (no CIFAR-10 is on disk; see common.synthetic_colour_images).
ganforge's side is `Trainer.train_step()` of the `mnist-dcgan` preset set to those sizes, with EMA off (the textbook
keeps none). Repetitions are interleaved with a matmul measurement, so the achieved GFLOP/s (convolution and matmul
FLOPs counted by torch's FlopCounterMode) is set against the machine's matmul GFLOP/s of the same minutes.

`--ablation` takes one case apart (`--case`, default 64x64x1; `mnist-dcgan` is the default preset as shipped):
ganforge with one optimisation removed at a time, and with each candidate optimisation added, each as a paired
ratio; bf16 autocast also reports how far its losses drift from float32.

`--profile` lists the operators ganforge's step spends its time in (torch.profiler), to see what is left.

`--layers` times each layer of ganforge.models.cpu_layers in the case's model against the torch convolution it replaces,
on the inputs training gives it and with the gradients training asks of it.

    python -m benchmarks.train_step [--quick] [--ablation | --profile | --layers] [--case NAME] [--reps N] [--steps K]
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from benchmarks.common import (QuietTimings, benchmark, count_flops, ganforge_trainer, interleave_quiet, main_for,
                               matmul_probe, paired_ratio, print_table, register_synthetic_colour, reps, write_result)
from benchmarks.textbook import TextbookDCGAN, endless, images_hwc, textbook_loader

BATCH = 64
PRESET = "mnist-dcgan"
COMMON = ["model.g_width=64", "model.d_width=64", "model.latent_dim=100", f"train.batch_size={BATCH}",
          "train.ema=false", "optim.lr=2e-4", "optim.beta1=0.5", "optim.beta2=0.999"]


@dataclass
class Case:
    name: str
    images: Any  # (N, H, W[, 3]) uint8 array the textbook's dataset decodes
    image_size: int
    resize: bool  # the textbook resizes per item (MNIST 28 -> 64)
    overrides: list[str]
    textbook: bool = True  # False: no textbook model of this size (pytorch/examples has no 28x28 DCGAN)


def build_cases(names: Sequence[str] | None = None) -> list[Case]:
    from ganforge.data import load_dataset

    mnist = images_hwc(load_dataset("mnist-5k").images)
    colour = register_synthetic_colour()
    found = [
        Case("dcgan-64x64x1", mnist, 64, True,
             [*COMMON, "model.resolution=64", "model.channels=1", "data.resize=true"]),
        Case("dcgan-32x32x3", images_hwc(load_dataset(colour).images), 32, False,
             [*COMMON, f"data.dataset={colour}", "model.resolution=32", "model.channels=3"]),
    ]
    default = Case("mnist-dcgan", mnist, 28, False, [], textbook=False)  # the default preset, exactly as shipped
    return [c for c in found + [default] if (names is None and c.textbook) or (names is not None and c.name in names)]


def textbook_for(case: Case, workers: int) -> TextbookDCGAN | None:
    if not case.textbook:
        return None
    return TextbookDCGAN(case.images, case.image_size, batch_size=BATCH, seed=0, workers=workers, resize=case.resize)


# ------------------------------------------------------------------------------------------------ variants
Tweak = Callable[[Any, Case], None]


@dataclass
class Variant:
    """ganforge with extra config overrides and/or a change made to the built Trainer (to remove an optimisation
    that has no switch, or to try one that ganforge does not have)."""

    label: str
    overrides: list[str] = field(default_factory=list)
    tweak: Tweak | None = None
    threads: int | None = None


def textbook_data(trainer: Any, case: Case) -> None:
    """Real batches from the textbook's DataLoader (PIL + transforms per item) instead of the preloaded tensor."""
    batches = endless(textbook_loader(case.images, case.image_size if case.resize else None, BATCH))
    trainer.next_real_batch = lambda: {"image": next(batches)[0].to(trainer.device)}


def d_not_frozen(trainer: Any, case: Case) -> None:
    """Phase G computes D's weight gradients too (and throws them away), as the textbook does."""
    trainer.phases = [dataclasses.replace(phase, frozen=()) for phase in trainer.phases]


def for_loop_adam(trainer: Any, case: Case) -> None:
    """Adam's per-parameter loop, PyTorch's CPU default, instead of its fused kernel."""
    for optimizer in trainer.optimizers.values():
        for group in optimizer.param_groups:
            group["foreach"], group["fused"] = False, None


def stock_convolutions(trainer: Any, case: Case) -> None:
    """Every layer of ganforge.models.cpu_layers back to the torch convolution it subclasses (oneDNN's kernels)."""
    from ganforge.models import cpu_layers as blocks

    stock = {blocks.ProjectionConvTranspose2d: torch.nn.ConvTranspose2d, blocks.FullMapConv2d: torch.nn.Conv2d,
             blocks.ThinInputConv2d: torch.nn.Conv2d, blocks.ThinOutputConvTranspose2d: torch.nn.ConvTranspose2d,
             blocks.SmallMapConv2d: torch.nn.Conv2d, blocks.SmallMapConvTranspose2d: torch.nn.ConvTranspose2d}
    for net in trainer.nets.values():
        for module in net.modules():
            if type(module) in stock:
                module.__class__ = stock[type(module)]


def bf16_autocast(trainer: Any, case: Case) -> None:
    """Forward passes under bfloat16 autocast (weights, gradients and optimiser state stay float32)."""
    step = trainer.train_step

    def autocast_step() -> dict[str, torch.Tensor]:
        with torch.autocast(trainer.device.type, dtype=torch.bfloat16):
            return step()

    trainer.train_step = autocast_step


def ablation_variants(channels_last_default: bool) -> list[Variant]:
    flip = "false" if channels_last_default else "true"
    return [
        Variant("ganforge (preset defaults)"),
        Variant("- preloaded data (textbook DataLoader)", tweak=textbook_data),
        Variant("- D frozen in phase G", tweak=d_not_frozen),
        Variant("- matmul/fold layers (stock convolutions)", tweak=stock_convolutions),
        Variant("- fused Adam (foreach: optim.fused=false)", ["optim.fused=false"]),
        Variant("- fused Adam (for-loop Adam)", tweak=for_loop_adam),
        Variant("- G forward reused (reuse_fakes=false)", ["algorithm.reuse_fakes=false"]),
        Variant(f"channels_last={flip}", [f"train.channels_last={flip}"]),
        Variant("+ compile", ["train.compile=true"]),
        Variant("+ bf16 autocast", tweak=bf16_autocast),
        Variant("threads=1", threads=1),
    ]


def build_variant(case: Case, variant: Variant) -> Any:
    trainer = ganforge_trainer(PRESET, [*case.overrides, *variant.overrides])
    if variant.tweak is not None:
        variant.tweak(trainer, case)
    return trainer


# ------------------------------------------------------------------------------------------------ measuring
def steps_runner(step: Callable[[], Any], steps: int, threads: int) -> Callable[[], None]:
    def run() -> None:
        torch.set_num_threads(threads)
        for _ in range(steps):
            step()

    return run


def textbook_step(textbook: TextbookDCGAN) -> Callable[[], Any]:
    return lambda: textbook.step(next(textbook.batches))


def measure(paths: dict[str, Callable[[], Any]], thread_counts: dict[str, int], steps: int, n_reps: int,
            warmup: int) -> QuietTimings:
    """Interleave the paths (each `steps` training steps per round) between matmul probes; keep the quiet rounds."""
    default_threads = torch.get_num_threads()
    cases = {name: steps_runner(step, steps, thread_counts.get(name, default_threads)) for name, step in paths.items()}
    timings = interleave_quiet(cases, n_reps, matmul_probe(default_threads), warmup=warmup)
    torch.set_num_threads(default_threads)
    return timings


def flops_per_step(step: Callable[[], Any]) -> float:
    return count_flops(step)


def compare(args: argparse.Namespace) -> dict[str, Any]:
    steps = args.steps or (1 if args.quick else 3)
    n_reps = reps(args, full=7, quick=2)
    rows, results = [], {}
    for case in build_cases():
        textbook = textbook_for(case, args.workers)
        trainer = build_variant(case, Variant("ganforge"))
        paths = {"textbook": textbook_step(textbook), "ganforge": trainer.train_step}
        flops = {name: flops_per_step(step) for name, step in paths.items()}
        timings = measure(paths, {}, steps, n_reps, warmup=1)
        stats, matmul = timings.stats, timings.probe
        ratio = paired_ratio(stats["textbook"], stats["ganforge"])
        entry: dict[str, Any] = {"steps_per_rep": steps, "matmul_gflops": matmul, "ratio": ratio, "rounds": timings,
                                 "ganforge_settings": dataclasses.asdict(trainer.config.train), "paths": {}}
        for name, s in stats.items():
            images_per_s = steps * BATCH / s.median
            achieved = flops[name] * steps / s.median / 1e9
            entry["paths"][name] = {"seconds": s, "images_per_s": images_per_s, "gflop_per_step": flops[name] / 1e9,
                                    "gflops": achieved, "share_of_matmul": achieved / matmul.median}
            rows.append([case.name, name, images_per_s, f"{s.spread:.0%}", flops[name] / 1e9, achieved,
                         f"{achieved / matmul.median:.0%}",
                         "1.00" if name == "textbook" else f"{ratio.median:.2f} ({ratio.low:.2f}-{ratio.high:.2f})"])
        rows.append([case.name, "matmul 1024^2", "", f"{matmul.spread:.0%}", "", matmul.median, "100%",
                     f"{timings.kept}/{timings.rounds} rounds kept" + (" (contended)" if timings.contended else "")])
        results[case.name] = entry
    print_table(f"DCGAN training steps, batch {BATCH}: ganforge vs textbook (quiet rounds of {steps} steps, "
                f"{torch.get_num_threads()} threads)",
                ["case", "path", "images/s", "spread", "GFLOP/step", "GFLOP/s", "of matmul", "speed-up (range)"],
                rows)
    return {"mode": "compare", "cases": results}


def ablation(args: argparse.Namespace) -> dict[str, Any]:
    case = build_cases([args.case])[0]
    steps = args.steps or (1 if args.quick else 2 if case.image_size == 64 else 10)
    n_reps = reps(args, full=5, quick=1)
    textbook = textbook_for(case, args.workers)
    base = build_variant(case, Variant("ganforge"))
    batch = base.config.train.batch_size
    variants = ablation_variants(base.config.train.channels_last)
    trainers = {v.label: base if not v.overrides and v.tweak is None and v.threads is None
                else build_variant(case, v) for v in variants}
    compile_seconds = {label: t.compile_seconds for label, t in trainers.items() if t.compile_seconds}
    paths: dict[str, Callable[[], Any]] = {"textbook": textbook_step(textbook)} if textbook is not None else {}
    paths.update({label: t.train_step for label, t in trainers.items()})
    threads = {v.label: v.threads for v in variants if v.threads is not None}
    timings = measure(paths, threads, steps, n_reps, warmup=1)
    stats, matmul = timings.stats, timings.probe
    reference = stats[variants[0].label]
    rows = []
    for name, s in stats.items():
        vs_ganforge = paired_ratio(reference, s)
        vs_textbook = f"{paired_ratio(stats['textbook'], s).median:.2f}" if textbook is not None else ""
        rows.append([name, steps * batch / s.median, f"{s.spread:.0%}", f"{vs_ganforge.median:.2f}", vs_textbook])
    print_table(f"ablation, {case.name} batch {batch} ({timings.kept} of {timings.rounds} interleaved rounds of "
                f"{steps} steps kept; matmul {matmul.median:.0f} GFLOP/s)",
                ["variant", "images/s", "spread", "speed vs ganforge", "speed vs textbook"], rows)
    drift = bf16_drift(case, steps=5 if args.quick else 20)
    print(f"bf16 autocast vs float32, same seed, {drift['steps']} steps: largest relative loss difference "
          f"{drift['max_rel_diff']:.2e} (float32 runs repeat exactly: {drift['float32_repeat_diff']:.1e})")
    if compile_seconds:
        print("compile time (s): " + ", ".join(f"{k} {v:.1f}" for k, v in compile_seconds.items()))
    return {"mode": "ablation", "case": case.name, "steps_per_rep": steps, "matmul_gflops": matmul, "rounds": timings,
            "variants": {name: {"seconds": s, "images_per_s": steps * batch / s.median,
                                "speed_vs_ganforge": paired_ratio(reference, s),
                                "speed_vs_textbook": paired_ratio(stats["textbook"], s) if textbook else None}
                         for name, s in stats.items()},
            "compile_seconds": compile_seconds, "bf16": drift}


def bf16_drift(case: Case, steps: int) -> dict[str, Any]:
    """How far bf16 autocast moves the losses from float32 over the first steps, against float32's own noise."""
    runs = []
    for tweak in (None, None, bf16_autocast):
        trainer = build_variant(case, Variant("drift", tweak=tweak))
        runs.append([{k: float(v) for k, v in trainer.train_step().items() if k.startswith("loss")}
                     for _ in range(steps)])

    def max_rel(a: list[dict[str, float]], b: list[dict[str, float]]) -> float:
        return max(abs(x[k] - y[k]) / max(abs(x[k]), 1e-12) for x, y in zip(a, b) for k in x)

    return {"steps": steps, "max_rel_diff": max_rel(runs[0], runs[2]), "float32_repeat_diff": max_rel(runs[0], runs[1])}


def profile(args: argparse.Namespace) -> dict[str, Any]:
    """Where ganforge's step spends its time: torch.profiler's operators by self CPU time, for the chosen case."""
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    case = build_cases([args.case])[0]
    trainer = build_variant(case, Variant("ganforge"))
    steps = args.steps or (1 if args.quick else 3)
    for _ in range(2):
        trainer.train_step()
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if trainer.device.type == "cuda" else [])
    with torch_profile(activities=activities) as prof:
        for _ in range(steps):
            trainer.train_step()
    events = [e for e in prof.key_averages() if e.self_cpu_time_total > 0]
    total = sum(e.self_cpu_time_total for e in events)
    events.sort(key=lambda e: e.self_cpu_time_total, reverse=True)
    rows = [[e.key, e.count // steps, e.self_cpu_time_total / steps / 1e3, f"{e.self_cpu_time_total / total:.1%}"]
            for e in events[:15]]
    print_table(f"profile of ganforge's step, {case.name} ({steps} steps; self CPU time per step)",
                ["operator", "calls/step", "ms/step", "share"], rows)
    return {"mode": "profile", "case": case.name, "steps": steps, "total_ms_per_step": total / steps / 1e3,
            "operators": [{"name": e.key, "calls_per_step": e.count / steps,
                           "ms_per_step": e.self_cpu_time_total / steps / 1e3,
                           "share": e.self_cpu_time_total / total} for e in events[:40]]}


def layers(args: argparse.Namespace) -> dict[str, Any]:
    """Each blocks layer (as the trainer builds and feeds it) against the stock convolution with the same weights."""
    import copy

    from ganforge.models import cpu_layers as blocks

    # class -> (stock class, does training need the input's gradient, the weight's gradient)
    roles = {blocks.ProjectionConvTranspose2d: (torch.nn.ConvTranspose2d, False, True),
             blocks.FullMapConv2d: (torch.nn.Conv2d, True, True),
             blocks.ThinOutputConvTranspose2d: (torch.nn.ConvTranspose2d, True, True),
             blocks.ThinInputConv2d: (torch.nn.Conv2d, True, False),  # phase G: D frozen, G wants the image grad
             blocks.SmallMapConv2d: (torch.nn.Conv2d, True, True),
             blocks.SmallMapConvTranspose2d: (torch.nn.ConvTranspose2d, True, True)}
    case = build_cases([args.case])[0]
    trainer = build_variant(case, Variant("ganforge"))
    inputs: dict[str, torch.Tensor] = {}
    found = {f"{net_name}.{name}": module for net_name, net in trainer.nets.items()
             for name, module in net.named_modules() if type(module) in roles}
    def keep_first_input(key: str) -> Callable[[torch.nn.Module, tuple[torch.Tensor, ...]], None]:
        def hook(module: torch.nn.Module, args: tuple[torch.Tensor, ...]) -> None:
            inputs.setdefault(key, args[0].detach().clone())
        return hook

    hooks = [m.register_forward_pre_hook(keep_first_input(key)) for key, m in found.items()]
    trainer.train_step()
    for hook in hooks:
        hook.remove()

    def run(layer: torch.nn.Module, x: torch.Tensor, input_grad: bool, weight_grad: bool) -> Callable[[], None]:
        x = x.requires_grad_(input_grad)
        layer.weight.requires_grad_(weight_grad)
        wanted = [t for t, on in ((x, input_grad), (layer.weight, weight_grad)) if on]

        def call() -> None:
            out = layer(x)
            torch.autograd.grad(out, wanted, torch.ones_like(out))
        return call

    cases: dict[str, Callable[[], None]] = {}
    for key, layer in found.items():
        stock_class, input_grad, weight_grad = roles[type(layer)]
        stock = copy.deepcopy(layer)
        stock.__class__ = stock_class
        cases[f"{key} {type(layer).__name__}"] = run(layer, inputs[key].clone(), input_grad, weight_grad)
        cases[f"{key} stock"] = run(stock, inputs[key].clone(), input_grad, weight_grad)
    timings = interleave_quiet(cases, reps(args, full=15, quick=3), matmul_probe(), warmup=2)
    rows, result = [], {}
    names = list(cases)
    for fast, stock in zip(names[::2], names[1::2]):
        ratio = paired_ratio(timings.stats[stock], timings.stats[fast])
        rows.append([fast, f"{timings.stats[fast].median * 1e3:.2f}", f"{timings.stats[stock].median * 1e3:.2f}",
                     f"{ratio.median:.2f} ({ratio.low:.2f}-{ratio.high:.2f})"])
        result[fast] = {"ms": timings.stats[fast], "stock_ms": timings.stats[stock], "speed_up": ratio}
    print_table(f"blocks layers vs torch's convolutions, {case.name} batch {BATCH} (forward + the gradients "
                f"training takes; {timings.kept} of {timings.rounds} rounds kept)",
                ["layer", "ms", "stock ms", "speed-up (range)"], rows)
    return {"mode": "layers", "case": case.name, "layers": result, "rounds": timings}


def add_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--ablation", action="store_true", help="remove/add one optimisation at a time")
    p.add_argument("--profile", action="store_true", help="torch.profiler: where ganforge's step spends its time")
    p.add_argument("--layers", action="store_true", help="ganforge's matmul/fold layers vs torch's convolutions")
    p.add_argument("--case", default="dcgan-64x64x1", choices=["dcgan-64x64x1", "dcgan-32x32x3", "mnist-dcgan"],
                   help="the case --ablation takes apart (mnist-dcgan: the default preset as shipped, EMA on)")
    p.add_argument("--steps", type=int, default=None, help="training steps per repetition")
    p.add_argument("--workers", type=int, default=0, help="DataLoader workers of the textbook loop (default 0)")


@benchmark("train_step", help="DCGAN 64x64x1 and 32x32x3 training steps: ganforge vs the textbook loop",
           options=add_options)
def run(args: argparse.Namespace) -> dict[str, Any]:
    mode = "ablation" if args.ablation else "profile" if args.profile else "layers" if args.layers else "compare"
    result = {"ablation": ablation, "profile": profile, "layers": layers, "compare": compare}[mode](args)
    if not args.no_write:
        write_result("train_step" + (f"-{mode}-{args.case}" if mode != "compare" else ""), result)
    return result


if __name__ == "__main__":
    main_for("train_step")
