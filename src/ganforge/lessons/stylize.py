"""Lesson `stylize`: neural style transfer (Gatys et al. 2016) on the two pictures ganforge ships, a drawn landscape
and a brush-stroke texture, with the library's own losses and optimisation (`ganforge.style_transfer`).

It writes `stylize.png` (content | style | result) and `losses.png` (the three weighted losses over the steps) and
returns the summary with the losses measured at the first and the last step. With torchvision's ImageNet VGG19 in
the torch hub cache it uses that; without it, a seeded random-weight VGG19, and the summary says so: the losses
fall all the same (the optimisation works), but only the trained network's features make the result look painted.
"""

from __future__ import annotations

import time
from pathlib import Path

from ..style_transfer import (CONTENT_LAYER, EXAMPLES_DIR, STYLE_LAYERS, VGG19_FILE, VGG19_URL, Settings,
                              VGGFeatures, hub_weights_path, load_weights, plot_losses, prepare_pictures,
                              random_vgg19_state, save_side_by_side, stylize)

SIZES = {True: (40, 12), False: (96, 120)}  # fast -> (longer side in pixels, steps)


def _network() -> tuple[VGGFeatures, str]:
    """The ImageNet VGG19 when the hub cache has it, else a seeded random one; and a sentence saying which."""
    layers = (CONTENT_LAYER, *STYLE_LAYERS)
    hub = hub_weights_path()
    if hub.is_file():
        return VGGFeatures(load_weights(hub), layers), f"torchvision's ImageNet VGG19 (`{hub}`)."
    return VGGFeatures(random_vgg19_state(seed=0), layers), (
        f"**a seeded random-weight VGG19, not the ImageNet one**: no `{VGG19_FILE}` was found at `{hub}`. The "
        f"losses below fall as they would with the trained network, so the optimisation is shown working, but a "
        f"random network's features do not describe painting style, so the result is not painterly (its content "
        f"responses are weak too: the landscape hardly shows). Put "
        f"`{VGG19_FILE}` ({VGG19_URL}) there, or run `ganforge stylize CONTENT STYLE --out OUT.png --download` once, "
        f"and rerun the lesson for the real thing.")


def run(out: Path, fast: bool) -> str:
    """Run the transfer on the shipped examples, write the side-by-side figure and the loss plot into `out`, and
    return the markdown summary."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    size, steps = SIZES[fast]
    notes: list[str] = []
    content, style = prepare_pictures(EXAMPLES_DIR / "content.png", EXAMPLES_DIR / "style.png", size, notes.append)
    features, network = _network()
    settings = Settings(steps=steps)
    started = time.perf_counter()
    result = stylize(features, content, style, settings)
    seconds = time.perf_counter() - started
    save_side_by_side([content, style, result.image], out / "stylize.png")
    plot_losses(result.history, out / "losses.png", settings)
    weights = {"content": settings.content_weight, "style": settings.style_weight, "tv": settings.tv_weight}
    rows = "\n".join(f"| {name} | {weight:g} | {getattr(result.start, name):.4g} | {getattr(result.end, name):.4g} |"
                     for name, weight in weights.items())
    height, width = content.shape[-2:]
    return (f"# Lesson: neural style transfer\n\n"
            f"The image is optimised, pixel by pixel, so that VGG19 sees the landscape's content at {CONTENT_LAYER} "
            f"(mean squared difference of the responses) and the brush strokes' style at {', '.join(STYLE_LAYERS)} "
            f"(mean squared difference of Gram matrices, the channel correlations that keep which features occur "
            f"together and forget where), plus a total-variation term (mean difference between neighbouring "
            f"pixels) against noise. Start: white noise; optimiser: L-BFGS, one loss evaluation per step; VGG19 "
            f"with average pooling.\n\n"
            f"Network: {network}\n\n"
            f"{width}x{height} pixels, {steps} steps in {seconds:.1f} s"
            + (f" ({'; '.join(notes)})" if notes else "") + ".\n\n"
            f"| loss | weight | at step 0 | after {steps} steps |\n|---|---|---|---|\n{rows}\n"
            f"| total (weighted) | | {result.start.total:.4g} | {result.end.total:.4g} |\n\n"
            f"![content, style, result](stylize.png)\n\n![losses](losses.png)\n")
