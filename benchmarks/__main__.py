"""`python -m benchmarks [--quick] [NAME ...]`: run every registered benchmark (or the named ones), one after another.

Benchmarks register themselves (`benchmarks.common.benchmark`); importing every module of this package is how they
are found, so a new benchmark is a new module here and nothing else. Options other than the shared ones (--quick,
--reps, --threads, --no-write) keep each benchmark's defaults.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
import time
from pathlib import Path

from benchmarks.common import BENCHMARKS, apply_threads, parser


def discover() -> list[str]:
    """Import every module of the package so that each benchmark registers itself; return the names, sorted."""
    package_dir = Path(__file__).resolve().parent
    for module in pkgutil.iter_modules([str(package_dir)]):
        if not module.name.startswith("_"):
            importlib.import_module(f"benchmarks.{module.name}")
    return BENCHMARKS.names()


def main(argv: list[str] | None = None) -> int:
    names = discover()
    top = argparse.ArgumentParser(prog="python -m benchmarks", description="run ganforge's benchmarks",
                                  epilog="registered: " + ", ".join(f"{n} ({BENCHMARKS.help(n)})" for n in names))
    top.add_argument("names", nargs="*", metavar="NAME", help="benchmarks to run (default: all)")
    top.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    args, shared = top.parse_known_args(argv)
    if args.list:
        for name in names:
            print(f"{name}: {BENCHMARKS.help(name)}")
        return 0
    chosen = args.names or names
    for name in chosen:
        BENCHMARKS.get(name)  # an unknown name fails before anything runs
    for name in chosen:
        options = parser(name).parse_args(shared)
        apply_threads(options.threads)
        print(f"\n# {name}", flush=True)
        start = time.perf_counter()
        BENCHMARKS.get(name).run(options)
        print(f"({name} took {time.perf_counter() - start:.0f} s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
