"""The documented caps on every count a user can ask for: steps, batch sizes, sample counts, image sizes, classes.

A cap exists so that a typo (`--n 1000000000`, `model.latent_dim=10**12`) is a one-line error before anything is
allocated, not an allocator's message an hour later. Each cap is far above what any preset uses; a request over
one is refused with the key, the value and the bound (`check_count`). A machine that needs more sets
GANFORGE_LIMITS (e.g. "GRID=16384,EVAL=5000000"). Config fields declare theirs next to
their defaults (`option(high=...)` in `ganforge.config`); CLI counts use the same table (`ganforge.cli`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from .errors import GanforgeError


@dataclass(frozen=True)
class Cap:
    """The largest value a count may take, and why (the reason ends the error message)."""

    high: int
    why: str = ""

    def __int__(self) -> int:
        return self.high


# Seeds: torch.manual_seed takes 64-bit values; ganforge adds a process rank to the seed, so one bit is kept spare.
MAX_SEED = 2**63 - 1

STEPS = Cap(10**9)
EPOCHS = Cap(10**6)
BATCH = Cap(65536, "one batch must fit in memory")
IMAGE_SIZE = Cap(4096, "pixels on a side")
LATENT = Cap(16384, "latent dimensions")
WIDTH = Cap(8192, "channels of a layer")
LABEL_CLASSES = Cap(4096, "classes")
PREVIEW = Cap(4096, "images in the training sample grid")
KEEP = Cap(10000, "checkpoints kept")
THREADS = Cap(4096)
DEPTH = Cap(64, "layers or blocks")

GRID = Cap(4096, "images in one grid PNG; use --separate to write more, one file each")
SEPARATE = Cap(1_000_000, "images written by one --separate request")
SWEEP = Cap(1024, "values in one --code sweep")
INTERPOLATION = Cap(1024, "images in one interpolation strip")
EVAL = Cap(1_000_000, "images compared by one evaluation")
EXTRACTOR_BATCH = Cap(4096, "images per feature-extractor batch")
LAB_SEEDS = Cap(1000, "seeds per algorithm")
WORKERS = Cap(1024, "parallel processes")

# Elements of the largest single tensor a config may ask for (a batch of images, a sample grid): 2**31 floats is
# 8 GiB, past what any machine ganforge targets holds for one tensor.
MAX_ELEMENTS = 2**31


LIMITS_ENV = "GANFORGE_LIMITS"


def _configure(environ: dict[str, str]) -> None:
    """Caps changed for this machine: GANFORGE_LIMITS="GRID=16384,EVAL=5000000" (names as above), read once at
    import. A malformed entry is an error at the next command, never silently ignored."""
    text = environ.get(LIMITS_ENV, "").strip()
    caps = {name: value for name, value in globals().items() if isinstance(value, Cap)}
    for entry in filter(None, (part.strip() for part in text.split(","))):
        name, _, value = entry.partition("=")
        name = name.strip().upper()
        if name not in caps or not value.strip().isdigit() or int(value) < 1:
            raise GanforgeError(f"{LIMITS_ENV} entry '{entry}' must be NAME=N with N >= 1 and NAME one of "
                                f"{', '.join(sorted(caps))}")
        globals()[name] = Cap(int(value), f"set by {LIMITS_ENV}")


def describe_range(low: int, high: int) -> str:
    return f"in [{low}, {high:_}]" if high >= 10**6 else f"in [{low}, {high}]"


def check_count(name: str, value: int, cap: Cap | int, low: int = 1) -> int:
    """`value` if it is a whole number in [low, cap]; otherwise one line naming `name` and the bound it broke
    (`--n must be <= 4096 (images in one grid PNG; ...), got 5000`)."""
    high = int(cap)
    why = f" ({cap.why})" if isinstance(cap, Cap) and cap.why else ""
    if isinstance(value, bool) or not isinstance(value, int):
        raise GanforgeError(f"{name} must be a whole number {describe_range(low, high)}{why}, got {value!r}")
    if value < low:
        raise GanforgeError(f"{name} must be >= {low}, got {value}")
    if value > high:
        raise GanforgeError(f"{name} must be <= {high:_}{why}, got {value}" if high >= 10**6 else
                            f"{name} must be <= {high}{why}, got {value}")
    return value


def check_seed(name: str, value: int) -> int:
    """A seed torch accepts: a whole number in [0, MAX_SEED]."""
    return check_count(name, value, Cap(MAX_SEED, "the seeds torch accepts"), low=0)


CONFIG_ERROR = ""  # a malformed GANFORGE_LIMITS, reported as a one-line error by the CLI (never ignored)
try:
    _configure(dict(os.environ))
except GanforgeError as _exc:
    CONFIG_ERROR = str(_exc)
