"""A served model: an export folder read without pickle, described to the page from the inputs it declares.

Everything the server offers for a model follows from its declaration (`generator.inputs`): a class selector when it
declares a class label, a control per code, a truncation slider when its noise is normal, an upload when it takes
an image or a label map, a choice per option (direction); seeded generation when it draws all its inputs, `translate`
when it takes an image. No family is named anywhere here.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ..drift import DEFAULT_WINDOW, FEATURES_FILE, RunningStatistics, distance, parse_reference, seeded
from ..errors import GanforgeError
from ..export import CONFIG_FILE, WEIGHTS_FILE, load_generator, read_config
from ..inputs import CategoricalCode, Choice, ClassLabel, ContinuousCode, GivenInput, Latent
from ..sampling import Request, Sampler, interpolation_inputs, plan_grid

Tensor = torch.Tensor


@dataclass
class ServedModel:
    """One export, its sampler, its declared inputs and its drift statistics."""

    name: str
    path: Path
    meta: dict[str, Any]
    sampler: Sampler
    reference: dict[str, Any] | None
    running: RunningStatistics
    feature_reference: dict[str, Tensor] = field(default_factory=dict)
    seeded: bool = field(init=False)

    def __post_init__(self) -> None:
        self.seeded = seeded(self.sampler.generator)

    @property
    def inputs(self):
        return self.sampler.inputs

    def describe(self) -> dict[str, Any]:
        """What the page and API clients need to build this model's controls."""
        inputs = self.inputs
        labels = inputs.of_kind(ClassLabel)
        given = inputs.of_kind(GivenInput)
        codes = {**inputs.of_kind(CategoricalCode), **inputs.of_kind(ContinuousCode)}
        image = self.meta.get("image", {})
        return {
            "name": self.name, "family": self.meta.get("family"), "network": self.meta.get("network"),
            "resolution": image.get("resolution"), "channels": image.get("channels"),
            "weights": self.meta.get("weights"), "step": self.meta.get("step"),
            "inputs": inputs.describe(), "seeded": self.seeded,
            "class": next(({"name": n, "classes": s.classes} for n, s in labels.items()), None),
            "codes": [{"name": n, **s.describe()} for n, s in codes.items()],
            "options": [{"name": n, "options": list(s.options)} for n, s in inputs.of_kind(Choice).items()],
            "image_input": next(({"name": n, **s.describe()} for n, s in given.items()), None),
            "truncation": self.seeded and any(s.truncatable for s in inputs.of_kind(Latent).values()),
            "drift_reference": self.reference is not None,
            "drift_extractor": (self.reference or {}).get("extractor", {}).get("extractor"),
        }

    def fixed_inputs(self, label: int | None, codes: dict[str, Any]) -> dict[str, Any]:
        """The request's class and codes as fixed values of declared inputs (unknown names refused)."""
        fixed = dict(codes)
        if label is not None:
            labels = self.inputs.of_kind(ClassLabel)
            if not labels:
                raise GanforgeError(f"model '{self.name}' is unconditional (its inputs are {', '.join(self.inputs)}); "
                                    f"drop 'class'")
            fixed[next(iter(labels))] = label
        for name in fixed:
            if name not in self.inputs:
                raise GanforgeError(f"model '{self.name}' has no input '{name}'; its inputs are: "
                                    f"{', '.join(self.inputs)}")
            spec = self.inputs[name]
            if isinstance(fixed[name], bool) or (isinstance(fixed[name], str) and not isinstance(spec, Choice)):
                raise GanforgeError(f"'{name}' of model '{self.name}' takes a number, got {fixed[name]!r}")
            if isinstance(spec, (Latent, GivenInput)):
                raise GanforgeError(f"'{name}' of model '{self.name}' is not a code: its noise comes from the seed"
                                    if isinstance(spec, Latent) else
                                    f"'{name}' of model '{self.name}' is an input image: POST it to /api/translate")
        return fixed

    def _require_seeded(self) -> None:
        if not self.seeded:
            raise GanforgeError(f"model '{self.name}' translates images rather than sampling from a seed; POST an "
                                f"image to /api/translate")

    def generation_inputs(self, n: int, seed: int, label: int | None, codes: dict[str, Any],
                          truncation: float | None) -> dict[str, Tensor]:
        """The inputs of n samples, exactly as `ganforge sample --n N --seed S --class C --code ...` draws them."""
        self._require_seeded()
        values, _ = plan_grid(self.inputs, n, seed, Request(fixed=self.fixed_inputs(label, codes)), truncation)
        return values

    def interpolation_inputs(self, seed_a: int, seed_b: int, steps: int, label: int | None, codes: dict[str, Any],
                             truncation: float | None) -> dict[str, Tensor]:
        """The inputs of `Sampler.interpolate`: a spherical walk in every latent, the rest seed_a's or fixed."""
        self._require_seeded()
        return interpolation_inputs(self.inputs, seed_a, seed_b, steps, truncation, self.fixed_inputs(label, codes))

    def translation_inputs(self, data: bytes, options: dict[str, str], max_pixels: int) -> dict[str, Tensor]:
        """An uploaded image (or label map) and the model's options (direction, ...) as its inputs."""
        from ..translate import read_source

        given = self.inputs.of_kind(GivenInput)
        if not given:
            raise GanforgeError(f"model '{self.name}' samples from a seed and takes no image; use /api/generate")
        (source_name, spec), = given.items()
        check_image(data, max_pixels)
        choices = self.inputs.of_kind(Choice)
        unknown = [name for name in options if name not in choices]
        if unknown:
            offered = ", ".join(f"{n} ({'/'.join(s.options)})" for n, s in choices.items()) or "none"
            raise GanforgeError(f"model '{self.name}' has no option '{unknown[0]}'; its options: {offered}")
        values = {name: spec_.value(name, options.get(name, spec_.options[0]), 1) for name, spec_ in choices.items()}
        values[source_name] = spec.prepare(read_source(_Upload(data), spec)[None])
        return values

    def observe(self, images: Tensor) -> None:
        """Count generated images into the drift window (models with a reference only)."""
        if self.reference is not None:
            self.running.update(images)

    def drift(self) -> dict[str, Any] | None:
        """Images in the window, the pixel-statistics distance to the export's reference and, with an extractor,
        the features' Frechet distance; None before the first image or without a reference."""
        summary = self.running.summary() if self.reference is not None else None
        if summary is None:
            return None
        count, mean, std = summary
        out = {"images": count, "distance": distance(self.reference, mean, std)}
        if self.feature_reference:
            out["feature_distance"] = self.running.feature_distance(self.feature_reference)
        return out


class _Upload(io.BytesIO):
    """Uploaded bytes that name themselves in error messages as the upload, not as a memory buffer."""

    def __str__(self) -> str:
        return "the uploaded file"


class NotAnImage(GanforgeError):
    """An upload that no image reader can open."""


class ImageTooLarge(GanforgeError):
    """An upload with more pixels than the server accepts."""


def check_image(data: bytes, max_pixels: int) -> None:
    """Refuse bytes that are not an image, or one with more than max_pixels pixels, before decoding them whole."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
            image.verify()
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        raise NotAnImage("the upload is not an image PIL can read (.png, .jpg, .webp)") from None
    if width * height > max_pixels:
        raise ImageTooLarge(f"the upload is {width}x{height} = {width * height:,} pixels, more than the "
                            f"{max_pixels:,} this server accepts (--max-image-pixels)")


def load_served(paths: list[str | Path], device: torch.device | str, window: int = DEFAULT_WINDOW,
                max_batch: int = 256) -> dict[str, ServedModel]:
    """Export folders as served models named by their folder (a number appended where two share a name)."""
    models: dict[str, ServedModel] = {}
    for raw in paths:
        path = Path(raw)
        if not (path / WEIGHTS_FILE).is_file():
            raise GanforgeError(f"'{path}' is not an export folder (no {WEIGHTS_FILE}); the server reads only "
                                f"safetensors exports: run `ganforge export RUN {path.name}-export` first")
        _, meta = read_config(path)
        generator = load_generator(path, device=device)
        channels = int(meta.get("image", {}).get("channels", 3))
        reference = parse_reference(meta.get("reference"), channels, str(path / CONFIG_FILE))
        extractor, features = _feature_reference(path, reference, device)
        name = base = path.resolve().name
        for i in range(2, 2 + len(models)):
            if name not in models:
                break
            name = f"{base}-{i}"
        models[name] = ServedModel(name, path, meta, Sampler(generator, device, batch_size=max_batch), reference,
                                   RunningStatistics(channels, window, extractor), features)
    if not models:
        raise GanforgeError("pass at least one export folder to serve")
    return models



def _feature_reference(path: Path, reference: dict[str, Any] | None, device: torch.device | str
                       ) -> tuple[Any, dict[str, Tensor]]:
    """The extractor an export's drift reference was computed with (the same weights, checked) and its feature
    statistics; (None, {}) when the reference has none."""
    if not reference or "extractor" not in reference:
        return None, {}
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from ..metrics import ExtractorOptions, build_extractor

    stored = reference["extractor"]
    extractor = build_extractor(str(stored.get("extractor")), ExtractorOptions(device=str(device)))
    if extractor.weights_sha256 != stored.get("weights_sha256"):
        raise GanforgeError(f"'{path}': the drift reference was computed with other {extractor.name} weights "
                            f"({str(stored.get('weights_sha256'))[:12]}, here {extractor.weights_sha256[:12]}); "
                            f"export the model again")
    try:
        features = load_file(str(path / FEATURES_FILE))
    except (SafetensorError, OSError) as exc:
        raise GanforgeError(f"cannot read '{path / FEATURES_FILE}' ({exc}); export the model again") from None
    if set(features) != {"feature_mean", "feature_cov"} or features["feature_mean"].shape != (extractor.dim,):
        raise GanforgeError(f"'{path / FEATURES_FILE}' is not a drift reference of {extractor.name}; export again")
    return extractor, features
