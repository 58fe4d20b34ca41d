"""GAN metrics: feature extractors (EXTRACTORS), metrics of features (METRICS), reference statistics, evaluation.

Importing this package registers the extractors (`inception`, `lenet-mnist`, `random-conv`, `shapes-segmenter`),
the stacked-MNIST mode counter, PPL (`ppl`) and translation equivariance (`eqt`) without loading any weights;
weights are read when an extractor is built.
"""

from __future__ import annotations

from ..config import Config
from ..errors import GanforgeError
from . import equivariance, inception, lenet, ppl, random_conv, segmenter, stacked  # noqa: F401  (registration)
from .conditional import GENERATOR_METRICS, GeneratorProbe
from .extractors import EXTRACTORS, Extractor, ExtractorOptions, build_extractor, default_extractor
from .scores import (METRICS, FeatureSet, compute_metrics, density_coverage, frechet_distance, inception_score,
                     kernel_distance, parse_metric_names, precision_recall)


def check_config(config: Config) -> None:
    """eval.*: metric and extractor names, checked before any training starts."""
    e = config.eval
    try:
        parse_metric_names(e.metrics, GENERATOR_METRICS)
    except GanforgeError as error:
        raise GanforgeError(f"eval.metrics: {error}") from None
    if e.extractor and e.extractor not in EXTRACTORS:
        raise GanforgeError(f"eval.extractor: {EXTRACTORS.unknown_message(e.extractor)} (or empty for the default)")


__all__ = ["EXTRACTORS", "GENERATOR_METRICS", "METRICS", "GeneratorProbe", "Extractor", "ExtractorOptions", "FeatureSet", "build_extractor", "check_config",
           "compute_metrics", "default_extractor", "density_coverage", "frechet_distance", "inception_score",
           "kernel_distance", "parse_metric_names", "precision_recall"]
