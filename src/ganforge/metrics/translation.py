"""Evaluating image-to-image models on their dataset's held-out test split (`ganforge eval` on such a model).

For each direction the model translates (AtoB, and BtoA for two-way models), every test image of the source domain
is translated once, and:

- `l1`: mean |output - target| on [-1, 1] images (the training loss's scale), `psnr` in dB and `ssim` (Wang et al.
  2004: Gaussian window, sigma 1.5, as scikit-image's `structural_similarity(gaussian_weights=True)`, to which a
  test holds it) on 8-bit images, where the test split knows each input's target (paired sets, and built-in
  unpaired tasks whose test halves align);
- `fid`: the Frechet distance between the extractor's features of the outputs and of the real test images of the
  target domain (lenet-mnist for digits: a domain FLD);
- `class-kept`: for digit tasks, the share of outputs the extractor's classifier assigns to their input's class;
- `cycle-l1`: for two-way models, mean |G_back(G(x)) - x| on [-1, 1]: how well a translation can be undone;
- `miou`: for label map -> image models judged by a segmenter (shapes-segmenter on shapes-seg), the mean
  intersection-over-union between the segmenter's reading of each output and the label map it was painted from
  (the SPADE paper's protocol); `real_miou` is the segmenter's score on the real test images, the ceiling.

Keys are prefixed with the direction (`AtoB_fid`) when the model translates both ways.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import GanforgeError
from ..inputs import Choice
from .extractors import Extractor, ExtractorOptions, build_extractor, default_extractor
from .scores import frechet_distance, mean_and_covariance
from .segmenter import SegmenterExtractor

TRANSLATION_METRICS = ("l1", "psnr", "ssim", "fid", "class-kept", "cycle-l1", "miou")


def translate_all(generator: nn.Module, source: torch.Tensor, device: torch.device, extra: dict[str, Any],
                  chunk: int = 256) -> torch.Tensor:
    """uint8 translations of stored inputs (uint8 images, or label maps), chunk by chunk, in eval mode."""
    from ..data.images import to_uint8
    from ..families.translation import source_input

    name, spec = source_input(generator)
    out = []
    generator.eval()
    with torch.inference_mode():
        for start in range(0, source.shape[0], chunk):
            part = spec.prepare(source[start:start + chunk].to(device))
            options = {k: v.expand(part.shape[0]).to(device) for k, v in extra.items()}
            out.append(to_uint8(generator(**{name: part}, **options)).cpu())
    return torch.cat(out)


def psnr(output: torch.Tensor, target: torch.Tensor) -> float:
    """Mean over images of 10 log10(255^2 / MSE) on uint8 images (an exact copy counts as 100 dB)."""
    mse = (output.double() - target.double()).pow(2).flatten(1).mean(1)
    return float(torch.where(mse > 0, 10 * torch.log10(255.0 ** 2 / mse.clamp_min(1e-12)), 100.0).mean())


def ssim(output: torch.Tensor, target: torch.Tensor, sigma: float = 1.5) -> float:
    """Mean structural similarity of uint8 images (N, C, H, W): per image and channel, local statistics under a
    Gaussian window (radius 3.5 sigma), averaged over the positions the window fits inside."""
    radius = int(3.5 * sigma + 0.5)
    if min(output.shape[-2:]) < 2 * radius + 1:
        raise GanforgeError(f"ssim needs images of at least {2 * radius + 1}x{2 * radius + 1} pixels, got "
                            f"{output.shape[-2]}x{output.shape[-1]}")
    offsets = torch.arange(-radius, radius + 1, dtype=torch.float64)
    kernel = torch.exp(-offsets ** 2 / (2 * sigma ** 2))
    kernel = kernel / kernel.sum()
    x = output.double().flatten(0, 1).unsqueeze(1)
    y = target.double().flatten(0, 1).unsqueeze(1)

    def blur(images: torch.Tensor) -> torch.Tensor:
        return F.conv2d(F.conv2d(images, kernel.view(1, 1, -1, 1)), kernel.view(1, 1, 1, -1))

    mu_x, mu_y = blur(x), blur(y)
    var_x, var_y, cov = blur(x * x) - mu_x ** 2, blur(y * y) - mu_y ** 2, blur(x * y) - mu_x * mu_y
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    index = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x ** 2 + mu_y ** 2 + c1) * (var_x + var_y + c2))
    return float(index.flatten(1).mean(1).view(output.shape[0], -1).mean())


def mean_l1(a: torch.Tensor, b: torch.Tensor) -> float:
    """Mean absolute difference of uint8 images on the [-1, 1] scale."""
    return float((a.double() - b.double()).abs().mean() / 127.5)


def direction_scores(outputs: torch.Tensor, targets: torch.Tensor | None, real_target: torch.Tensor,
                     labels: torch.Tensor | None, extractor: Extractor, metrics: list[str],
                     view: Callable[[torch.Tensor], torch.Tensor] | None = None) -> dict[str, float]:
    """The scores of one direction. `view` maps target-domain images to what the extractor was trained on (the
    inverted digits of mnist-inverted back to digits) before `fid` and `class-kept`."""
    values: dict[str, float] = {}
    if targets is not None and "l1" in metrics:
        values["l1"] = mean_l1(outputs, targets)
    if targets is not None and "psnr" in metrics:
        values["psnr"] = psnr(outputs, targets)
    if targets is not None and "ssim" in metrics:
        values["ssim"] = ssim(outputs, targets)
    if view is not None:
        outputs, real_target = view(outputs), view(real_target)
    if "fid" in metrics:
        fake = mean_and_covariance(extractor.features(outputs), "translated images")
        real = mean_and_covariance(extractor.features(real_target), "real target images")
        values["fid"] = frechet_distance(*real, *fake)
    if "class-kept" in metrics and labels is not None and extractor.num_classes:
        values["class_kept"] = float((extractor.logits(outputs).argmax(axis=1) == labels.numpy()).mean())
    return values


def segmentation_scores(outputs: torch.Tensor, real: torch.Tensor, label_maps: torch.Tensor,
                        extractor: SegmenterExtractor) -> dict[str, float]:
    """mIoU of the segmenter's reading of generated and of real images against their label maps."""
    from .segmenter import mean_iou

    return {"miou": mean_iou(extractor.segment(outputs), label_maps, extractor.classes),
            "real_miou": mean_iou(extractor.segment(real), label_maps, extractor.classes)}


def domain_scores(generator: nn.Module, test: dict[str, torch.Tensor], domains: Choice,
                  extractor: Extractor, metrics: list[str]) -> dict[str, float]:
    """A multi-domain model (StarGAN): every test image sent into every other domain. Per target domain, `fid`
    against that domain's real test images; over all, `class_kept` (digit tasks) and `domain_accuracy` where the
    dataset defines its domains by a rule (mnist-colour's ink colour)."""
    from ..data.translation import MNIST_COLOURS, nearest_colour

    palette = torch.tensor(list(MNIST_COLOURS.values())) if tuple(domains.options) == tuple(MNIST_COLOURS) else None
    images, own, labels = test["image"], test["domain"], test.get("label")
    values: dict[str, float] = {}
    kept, hits, total = 0, 0, 0
    for index, name in enumerate(domains.options):
        rows = own != index
        outputs = translate_all(generator, images[rows], extractor.device, {"domain": torch.tensor([index])})
        if "fid" in metrics:
            fake = mean_and_covariance(extractor.features(outputs), f"images translated to {name}")
            real = mean_and_covariance(extractor.features(images[own == index]), f"real {name} test images")
            values[f"{name}_fid"] = frechet_distance(*real, *fake)
        if "class-kept" in metrics and labels is not None and extractor.num_classes:
            kept += int((extractor.logits(outputs).argmax(axis=1) == labels[rows].numpy()).sum())
        if palette is not None:
            hits += int((nearest_colour(outputs, palette) == index).sum())
        total += int(rows.sum())
    if "class-kept" in metrics and labels is not None and extractor.num_classes:
        values["class_kept"] = kept / total
    if palette is not None:
        values["domain_accuracy"] = hits / total
    return values


def test_split(config: Any, data_dir: str = "") -> tuple[Any, dict[str, torch.Tensor]]:
    """The model's training dataset, loaded as training loaded it, and its test split centre-cropped to the
    model's size: what every translation score is measured on."""
    from ..data import center_crop, load_dataset

    m = config.model
    loaded_size = config.data.load_size or m.resolution
    dataset = load_dataset(config.data.dataset, data_dir or config.data.data_dir, False, loaded_size, m.channels)
    dataset = dataset.fit_to(loaded_size, m.channels, config.data.resize)
    test = {k: center_crop(v, m.resolution) if v.dim() == 4 else v for k, v in dataset.held_out().items()}
    if not test:
        raise GanforgeError(f"dataset '{config.data.dataset}' has no test split to evaluate on")
    return dataset, test


def suited_extractor(dataset: Any, config: Any) -> str:
    """The extractor the dataset names for its images (lenet-mnist for the digit tasks), else by channels."""
    return getattr(dataset, "extractor", "") or default_extractor(config.model.resolution, config.model.channels)


def evaluate_translation(model: str | Path, config: Any, *, metrics: str | list[str] | None = None,
                         extractor: str | None = None, options: ExtractorOptions | None = None,
                         data_dir: str = "data", use_ema: bool = True) -> dict[str, Any]:
    """Every translation metric of the model in `model` (a run, export or weights file whose config is `config`)
    on its training dataset's test split."""
    from .. import __version__
    from ..export import load_generator

    start = time.perf_counter()
    names = metrics.split(",") if isinstance(metrics, str) else list(metrics or TRANSLATION_METRICS)
    chosen = [name.strip() for name in names if name.strip()]
    unknown = [name for name in chosen if name not in TRANSLATION_METRICS]
    if unknown or not chosen:
        raise GanforgeError(f"metric '{unknown[0] if unknown else ''}' does not apply to an image-to-image model; "
                            f"choose from {', '.join(TRANSLATION_METRICS)}")
    dataset, test = test_split(config, data_dir)
    net = build_extractor(extractor or suited_extractor(dataset, config), options or ExtractorOptions())
    generator = load_generator(model, device=net.device, use_ema=use_ema)
    choices = generator.inputs.of_kind(Choice)
    meta = {"dataset": config.data.dataset, "split": "test", "n": int(next(iter(test.values())).shape[0])}
    if "domain" in choices:
        values = domain_scores(generator, test, choices["domain"], net, chosen)
        return {"metrics": values, "extractor": net.metadata(), "real": meta,
                "fake": {"model": str(model), "n": meta["n"] * (len(choices["domain"].options) - 1),
                         "translated": "every test image into every other domain"},
                "ganforge_version": __version__, "seconds": round(time.perf_counter() - start, 2)}
    if "direction" in choices:
        plans = [(d, *(("A", "B") if d == "AtoB" else ("B", "A"))) for d in choices["direction"].options]
    else:
        plans = [("", *(("A", "B") if config.algorithm.direction == "AtoB" else ("B", "A")))]
    values: dict[str, Any] = {}
    for name, source, target in plans:
        extra = {"direction": choices["direction"].value("direction", name, 1)} if name else {}
        outputs = translate_all(generator, test[source], net.device, extra)
        aligned = dataset.test_aligned and test[source].shape[0] == test[target].shape[0]
        scores = direction_scores(outputs, test[target] if aligned else None, test[target],
                                  test.get(f"label_{source}"), net, chosen, dataset.extractor_view(target))
        if "miou" in chosen and isinstance(net, SegmenterExtractor) and test[source].dtype == torch.int64:
            scores.update(segmentation_scores(outputs, test[target], test[source], net))
        if name and "cycle-l1" in chosen:
            back = {"direction": choices["direction"].value("direction", "BtoA" if name == "AtoB" else "AtoB", 1)}
            scores["cycle_l1"] = mean_l1(translate_all(generator, outputs, net.device, back), test[source])
        values.update({f"{name}_{k}" if name else k: v for k, v in scores.items()})
    return {"metrics": values, "extractor": net.metadata(), "real": meta,
            "fake": {"model": str(model), "n": meta["n"],
                     "translated": [p[0] or config.algorithm.direction for p in plans]},
            "ganforge_version": __version__, "seconds": round(time.perf_counter() - start, 2)}


__all__ = ["TRANSLATION_METRICS", "evaluate_translation", "psnr", "ssim", "suited_extractor", "test_split"]
