"""Style controls of generators with a mapping network (StyleGAN2, StyleGAN3-T): the check that a model has one,
and style mixing.

A generator takes part when it exposes `ws(z, psi, mix_z, mix_cutoff)` (w per layer, (N, num_ws, w_dim)),
`synthesis(ws)` (images from them), `num_ws` and the mean w `w_avg`: that is its declaration of a mapping network,
which PPL in w, the mixing grid and the projector need. Other generators (DCGAN, ...) map z to images directly:
these controls refuse them in one line.

The mixing grid is the StyleGAN paper's Figure 3: the top row holds the column seeds' images, the left column the
row seeds', and each cell takes the w of its row's seed for the layers before the cutoff and its column's from the
cutoff on, so a small cutoff keeps only the row's coarse styles (pose, shape) and a large one its fine styles too.
"""

from __future__ import annotations

import torch
from torch import nn

from . import limits
from .data.images import to_uint8
from .errors import GanforgeError
from .sampling import seeded_inputs

Tensor = torch.Tensor


def has_mapping(generator: nn.Module) -> bool:
    """Whether the generator declares a mapping network (z -> w per layer, then synthesis)."""
    return all(callable(getattr(generator, name, None)) for name in ("ws", "synthesis")) and all(
        hasattr(generator, name) for name in ("num_ws", "w_avg"))


def style_generator(generator: nn.Module, what: str) -> nn.Module:
    """The generator itself when it has a mapping network, else a one-line error naming `what` needs one."""
    if not has_mapping(generator):
        raise GanforgeError(f"{what} needs a generator with a mapping network (a StyleGAN2 or StyleGAN3-T model); this "
                            f"{type(generator).__name__} maps z to images directly (its inputs are "
                            f"{', '.join(generator.inputs)})")
    return generator


def seed_ws(generator: nn.Module, seeds: list[int], truncation: float | None = None) -> Tensor:
    """(len(seeds), num_ws, w_dim): the w of each seed's first sample, the z `ganforge sample --seed S` draws."""
    device = next(generator.parameters()).device
    rows = [seeded_inputs(generator.inputs, 1, seed, truncation) for seed in seeds]
    inputs = {name: torch.cat([row[name] for row in rows]).to(device) for name in rows[0]}
    with torch.no_grad():
        return generator.ws(**inputs)


def check_cutoff(generator: nn.Module, cutoff: int) -> int:
    """A crossover layer strictly inside the generator's layers (at 0 or num_ws a cell would be one seed's image)."""
    if isinstance(cutoff, bool) or not isinstance(cutoff, int) or not 1 <= cutoff < generator.num_ws:
        raise GanforgeError(f"--cutoff {cutoff}: this model has {generator.num_ws} style layers, so the crossover "
                            f"is a whole number in [1, {generator.num_ws - 1}] (small: only the row's coarse styles "
                            f"are kept)")
    return cutoff


def style_mixing_grid(generator: nn.Module, rows: list[int], columns: list[int], cutoff: int,
                      truncation: float | None = None) -> tuple[Tensor, int]:
    """The uint8 images of the mixing grid, row by row, and its row length (len(columns) + 1): a blank corner, the
    column seeds' images, then per row seed its image and its mixes with every column seed."""
    style_generator(generator, "style mixing")
    check_cutoff(generator, cutoff)
    if not rows or not columns:
        raise GanforgeError("style mixing needs at least one row seed and one column seed (--rows 1,2 --cols 3,4)")
    cells = (len(rows) + 1) * (len(columns) + 1)
    if cells > limits.GRID.high:
        raise GanforgeError(f"a mixing grid of {len(rows)} x {len(columns)} seeds makes {cells:,} images, more than "
                            f"the {limits.GRID.high:,} of one grid ({limits.GRID.why}); pass fewer seeds")
    generator.eval()
    row_ws, column_ws = seed_ws(generator, rows, truncation), seed_ws(generator, columns, truncation)
    cells = [column_ws]
    for r in range(len(rows)):
        mixed = column_ws.clone()
        mixed[:, :cutoff] = row_ws[r, :cutoff]
        cells += [row_ws[r:r + 1], mixed]
    with torch.no_grad():
        images = to_uint8(generator.synthesis(torch.cat(cells)).clamp(-1.0, 1.0)).cpu()
    corner = torch.zeros_like(images[:1])
    return torch.cat([corner, images]), len(columns) + 1
