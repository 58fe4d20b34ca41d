"""The latent space: linear against spherical interpolation, and vector arithmetic in z, for any exported model.

With `--model PATH` (a run or export directory) the lesson explores that generator; without it, it trains a small
`mnist-dcgan` first and says so. Interpolation walks the model's first latent input between two seeds, linearly and
on the sphere (`sampling.slerp`, what `ganforge interpolate` draws); in high dimension a Gaussian z lives near the
sphere of radius sqrt(d), and the straight line cuts inside it. On gray digits, lenet-mnist's classifier reads the
images, which makes arithmetic measurable: mean z per predicted digit, and z - mean(its digit) + mean(digit k).
"""

from __future__ import annotations

import functools
from pathlib import Path

import torch

from ..errors import GanforgeError
from ..inputs import Latent
from ..sampling import Sampler, save_grid, seeded_inputs, slerp
from .common import DOMAIN_EXTRACTOR, build_trainer, scratch, table

PAIRS = 64
STEPS = 9


def lerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    return (1 - t.view(-1, 1)) * a + t.view(-1, 1) * b


PATHS = {"linear": lerp, "spherical": slerp}


def endpoints(inputs, seeds: list[int]) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """Every input of the samples of seeds[0::2] (a) and seeds[1::2] (b), as `ganforge sample --seed` draws them."""
    drawn = [seeded_inputs(inputs, 1, seed) for seed in seeds]
    a = {name: torch.cat([d[name] for d in drawn[0::2]]) for name in drawn[0]}
    b = {name: torch.cat([d[name] for d in drawn[1::2]]) for name in drawn[0]}
    return a, b


def path_inputs(inputs, latent: str, seeds: list[int], path, t: torch.Tensor) -> dict[str, torch.Tensor]:
    """Inputs along path(a, b, t) for each pair of seeds, pair by pair (t varies fastest); every input other than
    the latent is the first seed's."""
    a, b = endpoints(inputs, seeds)
    pairs = a[latent].shape[0]
    values = {name: value.repeat_interleave(len(t), dim=0) for name, value in a.items()}
    values[latent] = torch.cat([path(a[latent][i], b[latent][i], t) for i in range(pairs)])
    return values


@functools.lru_cache(maxsize=1)
def _classifier():
    from ..metrics import ExtractorOptions, build_extractor

    return build_extractor(DOMAIN_EXTRACTOR, ExtractorOptions(device="cpu"))


def classify(images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """lenet-mnist's predicted digit and its probability for uint8 gray images."""
    probabilities = torch.from_numpy(_classifier().run(images, "fake").logits).softmax(dim=1)
    confidence, digit = probabilities.max(dim=1)
    return digit, confidence


def explore(generator, out: Path, samples: int) -> list[str]:
    """Write the figures for one generator; return the summary's lines."""
    sampler = Sampler(generator, "cpu")
    latents = [name for name, spec in sampler.inputs.items() if isinstance(spec, Latent)]
    if not latents:
        raise GanforgeError("this model has no latent input to walk in (an image-to-image model?); pass a run or "
                            "export of a model that samples from noise")
    latent = latents[0]
    dim = sampler.inputs[latent].dim
    t = torch.linspace(0, 1, STEPS)
    shown = [1, 2, 3, 4, 5, 6]
    strips = {name: sampler.decode(path_inputs(sampler.inputs, latent, shown, path, t)).view(3, STEPS, -1)
              for name, path in PATHS.items()}
    rows = torch.stack([strips["linear"], strips["spherical"]], dim=1).reshape(6 * STEPS, -1)
    channels_shape = sampler.decode(seeded_inputs(sampler.inputs, 1, 0)).shape[1:]
    save_grid(rows.view(6 * STEPS, *channels_shape), out / "interpolation.png", nrow=STEPS)
    many = list(range(1000, 1000 + 2 * PAIRS))
    mid = STEPS // 2
    norms = {}
    for name, path in PATHS.items():
        z = path_inputs(sampler.inputs, latent, many, path, t)[latent].view(PAIRS, STEPS, -1).norm(dim=2)
        norms[name] = float((2 * z[:, mid] / (z[:, 0] + z[:, -1])).mean())
    lines = [
        f"Interpolation in `{latent}` ({dim} dimensions), seeds (1, 2), (3, 4), (5, 6): interpolation.png, each pair "
        f"as two rows, linear then spherical. Over {PAIRS} pairs the latent's norm at the midpoint, relative to the "
        f"ends: linear **{norms['linear']:.3f}** (two independent Gaussian vectors are nearly "
        f"orthogonal, so the midpoint has about 1/sqrt(2) = 0.707 of their norm), spherical "
        f"**{norms['spherical']:.3f}**.",
    ]
    image_shape = tuple(channels_shape)
    if image_shape != (1, 28, 28):
        lines.append(f"The model's images are {image_shape}, not 28x28 gray digits, so the digit classifier that "
                     f"measures the arithmetic below does not apply: interpolation only.")
        return lines

    midpoints = {}
    for name, path in PATHS.items():
        values = path_inputs(sampler.inputs, latent, many, path, t[mid:mid + 1])
        midpoints[name] = float(classify(sampler.decode(values))[1].mean())
    values = seeded_inputs(sampler.inputs, samples, 7)
    digits, confidence = classify(sampler.decode(values))
    z = values[latent]
    means = {int(k): z[digits == k].mean(dim=0) for k in range(10) if int((digits == k).sum()) >= 5}
    if len(means) < 2:
        lines.append("")
        lines.append(f"Only {len(means)} digit(s) among {samples} samples: too few to do arithmetic with.")
        return lines
    mean_values = {name: value[:1].expand(len(means), *value.shape[1:]) for name, value in values.items()}
    mean_values[latent] = torch.stack(list(means.values()))
    mean_digits, mean_confidence = classify(sampler.decode(mean_values))
    kept = sum(int(d) == k for d, k in zip(mean_digits, means))
    # keep a sample's style, change its digit: z - mean(z of its digit) + mean(z of digit k)
    sources = [i for i in range(samples) if int(digits[i]) in means][:8]
    swap_rows, hits, total = [], 0, 0
    for i in sources:
        shifted = torch.stack([z[i] - means[int(digits[i])] + means[k] for k in means])
        row = {name: value[i:i + 1].expand(len(means), *value.shape[1:]) for name, value in values.items()}
        row[latent] = shifted
        images = sampler.decode(row)
        predicted, _ = classify(images)
        hits += sum(int(p) == k for p, k in zip(predicted, means))
        total += len(means)
        swap_rows.append(torch.cat([sampler.decode({n: v[i:i + 1] for n, v in values.items()}), images]))
    save_grid(torch.cat(swap_rows), out / "arithmetic.png", nrow=len(means) + 1)
    save_grid(sampler.decode(mean_values), out / "digit-means.png", nrow=len(means))
    lines += [
        "",
        f"lenet-mnist's confidence in the images at the midpoints ({PAIRS} pairs): linear {midpoints['linear']:.3f}, "
        f"spherical {midpoints['spherical']:.3f}.",
        "",
        f"Arithmetic: {samples} samples classified by lenet-mnist; the mean z of each predicted digit "
        f"({len(means)} digits with at least 5 samples) decodes to that digit for **{kept} of {len(means)}** "
        f"(digit-means.png). Moving a sample by mean(z of digit k) - mean(z of its digit) makes lenet read digit "
        f"k in **{hits} of {total}** cases ({100 * hits / total:.0f} %; arithmetic.png: first column the sample, "
        f"then digits {', '.join(str(k) for k in means)}).",
        "",
        table(["digit", "samples", "mean z decodes to", "confidence"],
              [[k, int((digits == k).sum()), int(d), f"{float(c):.2f}"]
               for k, d, c in zip(means, mean_digits, mean_confidence)]),
    ]
    return lines


def run(out: Path, fast: bool, model: str | None = None) -> str:
    from ..export import load_generator

    samples = 256 if fast else 4000
    if model is not None:
        source = f"the model in `{model}` (its EMA generator when it has one)"
        lines = explore(load_generator(model), out, samples)
    else:
        steps = 60 if fast else 600
        overrides = [f"train.steps={steps}", "eval.every=0", *(["model.g_width=8", "model.d_width=8"] if fast else [])]
        with scratch("latent-space") as folder:
            result = build_trainer("mnist-dcgan", overrides, folder / "run").fit()
            source = (f"a `mnist-dcgan` the lesson trained for {result.steps} steps ({result.seconds:.0f} s"
                      f"{', widths 8' if fast else ''}; pass `--model PATH` to explore your own)")
            lines = explore(load_generator(result.run_dir), out, samples)
    return "\n".join(["# Lesson: the latent space", "", f"Model: {source}.", "", *lines]) + "\n"
