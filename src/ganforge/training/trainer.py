"""The training loop: run the algorithm's phases, step after step, and keep the run directory up to date.

The loop knows nothing about any particular GAN: it asks the algorithm for its phases and, for each phase, freezes
the networks the phase names, computes the loss, refuses a non-finite one, and steps that phase's optimiser only.
"""

from __future__ import annotations

import contextlib
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

from ..config import Config, build_config, config_differences, config_from_dict, validate
from ..data import BatchStream, load_dataset, normalize, to_uint8
from ..errors import GanforgeError
from ..losses import GANLoss, build_loss
from ..models import build_discriminator, build_generator
from ..sampling import latent_noise, save_grid
from ..utils import atomic_write_json, ensure_writable_dir, seed_everything
from . import distributed, performance
from .algorithms import ALGORITHMS, Phase
from .checkpoint import (capture_rng, latest_checkpoint, list_checkpoints, load_checkpoint, restore_rng,
                         save_checkpoint)
from .ema import EMA
from .optim import OPTIMIZERS, SCHEDULES, set_learning_rate
from .runlog import RunLog

log = logging.getLogger("ganforge")

# Settings a resumed run may change; anything else would make it a different run.
RESUMABLE_CHANGES = ("train.steps", "train.epochs", "train.log_every", "train.sample_every",
                     "train.checkpoint_every", "train.keep_checkpoints", "train.device", "train.backend",
                     "train.dist_timeout", "data.data_dir", "data.download", "eval", "train.channels_last",
                     "train.compile", "train.threads")


class NonFiniteLoss(GanforgeError):
    pass


@dataclass
class TrainResult:
    run_dir: Path
    steps: int
    seconds: float
    last: dict[str, Any]


class PhaseLoop:
    """What an algorithm drives: networks, optimisers, loss, noise, real data, and the runner of its phases.

    `Trainer` is one (image datasets, a run directory, checkpoints); the 2D mode-collapse lab (`ganforge.lab`) is
    another, so every algorithm, loss and regulariser runs unchanged on both. A subclass sets `config`, `generator`,
    `discriminator`, `opt_g`, `opt_d`, `loss`, `ema`, `batch_size`, `phases` and `step`, and provides
    `next_real_batch()` and `noise(n)`.
    """

    config: Config
    generator: torch.nn.Module
    discriminator: torch.nn.Module
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer
    loss: GANLoss
    ema: EMA | None
    batch_size: int
    phases: list[Phase]
    step: int
    total_steps: int
    skips: dict[str, int]

    def next_real_batch(self) -> torch.Tensor:
        raise NotImplementedError

    def noise(self, n: int) -> torch.Tensor:
        raise NotImplementedError

    def generate(self, n: int, with_graph: bool) -> torch.Tensor:
        """G(z) for fresh noise; without the graph when the fakes only feed D's update."""
        z = self.noise(n)
        if with_graph:
            return self.generator(z)
        with torch.no_grad():
            return self.generator(z)

    def run_phase(self, phase: Phase) -> dict[str, torch.Tensor]:
        """One phase: frozen networks get no gradient (and, under DDP, no gradient sync); only phase.optimizer steps."""
        frozen = [(p, p.requires_grad) for net in phase.frozen for p in net.parameters()]
        for p, _ in frozen:
            p.requires_grad_(False)
        with contextlib.ExitStack() as unsynced:
            for net in phase.frozen:
                if hasattr(net, "no_sync"):
                    unsynced.enter_context(net.no_sync())
            return self._run_repeats(phase, frozen)

    def _run_repeats(self, phase: Phase, frozen: list[tuple[torch.nn.Parameter, bool]]) -> dict[str, torch.Tensor]:
        try:
            for _ in range(phase.repeats):
                out = phase.loss()
                loss = out["loss"]
                value = loss.item()  # one scalar read (torch.isfinite would be four small ops and the same sync)
                if not math.isfinite(value):
                    raise NonFiniteLoss(self._non_finite_message(phase.name, value))
                if phase.skip is not None and phase.skip(out):
                    self.skips[phase.name] = self.skips.get(phase.name, 0) + 1
                    self.on_skip(phase.name, value)
                    continue
                phase.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                phase.optimizer.step()
                if phase.after_step is not None:
                    phase.after_step()
        finally:
            for p, flag in frozen:
                p.requires_grad_(flag)
        if phase.name in self.skips:
            out[f"skips_{phase.name.lower()}"] = torch.tensor(float(self.skips[phase.name]))
        return out

    def on_skip(self, phase: str, loss: float) -> None:
        """Called each time a phase's skip rule fires (the balance rule); the Trainer writes it to events.log."""

    def _non_finite_message(self, phase: str, value: float) -> str:
        return (f"the {phase} loss became {value} at step {self.step + 1}; lower the learning rates "
                f"(optim.lr_g/optim.lr_d) or add a stabiliser")

    def train_step(self) -> dict[str, torch.Tensor]:
        o = self.config.optim
        factor = SCHEDULES.get(o.schedule)(self.step, self.total_steps)
        set_learning_rate(self.opt_g, o.lr_g * factor)
        set_learning_rate(self.opt_d, o.lr_d * factor)
        stats: dict[str, torch.Tensor] = {}
        for phase in self.phases:
            for key, value in self.run_phase(phase).items():
                stats[f"loss_{phase.name.lower()}" if key == "loss" else key] = value.detach()
        self.step += 1
        if self.ema is not None:
            self.ema.update(self.generator)
        return stats


class Trainer(PhaseLoop):
    """Holds the networks, optimisers, data stream and RNGs of one run; `fit()` trains to `total_steps`."""

    def __init__(self, config: Config, run_dir: str | Path, checkpoint: str | Path | None = None,
                 progress: bool = True, quiet: bool = False) -> None:
        created = not Path(run_dir).exists()
        try:
            self._setup(config, Path(run_dir), checkpoint, progress, quiet)
        except BaseException:
            if created:  # a run that failed to start leaves no empty folder behind
                with contextlib.suppress(OSError):
                    Path(run_dir).rmdir()
            raise

    def _setup(self, config: Config, run_dir: Path, checkpoint: str | Path | None, progress: bool,
               quiet: bool) -> None:
        self.config = config
        t = config.train
        self.dist, self.device = distributed.setup(t.backend, t.device, t.dist_timeout)
        self.is_main = self.dist.is_main
        self.run_dir = ensure_writable_dir(run_dir, "run directory") if self.is_main else run_dir
        self.quiet = quiet or not self.is_main
        self.progress = progress and not self.quiet and sys.stderr.isatty()
        if t.batch_size % self.dist.world_size:
            raise GanforgeError(f"train.batch_size {t.batch_size} (the global batch) is not divisible by the "
                                f"{self.dist.world_size} processes; use a multiple of {self.dist.world_size}")
        self.batch_size = t.batch_size // self.dist.world_size  # per rank
        performance.apply_threads(t)
        seed_everything(t.seed + self.dist.rank)

        dataset = load_dataset(config.data.dataset, config.data.data_dir, config.data.download,
                               config.model.resolution, config.model.channels)
        dataset = dataset.fit_to(config.model.resolution, config.model.channels, config.data.resize)

        seed_everything(t.seed)  # identical initial weights on every rank
        generator = build_generator(config.model).to(self.device)
        discriminator = build_discriminator(config.model).to(self.device)
        self.memory_format = performance.memory_format(t, generator, discriminator)
        generator = performance.to_layout(generator, self.memory_format)
        discriminator = performance.to_layout(discriminator, self.memory_format)
        labels = dataset.labels.to(self.device) if dataset.labels is not None else None
        images = dataset.images.to(self.device).contiguous(memory_format=self.memory_format)
        self.stream = BatchStream(images, t.batch_size, t.seed, labels,
                                  rank=self.dist.rank, world_size=self.dist.world_size)
        self.compile_seconds = performance.compile_gan(generator, discriminator, self.batch_size,
                                                       config.model.latent_dim, self.device) if t.compile else 0.0
        if t.compile and not self.quiet:
            print(f"compiled G and D in {self.compile_seconds:.1f}s (train.compile)", file=sys.stderr)
        seed_everything(t.seed + self.dist.rank)
        self.generator = distributed.wrap(generator, self.dist, self.device, t.sync_batchnorm)
        self.discriminator = distributed.wrap(discriminator, self.dist, self.device, t.sync_batchnorm)
        self.loss = build_loss(config.loss)
        make_optimizer = OPTIMIZERS.get(config.optim.name)
        self.opt_g = make_optimizer(self.generator.parameters(), config.optim.lr_g, config.optim)
        self.opt_d = make_optimizer(self.discriminator.parameters(), config.optim.lr_d, config.optim)
        self.ema = EMA(distributed.unwrap(self.generator), config.train.ema_decay) if config.train.ema else None
        self.noise_rng = torch.Generator(device=self.device).manual_seed(config.train.seed)
        self.fixed_noise = latent_noise(config.train.num_samples, config.model.latent_dim, config.train.seed)
        self.algorithm = ALGORITHMS.get(config.algorithm.name)(self)
        self.phases: list[Phase] = self.algorithm.phases()
        self.step = 0
        self.skips = {}
        self.total_steps = self._total_steps()

        resume_step = None
        if checkpoint is not None:
            self._load(load_checkpoint(checkpoint, map_location=self.device))
            resume_step = self.step
        self.evaluator = None
        if config.eval.every and self.is_main:  # built before anything is written: bad weights stop the run here
            from ..metrics.evaluate import TrainingEvaluator

            self.evaluator = TrainingEvaluator(config, self.device)
        self.runlog: RunLog | None = None
        if self.is_main:
            atomic_write_json(self.run_dir / "config.json", config.to_dict())
            self.runlog = RunLog(self.run_dir, resume_step=resume_step)
        logged = [r["fid"] for r in self.runlog.records() if "fid" in r] if self.evaluator is not None else []
        self.best_fid: float | None = min(logged) if logged else None  # kept lines: up to the checkpoint
        self.latest_fid: float | None = logged[-1] if logged else None

    # ------------------------------------------------------------------ what algorithms call
    def next_real_batch(self) -> torch.Tensor:
        """The next real batch in [-1, 1]: the only door through which data enters training (phase D only)."""
        return normalize(self.stream.next())

    def noise(self, n: int) -> torch.Tensor:
        """This rank's n rows of a global draw of n * world_size noise vectors (all of it for one process)."""
        world, rank = self.dist.world_size, self.dist.rank
        z = torch.randn(n * world, self.config.model.latent_dim, generator=self.noise_rng, device=self.device)
        return z[rank * n:(rank + 1) * n] if world > 1 else z

    # ------------------------------------------------------------------ the loop
    def _total_steps(self) -> int:
        t = self.config.train
        if t.steps is not None:
            return t.steps
        batches = self.stream.batches_per_epoch * float(t.epochs or 0)
        return max(1, math.ceil(batches / self.algorithm.real_batches_per_step()))

    def _non_finite_message(self, phase: str, value: float) -> str:
        found = list_checkpoints(self.run_dir)
        kept = f"the last good checkpoint is {found[-1]}" if found else "no checkpoint had been written yet"
        return (f"the {phase} loss became {value} at step {self.step + 1}; training stopped and {kept}; lower the "
                f"learning rates (optim.lr_g/optim.lr_d) or add a stabiliser")

    def fit(self) -> TrainResult:
        t = self.config.train
        start_time = time.perf_counter()
        window_start, window_steps = start_time, 0
        images_per_step = t.batch_size * self.algorithm.real_batches_per_step()  # global: all ranks together
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
                        bar.set_postfix(loss_d=f"{last['loss_d']:.3f}", loss_g=f"{last['loss_g']:.3f}",
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
            summary = ", ".join(f"{k} {v:.3f}" for k, v in last.items() if k.startswith(("loss", "d_")))
            print(f"done: {self.step} steps in {seconds:.1f}s ({summary}); samples and checkpoints in "
                  f"{self.run_dir}", file=sys.stderr)
        return TrainResult(self.run_dir, self.step, seconds, last)

    def _record(self, stats: dict[str, torch.Tensor], images_per_s: float) -> dict[str, Any]:
        """Rank 0's losses (each rank's own batch slice) with the global throughput."""
        record: dict[str, Any] = {"step": self.step, "epoch": self.stream.epoch}
        record.update({k: float(v) for k, v in stats.items()})
        record.update({"lr_g": self.opt_g.param_groups[0]["lr"], "lr_d": self.opt_d.param_groups[0]["lr"],
                       "images_per_s": round(images_per_s, 1)})
        return record

    # ------------------------------------------------------------------ outputs
    def evaluate(self) -> dict[str, Any]:
        """eval.metrics of the sampling generator (EMA when kept) now: logged; best.safetensors follows the best FID."""
        values = self.evaluator(self.sample_generator())
        self.runlog.log({"step": self.step, **values})
        fid = values.get("fid")
        if fid is not None:
            self.latest_fid = fid
            if self.best_fid is None or fid < self.best_fid:
                self.best_fid = fid
                from ..export import write_generator

                write_generator(self.run_dir / "best.safetensors", self.run_dir / "best.json",
                                self.sample_generator().state_dict(), self.config, self.step,
                                "ema" if self.ema is not None else "generator",
                                {"fid": fid, "extractor": self.evaluator.extractor.metadata()})
        return values

    def sample_generator(self) -> torch.nn.Module:
        return self.ema.module if self.ema is not None else distributed.unwrap(self.generator)

    @torch.no_grad()
    def save_samples(self) -> Path:
        net = self.sample_generator()
        was_training = net.training
        net.eval()
        images = to_uint8(net(self.fixed_noise.to(self.device))).cpu()
        net.train(was_training)
        return save_grid(images, self.run_dir / "samples" / f"step_{self.step:06d}.png")

    def state_dict(self) -> dict[str, Any]:
        return {
            "config": json.dumps(self.config.to_dict(), sort_keys=True),
            "generator": distributed.unwrap(self.generator).state_dict(),
            "discriminator": distributed.unwrap(self.discriminator).state_dict(),
            "ema": self.ema.state_dict() if self.ema is not None else None,
            "opt_g": self.opt_g.state_dict(),
            "opt_d": self.opt_d.state_dict(),
            "data": self.stream.state_dict(),
            "rng": distributed.gather_rng_states(self.dist, capture_rng()),
            "world_size": self.dist.world_size,
            "noise_rng": self.noise_rng.get_state(),
            "skips": dict(self.skips),
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

    def _load(self, state: dict[str, Any]) -> None:
        saved = json.loads(state["config"])
        current = self.config.to_dict()
        differences = [d for d in config_differences(saved, current) if not d.startswith(RESUMABLE_CHANGES)]
        if differences:
            raise GanforgeError("cannot resume with a different config: " + "; ".join(differences))
        distributed.unwrap(self.generator).load_state_dict(state["generator"])
        distributed.unwrap(self.discriminator).load_state_dict(state["discriminator"])
        if self.ema is not None and state["ema"] is not None:
            self.ema.load_state_dict(state["ema"])
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_d.load_state_dict(state["opt_d"])
        self.stream.load_state_dict(state["data"])
        restore_rng(distributed.pick_rng_state(self.dist, state["rng"]))
        self.noise_rng.set_state(state["noise_rng"].to(self.noise_rng.get_state().device))
        self.step = int(state["step"])
        self.skips = dict(state.get("skips", {}))

    def on_skip(self, phase: str, loss: float) -> None:
        if self.runlog is not None:
            self.runlog.event(self.step + 1, f"phase {phase} skipped: its loss {loss:.4f} is below "
                                             f"algorithm.balance_threshold={self.config.algorithm.balance_threshold}")


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
        raise GanforgeError(f"run directory '{run_dir}' does not exist; pass a folder under runs/ to --resume")
    if not path.is_file():
        raise GanforgeError(f"'{run_dir}' has no config.json; it is not a ganforge run directory")
    try:
        base = json.loads(path.read_text())
    except json.JSONDecodeError:
        raise GanforgeError(f"'{path}' is not valid JSON; the run directory is damaged") from None
    config_from_dict(base)
    return build_config(base=base, overrides=overrides)


def train(config: Config | str | None = None, out: str | Path | None = None, resume: str | Path | None = None,
          overrides: list[str] | None = None, checkpoint: str | Path | None = None, progress: bool = True,
          quiet: bool = False) -> TrainResult:
    """Train a GAN: `config` is a Config, a preset name or None (the default preset); `resume` continues a run."""
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
    trainer = Trainer(config, run_dir, checkpoint=checkpoint, progress=progress, quiet=quiet)
    return trainer.fit()
