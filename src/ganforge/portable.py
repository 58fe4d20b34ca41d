"""Generators as single files for other runtimes: ONNX (onnxruntime, TensorRT, ...) and TorchScript (libtorch, or
any Python with torch but without ganforge).

Both take the generator's declared inputs as positional arguments in declaration order, named as declared (`z`,
`label`, `c1`, `image`, ...), with a dynamic batch axis, and return `generated`: floats in [-1, 1], (N, C, H, W) - the
generator's own output, before the uint8 conversion of `ganforge sample`. Integer inputs (class labels, categorical
codes, options, label maps) are int64; the rest float32. The declaration itself travels in the file (ONNX metadata
`ganforge`, TorchScript extra file `ganforge.json`), so a reader knows what to feed without ganforge.

Only the batch axis is dynamic: an image-to-image model is exported at its declared resolution (a trace records
the padding its U-Net computes for that size), so inputs of other sizes go through `ganforge translate` instead.
"""

from __future__ import annotations

import io
import json
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .errors import GanforgeError
from .inputs import GeneratorInputs, ImageInput, LabelMap
from .registry import Registry

Tensor = torch.Tensor
EXAMPLE_BATCH = 2
OUTPUT_NAME = "generated"  # not "image": that is an input's name in image-to-image models
METADATA_KEY = "ganforge"


class _Positional(nn.Module):
    """The generator called with its declared inputs as positional arguments (what tracing and ONNX need)."""

    def __init__(self, network: nn.Module, names: list[str]) -> None:
        super().__init__()
        self.network = network
        self.names = names

    def forward(self, *values: Tensor) -> Tensor:
        return self.network(**dict(zip(self.names, values)))


def example_inputs(inputs: GeneratorInputs, n: int, seed: int = 0) -> dict[str, Tensor]:
    """n rows of every declared input as the network takes them: drawn ones from `seed`, given images as noise in
    [-1, 1] at their training resolution, label maps as random class indices."""
    generator = torch.Generator().manual_seed(seed)
    values = {}
    for name, spec in inputs.items():
        if isinstance(spec, ImageInput):
            values[name] = torch.rand(n, spec.channels, spec.resolution, spec.resolution, generator=generator) * 2 - 1
        elif isinstance(spec, LabelMap):
            values[name] = torch.randint(spec.classes, (n, 1, spec.resolution, spec.resolution), generator=generator)
        else:
            values[name] = spec.sample(n, generator)
    return values


def description(network: nn.Module, meta: dict[str, Any]) -> dict[str, Any]:
    """What the file's reader needs: inputs in order with dtypes and shapes, the output, and the export's facts."""
    return {"inputs": network.inputs.describe(), "order": list(network.inputs), "output": OUTPUT_NAME,
            "output_range": [-1, 1], **{k: meta[k] for k in ("family", "network", "image", "weights", "step")
                                        if k in meta}}


def _positional(network: nn.Module) -> tuple[_Positional, list[str]]:
    names = list(network.inputs)
    return _Positional(network, names).eval(), names


def _onnx(network: nn.Module, out: Path, meta: dict[str, Any]) -> None:
    try:
        import onnx  # noqa: F401
        import onnxscript  # noqa: F401
    except ImportError:
        raise GanforgeError("--format onnx needs onnx and onnxscript: pip install 'ganforge[export]'") from None
    wrapper, names = _positional(network)
    example = example_inputs(network.inputs, EXAMPLE_BATCH)
    batch = torch.export.Dim("batch", min=1, max=65536)
    dynamic = ({0: batch},) * len(names)
    with torch.inference_mode(False), torch.no_grad(), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*shares the same shape constraints.*")  # all inputs share it
        program = torch.onnx.export(wrapper, tuple(example.values()), dynamic_shapes=(dynamic,), input_names=names,
                                    output_names=[OUTPUT_NAME], dynamo=True, verbose=False, external_data=False)
    model = program.model_proto
    entry = model.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, json.dumps(description(network, meta))
    from .utils import atomic_write_bytes

    atomic_write_bytes(out, model.SerializeToString())


def _torchscript(network: nn.Module, out: Path, meta: dict[str, Any]) -> None:
    wrapper, _ = _positional(network)
    example = tuple(example_inputs(network.inputs, EXAMPLE_BATCH).values())
    with torch.no_grad(), warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=FutureWarning, module="torch.jit")  # deprecated, still libtorch's
        warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)  # sizes fixed: the documented limit
        traced = torch.jit.trace(wrapper, example, check_trace=False)
        buffer = io.BytesIO()
        torch.jit.save(traced, buffer, _extra_files={"ganforge.json": json.dumps(description(network, meta))})
    from .utils import atomic_write_bytes

    atomic_write_bytes(out, buffer.getvalue())


FORMATS: Registry = Registry("export format")
FORMATS.register("onnx", help="ONNX (opset of torch's exporter), dynamic batch axis")(_onnx)
FORMATS.register("torchscript", help="TorchScript (torch.jit.trace), runs in torch without ganforge")(_torchscript)


def export_file(model: str | Path, out: str | Path, fmt: str, use_ema: bool = True) -> Path:
    """Write the generator of a run or export folder as one ONNX or TorchScript file."""
    from .export import load_generator, read_config

    writer = FORMATS.get(fmt)
    network = load_generator(model, device="cpu", use_ema=use_ema)
    _, meta = read_config(Path(model)) if Path(model).is_dir() else ({}, {})
    out = Path(out)
    if out.is_dir():
        raise GanforgeError(f"--out '{out}' is a folder; name the file to write (e.g. {out / ('generator.' + fmt)})")
    out.parent.mkdir(parents=True, exist_ok=True)
    writer(network, out, meta)
    return out


__all__ = ["FORMATS", "description", "example_inputs", "export_file"]
