"""The course as runnable lessons: each module shows one idea with the library's own pieces and measures it.

A lesson is a module with `run(out: Path, fast: bool) -> str`: it writes its figures into `out` and returns the
summary (markdown, with the numbers it measured). `LESSON_MODULES` lists them in the course's order; registering
one more is one more name in that tuple. `run_lesson` checks the name and the folder, runs it and writes summary.md.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from pathlib import Path

from ..errors import GanforgeError
from ..files import run_contents, show
from ..registry import Registry
from ..utils import atomic_write_bytes, ensure_writable_dir

LESSON_MODULES = ("minimax", "first_gan", "two_phases", "dcgan", "balance", "mode_collapse", "latent_space",
                  "gan_vs_vae", "stylize")

LESSONS: Registry[Callable[..., str]] = Registry("lesson")


def lesson_name(module: str) -> str:
    return module.replace("_", "-")


for _module in LESSON_MODULES:
    _lesson = importlib.import_module(f".{_module}", __name__)
    LESSONS.add(lesson_name(_module), _lesson.run, help=(_lesson.__doc__ or "").strip().splitlines()[0])


def ordered_names() -> list[str]:
    """The lessons in the course's order (the registry itself sorts alphabetically)."""
    return [lesson_name(module) for module in LESSON_MODULES]


def unknown_lesson(name: str) -> GanforgeError:
    return GanforgeError(f"unknown lesson '{show(name)}'; choose from: {', '.join(ordered_names())} "
                         f"(`ganforge lesson list` describes them)")


def run_lesson(name: str, out: str | Path | None = None, fast: bool = False, model: str | None = None
               ) -> tuple[Path, str]:
    """Run lesson `name` into `out` (default lessons/<name>/): its figures and summary.md; returns (folder, summary)."""
    if name not in LESSONS:
        raise unknown_lesson(name)
    lesson = LESSONS.get(name)
    options = {}
    if model is not None:
        if "model" not in inspect.signature(lesson).parameters:
            takers = [n for n in ordered_names() if "model" in inspect.signature(LESSONS.get(n)).parameters]
            raise GanforgeError(f"lesson {name} takes no --model; only {', '.join(takers)} does")
        options["model"] = model
    folder = Path(out) if out is not None else Path("lessons") / name
    if folder.exists() and not folder.is_dir():
        raise GanforgeError(f"--out '{show(folder)}' is a file; give a folder for the lesson's figures")
    if run_contents(folder):
        raise GanforgeError(f"--out '{show(folder)}' holds a run or export ({run_contents(folder)}); write the "
                            f"lesson into another folder")
    folder = ensure_writable_dir(folder, "lesson folder")
    summary = lesson(folder, fast, **options)
    atomic_write_bytes(folder / "summary.md", summary.encode())
    return folder, summary
