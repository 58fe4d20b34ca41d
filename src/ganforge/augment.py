"""D's input augmentations: DiffAugment (Zhao et al. 2020) and ADA (Karras et al. 2020), both differentiable.

The paper's point is that augmenting only the real images teaches G to produce augmented-looking images; applying
the same random, *differentiable* transforms to real and fake batches, in D's phase and in G's, lets D see more
varied data while G's gradient passes through the augmentation. Every transform here is built from additions,
multiplications, masks and index gathers, so autograd reaches G. Random draws use the `generator` given (or torch's
global RNG), so a fixed seed reproduces the same augmentation.

ADA (`augment.ada`) is the stylegan2-ada pipeline: blit (x-flip, 90-degree rotations, integer translation), geometric
(isotropic scale, rotation, anisotropic scale, fractional translation: one bilinear resampling with reflection
padding for the whole group) and colour (brightness, contrast, luma flip, hue rotation, saturation: one affine map
of the channels), every op applied to each sample with probability p. `AdaptiveAugment` steers p: over every
`augment.ada_interval` D steps it averages r_t = E[sign(D(real))], the share of reals D calls real, and moves p up
when r_t is above `augment.ada_target` (D is overfitting its small training set) and down otherwise, at a speed of
`augment.ada_kimg` thousand images for the whole 0 -> 1. Luma flip, hue and saturation need RGB: on 1-channel images
they are skipped (the colour group is then brightness and contrast).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from .config import AugmentConfig, Config
from .errors import GanforgeError
from .registry import Registry

Tensor = torch.Tensor
Augmentation = Callable[[Tensor, AugmentConfig, "torch.Generator | None"], Tensor]
AUGMENTS: Registry[Augmentation] = Registry("augmentation")


def _uniform(x: Tensor, generator: torch.Generator | None, *shape: int) -> Tensor:
    """Per-sample U[0, 1) draws shaped to broadcast over an image batch."""
    return torch.rand(x.shape[0], *shape, generator=generator, device=x.device, dtype=x.dtype)


@AUGMENTS.register("color", help="random brightness (+-0.5), saturation (x0..2) and contrast (x0.5..1.5) per image")
def color(x: Tensor, config: AugmentConfig, generator: torch.Generator | None = None) -> Tensor:
    x = x + (_uniform(x, generator, 1, 1, 1) - 0.5)
    channel_mean = x.mean(dim=1, keepdim=True)
    x = (x - channel_mean) * (_uniform(x, generator, 1, 1, 1) * 2) + channel_mean
    image_mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - image_mean) * (_uniform(x, generator, 1, 1, 1) + 0.5) + image_mean


@AUGMENTS.register("translation", help="random shift by up to augment.translation of the side, zero-filled")
def translation(x: Tensor, config: AugmentConfig, generator: torch.Generator | None = None) -> Tensor:
    n, _, h, w = x.shape
    sy, sx = int(h * config.translation + 0.5), int(w * config.translation + 0.5)
    if sy == 0 and sx == 0:
        return x
    dy = torch.randint(-sy, sy + 1, (n, 1, 1), generator=generator, device=x.device)
    dx = torch.randint(-sx, sx + 1, (n, 1, 1), generator=generator, device=x.device)
    padded = torch.nn.functional.pad(x, (sx, sx, sy, sy)).permute(0, 2, 3, 1)  # (n, h + 2sy, w + 2sx, c)
    rows = torch.arange(h, device=x.device).view(1, h, 1) - dy + sy
    cols = torch.arange(w, device=x.device).view(1, 1, w) - dx + sx
    batch = torch.arange(n, device=x.device).view(n, 1, 1)
    return padded[batch, rows, cols].permute(0, 3, 1, 2)


@AUGMENTS.register("cutout", help="zero a random square of side augment.cutout x the image side")
def cutout(x: Tensor, config: AugmentConfig, generator: torch.Generator | None = None) -> Tensor:
    n, _, h, w = x.shape
    ch, cw = int(h * config.cutout + 0.5), int(w * config.cutout + 0.5)
    top = torch.randint(0, h - ch + 1, (n, 1, 1), generator=generator, device=x.device)
    left = torch.randint(0, w - cw + 1, (n, 1, 1), generator=generator, device=x.device)
    rows = torch.arange(h, device=x.device).view(1, h, 1)
    cols = torch.arange(w, device=x.device).view(1, 1, w)
    inside = (rows >= top) & (rows < top + ch) & (cols >= left) & (cols < left + cw)
    return x * (~inside).unsqueeze(1).to(x.dtype)


def diff_augment(x: Tensor, policy: Sequence[str], config: AugmentConfig | None = None,
                 generator: torch.Generator | None = None) -> Tensor:
    """Apply the named augmentations in order (the paper's order is color, translation, cutout)."""
    if x.dim() != 4:
        raise GanforgeError(f"DiffAugment needs image batches (N, C, H, W), got shape {tuple(x.shape)}; "
                            f"clear augment.policy for non-image data")
    config = config or AugmentConfig()
    for name in policy:
        x = AUGMENTS.get(name)(x, config, generator)
    return x


# ---------------------------------------------------------------------------------------------- ADA
@dataclass(frozen=True)
class AdaOp:
    """One ADA op: `draw(n, p, generator, like)` gives each sample's transform, the identity where the sample's
    U[0, 1) draw is >= p. Blit ops return the transformed batch itself (exact pixel moves); geometric ops return
    (n, 3, 3) maps from output to input pixel coordinates (centred); colour ops (n, 4, 4) affine maps of RGB."""

    kind: str  # blit, geometric or color
    draw: Callable[..., Tensor]
    rgb: bool = False  # needs 3 channels: skipped on 1-channel images


ADA_OPS: Registry[AdaOp] = Registry("ADA op")
ADA_GROUPS: dict[str, tuple[str, ...]] = {  # the paper's groups; rotate twice, around the anisotropic scale
    "blit": ("xflip", "rotate90", "xint"),
    "geometric": ("scale", "rotate", "aniso", "rotate", "xfrac"),
    "color": ("brightness", "contrast", "lumaflip", "hue", "saturation"),
}


def _chosen(n: int, p: float, generator: torch.Generator | None, like: Tensor) -> Tensor:
    """Which of n samples an op applies to: each with probability p."""
    return torch.rand(n, generator=generator, device=like.device) < p


def _normal(n: int, generator: torch.Generator | None, like: Tensor) -> Tensor:
    return torch.randn(n, generator=generator, device=like.device, dtype=like.dtype)


def _eye(n: int, size: int, like: Tensor) -> Tensor:
    return torch.eye(size, device=like.device, dtype=like.dtype).expand(n, size, size).clone()


def _reflect(index: Tensor, size: int) -> Tensor:
    """Indices outside [0, size) mirrored back in (the edge pixel repeated, as symmetric padding does)."""
    index = index.remainder(2 * size)
    return torch.where(index >= size, 2 * size - 1 - index, index)


def _xflip(x: Tensor, p: float, generator: torch.Generator | None) -> Tensor:
    n = x.shape[0]
    flip = _chosen(n, p, generator, x) & (torch.rand(n, generator=generator, device=x.device) < 0.5)
    return torch.where(flip.view(n, 1, 1, 1), x.flip(3), x)


def _rotate90(x: Tensor, p: float, generator: torch.Generator | None) -> Tensor:
    n = x.shape[0]
    if x.shape[2] != x.shape[3]:
        raise GanforgeError(f"ADA's rotate90 needs square images, got {x.shape[2]}x{x.shape[3]}; drop rotate90 "
                            f"(or blit) from augment.ada_ops")
    turns = torch.randint(0, 4, (n,), generator=generator, device=x.device) * _chosen(n, p, generator, x)
    rotated = torch.stack([torch.rot90(x, k, dims=(2, 3)) for k in range(4)])
    return rotated[turns, torch.arange(n, device=x.device)]


def _xint(x: Tensor, p: float, generator: torch.Generator | None) -> Tensor:
    n, _, h, w = x.shape
    chosen = _chosen(n, p, generator, x)
    shift = (torch.rand(n, 2, generator=generator, device=x.device) * 0.25 - 0.125) * x.new_tensor([h, w])
    shift = shift.round().long() * chosen.view(n, 1)
    rows = _reflect(torch.arange(h, device=x.device).view(1, h, 1) - shift[:, 0].view(n, 1, 1), h)
    cols = _reflect(torch.arange(w, device=x.device).view(1, 1, w) - shift[:, 1].view(n, 1, 1), w)
    batch = torch.arange(n, device=x.device).view(n, 1, 1)
    return x.permute(0, 2, 3, 1)[batch, rows, cols].permute(0, 3, 1, 2)


def _scaling(sx: Tensor, sy: Tensor, like: Tensor) -> Tensor:
    m = _eye(sx.shape[0], 3, like)
    m[:, 0, 0], m[:, 1, 1] = sx, sy
    return m


def _scale(n: int, p: float, generator: torch.Generator | None, like: Tensor) -> Tensor:
    s = torch.exp2(0.2 * _normal(n, generator, like))
    s = torch.where(_chosen(n, p, generator, like), s, torch.ones_like(s))
    return _scaling(s, s, like)


def _rotate(n: int, p: float, generator: torch.Generator | None, like: Tensor) -> Tensor:
    """A rotation with probability 1 - sqrt(1 - p): twice in the group, so a sample is rotated with probability p."""
    angle = (torch.rand(n, generator=generator, device=like.device, dtype=like.dtype) * 2 - 1) * math.pi
    angle = angle * _chosen(n, 1 - math.sqrt(1 - p), generator, like)
    m = _eye(n, 3, like)
    cos, sin = angle.cos(), angle.sin()
    m[:, 0, 0], m[:, 0, 1], m[:, 1, 0], m[:, 1, 1] = cos, -sin, sin, cos
    return m


def _aniso(n: int, p: float, generator: torch.Generator | None, like: Tensor) -> Tensor:
    s = torch.exp2(0.2 * _normal(n, generator, like))
    s = torch.where(_chosen(n, p, generator, like), s, torch.ones_like(s))
    return _scaling(s, 1 / s, like)


def _xfrac(n: int, p: float, generator: torch.Generator | None, like: Tensor) -> Tensor:
    h, w = like.shape[2], like.shape[3]
    shift = 0.125 * torch.randn(n, 2, generator=generator, device=like.device, dtype=like.dtype)
    shift = shift * like.new_tensor([w, h]) * _chosen(n, p, generator, like).view(n, 1)
    m = _eye(n, 3, like)
    m[:, 0, 2], m[:, 1, 2] = shift[:, 0], shift[:, 1]
    return m


_LUMA = torch.tensor([1.0, 1.0, 1.0, 0.0]) / math.sqrt(3)


def _luma_axis(like: Tensor) -> Tensor:
    return _LUMA.to(device=like.device, dtype=like.dtype)


def _brightness(n: int, p: float, generator: torch.Generator | None, like: Tensor) -> Tensor:
    b = 0.2 * _normal(n, generator, like) * _chosen(n, p, generator, like)
    m = _eye(n, 4, like)
    m[:, :3, 3] = b.view(n, 1)
    return m


def _contrast(n: int, p: float, generator: torch.Generator | None, like: Tensor) -> Tensor:
    c = torch.exp2(0.5 * _normal(n, generator, like))
    c = torch.where(_chosen(n, p, generator, like), c, torch.ones_like(c))
    m = _eye(n, 4, like)
    for i in range(3):
        m[:, i, i] = c
    return m


def _lumaflip(n: int, p: float, generator: torch.Generator | None, like: Tensor) -> Tensor:
    flip = (torch.rand(n, generator=generator, device=like.device) < 0.5) & _chosen(n, p, generator, like)
    v = _luma_axis(like)
    return _eye(n, 4, like) - 2 * torch.outer(v, v) * flip.to(like.dtype).view(n, 1, 1)


def _hue(n: int, p: float, generator: torch.Generator | None, like: Tensor) -> Tensor:
    """Rotation of RGB about the luma axis (Rodrigues' formula)."""
    angle = (torch.rand(n, generator=generator, device=like.device, dtype=like.dtype) * 2 - 1) * math.pi
    angle = (angle * _chosen(n, p, generator, like)).view(n, 1, 1)
    v = _luma_axis(like)[:3]
    cross = torch.tensor([[0.0, -1.0, 1.0], [1.0, 0.0, -1.0], [-1.0, 1.0, 0.0]], device=like.device,
                         dtype=like.dtype) / math.sqrt(3)  # the cross-product matrix of v
    outer = torch.outer(v, v)
    eye3 = torch.eye(3, device=like.device, dtype=like.dtype)
    m = _eye(n, 4, like)
    m[:, :3, :3] = angle.cos() * eye3 + angle.sin() * cross + (1 - angle.cos()) * outer
    return m


def _saturation(n: int, p: float, generator: torch.Generator | None, like: Tensor) -> Tensor:
    s = torch.exp2(_normal(n, generator, like))
    s = torch.where(_chosen(n, p, generator, like), s, torch.ones_like(s)).view(n, 1, 1)
    v = _luma_axis(like)
    outer = torch.outer(v, v)
    return outer + (torch.eye(4, device=like.device, dtype=like.dtype) - outer) * s


for _name, _op, _help in (
        ("xflip", AdaOp("blit", _xflip), "horizontal flip (half of the chosen samples)"),
        ("rotate90", AdaOp("blit", _rotate90), "rotation by 0, 90, 180 or 270 degrees (square images)"),
        ("xint", AdaOp("blit", _xint), "integer translation by up to 1/8 of the side, reflected at the borders"),
        ("scale", AdaOp("geometric", _scale), "isotropic scale by 2^N(0, 0.2^2)"),
        ("rotate", AdaOp("geometric", _rotate), "rotation by U(-180, 180) degrees, probability 1 - sqrt(1 - p)"),
        ("aniso", AdaOp("geometric", _aniso), "anisotropic scale: x by 2^N(0, 0.2^2), y by its inverse"),
        ("xfrac", AdaOp("geometric", _xfrac), "fractional translation by N(0, 0.125^2) of the side"),
        ("brightness", AdaOp("color", _brightness), "add N(0, 0.2^2) to every channel"),
        ("contrast", AdaOp("color", _contrast), "scale every channel by 2^N(0, 0.5^2)"),
        ("lumaflip", AdaOp("color", _lumaflip, rgb=True), "mirror the colours through the grey plane (RGB only)"),
        ("hue", AdaOp("color", _hue, rgb=True), "rotate the colours about the grey axis by U(-180, 180) degrees "
                                                 "(RGB only)"),
        ("saturation", AdaOp("color", _saturation, rgb=True), "scale the colour away from grey by 2^N(0, 1) (RGB "
                                                              "only)")):
    ADA_OPS.add(_name, _op, help=_help)


def expand_ada_ops(names: Sequence[str]) -> tuple[str, ...]:
    """augment.ada_ops as single ops, in order: group names (blit, geometric, color) stand for their ops."""
    ops: list[str] = []
    for name in names:
        if name in ADA_GROUPS:
            ops += ADA_GROUPS[name]
        elif name in ADA_OPS:
            ops.append(name)
        else:
            raise GanforgeError(f"augment.ada_ops: unknown ADA op '{name}'; choose from the groups "
                                f"{', '.join(ADA_GROUPS)} or the ops {', '.join(ADA_OPS.names())}")
    return tuple(ops)


def _resample(x: Tensor, matrices: Tensor) -> Tensor:
    """x through per-sample maps of output to input pixel coordinates (centred): bilinear, reflection padding."""
    n, _, h, w = x.shape
    to_unit = torch.diag(x.new_tensor([2 / w, 2 / h, 1.0]))
    from_unit = torch.diag(x.new_tensor([w / 2, h / 2, 1.0]))
    theta = (to_unit @ matrices @ from_unit)[:, :2]
    grid = F.affine_grid(theta, [n, x.shape[1], h, w], align_corners=False)
    moved = F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
    identity = (matrices == torch.eye(3, device=x.device, dtype=x.dtype)).flatten(1).all(dim=1)
    return torch.where(identity.view(n, 1, 1, 1), x, moved)


def _recolour(x: Tensor, matrices: Tensor) -> Tensor:
    """x through per-sample affine maps of RGB (4x4); a 1-channel image only gets their grey part."""
    n = x.shape[0]
    if x.shape[1] == 3:
        return torch.einsum("nij,njhw->nihw", matrices[:, :3, :3], x) + matrices[:, :3, 3].view(n, 3, 1, 1)
    return x * matrices[:, 0, 0].view(n, 1, 1, 1) + matrices[:, 0, 3].view(n, 1, 1, 1)


def ada_augment(x: Tensor, p: float, ops: Sequence[str], generator: torch.Generator | None = None) -> Tensor:
    """The ADA pipeline at probability p: `ops` (single op names) in order, consecutive geometric ops composed into
    one resampling and consecutive colour ops into one channel map. p = 0 returns x itself."""
    if x.dim() != 4:
        raise GanforgeError(f"ADA needs image batches (N, C, H, W), got shape {tuple(x.shape)}; set "
                            f"augment.ada=false for non-image data")
    if p <= 0:
        return x
    n = x.shape[0]
    pending: tuple[str, Tensor] | None = None  # the kind and the composed transform not yet applied
    for name in ops:
        op = ADA_OPS.get(name)
        if op.rgb and x.shape[1] != 3:
            continue
        if pending is not None and pending[0] != op.kind:
            x, pending = _apply(x, pending), None
        if op.kind == "blit":
            x = op.draw(x, p, generator)
            continue
        m = op.draw(n, p, generator, x)
        if pending is None:
            pending = (op.kind, m)
        else:  # geometric: output -> input maps compose on the right; colour maps compose on the left
            pending = (op.kind, pending[1] @ m if op.kind == "geometric" else m @ pending[1])
    return x if pending is None else _apply(x, pending)


def _apply(x: Tensor, pending: tuple[str, Tensor]) -> Tensor:
    kind, m = pending
    return _resample(x, m) if kind == "geometric" else _recolour(x, m)


class AdaptiveAugment:
    """ADA's p and its controller: the algorithm state a checkpoint carries (p, the interval's sums, the RNG)."""

    def __init__(self, config: AugmentConfig, device: torch.device, seed: int) -> None:
        self.ops = expand_ada_ops(config.ada_ops)
        self.target, self.interval, self.kimg = config.ada_target, config.ada_interval, config.ada_kimg
        self.p = float(config.ada_p)
        self.generator = torch.Generator(device=device).manual_seed(seed)
        self.signs = torch.zeros((), device=device, dtype=torch.float64)  # sum of sign(realness) this interval
        self.seen = 0  # reals observed this interval
        self.observed = 0  # D steps observed this interval
        self.rt: float | None = None  # the last interval's r_t

    def __call__(self, x: Tensor) -> Tensor:
        return ada_augment(x, self.p, self.ops, self.generator)

    def observe(self, realness: Tensor) -> None:
        """One D step's evidence: `realness` > 0 where D calls a real image real (see GANLoss.realness)."""
        realness = realness.detach().flatten()
        self.signs += realness.sign().sum().to(torch.float64)
        self.seen += realness.numel()
        self.observed += 1
        if self.observed >= self.interval:
            self.adjust()

    def adjust(self) -> None:
        """p += sign(r_t - target) x (images this interval) / (ada_kimg x 1000), clamped to [0, 1]; under DDP
        over every rank's images, so all ranks keep the same p."""
        totals = torch.stack([self.signs, self.signs.new_tensor(float(self.seen))])
        if _distributed():
            torch.distributed.all_reduce(totals)
        signs, seen = totals.tolist()
        self.rt = signs / seen
        step = math.copysign(seen / (self.kimg * 1000), self.rt - self.target) if self.rt != self.target else 0.0
        self.p = min(max(self.p + step, 0.0), 1.0)
        self.signs.zero_()
        self.seen = self.observed = 0

    def stats(self) -> dict[str, Tensor]:
        """What the training log records: p, and r_t once an interval has ended."""
        out = {"ada_p": torch.tensor(self.p)}
        if self.rt is not None:
            out["ada_rt"] = torch.tensor(self.rt)
        return out

    def state_dict(self) -> dict[str, Any]:
        """Under DDP every rank calls this (as it gives its RNG to a checkpoint): the generators of all ranks are
        kept, as each rank augments its own slice of the batch."""
        rng = [self.generator.get_state()]
        if _distributed():
            rng = [None] * torch.distributed.get_world_size()
            torch.distributed.all_gather_object(rng, self.generator.get_state())
        return {"p": torch.tensor(self.p, dtype=torch.float64), "signs": self.signs.detach().cpu().clone(),
                "seen": self.seen, "observed": self.observed,
                "rt": torch.tensor(float("nan") if self.rt is None else self.rt, dtype=torch.float64), "rng": rng}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore p, the interval's sums and this rank's generator (rank 0's if the world size changed)."""
        self.p = float(state["p"])
        self.signs = state["signs"].to(self.signs.device, torch.float64)
        self.seen, self.observed = int(state["seen"]), int(state["observed"])
        rt = float(state["rt"])
        self.rt = None if math.isnan(rt) else rt
        rank, world = ((torch.distributed.get_rank(), torch.distributed.get_world_size()) if _distributed()
                       else (0, 1))
        rng = state["rng"]
        self.generator.set_state((rng[rank] if len(rng) == world else rng[0]).cpu())


def _distributed() -> bool:
    return torch.distributed.is_available() and torch.distributed.is_initialized()


def check_config(config: Config) -> None:
    """augment.policy: every name must be a registered augmentation; augment.ada_ops: ADA's ops and groups."""
    for name in config.augment.policy:
        if name not in AUGMENTS:
            raise GanforgeError(f"augment.policy: {AUGMENTS.unknown_message(name)}")
    expand_ada_ops(config.augment.ada_ops)
    if config.augment.ada and not config.augment.ada_ops:
        raise GanforgeError("augment.ada=true with an empty augment.ada_ops has nothing to apply; list ops (the "
                            "paper's: [blit, geometric, color]) or set augment.ada=false")
