"""Samples, grids and interpolations of any generator, built from the inputs it declares (`generator.inputs`).

The same seed gives the same images on any machine with this torch build: every input is drawn on the CPU from
one seeded generator, in declaration order, then moved to the model's device. A user can fix an input (`--class 3`,
`--code c2=0.5`) or sweep it: a class list or a categorical code sweeps the rows of a grid, a continuous range
sweeps its columns (the classic InfoGAN figure: rows = c1, columns = c2 from -2 to 2).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .data.images import to_uint8
from . import limits
from .errors import GanforgeError
from .limits import check_count
from .inputs import ClassLabel, GeneratorInputs, InputSpec, Latent, _Categorical

Tensor = torch.Tensor
DEFAULT_SWEEP_STEPS = 10


def latent_noise(n: int, latent_dim: int, seed: int) -> Tensor:
    return torch.randn(n, latent_dim, generator=torch.Generator().manual_seed(seed))


def seeded_inputs(inputs: GeneratorInputs, n: int, seed: int, truncation: float | None = None) -> dict[str, Tensor]:
    """Every declared input for n samples, drawn from `seed` (what `ganforge sample --seed` uses)."""
    return inputs.sample(n, torch.Generator().manual_seed(seed), truncation)


def slerp(a: Tensor, b: Tensor, t: Tensor) -> Tensor:
    """Spherical interpolation (Shoemake) between latent vectors a and b at fractions t, linear where they are
    parallel: one pair (D,) walked at T fractions gives (T, D); pairs as rows (N, D) with one fraction each (N,)
    give (N, D) (what PPL's batches need)."""
    t = t.reshape(-1, 1).to(a.dtype)
    a, b = a.reshape(-1, a.shape[-1]), b.reshape(-1, b.shape[-1])
    a_unit, b_unit = a / a.norm(dim=1, keepdim=True), b / b.norm(dim=1, keepdim=True)
    omega = torch.acos((a_unit * b_unit).sum(dim=1, keepdim=True).clamp(-1.0, 1.0))
    spherical = (torch.sin((1 - t) * omega) * a + torch.sin(t * omega) * b) / torch.sin(omega)
    return torch.where(omega.abs() < 1e-6, (1 - t) * a + t * b, spherical)


@dataclass
class Request:
    """What to sample: inputs fixed to a value, and at most one swept input for the rows and one for the columns."""

    fixed: dict[str, Any] = field(default_factory=dict)
    rows: tuple[str, list[Any]] | None = None
    columns: tuple[str, list[float]] | None = None


def parse_request(inputs: GeneratorInputs, classes: list[str] | None = None, codes: list[str] | None = None
                  ) -> Request:
    """`--class N [N ...]|all` and `--code NAME=VALUE|all|LOW:HIGH[:STEPS]` against the model's declared inputs."""
    request = Request()
    if classes:
        labels = inputs.of_kind(ClassLabel)
        if not labels:
            raise GanforgeError(f"--class: this model is unconditional (its inputs are {', '.join(inputs)}); drop "
                                f"--class")
        (name, spec), = labels.items()
        _add(request, name, spec, " ".join(classes) if len(classes) > 1 else classes[0], "--class")
    for text in codes or []:
        name, sep, value = text.partition("=")
        if not sep or not value:
            raise GanforgeError(f"--code '{text}' needs the form NAME=VALUE (e.g. c1=3, c1=all, c2=-2:2)")
        codes_here = {n: s for n, s in inputs.items() if not isinstance(s, (Latent, ClassLabel))}
        if name not in codes_here:
            choices = ", ".join(codes_here) or "none"
            raise GanforgeError(f"--code {name}: this model has no code '{name}'; its codes are: {choices}")
        _add(request, name, codes_here[name], value, f"--code {name}")
    return request


def _add(request: Request, name: str, spec: InputSpec, text: str, flag: str) -> None:
    if isinstance(spec, _Categorical):
        if text == "all":
            values = list(range(spec.count))
        else:
            try:
                values = [int(v) for v in text.split()]
            except ValueError:
                raise GanforgeError(f"{flag} takes whole numbers 0-{spec.count - 1} or all, got '{text}'") from None
        spec.value(name, values, len(values))  # range check with the spec's own message
        if len(values) == 1:
            request.fixed[name] = values[0]
        elif request.rows is not None:
            raise GanforgeError(f"{flag}: the grid's rows already sweep '{request.rows[0]}'; sweep one at a time")
        else:
            request.rows = (name, values)
        return
    low, sep, rest = text.partition(":")
    try:
        if not sep:
            request.fixed[name] = float(spec.value(name, float(text), 1)[0])
            return
        high, _, steps = rest.partition(":")
        count = int(steps) if steps else DEFAULT_SWEEP_STEPS
        check_count(f"{flag}'s sweep steps", count, limits.SWEEP, low=2)
        sweep = torch.linspace(float(low), float(high), count).tolist()
    except (ValueError, OverflowError):
        raise GanforgeError(f"{flag} takes a number or a range LOW:HIGH[:STEPS] (e.g. -2:2), got '{text}'") from None
    if len(sweep) < 2 or not all(math.isfinite(v) for v in sweep):
        raise GanforgeError(f"{flag}: a sweep needs finite ends and at least 2 steps, got '{text}'")
    if request.columns is not None:
        raise GanforgeError(f"{flag}: the grid's columns already sweep '{request.columns[0]}'; sweep one at a time")
    request.columns = (name, sweep)


def plan_grid(inputs: GeneratorInputs, n: int, seed: int, request: Request | None = None,
              truncation: float | None = None) -> tuple[dict[str, Tensor], int | None]:
    """The inputs of every cell of a grid, and its row length (None: a square grid of n samples).

    Without sweeps: n samples. Rows swept: n columns, column c of every row shares sample c's other inputs (the
    classic conditional grid). Columns swept: n rows, each one sample's inputs. Both: one sample's inputs, rows x
    columns.
    """
    request = request or Request()
    unknown = [name for name in request.fixed if name not in inputs]
    if unknown:
        raise GanforgeError(f"this model has no input '{unknown[0]}'; its inputs are: {', '.join(inputs)}")
    rows, columns = request.rows, request.columns
    row_count = len(rows[1]) if rows else 1
    column_count = len(columns[1]) if columns else 1
    base_count = 1 if rows and columns else n
    base = seeded_inputs(inputs, base_count, seed, truncation)
    for name, given in request.fixed.items():
        base[name] = inputs[name].value(name, given, base_count)
    if rows is None and columns is None:
        return base, None
    cells = [(r, c) for r in range(row_count if rows else n) for c in range(column_count if columns else n)]
    index = torch.tensor([0 if rows and columns else (c if rows else r) for r, c in cells])
    values = {name: tensor[index] for name, tensor in base.items()}
    if rows:
        values[rows[0]] = inputs[rows[0]].value(rows[0], [rows[1][r] for r, _ in cells], len(cells))
    if columns:
        values[columns[0]] = inputs[columns[0]].value(columns[0], [columns[1][c] for _, c in cells], len(cells))
    return values, (column_count if columns else n)


def training_grid(inputs: GeneratorInputs, n: int, seed: int) -> tuple[dict[str, Tensor], int | None]:
    """The fixed inputs of the sample grids saved during training: one row per class (or per category of the first
    categorical code) when the generator has one, n noise draws otherwise."""
    categorical = {**inputs.of_kind(ClassLabel), **inputs.of_kind(_Categorical)}
    if not categorical:
        return plan_grid(inputs, n, seed)
    name, spec = next(iter(categorical.items()))
    rows = list(range(min(spec.count, n)))
    return plan_grid(inputs, max(1, n // len(rows)), seed, Request(rows=(name, rows)))


def interpolation_inputs(inputs: GeneratorInputs, seed_a: int, seed_b: int, steps: int,
                         truncation: float | None = None, fixed: dict[str, Any] | None = None) -> dict[str, Tensor]:
    """The inputs of a spherical walk in every latent from seed_a's sample to seed_b's; every other input is
    seed_a's, or fixed."""
    a = seeded_inputs(inputs, 1, seed_a, truncation)
    b = seeded_inputs(inputs, 1, seed_b, truncation)
    t = torch.linspace(0, 1, steps)
    values = {name: value.expand(steps, *value.shape[1:]) for name, value in a.items()}
    for name in inputs.of_kind(Latent):
        values[name] = slerp(a[name][0], b[name][0], t)
    for name, given in (fixed or {}).items():
        if name not in inputs:
            raise GanforgeError(f"this model has no input '{name}'; its inputs are: {', '.join(inputs)}")
        values[name] = inputs[name].value(name, given, steps)
    return values


def make_grid_image(images: Tensor, nrow: int | None = None, padding: int = 2):
    """uint8 (N, C, H, W) -> a PIL image tiling them, nrow per row (default: a square)."""
    from PIL import Image

    n, c, h, w = images.shape
    nrow = nrow or max(1, math.ceil(math.sqrt(n)))
    rows = math.ceil(n / nrow)
    canvas = torch.zeros(c, rows * (h + padding) + padding, nrow * (w + padding) + padding, dtype=torch.uint8)
    for i in range(n):
        r, col = divmod(i, nrow)
        top, left = padding + r * (h + padding), padding + col * (w + padding)
        canvas[:, top:top + h, left:left + w] = images[i].cpu()
    array = canvas.permute(1, 2, 0).numpy()
    return Image.fromarray(array[..., 0] if c == 1 else array, mode="L" if c == 1 else "RGB")


def save_grid(images: Tensor, path: str | Path, nrow: int | None = None) -> Path:
    """The images as one grid PNG at `path` (any format PIL knows from the extension), written atomically."""
    path = Path(path)
    image = make_grid_image(images, nrow)
    return save_image(image, path)


def save_image(image, path: Path) -> Path:
    """A PIL image written atomically (a reader never sees half a file); bad paths are one line."""
    import io

    from .files import describe_os_error, show
    from .utils import atomic_write_bytes

    buffer = io.BytesIO()
    try:
        image.save(buffer, format=_image_format(path))
    except (OSError, ValueError, KeyError) as exc:
        raise GanforgeError(f"cannot write image '{show(path)}' ({str(exc)[:80]}); check its extension (.png)"
                            ) from None
    try:
        atomic_write_bytes(path, buffer.getvalue())
    except OSError as exc:
        raise GanforgeError(describe_os_error(exc, path, "write image")) from None
    return path


def _image_format(path: Path) -> str:
    from PIL import Image

    Image.init()
    format_name = Image.EXTENSION.get(path.suffix.lower())
    if format_name is None:
        raise GanforgeError(f"cannot write image '{path.name}': unknown extension '{path.suffix}'; use .png")
    return format_name


class Sampler:
    """Turns seeds (and fixed or swept inputs) into uint8 images with a generator that declares its inputs."""

    def __init__(self, generator: nn.Module, device: torch.device | str | None = None, batch_size: int = 256) -> None:
        self.device = torch.device(device) if device is not None else next(generator.parameters()).device
        self.generator = generator.to(self.device).eval()
        self.inputs: GeneratorInputs = generator.inputs
        self.batch_size = batch_size

    @torch.inference_mode()
    def decode_batches(self, values: dict[str, Tensor]) -> Iterator[Tensor]:
        """Inputs (n of each) -> uint8 images (at most batch_size, C, H, W) on the CPU, one batch at a time."""
        n = next(iter(values.values())).shape[0]
        for start in range(0, n, self.batch_size):
            chunk = {k: v[start:start + self.batch_size].to(self.device) for k, v in values.items()}
            yield to_uint8(self.generator(**chunk)).cpu()

    @torch.inference_mode()
    def decode(self, values: dict[str, Tensor]) -> Tensor:
        """Inputs (n of each) -> uint8 images (n, C, H, W) on the CPU, in batches."""
        return torch.cat(list(self.decode_batches(values)))

    def cells(self, n: int, request: Request | None = None) -> int:
        """How many images `grid(n, ..., request)` makes: n, times the rows and columns a sweep adds."""
        request = request or Request()
        rows = len(request.rows[1]) if request.rows else 1
        columns = len(request.columns[1]) if request.columns else 1
        return rows * columns if request.rows and request.columns else n * rows * columns

    def _check_request(self, n: int, request: Request | None, cap: limits.Cap, what: str) -> None:
        check_count("--n", n, cap)
        total = self.cells(n, request)
        if total > cap.high:
            raise GanforgeError(f"this request makes {total:,} images ({what}), more than the {cap.high:,} allowed "
                                f"({cap.why}); lower --n or sweep fewer values")

    def grid(self, n: int, seed: int = 0, request: Request | None = None,
             truncation: float | None = None) -> tuple[Tensor, int | None]:
        """The images of `plan_grid` and the grid's row length (at most limits.GRID images)."""
        self._check_request(n, request, limits.GRID, "one grid")
        values, nrow = plan_grid(self.inputs, n, seed, request, truncation)
        return self.decode(values), nrow

    def stream(self, n: int, seed: int = 0, request: Request | None = None,
               truncation: float | None = None) -> Iterator[Tensor]:
        """The images of `grid` (the same ones, in order) in batches, never all in memory: for --separate, up to
        limits.SEPARATE images. Only the inputs are planned at once (n small vectors)."""
        self._check_request(n, request, limits.SEPARATE, "one file each")
        values, _ = plan_grid(self.inputs, n, seed, request, truncation)
        return self.decode_batches(values)

    def sample(self, n: int, seed: int = 0, truncation: float | None = None, **fixed: Any) -> Tensor:
        """n images from `seed`; keyword arguments fix declared inputs (label=3, c2=0.5)."""
        return torch.cat(list(self.stream(n, seed, Request(fixed=fixed), truncation)))

    def interpolate(self, seed_a: int, seed_b: int, steps: int, truncation: float | None = None,
                    **fixed: Any) -> Tensor:
        """A spherical walk in z from seed_a's sample to seed_b's; every other input is seed_a's (or fixed)."""
        check_count("--steps", steps, limits.INTERPOLATION, low=2)
        return self.decode(interpolation_inputs(self.inputs, seed_a, seed_b, steps, truncation, fixed))


__all__ = ["Request", "Sampler", "interpolation_inputs", "latent_noise", "make_grid_image", "parse_request", "plan_grid",
           "save_grid", "seeded_inputs", "slerp", "training_grid"]
