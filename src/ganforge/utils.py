"""Small shared helpers: device choice, seeding, atomic file writes."""

from __future__ import annotations

import json
import os
import random
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .errors import GanforgeError


def resolve_device(name: str = "auto", key: str = "train.device") -> torch.device:
    """'auto' picks CUDA when present, else CPU; an explicit device that is not available is a user error, named by
    `key` (the config key or the CLI flag it came from)."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    fix = "--set train.device=cpu" if key == "train.device" else f"{key} cpu"
    try:
        device = torch.device(name)
    except (RuntimeError, ValueError, TypeError):
        raise GanforgeError(f"unknown device '{name}' for {key}; use auto, cpu, cuda or cuda:N") from None
    if device.type == "cpu":
        return device
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise GanforgeError(f"{key} is '{name}' but CUDA is not available here; use {fix}")
        count = torch.cuda.device_count()
        if device.index is not None and device.index >= count:
            raise GanforgeError(f"{key} is '{name}' but this machine has {count} CUDA device(s) (cuda:0"
                                f"{f'..cuda:{count - 1}' if count > 1 else ''}); pick one of them")
        return device
    if device.type == "mps" and torch.backends.mps.is_available():
        return device
    raise GanforgeError(f"{key} is '{name}', a device that does not exist here; use auto, cpu, cuda or cuda:N")


def is_channels_last(t: torch.Tensor) -> bool:
    """A 4-D tensor stored NHWC (and not also plain contiguous, as 1-channel or 1x1 tensors can be)."""
    return t.dim() == 4 and not t.is_contiguous() and t.is_contiguous(memory_format=torch.channels_last)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _file_mode() -> int:
    """What open() would give a new file: 0o666 minus the umask (read once: setting it is process-wide and racy)."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


_FILE_MODE = _file_mode()


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write to a temp file in the same folder, fsync, then rename: readers see the old file or the new one, never half."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, _FILE_MODE)  # mkstemp makes 0600 files; give the permissions a plain open() would
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)


def atomic_write_json(path: str | Path, obj: Any) -> None:
    atomic_write_bytes(path, (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode())


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def ensure_writable_dir(path: str | Path, what: str = "output directory") -> Path:
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / ".ganforge-write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise GanforgeError(f"cannot write to {what} '{path}' ({exc.strerror}); choose another with --out") from None
    return path
