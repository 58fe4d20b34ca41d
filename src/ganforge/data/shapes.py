"""`shapes-seg`: generated semantic label maps of a few shape classes and the textured images they lay out.

The offline task of the semantic-synthesis families (Pix2PixHD, SPADE), Cityscapes or ADE20K in miniature: each
32x32 scene has a dark background and one to three shapes (disc, square, triangle, drawn in order, later ones on
top). Its label map holds the class of every pixel; its image paints every class with a texture of its own whose
phase, shade and noise are drawn per scene, so a label map has many right images and an L1-only generator can only
paint their blurred mean. Scenes are drawn from fixed seeds: the set is the same on every machine.
"""

from __future__ import annotations

import math
from functools import cache

import torch

Tensor = torch.Tensor
SHAPE_CLASSES = ("background", "disc", "square", "triangle")
SHAPES_SIZE = 32
SHAPES_TRAIN, SHAPES_TEST = 4500, 500
MAX_SHAPES = 3
# A colour per class for showing label maps (previews, `translate` inputs); index 0 is the background.
LABEL_PALETTE = torch.tensor([[0, 0, 0], [230, 25, 75], [60, 180, 75], [255, 225, 25], [0, 130, 200],
                              [245, 130, 48], [145, 30, 180], [70, 240, 240], [240, 50, 230], [210, 245, 60],
                              [250, 190, 212], [0, 128, 128], [220, 190, 255], [170, 110, 40], [255, 250, 200],
                              [128, 0, 0]], dtype=torch.uint8)


def label_colours(count: int) -> Tensor:
    """`count` distinct RGB colours, the fixed palette first, then evenly spaced hues."""
    if count <= LABEL_PALETTE.shape[0]:
        return LABEL_PALETTE[:count]
    hues = torch.arange(count - LABEL_PALETTE.shape[0]) / (count - LABEL_PALETTE.shape[0])
    extra = torch.stack([(torch.cos(2 * math.pi * (hues + shift)) * 0.5 + 0.5) * 255
                         for shift in (0.0, 1 / 3, 2 / 3)], 1)
    return torch.cat([LABEL_PALETTE, extra.round().to(torch.uint8)])


def colour_label_maps(label_maps: Tensor, count: int) -> Tensor:
    """Label maps (N, 1, H, W) of class indices as uint8 RGB images, one palette colour per class."""
    return label_colours(count).to(label_maps.device)[label_maps[:, 0].long()].permute(0, 3, 1, 2).contiguous()


def _shape_masks(n: int, size: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """(classes (N, MAX_SHAPES), masks (N, MAX_SHAPES, size, size)) of random shapes; class 0 = slot unused."""
    count = torch.randint(1, MAX_SHAPES + 1, (n, 1), generator=generator)
    classes = torch.randint(1, len(SHAPE_CLASSES), (n, MAX_SHAPES), generator=generator)
    classes = torch.where(torch.arange(MAX_SHAPES) < count, classes, 0)
    centre = torch.rand(n, MAX_SHAPES, 2, generator=generator) * (size - 12) + 6
    radius = torch.rand(n, MAX_SHAPES, generator=generator) * (size * 0.18) + size * 0.13
    coords = torch.arange(size, dtype=torch.float32) + 0.5
    dy = coords.view(1, 1, size, 1) - centre[..., 0, None, None]
    dx = coords.view(1, 1, 1, size) - centre[..., 1, None, None]
    r = radius[..., None, None]
    disc = dx ** 2 + dy ** 2 <= r ** 2
    square = (dx.abs() <= r * 0.85) & (dy.abs() <= r * 0.85)
    triangle = (dy <= r * 0.8) & (dy >= -r) & (dx.abs() <= (dy + r) * 0.6)  # apex up
    shapes = torch.stack([torch.zeros_like(disc), disc, square, triangle])  # (classes, N, slots, H, W)
    masks = shapes.gather(0, classes[None, ..., None, None].expand(1, -1, -1, size, size))[0]
    return classes, masks


def _textures(n: int, size: int, generator: torch.Generator) -> Tensor:
    """(classes, N, 3, size, size) float images in [0, 255]: each class's texture, drawn per scene."""
    coords = torch.arange(size, dtype=torch.float32)
    y, x = coords.view(1, size, 1), coords.view(1, 1, size)

    def rand(*shape: int) -> Tensor:
        return torch.rand(n, *shape, generator=generator)

    def colour(rgb: tuple[float, float, float], shade: Tensor) -> Tensor:
        return torch.tensor(rgb).view(1, 3, 1, 1) * shade.view(n, 1, 1, 1)

    # background: dark blue-grey, a vertical gradient of random strength and direction
    ramp = (y / (size - 1) - 0.5) * (rand(1, 1) * 2 - 1) * 0.8 + 1
    background = colour((45.0, 55.0, 80.0), 0.8 + 0.4 * rand(1)) * ramp[:, None]
    # disc: red-orange horizontal stripes, period 5 px, random phase
    stripes = torch.sin(2 * math.pi * (y / 5 + rand(1, 1))) * 0.5 + 0.5
    disc = colour((235.0, 90.0, 40.0), 0.75 + 0.25 * rand(1)) * (0.55 + 0.45 * stripes[:, None])
    # square: a green checkerboard of 3 px cells at a random offset
    offset = (rand(2) * 6).floor()
    cells = (((y + offset[:, 0, None, None]) // 3 + (x + offset[:, 1, None, None]) // 3) % 2)
    square = colour((60.0, 200.0, 80.0), 0.8 + 0.2 * rand(1)) * (0.5 + 0.5 * cells[:, None])
    # triangle: pale yellow with speckle noise
    speckle = torch.rand(n, 1, size, size, generator=generator)
    triangle = colour((240.0, 220.0, 90.0), 0.7 + 0.3 * rand(1)) * (0.8 + 0.2 * speckle)
    return torch.stack([t.expand(n, 3, size, size) for t in (background, disc, square, triangle)])


def draw_scenes(n: int, seed: int, size: int = SHAPES_SIZE) -> tuple[Tensor, Tensor]:
    """n scenes: (label maps (N, 1, size, size) int64, images (N, 3, size, size) uint8)."""
    generator = torch.Generator().manual_seed(seed)
    classes, masks = _shape_masks(n, size, generator)
    label_map = torch.zeros(n, size, size, dtype=torch.int64)
    for slot in range(MAX_SHAPES):
        label_map = torch.where(masks[:, slot], classes[:, slot, None, None], label_map)
    textures = _textures(n, size, generator)  # (classes, N, 3, H, W)
    chosen = label_map[None, :, None].expand(1, n, 3, size, size)
    images = textures.gather(0, chosen)[0]
    return label_map[:, None], images.round().clamp(0, 255).to(torch.uint8)


@cache
def shapes_splits(size: int = SHAPES_SIZE) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
    """The train (4,500 scenes, seed 0) and test (500, seed 1) splits as {"A": label maps, "B": images}; drawn
    once per process (callers copy before changing them)."""
    train_maps, train_images = draw_scenes(SHAPES_TRAIN, seed=0, size=size)
    test_maps, test_images = draw_scenes(SHAPES_TEST, seed=1, size=size)
    return {"A": train_maps, "B": train_images}, {"A": test_maps, "B": test_images}
