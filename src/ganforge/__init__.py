"""ganforge: train, evaluate, inspect and serve GANs on PyTorch.

The package imports lazily: `import ganforge` loads no torch, builds no model and scans no dataset until one of
the names below is used.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "train": "ganforge.training.trainer",
    "Trainer": "ganforge.training.trainer",
    "load_generator": "ganforge.export",
    "export_run": "ganforge.export",
    "load_encoder": "ganforge.export",
    "Sampler": "ganforge.sampling",
    "style_mixing_grid": "ganforge.style",
    "perceptual_path_length": "ganforge.metrics.ppl",
    "Config": "ganforge.config",
    "build_config": "ganforge.configure",
    "load_dataset": "ganforge.data",
    "GanforgeError": "ganforge.errors",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'ganforge' has no attribute '{name}'")
