"""GAN metrics as pure float64 functions of features (or logits), and the METRICS registry that names them.

Every function here takes numpy arrays and returns plain floats, so each can be checked against a closed form or a
reference implementation on the same numbers. Conventions follow the published code each metric comes from:
FID as pytorch-fid (scipy's sqrtm, an eps offset for near-singular products, small imaginary parts dropped), KID as
Binkowski et al. / torch-fidelity (unbiased MMD^2, cubic polynomial kernel), IS as Salimans et al. (10 splits, in
order), precision/recall as Kynkaanniemi et al. (k = 3, ball membership with <=), density/coverage as Naeem et al.
(k = 5, strict <).
"""

from __future__ import annotations

import difflib
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import GanforgeError
from ..registry import Registry


# ------------------------------------------------------------------------------------------------ input checks
def check_features(features: np.ndarray, which: str, minimum: int = 2) -> np.ndarray:
    """A 2-D finite float64 array of at least `minimum` rows, or a one-line error naming the set."""
    array = np.asarray(features, dtype=np.float64)
    if array.ndim != 2:
        raise GanforgeError(f"the {which} features must be a 2-D array (images x dimensions), got shape "
                            f"{tuple(array.shape)}")
    if array.shape[0] < minimum:
        raise GanforgeError(f"the {which} set has {array.shape[0]} image(s); metrics need at least {minimum}: "
                            f"pass more images")
    if not np.isfinite(array).all():
        bad = int((~np.isfinite(array)).any(axis=1).sum())
        raise GanforgeError(f"the {which} features contain NaN or Inf ({bad} of {array.shape[0]} rows); the "
                            f"{which} images or the extractor weights are broken")
    return array


def _same_dim(a: np.ndarray, b: np.ndarray) -> None:
    if a.shape[1] != b.shape[1]:
        raise GanforgeError(f"real features have {a.shape[1]} dimensions but fake features have {b.shape[1]}; "
                            f"compute both with the same extractor")


# ------------------------------------------------------------------------------------------------ FID
def mean_and_covariance(features: np.ndarray, which: str = "feature") -> tuple[np.ndarray, np.ndarray]:
    """The Gaussian fitted by FID: the mean and the unbiased (N - 1) covariance, as pytorch-fid computes them."""
    array = check_features(features, which)
    return array.mean(axis=0), np.cov(array, rowvar=False)


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray,
                     eps: float = 1e-6) -> float:
    """||mu1 - mu2||^2 + Tr(S1 + S2 - 2 (S1 S2)^(1/2)), the Frechet distance of two Gaussians.

    The product S1 S2 of two estimated covariances can be near-singular (fewer images than dimensions); then its
    square root is not finite and, as in pytorch-fid, eps is added to both diagonals. Rounding gives the root a tiny
    imaginary part, which is dropped when the diagonal's is below 1e-3 and is an error otherwise.
    """
    from scipy import linalg

    mu1, mu2 = np.atleast_1d(np.asarray(mu1, np.float64)), np.atleast_1d(np.asarray(mu2, np.float64))
    sigma1, sigma2 = np.atleast_2d(np.asarray(sigma1, np.float64)), np.atleast_2d(np.asarray(sigma2, np.float64))
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape or sigma1.shape != (mu1.size, mu1.size):
        raise GanforgeError(f"the two Gaussians do not match (means {mu1.shape} and {mu2.shape}, covariances "
                            f"{sigma1.shape} and {sigma2.shape}); compute both with the same extractor")
    for name, value in (("mean", mu1), ("mean", mu2), ("covariance", sigma1), ("covariance", sigma2)):
        if not np.isfinite(value).all():
            raise GanforgeError(f"a {name} holds NaN or Inf; recompute the statistics")
    diff = mu1 - mu2
    with warnings.catch_warnings():  # a singular product is expected with few images; handled below
        warnings.simplefilter("ignore", linalg.LinAlgWarning)
        covmean = linalg.sqrtm(sigma1.dot(sigma2))
        if not np.isfinite(covmean).all():
            offset = np.eye(sigma1.shape[0]) * eps
            covmean = linalg.sqrtm((sigma1 + offset).dot(sigma2 + offset))
    if np.iscomplexobj(covmean):
        if not np.allclose(np.diagonal(covmean).imag, 0, atol=1e-3):
            raise GanforgeError(f"the covariance product has a square root with imaginary part "
                                f"{np.max(np.abs(covmean.imag)):.3g}; use more images (at least the feature "
                                f"dimension, {sigma1.shape[0]})")
        covmean = covmean.real
    return float(diff.dot(diff) + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean))


# ------------------------------------------------------------------------------------------------ KID
def polynomial_kernel(x: np.ndarray, y: np.ndarray, degree: int = 3, coef0: float = 1.0) -> np.ndarray:
    """k(x, y) = (x.y / d + coef0)^degree, the kernel of Binkowski et al.'s KID."""
    return (x @ y.T / x.shape[1] + coef0) ** degree


def mmd2_unbiased(k_xx: np.ndarray, k_yy: np.ndarray, k_xy: np.ndarray) -> float:
    """The unbiased MMD^2 estimate for two equal-size samples: within-set sums leave out the diagonal."""
    m = k_xx.shape[0]
    within = (k_xx.sum() - np.trace(k_xx) + k_yy.sum() - np.trace(k_yy)) / (m * (m - 1))
    return float(within - 2.0 * k_xy.sum() / (m * m))


def kernel_distance(real: np.ndarray, fake: np.ndarray, subsets: int = 100, subset_size: int = 1000,
                    seed: int = 0, degree: int = 3) -> tuple[float, float]:
    """KID: mean and std of the unbiased MMD^2 over `subsets` random subsets (size capped at the smaller set)."""
    real, fake = check_features(real, "real"), check_features(fake, "fake")
    _same_dim(real, fake)
    m = min(subset_size, real.shape[0], fake.shape[0])
    if m == real.shape[0] == fake.shape[0]:
        subsets = 1  # every subset would hold every image: the same value each time, std 0
    rng = np.random.RandomState(seed)
    values = np.empty(subsets)
    for i in range(subsets):
        x = real[rng.choice(real.shape[0], m, replace=False)]
        y = fake[rng.choice(fake.shape[0], m, replace=False)]
        values[i] = mmd2_unbiased(polynomial_kernel(x, x, degree), polynomial_kernel(y, y, degree),
                                  polynomial_kernel(x, y, degree))
    return float(values.mean()), float(values.std())


# ------------------------------------------------------------------------------------------------ IS
def inception_score(logits: np.ndarray, splits: int = 10) -> tuple[float, float]:
    """exp(E_x KL(p(y|x) || p(y))) on each of `splits` consecutive chunks: mean and std over the chunks."""
    logits = check_features(logits, "fake logits")
    if splits < 1 or splits > logits.shape[0]:
        raise GanforgeError(f"the inception score needs 1 <= splits <= images; got {splits} splits for "
                            f"{logits.shape[0]} images")
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    p = np.exp(log_p)
    n = logits.shape[0]
    scores = []
    for i in range(splits):
        rows = slice(i * n // splits, (i + 1) * n // splits)
        log_marginal = np.log(p[rows].mean(axis=0, keepdims=True))
        scores.append(np.exp((p[rows] * (log_p[rows] - log_marginal)).sum(axis=1).mean()))
    return float(np.mean(scores)), float(np.std(scores))


# ------------------------------------------------------------------------------------------------ k-NN metrics
def pairwise_distances(a: np.ndarray, b: np.ndarray, block: int = 1024) -> np.ndarray:
    """Euclidean distances (len(a), len(b)) in float64, computed block by block to bound the temporaries."""
    out = np.empty((a.shape[0], b.shape[0]))
    b_sq = (b * b).sum(axis=1)
    for start in range(0, a.shape[0], block):
        rows = a[start:start + block]
        sq = (rows * rows).sum(axis=1)[:, None] + b_sq[None, :] - 2.0 * rows @ b.T
        out[start:start + block] = np.sqrt(np.maximum(sq, 0.0))
    return out


def knn_radii(features: np.ndarray, k: int) -> np.ndarray:
    """Distance from each point to its k-th nearest neighbour in the same set (the point itself not counted)."""
    if features.shape[0] <= k:
        raise GanforgeError(f"k-nearest-neighbour metrics with k={k} need more than {k} images per set, got "
                            f"{features.shape[0]}; pass more images")
    return np.partition(pairwise_distances(features, features), k, axis=1)[:, k]


def precision_recall(real: np.ndarray, fake: np.ndarray, k: int = 3) -> tuple[float, float]:
    """Kynkaanniemi et al.: precision = share of fakes inside some real k-NN ball; recall = reals inside fake balls."""
    real, fake = check_features(real, "real"), check_features(fake, "fake")
    _same_dim(real, fake)
    real_radii, fake_radii = knn_radii(real, k), knn_radii(fake, k)
    distances = pairwise_distances(real, fake)  # (real, fake)
    precision = (distances <= real_radii[:, None]).any(axis=0).mean()
    recall = (distances <= fake_radii[None, :]).any(axis=1).mean()
    return float(precision), float(recall)


def density_coverage(real: np.ndarray, fake: np.ndarray, k: int = 5) -> tuple[float, float]:
    """Naeem et al.: density = mean count of real k-NN balls holding each fake / k; coverage = share of real balls
    holding at least one fake."""
    real, fake = check_features(real, "real"), check_features(fake, "fake")
    _same_dim(real, fake)
    real_radii = knn_radii(real, k)
    inside = pairwise_distances(real, fake) < real_radii[:, None]  # (real, fake)
    return float(inside.sum(axis=0).mean() / k), float(inside.any(axis=1).mean())


# ------------------------------------------------------------------------------------------------ classes
def class_histogram(logits: np.ndarray) -> np.ndarray:
    """How many images a classifier assigns to each class (argmax of the logits)."""
    logits = check_features(logits, "fake logits", minimum=1)
    return np.bincount(logits.argmax(axis=1), minlength=logits.shape[1])


def class_kl_to_uniform(counts: np.ndarray) -> float:
    """KL(predicted-class histogram || uniform) in nats: 0 when every class is equally frequent, log K for one."""
    p = np.asarray(counts, np.float64) / max(1, int(np.sum(counts)))
    nonzero = p > 0
    return float((p[nonzero] * np.log(p[nonzero] * p.size)).sum())


def missing_classes(counts: np.ndarray, min_share: float = 0.0) -> int:
    """Classes a generator misses: never predicted when min_share is 0 (Che et al.'s "missing modes"), else
    predicted for less than min_share of the samples."""
    if not 0.0 <= min_share < 1.0:
        raise GanforgeError(f"min_share must be in [0, 1), got {min_share}")
    counts = np.asarray(counts, np.float64)
    if counts.ndim != 1 or counts.size == 0 or (counts < 0).any():
        raise GanforgeError(f"class counts must be a non-empty 1-d array of counts >= 0, got shape {counts.shape}")
    if min_share == 0.0:
        return int((counts == 0).sum())
    return int((counts / max(1.0, counts.sum()) < min_share).sum())


# ------------------------------------------------------------------------------------------------ registry
@dataclass
class FeatureSet:
    """What an extractor produced for one image set; `mu`/`sigma` alone when read from a statistics file."""

    features: np.ndarray | None = None
    logits: np.ndarray | None = None
    mu: np.ndarray | None = None
    sigma: np.ndarray | None = None
    count: int = 0

    def stats(self, which: str) -> tuple[np.ndarray, np.ndarray]:
        if self.mu is None or self.sigma is None:
            self.mu, self.sigma = mean_and_covariance(self.need_features(which), which)
        return self.mu, self.sigma

    def need_features(self, which: str) -> np.ndarray:
        if self.features is None:
            raise GanforgeError(f"the {which} set has only mean/covariance statistics; kid, pr and dc need its "
                                f"features: pass --dataset (or --real-dir) instead of --ref")
        return self.features

    def need_logits(self, metric: str) -> np.ndarray:
        if self.logits is None:
            raise GanforgeError(f"metric '{metric}' needs class logits, which this extractor does not give; use "
                                f"inception (with logits) or lenet-mnist, or drop '{metric}' from --metrics")
        return self.logits


@dataclass(frozen=True)
class Metric:
    """A named metric: `compute(real, fake, seed)` returns its values; `uses_real` is False for IS and modes."""

    compute: Callable[[FeatureSet, FeatureSet, int], dict[str, Any]]
    uses_real: bool = True
    keys: tuple[str, ...] = field(default_factory=tuple)


METRICS: Registry[Metric] = Registry("metric")


def _fid(real: FeatureSet, fake: FeatureSet, seed: int) -> dict[str, Any]:
    return {"fid": frechet_distance(*real.stats("real"), *fake.stats("fake"))}


def _kid(real: FeatureSet, fake: FeatureSet, seed: int) -> dict[str, Any]:
    mean, std = kernel_distance(real.need_features("real"), fake.need_features("fake"), seed=seed)
    return {"kid": mean, "kid_std": std}


def _is(real: FeatureSet, fake: FeatureSet, seed: int) -> dict[str, Any]:
    mean, std = inception_score(fake.need_logits("is"))
    return {"is": mean, "is_std": std}


def _pr(real: FeatureSet, fake: FeatureSet, seed: int) -> dict[str, Any]:
    precision, recall = precision_recall(real.need_features("real"), fake.need_features("fake"))
    return {"precision": precision, "recall": recall}


def _dc(real: FeatureSet, fake: FeatureSet, seed: int) -> dict[str, Any]:
    density, coverage = density_coverage(real.need_features("real"), fake.need_features("fake"))
    return {"density": density, "coverage": coverage}


def _modes(real: FeatureSet, fake: FeatureSet, seed: int) -> dict[str, Any]:
    counts = class_histogram(fake.need_logits("modes"))
    return {"modes": int((counts > 0).sum()), "class_kl": class_kl_to_uniform(counts),
            "class_counts": [int(c) for c in counts]}


METRICS.add("fid", Metric(_fid, keys=("fid",)), help="Frechet distance of the feature Gaussians (lower is better)")
METRICS.add("kid", Metric(_kid, keys=("kid", "kid_std")),
            help="kernel distance: unbiased MMD^2, cubic kernel, 100 subsets of <= 1,000 (lower is better)")
METRICS.add("is", Metric(_is, uses_real=False, keys=("is", "is_std")),
            help="inception score from the extractor's logits, 10 splits (higher is better)")
METRICS.add("pr", Metric(_pr, keys=("precision", "recall")),
            help="precision and recall of Kynkaanniemi et al., k = 3 (higher is better)")
METRICS.add("dc", Metric(_dc, keys=("density", "coverage")),
            help="density and coverage of Naeem et al., k = 5 (higher is better)")
METRICS.add("modes", Metric(_modes, uses_real=False, keys=("modes", "class_kl")),
            help="classifier extractors: classes predicted at least once, KL(class histogram || uniform)")


def compute_metrics(names: list[str], real: FeatureSet, fake: FeatureSet, seed: int = 0) -> dict[str, Any]:
    """Run each named metric on the two sets; the union of their values, in the order asked."""
    out: dict[str, Any] = {}
    for name in names:
        out.update(METRICS.get(name).compute(real, fake, seed))
    return out


def parse_metric_names(text: str | list[str], *registries: Registry) -> list[str]:
    """'fid,kid' or ['fid', 'kid'] -> names known to METRICS (or one of `registries`), duplicates dropped, in order."""
    known = [METRICS, *registries]
    choices = sorted(name for registry in known for name in registry.names())
    items = text.split(",") if isinstance(text, str) else list(text)
    names = list(dict.fromkeys(item.strip() for item in items if item.strip()))
    if not names:
        raise GanforgeError(f"no metric named; choose from: {', '.join(choices)}")
    for name in names:
        if not any(name in registry for registry in known):
            close = difflib.get_close_matches(name, choices, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise GanforgeError(f"unknown metric '{name}'{hint}; choose from: {', '.join(choices)}")
    return names
