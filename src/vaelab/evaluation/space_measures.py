"""The latent space's part of a diagnosis (:class:`SpaceMeasures`), and its measures for a continuous
latent space (:func:`continuous_space_measures`); those of discrete code grids are in
:mod:`vaelab.evaluation.code_diagnostics`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from vaelab.data.image_set import ImageSet
from vaelab.evaluation.sampling import SampleSet
from vaelab.latent.diagnostics import centring_and_bounds, far_from_data, region_shares


@dataclass
class SpaceMeasures:
    """A latent space's part of the diagnosis: P1's additions (``crowding``), P2 (``centring``), P3's
    additions (``holes``), and per sample whether it lies in a hole (``far``) and its distance to the
    nearest training embedding (``distances``: Euclidean, or Hamming in positions for code grids)."""

    crowding: dict[str, Any]
    centring: dict[str, Any]
    holes: dict[str, Any]
    far: np.ndarray
    distances: np.ndarray


def continuous_space_measures(
    samples: SampleSet, train_set: ImageSet, num_classes: int, percentile: float, region_samples: int
) -> SpaceMeasures:
    """The measures of a continuous latent space: each class's share of the latent region (P1),
    centring and bounds (P2), and the samples far from every training embedding (P3)."""
    labels = train_set.labels
    region = (
        region_shares(samples.train_z, labels, num_classes, region_samples, samples.seed)
        if labels is not None
        else None
    )
    far, threshold, distances = far_from_data(samples.train_z, samples.points, percentile)
    holes = {
        "hole_fraction": float(np.mean(far)),
        "distance_threshold": threshold,
        "percentile": percentile,
        "median_sample_distance": float(np.median(distances)),
    }
    return SpaceMeasures({"latent_region": region}, centring_and_bounds(samples.train_z), holes, far, distances)
