"""What a generator takes, declared once: a latent vector, a class label, structured codes, an input image or
label map.

Every generator carries its declaration (`generator.inputs`). Sampling, the training sample grid, evaluation,
exports, the CLI's sampling flags and the web page are all built from it, so they work for any family without
knowing which one it is. Draws happen in declaration order from one torch.Generator, so a seed fixes every input.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

import torch
import torch.nn.functional as F

from .errors import GanforgeError

Tensor = torch.Tensor


@dataclass(frozen=True)
class InputSpec:
    """One declared input. `width` is its size once encoded as a float vector (what concatenation feeds G)."""

    kind: ClassVar[str] = ""

    @property
    def width(self) -> int:
        raise NotImplementedError

    def sample(self, n: int, generator: torch.Generator, truncation: float | None = None) -> Tensor:
        """n values drawn from `generator`, on its device."""
        raise NotImplementedError

    def encode(self, value: Tensor) -> Tensor:
        """(n, width) floats: the input as a vector G can concatenate."""
        raise NotImplementedError

    def value(self, name: str, given: Any, n: int, device: torch.device | str = "cpu") -> Tensor:
        """A user's value (a number or one per sample) as n values, or a one-line error naming what is allowed."""
        raise NotImplementedError

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, **asdict(self)}


@dataclass(frozen=True)
class Latent(InputSpec):
    """Noise z: standard normal (truncation resamples |z| above the threshold, as BigGAN does) or uniform [-1, 1]."""

    kind: ClassVar[str] = "latent"
    dim: int
    distribution: str = "normal"

    def __post_init__(self) -> None:
        _require_count("dim", self.dim)
        if self.distribution not in ("normal", "uniform"):
            raise GanforgeError(f"a latent's distribution is normal or uniform, got {self.distribution!r}")

    @property
    def width(self) -> int:
        return self.dim

    @property
    def truncatable(self) -> bool:
        return self.distribution == "normal"

    def sample(self, n: int, generator: torch.Generator, truncation: float | None = None) -> Tensor:
        if self.distribution == "uniform":
            if truncation is not None:
                raise GanforgeError("--truncation resamples normal noise, but this model's z is uniform on [-1, 1]; "
                                    "drop --truncation")
            return torch.rand(n, self.dim, generator=generator, device=generator.device).mul_(2).sub_(1)
        z = torch.randn(n, self.dim, generator=generator, device=generator.device)
        if truncation is not None:
            if not truncation > 0:
                raise GanforgeError(f"--truncation must be > 0 (the largest |z| kept), got {truncation}")
            outside = z.abs() > truncation
            while outside.any():  # the truncation trick: redraw what lies outside [-psi, psi] until nothing does
                z[outside] = torch.randn(int(outside.sum()), generator=generator, device=generator.device)
                outside = z.abs() > truncation
        return z

    def encode(self, value: Tensor) -> Tensor:
        return value

    def value(self, name: str, given: Any, n: int, device: torch.device | str = "cpu") -> Tensor:
        raise GanforgeError(f"'{name}' is the model's noise; choose it with --seed, not a value")


@dataclass(frozen=True)
class _Categorical(InputSpec):
    """Shared by class labels and categorical codes: an integer in [0, count), one-hot when encoded."""

    @property
    def count(self) -> int:
        raise NotImplementedError

    @property
    def width(self) -> int:
        return self.count

    def sample(self, n: int, generator: torch.Generator, truncation: float | None = None) -> Tensor:
        return torch.randint(self.count, (n,), generator=generator, device=generator.device)

    def encode(self, value: Tensor) -> Tensor:
        return F.one_hot(value, self.count).float()

    def value(self, name: str, given: Any, n: int, device: torch.device | str = "cpu") -> Tensor:
        values = torch.as_tensor(given, dtype=torch.float64).flatten()
        if values.numel() not in (1, n) or not torch.all(values == values.round()):
            raise GanforgeError(f"{self.flag(name)} takes whole numbers 0-{self.count - 1}, got {given!r}")
        bad = values[(values < 0) | (values >= self.count)]
        if len(bad):
            raise GanforgeError(f"{self.flag(name)} {int(bad[0])} is out of range: this model has "
                                f"{self.count} ({'0' if self.count == 1 else f'0-{self.count - 1}'})")
        return values.long().expand(n).to(device)

    def flag(self, name: str) -> str:
        return f"--code {name}"


@dataclass(frozen=True)
class ClassLabel(_Categorical):
    kind: ClassVar[str] = "class"
    classes: int

    def __post_init__(self) -> None:
        _require_count("classes", self.classes)

    @property
    def count(self) -> int:
        return self.classes

    def flag(self, name: str) -> str:
        return "--class"


@dataclass(frozen=True)
class CategoricalCode(_Categorical):
    """An unsupervised categorical code (InfoGAN's c1): drawn uniformly, its meaning learnt."""

    kind: ClassVar[str] = "categorical"
    categories: int

    def __post_init__(self) -> None:
        _require_count("categories", self.categories)

    @property
    def count(self) -> int:
        return self.categories


@dataclass(frozen=True)
class ContinuousCode(InputSpec):
    """An unsupervised continuous code (InfoGAN's c2, c3): uniform on [low, high] in training."""

    kind: ClassVar[str] = "continuous"
    low: float = -1.0
    high: float = 1.0

    @property
    def width(self) -> int:
        return 1

    def sample(self, n: int, generator: torch.Generator, truncation: float | None = None) -> Tensor:
        return torch.rand(n, generator=generator, device=generator.device) * (self.high - self.low) + self.low

    def encode(self, value: Tensor) -> Tensor:
        return value.float().view(-1, 1)

    def value(self, name: str, given: Any, n: int, device: torch.device | str = "cpu") -> Tensor:
        values = torch.as_tensor(given, dtype=torch.float32).flatten()
        if values.numel() not in (1, n) or not torch.isfinite(values).all():
            raise GanforgeError(f"--code {name} takes a number (training drew it from [{self.low:g}, {self.high:g}]), "
                                f"got {given!r}")
        return values.expand(n).to(device)


class GivenInput(InputSpec):
    """An input that comes from data or from the user, never from a seed: what image-to-image generators map."""

    noun: ClassVar[str] = ""

    @property
    def width(self) -> int:
        raise GanforgeError(f"an input {self.noun} cannot be concatenated with noise; give it to an image-to-image "
                            f"generator")

    def sample(self, n: int, generator: torch.Generator, truncation: float | None = None) -> Tensor:
        raise GanforgeError("this model translates images rather than sampling from a seed; use `ganforge "
                            "translate MODEL --input IMAGES --out DIR`")

    def value(self, name: str, given: Any, n: int, device: torch.device | str = "cpu") -> Tensor:
        raise GanforgeError(f"'{name}' is an input {self.noun}; pass it with `ganforge translate --input`")

    def prepare(self, stored: Tensor) -> Tensor:
        """The network's input from stored data (uint8 images, int64 label maps), on the stored tensor's device."""
        raise NotImplementedError


@dataclass(frozen=True)
class ImageInput(GivenInput):
    """An image to translate (Pix2Pix, CycleGAN). `resolution` is the training crop; fully convolutional
    generators also take other sizes."""

    kind: ClassVar[str] = "image"
    noun: ClassVar[str] = "image"
    channels: int
    resolution: int

    def __post_init__(self) -> None:
        _require_count("channels", self.channels)
        _require_count("resolution", self.resolution)

    def prepare(self, stored: Tensor) -> Tensor:
        from .data.images import normalize

        return normalize(stored)


@dataclass(frozen=True)
class LabelMap(GivenInput):
    """A semantic label map to paint (Pix2PixHD, SPADE): int64 (N, 1, H, W) class indices in [0, classes)."""

    kind: ClassVar[str] = "labelmap"
    noun: ClassVar[str] = "label map"
    classes: int
    resolution: int

    def __post_init__(self) -> None:
        _require_count("classes", self.classes)
        _require_count("resolution", self.resolution)

    def prepare(self, stored: Tensor) -> Tensor:
        """Class indices as int64, refused when any lies outside [0, classes)."""
        if stored.dim() != 4 or stored.shape[1] != 1 or stored.is_floating_point():
            raise GanforgeError(f"a label map must be class indices (N, 1, H, W), got {stored.dtype} of shape "
                                f"{tuple(stored.shape)}")
        low, high = int(stored.min()), int(stored.max())
        if low < 0 or high >= self.classes:
            raise GanforgeError(f"the label map holds class {high if high >= self.classes else low}, but the model "
                                f"knows {self.classes} classes (0-{self.classes - 1}); remap its labels")
        return stored.long()

    def encode(self, value: Tensor) -> Tensor:
        """(N, classes, H, W) one-hot planes, what every layer of a semantic-synthesis network reads."""
        return F.one_hot(value[:, 0], self.classes).permute(0, 3, 1, 2).float()


@dataclass(frozen=True)
class Choice(InputSpec):
    """One of a few named options, given as its index (CycleGAN's direction AtoB / BtoA)."""

    kind: ClassVar[str] = "choice"
    options: tuple[str, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "options", tuple(str(o) for o in self.options))
        if len(self.options) < 1 or len(set(self.options)) != len(self.options):
            raise GanforgeError(f"a choice needs distinct options, got {self.options!r}")

    @property
    def width(self) -> int:
        return len(self.options)

    def sample(self, n: int, generator: torch.Generator, truncation: float | None = None) -> Tensor:
        return torch.zeros(n, dtype=torch.long, device=generator.device)  # the first option unless chosen

    def encode(self, value: Tensor) -> Tensor:
        return F.one_hot(value, len(self.options)).float()

    def index(self, name: str, option: str) -> int:
        if option not in self.options:
            raise GanforgeError(f"--{name} {option}: this model offers {', '.join(self.options)}")
        return self.options.index(option)

    def value(self, name: str, given: Any, n: int, device: torch.device | str = "cpu") -> Tensor:
        return torch.full((n,), self.index(name, str(given)), dtype=torch.long, device=device)


@dataclass(frozen=True)
class TruncationPsi(InputSpec):
    """Truncation toward the mean w (StyleGAN): the generator moves each w to w_avg + psi (w - w_avg). 1 = off (what
    training and plain sampling use); `--truncation PSI` sets it, 0 gives the mean w's image for every seed. A
    generator that declares it takes --truncation here, instead of BigGAN's resampling of z."""

    kind: ClassVar[str] = "truncation"

    @property
    def width(self) -> int:
        return 1

    def sample(self, n: int, generator: torch.Generator, truncation: float | None = None) -> Tensor:
        psi = 1.0 if truncation is None else self.checked(truncation)
        return torch.full((n,), psi, device=generator.device)

    @staticmethod
    def checked(psi: float) -> float:
        if not 0.0 <= psi <= 1.0:
            raise GanforgeError(f"--truncation {psi:g}: this model truncates toward its mean w, psi in [0, 1] "
                                f"(1 = off, 0 = the mean image)")
        return float(psi)

    def encode(self, value: Tensor) -> Tensor:
        return value.float().view(-1, 1)

    def value(self, name: str, given: Any, n: int, device: torch.device | str = "cpu") -> Tensor:
        values = torch.as_tensor(given, dtype=torch.float32).flatten()
        if values.numel() not in (1, n):
            raise GanforgeError(f"--code {name} takes one truncation psi in [0, 1], got {given!r}")
        for psi in values.tolist():
            self.checked(psi)
        return values.expand(n).to(device)


def _require_count(name: str, value: Any) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise GanforgeError(f"a declared input's {name} must be a whole number >= 1, got {value!r}")


INPUT_KINDS: dict[str, type[InputSpec]] = {spec.kind: spec for spec in (Latent, ClassLabel, CategoricalCode,
                                                                        ContinuousCode, ImageInput, LabelMap, Choice,
                                                                        TruncationPsi)}


class GeneratorInputs(Mapping[str, InputSpec]):
    """A generator's inputs by name, in the order they are drawn (and concatenated)."""

    def __init__(self, specs: Mapping[str, InputSpec]) -> None:
        self._specs = dict(specs)

    def __getitem__(self, name: str) -> InputSpec:
        return self._specs[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._specs)

    def __len__(self) -> int:
        return len(self._specs)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, GeneratorInputs) and self._specs == other._specs

    def __repr__(self) -> str:
        return f"GeneratorInputs({self._specs!r})"

    @property
    def width(self) -> int:
        return sum(spec.width for spec in self._specs.values())

    def of_kind(self, spec_type: type[InputSpec]) -> dict[str, InputSpec]:
        return {name: spec for name, spec in self._specs.items() if isinstance(spec, spec_type)}

    def sample(self, n: int, generator: torch.Generator, truncation: float | None = None) -> dict[str, Tensor]:
        """Every input for n samples. Truncation goes to the generator's own truncation input when it declares one
        (StyleGAN's mean w), otherwise to its normal latents (BigGAN's resampling)."""
        kind = TruncationPsi if self.of_kind(TruncationPsi) else Latent
        return {name: spec.sample(n, generator, truncation if isinstance(spec, kind) else None)
                for name, spec in self._specs.items()}

    def encode(self, values: Mapping[str, Tensor]) -> Tensor:
        """All inputs as one (n, width) float matrix, in declaration order."""
        return torch.cat([spec.encode(values[name]) for name, spec in self._specs.items()], dim=1)

    def describe(self) -> dict[str, dict[str, Any]]:
        return {name: spec.describe() for name, spec in self._specs.items()}

    @classmethod
    def from_description(cls, data: Any) -> GeneratorInputs:
        """Parse a declaration read from a file (an export's config.json), refusing anything malformed."""
        if not isinstance(data, dict) or not data:
            raise GanforgeError(f"the declared generator inputs must be a non-empty mapping, got {data!r}")
        specs = {}
        for name, entry in data.items():
            if not isinstance(entry, dict) or entry.get("kind") not in INPUT_KINDS:
                raise GanforgeError(f"generator input '{name}' has an unknown kind ({entry!r}); known kinds: "
                                    f"{', '.join(INPUT_KINDS)}")
            fields = {k: v for k, v in entry.items() if k != "kind"}
            try:
                specs[str(name)] = INPUT_KINDS[entry["kind"]](**fields)
            except TypeError as exc:
                raise GanforgeError(f"generator input '{name}' is malformed ({exc})") from None
        return cls(specs)


def latent_only(dim: int, distribution: str = "normal") -> GeneratorInputs:
    """The declaration of a generator that reads nothing but noise z."""
    return GeneratorInputs({"z": Latent(dim, distribution)})
