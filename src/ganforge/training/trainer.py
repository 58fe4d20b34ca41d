"""Image training: a run directory, its data, checkpoints, samples and logs around the phase loop.

`Trainer` is the `PhaseLoop` for image datasets. It builds the family's networks and its data stream, writes the
run directory (config.json, metrics.jsonl, sample grids, checkpoints) and resumes exactly from any checkpoint.
"""

from __future__ import annotations

import json
import logging
import math
import sys
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import torch

from ..checkpoints import (capture_rng, latest_checkpoint, list_checkpoints, list_problems, load_checkpoint,
                           restore_rng, save_checkpoint, saved_config, section, tensor_mismatches)
from ..config import Config, config_differences
from ..configure import build_config, load_config, validate
from ..data import center_crop, is_image, limit_rows, load_dataset, make_stream, normalize, random_crop_flip
from ..errors import GanforgeError
from ..files import claim_run_dir, read_json, release_claim, show
from ..families import FAMILIES, structure_of
from ..sampling import save_grid
from ..utils import atomic_write_json, ensure_writable_dir, seed_everything
from . import distributed, performance
from .loop import NonFiniteLoss, PhaseLoop
from .runlog import RunLog

log = logging.getLogger("ganforge")

# Settings a resumed run may change; anything else would make it a different run.
RESUMABLE_CHANGES = ("train.steps", "train.epochs", "train.log_every", "train.sample_every",
                     "train.checkpoint_every", "train.keep_checkpoints", "train.device", "train.backend",
                     "train.dist_timeout", "data.data_dir", "data.download", "eval", "train.channels_last",
                     "train.compile", "train.threads")


@dataclass
class TrainResult:
    run_dir: Path
    steps: int
    seconds: float
    last: dict[str, Any]


class Trainer(PhaseLoop):
    """Holds the networks, optimisers, data stream and RNGs of one run; `fit()` trains to `total_steps`."""

    def __init__(self, config: Config, run_dir: str | Path, checkpoint: str | Path | None = None,
                 progress: bool = True, quiet: bool = False, overwrite: bool = False) -> None:
        self._claim: tuple[Path, bool] | None = None
        try:
            self._setup(config, Path(run_dir), checkpoint, progress, quiet, overwrite)
        except BaseException:
            if self._claim is not None:  # a run that failed to start leaves no folder (nor claim) behind
                release_claim(*self._claim)
            raise

    def _setup(self, config: Config, run_dir: Path, checkpoint: str | Path | None, progress: bool,
               quiet: bool, overwrite: bool) -> None:
        self.config = config
        t = config.train
        self.dist, self.device = distributed.setup(t.backend, t.device, t.dist_timeout)
        self.is_main = self.dist.is_main
        self.run_dir = run_dir
        if self.is_main and checkpoint is None:  # a new run claims its folder; it never trains over another run
            marker = (json.dumps(config.to_dict(), indent=2, sort_keys=True) + "\n").encode()
            self.run_dir, created, moved = claim_run_dir(run_dir, marker, overwrite)
            self._claim = (self.run_dir, created)
            if moved is not None and not quiet:
                print(f"moved the previous run in {show(run_dir)} to {show(moved)} (--overwrite)", file=sys.stderr)
        elif self.is_main:
            self.run_dir = ensure_writable_dir(run_dir, "run directory")
        self.quiet = quiet or not self.is_main
        self.progress = progress and not self.quiet and sys.stderr.isatty()
        if t.batch_size % self.dist.world_size:
            raise GanforgeError(f"train.batch_size {t.batch_size} (the global batch) is not divisible by the "
                                f"{self.dist.world_size} processes; use a multiple of {self.dist.world_size}")
        self.batch_size = t.batch_size // self.dist.world_size  # per rank
        performance.apply_threads(t)
        seed_everything(t.seed + self.dist.rank)
        family = FAMILIES.get(config.algorithm.name)

        loaded_size = config.data.load_size or config.model.resolution  # larger: cropped per batch
        dataset = load_dataset(config.data.dataset, config.data.data_dir, config.data.download, loaded_size,
                               config.model.channels)
        dataset = dataset.fit_to(loaded_size, config.model.channels, config.data.resize)
        dataset.check_classes(config.model.num_classes)
        family.check_dataset(config, dataset)
        tensors = dataset.tensors(family.batch_keys(config), f"the {config.algorithm.name} family")
        tensors = limit_rows(tensors, config.data.limit, config.data.dataset)

        seed_everything(t.seed)  # identical initial weights on every rank
        nets = {name: net.to(self.device) for name, net in family.build_networks(config).items()}
        self.memory_format = performance.memory_format(t, self.device, *nets.values())
        nets = {name: performance.to_layout(net, self.memory_format) for name, net in nets.items()}
        tensors = {key: self._on_device(value) for key, value in tensors.items()}
        self.held_out_set = {key: self._on_device(value) for key, value in dataset.held_out().items()}
        self.stream = make_stream(tensors, dataset.groups(), t.batch_size, t.seed, rank=self.dist.rank,
                                  world_size=self.dist.world_size)
        seed_everything(t.seed + self.dist.rank)
        self.noise_rng = torch.Generator(device=self.device).manual_seed(config.train.seed)
        self.step = 0
        self.skips = {}
        self.assemble(family, {name: self.wrap(name, net) for name, net in nets.items()})
        self.compile_seconds = (performance.compile_networks(self.family.compile_targets(self.batch_size))
                                if t.compile else 0.0)
        if t.compile and not self.quiet:
            print(f"compiled the networks in {self.compile_seconds:.1f}s (train.compile)", file=sys.stderr)
        self.fixed_inputs, self.grid_row = self.family.preview_inputs(t.num_samples, t.seed)
        self.total_steps = self._total_steps()

        resume_step = None
        if checkpoint is not None:
            self._load(load_checkpoint(checkpoint, map_location=self.device), checkpoint)
            resume_step = self.step
        self.evaluator = None
        if config.eval.every and self.is_main:  # built before anything is written: bad weights stop the run here
            from ..metrics.evaluate import TrainingEvaluator

            self.evaluator = TrainingEvaluator(config, self.device)
        self.runlog: RunLog | None = None
        if self.is_main:
            atomic_write_json(self.run_dir / "config.json", config.to_dict())
            self.runlog = RunLog(self.run_dir, resume_step=resume_step, plotted=family.plotted)
        logged = [r["fid"] for r in self.runlog.records() if "fid" in r] if self.evaluator is not None else []
        self.best_fid: float | None = min(logged) if logged else None  # kept lines: up to the checkpoint
        self.latest_fid: float | None = logged[-1] if logged else None

    def wrap(self, name: str, net: torch.nn.Module) -> torch.nn.Module:
        """On the device, in the run's memory layout, DDP-wrapped under torchrun (again after a network grew)."""
        net = performance.to_layout(net.to(self.device), self.memory_format)
        growing = structure_of(net) is not None  # its earlier stages' layers fall out of use as it grows
        return distributed.wrap(net, self.dist, self.device, self.config.train.sync_batchnorm, partly_used=growing)

    def _on_device(self, tensor: torch.Tensor) -> torch.Tensor:
        tensor = tensor.to(self.device)
        return tensor.contiguous(memory_format=self.memory_format) if is_image(tensor) else tensor

    # ------------------------------------------------------------------ what families call
    def next_real_batch(self) -> dict[str, torch.Tensor]:
        """The next real batch, images in [-1, 1] (with data.load_size/flip, randomly cropped and flipped alike
        within a pair): the only door through which data enters training."""
        batch = self.stream.next()
        d = self.config.data
        if d.load_size or d.flip:
            batch = random_crop_flip(batch, self.stream.groups, self.config.model.resolution, d.flip)
        return {key: normalize(value).contiguous(memory_format=self.memory_format) if is_image(value) else value
                for key, value in batch.items()}

    def held_out(self, n: int) -> dict[str, torch.Tensor]:
        """n rows spread evenly over the dataset's test split (every class, in class-sorted sets), images
        centre-cropped and in [-1, 1]: what sample grids show."""
        if not self.held_out_set:
            raise GanforgeError(f"dataset '{self.config.data.dataset}' has no held-out test split, which the "
                                f"{self.config.algorithm.name} family shows in its sample grids")
        size = self.config.model.resolution
        spread = {key: value[torch.linspace(0, value.shape[0] - 1, min(n, value.shape[0])).long().to(value.device)]
                  for key, value in self.held_out_set.items()}
        return {key: normalize(center_crop(value, size)) if is_image(value) else value
                for key, value in spread.items()}

    def sample_inputs(self, n: int) -> dict[str, torch.Tensor]:
        """This rank's n rows of a global draw of n * world_size generator inputs (all of it for one process)."""
        world, rank = self.dist.world_size, self.dist.rank
        values = self.generator_inputs.sample(n * world, self.noise_rng)
        return values if world == 1 else {k: v[rank * n:(rank + 1) * n] for k, v in values.items()}

    def event(self, message: str) -> None:
        if self.runlog is not None:
            self.runlog.event(self.step + 1, message)

    # ------------------------------------------------------------------ the loop
    def _total_steps(self) -> int:
        t = self.config.train
        if t.steps is not None:
            return t.steps
        batches = self.stream.batches_per_epoch * float(t.epochs or 0)
        return max(1, math.ceil(batches / self.family.real_batches_per_step()))

    def _non_finite_message(self, phase: str, value: float) -> str:
        found = list_checkpoints(self.run_dir)
        kept = f"the last good checkpoint is {found[-1]}" if found else "no checkpoint had been written yet"
        return (f"the {phase} loss became {value} at step {self.step + 1}; training stopped and {kept}; lower the "
                f"learning rates (optim.lr, optim.<network>.lr) or add a stabiliser")

    def fit(self) -> TrainResult:
        t = self.config.train
        start_time = time.perf_counter()
        window_start, window_steps = start_time, 0
        images_per_step = t.batch_size * self.family.real_batches_per_step()  # global: all ranks together
        bar = None
        if self.progress:
            from tqdm import tqdm

            bar = tqdm(total=self.total_steps, initial=self.step, unit="step", dynamic_ncols=True, file=sys.stderr)
        elif not self.quiet:
            procs = f" x {self.dist.world_size} processes (batch {self.batch_size} per rank, {t.batch_size} global)" \
                if self.dist.enabled else ""
            print(f"training {self.config.preset or 'custom'} for {self.total_steps} steps on {self.device}{procs} "
                  f"-> {self.run_dir}", file=sys.stderr)
        last: dict[str, Any] = {}
        try:
            while self.step < self.total_steps:
                stats = self.train_step()
                window_steps += 1
                if bar is not None:
                    bar.update(1)
                done = self.step == self.total_steps
                if (self.step % t.log_every == 0 or done) and self.runlog is not None:
                    now = time.perf_counter()
                    last = self._record(stats, images_per_step * window_steps / max(now - window_start, 1e-9))
                    self.runlog.log(last)
                    window_start, window_steps = now, 0
                    if bar is not None:
                        bar.set_postfix({k: f"{v:.3f}" for k, v in last.items() if k.startswith("loss_")},
                                        **({} if self.latest_fid is None else {"fid": f"{self.latest_fid:.3g}"}))
                if self.evaluator is not None and self.step % self.config.eval.every == 0:
                    self.evaluate()
                if (self.step % t.sample_every == 0 or done) and self.is_main:
                    self.save_samples()
                if self.step % t.checkpoint_every == 0 or done:
                    self.save_checkpoint()
        finally:
            if bar is not None:
                bar.close()
            if self.runlog is not None:
                self.runlog.close()
            distributed.teardown(self.dist)
        seconds = time.perf_counter() - start_time
        if not self.quiet:
            summary = ", ".join(f"{k} {v:.3f}" for k, v in last.items() if k.startswith(("loss", "d_", "ada_")))
            print(f"done: {self.step} steps in {seconds:.1f}s ({summary}); samples and checkpoints in "
                  f"{self.run_dir}", file=sys.stderr)
        return TrainResult(self.run_dir, self.step, seconds, last)

    def _record(self, stats: dict[str, torch.Tensor], images_per_s: float) -> dict[str, Any]:
        """Rank 0's losses (each rank's own batch slice) with the global throughput."""
        record: dict[str, Any] = {"step": self.step, "epoch": self.stream.epoch}
        record.update({k: float(v) for k, v in stats.items()})
        record.update({f"lr_{name}": opt.param_groups[0]["lr"] for name, opt in self.optimizers.items()})
        record["images_per_s"] = round(images_per_s, 1)
        return record

    # ------------------------------------------------------------------ outputs
    def evaluate(self) -> dict[str, Any]:
        """eval.metrics of the sampling network (EMA when kept) now: logged; best.safetensors follows the best FID."""
        values = self.evaluator(self.sampling_network())
        self.runlog.log({"step": self.step, **values})
        fid = values.get("fid")
        if fid is not None:
            self.latest_fid = fid
            if self.best_fid is None or fid < self.best_fid:
                self.best_fid = fid
                from ..export import write_generator

                write_generator(self.run_dir / "best.safetensors", self.run_dir / "best.json",
                                self.sampling_network(), self.config, self.step,
                                "ema" if self.ema else "generator",
                                {"fid": fid, "extractor": self.evaluator.extractor.metadata()})
        return values

    @torch.no_grad()
    def save_samples(self) -> Path:
        net = self.sampling_network()
        was_training = net.training
        net.eval()
        images = self.family.preview(net, {k: v.to(self.device) for k, v in self.fixed_inputs.items()}).cpu()
        net.train(was_training)
        return save_grid(images, self.run_dir / "samples" / f"step_{self.step:06d}.png", self.grid_row)

    def state_dict(self) -> dict[str, Any]:
        return {
            "config": json.dumps(self.config.to_dict(), sort_keys=True),
            "nets": {name: self.raw(name).state_dict() for name in self.nets},
            "optim": {name: optimizer.state_dict() for name, optimizer in self.optimizers.items()},
            "ema": {name: ema.state_dict() for name, ema in self.ema.items()},
            "algorithm": self.family.state_dict(),
            "data": self.stream.state_dict(),
            "rng": distributed.gather_rng_states(self.dist, capture_rng()),
            "world_size": self.dist.world_size,
            "noise_rng": self.noise_rng.get_state(),
            "skips": dict(self.skips),
            "structure": self.structures(),
        }

    def save_checkpoint(self) -> Path | None:
        """Every rank contributes its RNG state; rank 0 alone writes (atomically) and redraws the loss plot."""
        state = self.state_dict()
        path = None
        if self.is_main:
            path = save_checkpoint(self.run_dir, self.step, state, self.config.train.keep_checkpoints)
            if self.runlog is not None:
                self.runlog.plot_losses()
        distributed.barrier(self.dist)
        return path

    def _load(self, state: dict[str, Any], path: str | Path = "<given state>") -> None:
        """Continue from a checkpoint, after checking that it belongs to this config and these networks."""
        saved = load_config(saved_config(state, path)).to_dict()
        differences = [d for d in config_differences(saved, self.config.to_dict())
                       if not d.startswith(RESUMABLE_CHANGES)]
        if differences:
            raise GanforgeError("cannot resume with a different config: " + "; ".join(differences))
        self.restore_structures(state.get("structure", {}))  # grown networks first, so their weights fit
        for name in self.nets:
            weights = section(state, "nets", name, path)
            problems = tensor_mismatches(self.raw(name).state_dict(), weights)
            if problems:
                raise GanforgeError(f"checkpoint '{show(path)}' does not fit network {name}: "
                                    f"{list_problems(problems)}; it belongs to another model or is damaged")
            self.raw(name).load_state_dict(weights)
        try:
            for name, optimizer in self.optimizers.items():
                optimizer.load_state_dict(section(state, "optim", name, path))
            for name, ema in self.ema.items():
                if name in state["ema"]:
                    ema.load_state_dict(state["ema"][name])
            self.family.load_state_dict(state["algorithm"])
            self.stream.load_state_dict(state["data"])
            rng = state["rng"] if isinstance(state["rng"], list) else [state["rng"]]
            restore_rng(distributed.pick_rng_state(self.dist, rng))
            self.noise_rng.set_state(state["noise_rng"].to(self.noise_rng.get_state().device))
        except GanforgeError:
            raise
        except (KeyError, ValueError, TypeError, IndexError, RuntimeError, AttributeError) as exc:
            reason = str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__
            raise GanforgeError(f"checkpoint '{show(path)}' holds a training state that does not fit this run "
                                f"({type(exc).__name__}: {reason}); resume from an earlier one with --checkpoint"
                                ) from None
        self.step = int(state["step"])
        self.skips = dict(state.get("skips", {}))


def default_run_dir(config: Config, root: str | Path = "runs") -> Path:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    base = Path(root) / f"{config.preset or 'custom'}-{stamp}"
    path, n = base, 1
    while path.exists():
        n += 1
        path = Path(f"{base}-{n}")
    return path


def resume_config(run_dir: str | Path, overrides: list[str] | None = None) -> Config:
    """The config of an existing run with --set overrides applied (validated like a new one)."""
    path = Path(run_dir) / "config.json"
    if not Path(run_dir).is_dir():
        raise GanforgeError(f"run directory '{show(run_dir)}' does not exist; pass a folder under runs/ to --resume")
    if not path.is_file():
        raise GanforgeError(f"'{show(run_dir)}' has no config.json; it is not a ganforge run directory")
    base = read_json(path, "run config", "the run directory is damaged")
    if isinstance(base, dict) and base.get("format") == "ganforge-generator":
        raise GanforgeError(f"'{show(run_dir)}' is an export, not a run: exports cannot be trained further; resume "
                            f"the run it was exported from")
    return build_config(base=base, overrides=overrides)


def train(config: Config | str | None = None, out: str | Path | None = None, resume: str | Path | None = None,
          overrides: list[str] | None = None, checkpoint: str | Path | None = None, progress: bool = True,
          quiet: bool = False, overwrite: bool = False) -> TrainResult:
    """Train a GAN: `config` is a Config, a preset name or None (the default preset); `resume` continues a run.

    A new run claims its folder (`out`, default runs/<preset>-<timestamp>) and refuses one that holds a run;
    `overwrite` moves that run aside (to <out>.replaced-<timestamp>) instead of refusing."""
    if resume is not None:
        config = resume_config(resume, overrides)
        run_dir = Path(resume)
        checkpoint = checkpoint or latest_checkpoint(run_dir)
    else:
        if not isinstance(config, Config):
            config = build_config(preset=config, overrides=overrides)
        elif overrides:
            config = build_config(base=config.to_dict(), overrides=overrides)
        else:
            validate(config)
        run_dir = Path(out) if out is not None else default_run_dir(config)
    trainer = Trainer(config, run_dir, checkpoint=checkpoint, progress=progress, quiet=quiet, overwrite=overwrite)
    return trainer.fit()
