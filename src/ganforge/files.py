"""Files as untrusted input: one-line messages for every way the OS or a file's bytes can refuse.

`describe_os_error` turns an OSError (no such file, permission denied, a folder where a file belongs, a name too
long, a full disk, a read-only file system) into one line that says what to do; `read_text` and `read_json` read a
file that may be missing, unreadable, not UTF-8 or not JSON and fail with such a line. `show` prints a path for a
message: shortened when long, with bytes that are not UTF-8 escaped (a message must always be printable).
"""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path
from typing import Any

from .errors import GanforgeError

MAX_SHOWN = 100  # characters of a path shown in a message; longer ones keep their start and their end


def printable(text: str) -> str:
    """`text` with anything that cannot be written as UTF-8 (bytes of a non-UTF-8 name, lone surrogates) escaped."""
    try:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogatepass").decode("utf-8", "backslashreplace")


def show(path: str | os.PathLike | bytes) -> str:
    """A path as a message shows it: not-UTF-8 bytes escaped, the middle of a very long one elided."""
    text = printable(os.fsdecode(path) if isinstance(path, bytes) else str(path))
    if len(text) > MAX_SHOWN:
        text = f"{text[:MAX_SHOWN // 2 - 2]}...{text[-(MAX_SHOWN // 2 - 1):]}"
    return text


def is_utf8(text: str) -> bool:
    """False for a str holding undecodable bytes (surrogate escapes, as argv gives names that are not UTF-8)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


_FIXES = {
    errno.ENOENT: ("does not exist", "check the path"),
    errno.EACCES: ("permission denied", "choose a path you may use, or fix its permissions"),
    errno.EPERM: ("operation not permitted", "choose a path you may use, or fix its permissions"),
    errno.EISDIR: ("is a folder, not a file", "pass a file path"),
    errno.ENOTDIR: ("has a file where a folder belongs", "check the folders in the path"),
    errno.ENAMETOOLONG: ("is too long for the file system", "use a shorter name"),
    errno.ENOSPC: ("no space left on the device", "free some disk space or write elsewhere"),
    errno.EDQUOT: ("disk quota exceeded", "free some space or write elsewhere"),
    errno.EROFS: ("is on a read-only file system", "write elsewhere"),
    errno.EEXIST: ("already exists", "choose another path"),
    errno.ENOTEMPTY: ("is a folder that is not empty", "choose another path"),
    errno.ELOOP: ("has too many symbolic links", "check the links in the path"),
    errno.EMFILE: ("too many open files", "raise the open-file limit (ulimit -n)"),
    errno.EILSEQ: ("is not a valid name here", "use a name in UTF-8"),
    errno.EINVAL: ("is not a valid name here", "use a plain name"),
}


def describe_os_error(exc: OSError, path: str | os.PathLike | None = None, action: str = "use") -> str:
    """One line for an OSError: `cannot <action> '<path>': <what>; <fix>` (path from the error when not given)."""
    where = path if path is not None else exc.filename
    what, fix = _FIXES.get(exc.errno or -1, (exc.strerror or type(exc).__name__, "check the path"))
    if exc.errno == errno.EEXIST and exc.filename is not None and not Path(exc.filename).is_dir():
        what, fix = _FIXES[errno.ENOTDIR]  # making a folder where a file is: the path runs through a file
    named = f" '{show(where)}'" if where is not None else ""
    return f"cannot {action}{named}: {what}; {fix}"


def read_bytes(path: str | Path, what: str = "file", hint: str = "") -> bytes:
    path = Path(path)
    if not is_utf8(str(path)):
        raise GanforgeError(f"{what} name '{show(path)}' is not valid UTF-8; rename it")
    try:
        return path.read_bytes()
    except OSError as exc:
        raise GanforgeError(describe_os_error(exc, path, f"read {what}") + (f" ({hint})" if hint else "")) from None


def read_text(path: str | Path, what: str = "file", hint: str = "") -> str:
    """The text of a UTF-8 file, or one line saying why it cannot be read (missing, a folder, not UTF-8, ...)."""
    data = read_bytes(path, what, hint)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise GanforgeError(f"{what} '{show(path)}' is not UTF-8 text (byte {exc.start}); save it as UTF-8"
                            + (f" ({hint})" if hint else "")) from None


def read_json(path: str | Path, what: str = "file", hint: str = "") -> Any:
    """A JSON file's value, or one line naming the file and where it stops being JSON."""
    text = read_text(path, what, hint)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise GanforgeError(f"{what} '{show(path)}' is not valid JSON (line {exc.lineno}, column {exc.colno})"
                            + (f"; {hint}" if hint else "")) from None
    except RecursionError:
        raise GanforgeError(f"{what} '{show(path)}' nests too deeply to be a ganforge file"
                            + (f"; {hint}" if hint else "")) from None


# ------------------------------------------------------------------------------------------ folders ganforge writes
RUN_MARKERS = ("config.json", "checkpoints", "metrics.jsonl", "generator.safetensors")


def run_contents(folder: str | Path) -> str:
    """What in `folder` belongs to a ganforge run or export ('' when nothing does), e.g. 'config.json, 3
    checkpoints'."""
    folder = Path(folder)
    if not folder.is_dir():
        return ""
    found = [name for name in RUN_MARKERS if (folder / name).exists()]
    if "checkpoints" in found:
        count = len(list((folder / "checkpoints").glob("state-*.pt")))
        found[found.index("checkpoints")] = f"{count} checkpoint{'s' if count != 1 else ''}"
    return ", ".join(found)


def move_aside(folder: Path) -> Path:
    """Rename `folder` to `<folder>.replaced-<timestamp>` (never deleting it) and return the new name."""
    from datetime import datetime

    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    target, n = folder.with_name(f"{folder.name}.replaced-{stamp}"), 1
    while target.exists():
        n += 1
        target = folder.with_name(f"{folder.name}.replaced-{stamp}-{n}")
    try:
        folder.rename(target)
    except OSError as exc:
        raise GanforgeError(describe_os_error(exc, folder, "move aside")) from None
    return target


def claim_run_dir(folder: str | Path, marker: bytes, overwrite: bool = False) -> tuple[Path, bool, Path | None]:
    """Take `folder` for a new run, atomically: its config.json is created exclusively (O_EXCL), so two runs never
    share a folder. A folder that already holds a run is refused, or with `overwrite` moved aside first.

    Returns the folder, whether it was created here, and where a previous run was moved (None if none was).
    """
    folder = Path(folder)
    if not is_utf8(str(folder)):
        raise GanforgeError(f"run directory name '{show(folder)}' is not valid UTF-8; use a UTF-8 name for --out")
    moved = None
    if folder.exists() and not folder.is_dir():
        raise GanforgeError(f"--out '{show(folder)}' is a file, not a folder; choose another --out")
    held = run_contents(folder)
    if held:
        if not overwrite:
            raise GanforgeError(f"run directory '{show(folder)}' already holds a run ({held}); continue it with "
                                f"`ganforge train --resume {show(folder)}`, or pass --overwrite to move it aside "
                                f"and start again")
        moved = move_aside(folder)
    created = False
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        try:
            folder.mkdir()
            created = True
        except FileExistsError:
            if not folder.is_dir():
                raise GanforgeError(f"--out '{show(folder)}' is a file, not a folder; choose another --out") from None
        fd = os.open(folder / "config.json", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except FileExistsError:
        raise GanforgeError(f"run directory '{show(folder)}' was claimed by another run just now; choose another "
                            f"--out") from None
    except OSError as exc:
        raise GanforgeError(describe_os_error(exc, folder, "write to run directory")) from None
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(marker)
            handle.flush()
            os.fsync(handle.fileno())
    except OSError as exc:
        raise GanforgeError(describe_os_error(exc, folder, "write to run directory")) from None
    return folder, created, moved


def release_claim(folder: Path, created: bool) -> None:
    """Undo `claim_run_dir` for a run that failed before writing anything else: its config.json, and the folder
    when the claim created it. A folder holding anything more is left as it is."""
    try:
        entries = list(folder.iterdir())
        if [e.name for e in entries] == ["config.json"]:
            (folder / "config.json").unlink()
            if created:
                folder.rmdir()
        elif not entries and created:
            folder.rmdir()
    except OSError:
        pass
