"""The projector (`ganforge project`): the w (or w+, one w per layer) whose image is closest to a real image.

As StyleGAN2's projector in spirit: Adam on w from the mean w (`w_avg`), with its learning-rate schedule (a ramp up
over the first 5 % of the steps and a cosine ramp down over the last 25 %, from lr 0.1), the generator's noise fixed
(eval mode: its constant noise buffers, neither optimised nor redrawn), and a distance of a perceptual term (the
configured extractor's features, normalised to unit length, squared L2, as PPL measures it) plus `mse_weight` times
the pixel mean squared error in [-1, 1]. `w` optimises one w shared by every layer (an image the generator can
draw), `w+` one per layer (closer fits, less faithful to the generator's own space).

The latent is written as safetensors (tensor `w`: (w_dim,) for w, (num_ws, w_dim) for w+, with the space and the
distances as metadata); `latent_ws` turns it back into the generator's (1, num_ws, w_dim), so the projected image is
`generator.synthesis(latent_ws(...))`.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .data.folder import read_image_file
from .data.images import normalize, to_uint8
from .errors import GanforgeError
from .metrics.extractors import Extractor
from .metrics.ppl import perceptual_distance
from .registry import Registry
from .sampling import make_grid_image, save_image
from .style import style_generator
from .utils import atomic_write_bytes, atomic_write_json, ensure_writable_dir

Tensor = torch.Tensor
LATENT_FORMAT = "ganforge-projection"
LATENT_FILE, IMAGE_FILE, FRAMES_DIR, SUMMARY_FILE = "latent.safetensors", "projected.png", "frames", "projection.json"
LR, RAMP_UP, RAMP_DOWN = 0.1, 0.05, 0.25  # stylegan2's initial_learning_rate, lr_rampup_length, lr_rampdown_length

# space name -> (w_avg, num_ws) -> the starting latent; its shape says how it spreads over the layers
SPACES: Registry[Any] = Registry("projection space")
SPACES.add("w", lambda w_avg, num_ws: w_avg.clone(), help="one w for every layer (the generator's own space)")
SPACES.add("w+", lambda w_avg, num_ws: w_avg.expand(num_ws, -1).clone(), help="one w per layer (closer fits)")


@dataclass
class Projection:
    """The found latent, its image and the distances along the way (`history[0]` at the mean w)."""

    space: str
    latent: Tensor  # (w_dim,) or (num_ws, w_dim)
    image: Tensor  # uint8 (C, H, W)
    history: list[dict[str, float]] = field(default_factory=list)
    frames: list[Tensor] = field(default_factory=list)  # uint8 (C, H, W), every `every` steps and the last

    @property
    def before(self) -> dict[str, float]:
        return self.history[0]

    @property
    def after(self) -> dict[str, float]:
        return self.history[-1]


def latent_ws(latent: Tensor, num_ws: int) -> Tensor:
    """A w (w_dim,) or w+ (num_ws, w_dim) latent as the generator's ws (1, num_ws, w_dim)."""
    if latent.ndim == 1:
        return latent.view(1, 1, -1).expand(1, num_ws, -1)
    if latent.ndim == 2 and latent.shape[0] == num_ws:
        return latent.unsqueeze(0)
    raise GanforgeError(f"a latent of shape {tuple(latent.shape)} fits neither w (w_dim,) nor w+ ({num_ws}, w_dim) "
                        f"of this model; project with this model again")


def learning_rate(step: int, steps: int) -> float:
    """StyleGAN2's projector schedule: a linear ramp up, a cosine ramp down, LR at the peak (0 at step 0)."""
    t = step / steps
    ramp = 0.5 - 0.5 * math.cos(min(1.0, (1.0 - t) / RAMP_DOWN) * math.pi)
    return LR * ramp * min(1.0, t / RAMP_UP)


def read_target(path: str | Path, channels: int, resolution: int, resize: bool = False) -> Tensor:
    """The image to project as (1, C, H, W) in [-1, 1]: of the model's channels, and of its size or resized."""
    native = read_image_file(path, None)
    names = {1: "gray (1 channel)", 3: "colour (3 channels)"}
    if native.shape[0] != channels:
        mode = "L" if channels == 1 else "RGB"
        raise GanforgeError(f"'{path}' is {names[native.shape[0]]} but this model makes {names[channels]} images; "
                            f"convert it first (PIL: Image.open(path).convert('{mode}').save(...))")
    if tuple(native.shape[1:]) != (resolution, resolution):
        if not resize:
            raise GanforgeError(f"'{path}' is {native.shape[2]}x{native.shape[1]} pixels but this model makes "
                                f"{resolution}x{resolution} images; pass --resize (shorter side, centre crop) or "
                                f"resize it first")
        native = read_image_file(path, channels, resolution)
    return normalize(native[None])


def _distances(generator: nn.Module, extractor: Extractor, ws: Tensor, target: Tensor, target_features: Tensor,
               mse_weight: float) -> tuple[Tensor, Tensor, dict[str, float]]:
    image = generator.synthesis(ws)
    features = nn.functional.normalize(extractor.differentiable_features(image).flatten(1), dim=1)
    perceptual = (features - target_features).square().sum()
    mse = (image - target).square().mean()
    loss = perceptual + mse_weight * mse
    values = {"perceptual": float(perceptual.detach()), "mse": float(mse.detach()), "loss": float(loss.detach())}
    return loss, image, values


def project(generator: nn.Module, target: Tensor, extractor: Extractor, steps: int = 300, space: str = "w",
            mse_weight: float = 1.0, every: int = 10) -> Projection:
    """Optimise a w (or w+) so that the generator's image approaches `target` (1, C, H, W) in [-1, 1]."""
    style_generator(generator, "the projector")
    start = SPACES.get(space)
    if steps < 1:
        raise GanforgeError(f"--steps must be >= 1, got {steps}")
    if every < 1:
        raise GanforgeError(f"--every must be >= 1, got {every}")
    generator.eval().requires_grad_(False)
    device = next(generator.parameters()).device
    target = target.to(device)
    latent = start(generator.w_avg.detach().to(device), generator.num_ws).requires_grad_(True)
    with torch.no_grad():
        shape = tuple(generator.synthesis(latent_ws(latent, generator.num_ws)).shape)
        if tuple(target.shape) != shape:
            raise GanforgeError(f"the target has shape {tuple(target.shape)} but this model makes images of {shape}; "
                                f"pass one image of that size and channels")
        target_features = nn.functional.normalize(extractor.differentiable_features(target).flatten(1), dim=1)
    optimizer = torch.optim.Adam([latent], lr=LR, betas=(0.9, 0.999))
    result = Projection(space, latent.detach(), torch.empty(0))
    for step in range(steps + 1):
        loss, image, values = _distances(generator, extractor, latent_ws(latent, generator.num_ws), target,
                                         target_features, mse_weight)
        result.history.append({"step": step, **values})
        if step % every == 0 or step == steps:
            result.frames.append(to_uint8(image.clamp(-1.0, 1.0))[0].cpu())
        if step == steps:
            break
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(step, steps)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    result.latent = latent.detach().cpu()
    result.image = result.frames[-1]
    return result


def write_projection(result: Projection, out: str | Path, description: dict[str, Any]) -> Path:
    """projected.png, latent.safetensors (`w` with the space and distances as metadata), frames/000.png, ... and
    projection.json (every step's distances) in `out`."""
    from safetensors.torch import save

    folder = ensure_writable_dir(out)
    save_image(make_grid_image(result.image[None], nrow=1, padding=0), folder / IMAGE_FILE)
    summary = {"format": LATENT_FORMAT, **description, "space": result.space, "shape": list(result.latent.shape),
               "before": result.before, "after": result.after}
    metadata = {key: json.dumps(value) for key, value in summary.items()}
    atomic_write_bytes(folder / LATENT_FILE, save({"w": result.latent.contiguous()}, metadata=metadata))
    frames = ensure_writable_dir(folder / FRAMES_DIR)
    digits = max(3, len(str(len(result.frames) - 1)))
    for i, frame in enumerate(result.frames):
        save_image(make_grid_image(frame[None], nrow=1, padding=0), frames / f"{i:0{digits}d}.png")
    atomic_write_json(folder / SUMMARY_FILE, {**summary, "history": result.history})
    return folder


def load_latent(path: str | Path) -> tuple[Tensor, dict[str, Any]]:
    """A projector's latent.safetensors: the latent `w` and its description (space, model, distances)."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
            latent = handle.get_tensor("w")
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise GanforgeError(f"cannot read the latent '{path}' ({str(exc)[:80]}); project the image again") from None
    if metadata.get("format") != json.dumps(LATENT_FORMAT):
        raise GanforgeError(f"'{path}' is not a latent written by `ganforge project`; project the image again")
    return latent, {key: json.loads(value) for key, value in metadata.items()}
