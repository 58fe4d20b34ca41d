"""Draw the two example pictures `ganforge lesson stylize` ships (run once; the PNGs are committed):

- `content.png`: a procedural landscape (sky, sun, two mountain ridges, a lake, a house) with large flat shapes
  and clear edges, the structure that a content loss at conv4_2 keeps;
- `style.png`: swirling brush strokes in a small night-sky palette, laid along a vortex field, the texture that
  Gram matrices capture.

    python scripts/make_style_examples.py [OUT_DIR]   # default: src/ganforge/style_transfer_examples
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

WIDTH, HEIGHT = 192, 128


def landscape() -> Image.Image:
    y = np.linspace(0, 1, HEIGHT)[:, None, None]
    sky = (1 - y) * np.array([70, 130, 210]) + y * np.array([200, 225, 245])
    pixels = np.broadcast_to(sky, (HEIGHT, WIDTH, 3)).copy()
    x = np.arange(WIDTH)
    rows = np.arange(HEIGHT)[:, None]
    ridges = ((0.42, 14, (95, 110, 150), 0.05, 0.11), (0.58, 10, (60, 120, 70), 0.08, 0.19))
    for base, height, colour, f1, f2 in ridges:
        top = HEIGHT * base - height * (np.sin(x * f1) + 0.6 * np.sin(x * f2 + 1.3))
        pixels[rows >= top[None, :]] = colour
    lake = rows >= HEIGHT * 0.78
    pixels[np.broadcast_to(lake, (HEIGHT, WIDTH))] = (40, 90, 160)
    image = Image.fromarray(pixels.astype(np.uint8))
    draw = ImageDraw.Draw(image)
    draw.ellipse((140, 12, 166, 38), fill=(250, 215, 90))
    draw.rectangle((40, 66, 66, 88), fill=(190, 70, 50))
    draw.polygon([(36, 67), (53, 52), (70, 67)], fill=(110, 40, 30))
    draw.rectangle((50, 76, 57, 88), fill=(60, 35, 25))
    for i in range(6):
        draw.line((20 + 28 * i, 108 + (i % 2) * 6, 34 + 28 * i, 108 + (i % 2) * 6), fill=(200, 220, 240), width=1)
    return image


def brush_strokes(seed: int = 0, size: int = 128) -> Image.Image:
    rng = np.random.default_rng(seed)
    palette = [(20, 40, 110), (35, 80, 170), (70, 130, 200), (240, 210, 80), (250, 245, 220), (15, 25, 60)]
    image = Image.new("RGB", (size, size), palette[0])
    draw = ImageDraw.Draw(image)
    centres = [(0.3 * size, 0.35 * size), (0.72 * size, 0.62 * size)]
    for _ in range(900):
        x, y = rng.uniform(0, size, 2)
        cx, cy = min(centres, key=lambda c: (c[0] - x) ** 2 + (c[1] - y) ** 2)
        angle = math.atan2(y - cy, x - cx) + math.pi / 2 + rng.normal(0, 0.25)  # around the nearer vortex
        length = rng.uniform(4, 11)
        end = (x + length * math.cos(angle), y + length * math.sin(angle))
        colour = palette[rng.choice(len(palette), p=[0.2, 0.3, 0.25, 0.1, 0.05, 0.1])]
        draw.line((x, y, *end), fill=colour, width=int(rng.integers(2, 5)))
    return image


def main() -> None:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parents[1] / "src/ganforge/style_transfer_examples"
    out.mkdir(parents=True, exist_ok=True)
    landscape().save(out / "content.png", optimize=True)
    brush_strokes().save(out / "style.png", optimize=True)
    print(f"wrote {out / 'content.png'} and {out / 'style.png'}")


if __name__ == "__main__":
    main()
