"""Exports for the serving, export and browser tests: untrained tiny networks of families that declare different
inputs (noise only, a class, codes, an input image), saved as `ganforge export` saves them, drift reference included.
Serving depends on what a model declares, not on how well it was trained (tests/test_cli.py exports a trained run)."""

from __future__ import annotations

import socket
from pathlib import Path

from conftest import TINY_DCGAN

TINY = {
    "dcgan": ("mnist-dcgan", TINY_DCGAN),
    "cgan": ("mnist-cgan", TINY_DCGAN),
    "infogan": ("mnist-infogan", [*TINY_DCGAN, "model.latent_dim=8"]),
    "pix2pix": ("mnist-pix2pix", ["model.g_width=4", "model.d_width=4"]),
}


def export_untrained(kind: str, out: Path, seed: int = 0, extractor: str | None = None) -> Path:
    """A freshly initialised generator of a tiny preset, written as an export (serving needs no trained weights)."""
    import torch

    from ganforge.configure import build_config
    from ganforge.drift import write_reference
    from ganforge.export import CONFIG_FILE, WEIGHTS_FILE, write_generator
    from ganforge.families import FAMILIES

    preset, overrides = TINY[kind]
    config = build_config(preset=preset, overrides=list(overrides))
    torch.manual_seed(seed)
    network = FAMILIES.get(config.algorithm.name).build_sampler(config)
    out.mkdir(parents=True, exist_ok=True)
    write_generator(out / WEIGHTS_FILE, out / CONFIG_FILE, network, config, 0, "generator")
    write_reference(out, n=128, extractor=extractor)
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
