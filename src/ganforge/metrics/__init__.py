"""GAN metrics: feature extractors (EXTRACTORS), metrics of features (METRICS), reference statistics, evaluation.

Importing this package registers the extractors (`inception`, `lenet-mnist`, `random-conv`) without loading any
weights; weights are read when an extractor is built.
"""

from __future__ import annotations

from . import inception, lenet, random_conv  # noqa: F401  (registration)
from .extractors import EXTRACTORS, Extractor, ExtractorOptions, build_extractor, default_extractor
from .scores import (METRICS, FeatureSet, compute_metrics, density_coverage, frechet_distance, inception_score,
                     kernel_distance, parse_metric_names, precision_recall)

__all__ = ["EXTRACTORS", "METRICS", "Extractor", "ExtractorOptions", "FeatureSet", "build_extractor",
           "compute_metrics", "default_extractor", "density_coverage", "frechet_distance", "inception_score",
           "kernel_distance", "parse_metric_names", "precision_recall"]
