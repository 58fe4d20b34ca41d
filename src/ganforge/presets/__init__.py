"""Presets: YAML config files in `presets/<family>/<name>.yaml`, each a complete example a user can copy.

A preset file holds config sections plus a one-line `description`, and may name another preset it builds on with
`extends:` (its sections are merged over that preset's). `Catalogue` reads such a folder; the lab's recipes are a
second catalogue of the same kind.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from ..config import deep_merge, load_yaml
from ..errors import GanforgeError

DEFAULT_PRESET = "mnist-default"


@dataclass(frozen=True)
class Preset:
    name: str
    group: str  # the family folder it lives in ("" in a flat catalogue)
    description: str
    path: Path


class Catalogue:
    """Named YAML config layers under one folder (`pattern` relative to it), with `extends:` resolved."""

    def __init__(self, root: Path, pattern: str, kind: str) -> None:
        self.root, self.pattern, self.kind = root, pattern, kind

    @cached_property
    def entries(self) -> dict[str, Preset]:
        found: dict[str, Preset] = {}
        for path in sorted(self.root.glob(self.pattern)):
            if path.stem.startswith("_"):  # a shared base, not offered on its own
                continue
            if path.stem in found:
                raise GanforgeError(f"{self.kind} '{path.stem}' is defined twice: {found[path.stem].path} and {path}")
            data = load_yaml(path)
            group = path.parent.name if path.parent != self.root else ""
            found[path.stem] = Preset(path.stem, group, str(data.get("description", "")), path)
        return found

    def names(self) -> list[str]:
        return sorted(self.entries)

    def get(self, name: str) -> Preset:
        if name not in self.entries:
            close = difflib.get_close_matches(name, self.entries, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise GanforgeError(f"unknown {self.kind} '{name}'{hint}; choose from: {', '.join(self.names())}")
        return self.entries[name]

    def groups(self) -> dict[str, list[Preset]]:
        out: dict[str, list[Preset]] = {}
        for preset in sorted(self.entries.values(), key=lambda p: (p.group, p.name)):
            out.setdefault(preset.group, []).append(preset)
        return out

    def layer(self, name: str) -> dict[str, Any]:
        """The config sections of `name`, merged over those of the presets it extends."""
        return self._resolve(name, ())

    def _resolve(self, name: str, seen: tuple[str, ...]) -> dict[str, Any]:
        if name in seen:
            raise GanforgeError(f"{self.kind} '{seen[0]}' extends itself through {' -> '.join((*seen, name))}")
        path = self.get(name).path if not name.startswith("_") else self.root / f"{name}.yaml"
        data = load_yaml(path)
        data.pop("description", None)
        base = data.pop("extends", None)
        if base is None:
            return data
        return deep_merge(self._resolve(str(base), (*seen, name)), data)


PRESETS = Catalogue(Path(__file__).resolve().parent, "*/*.yaml", "preset")


def preset_names() -> list[str]:
    return PRESETS.names()


def preset_dict(name: str) -> dict[str, Any]:
    """The config dict of a preset, with `preset` set to its name (unknown names: one line with the choices)."""
    return {**PRESETS.layer(name), "preset": name}
