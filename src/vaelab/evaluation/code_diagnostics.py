"""The three problems' numbers for a family with discrete codes (``vq-vae``), beside the judge's.

:func:`vaelab.evaluation.diagnostics.diagnose` measures what the judge sees of the decoded samples
for every family (P1's class shares, P3's unsure share). This module gives, in place of the
measures of a continuous latent space, those of :mod:`vaelab.latent.code_usage`:

* P1 — ``code_usage`` of the training set's code grids (codes used of K, entropy in bits, overall
  and per class) and ``sample_code_usage`` of the sampled grids; ``latent_region`` (each class's
  share of a bounding box) says in one line why it has no meaning for codebook indices;
* P2 — ``not_applicable``: one line saying why (:data:`~vaelab.latent.code_usage.NO_CENTRING`);
* P3 — holes as novel grids: each sampled grid's Hamming distance, in positions, to its nearest
  training grid; ``hole_fraction`` the share farther than the ``percentile``-th percentile of the
  training grids' own nearest-other distances, ``copies_fraction`` the share equal to a training
  grid (what a prior that memorised would draw).
"""

from __future__ import annotations

import numpy as np

from vaelab.data.image_set import ImageSet
from vaelab.evaluation.sampling import SampleSet
from vaelab.evaluation.space_measures import SpaceMeasures
from vaelab.latent.code_usage import (
    NO_CENTRING,
    THRESHOLD_GRIDS,
    code_usage,
    far_from_training_grids,
    usage_counts,
    usage_summary,
)
from vaelab.progress import progress_bar

#: Why P1's latent-region shares have no number for discrete codes.
NO_LATENT_REGION = (
    "not defined for discrete codes: a bounding box of codebook indices has no area to share out; "
    "code_usage gives each class's codes and their entropy instead"
)


def code_space_measures(
    samples: SampleSet, train_set: ImageSet, percentile: float, progress: bool = False
) -> SpaceMeasures:
    """P1's code usage, P2's reason and P3's Hamming-distance numbers (see the module docstring)."""
    train_codes, codes = samples.train_codes, samples.codes
    if train_codes is None or codes is None:
        raise ValueError("code_space_measures needs the code grids of a family with discrete codes")
    size = samples.codebook_size
    crowding = {
        "latent_region": {"not_applicable": NO_LATENT_REGION},
        "code_usage": code_usage(train_codes, train_set.labels, size, train_set.class_names),
        "sample_code_usage": usage_summary(usage_counts(codes, size)),
    }
    far, threshold, distances = _hamming_holes(train_codes, codes, percentile, samples.seed, progress)
    positions = int(np.prod(codes.shape[1:]))
    holes = {
        "distance": "hamming",
        "positions": positions,
        "hole_fraction": float(np.mean(far)),
        "distance_threshold": threshold,
        "percentile": percentile,
        "threshold_grids": min(THRESHOLD_GRIDS, len(train_codes)),
        "median_sample_distance": float(np.median(distances)),
        "copies_fraction": float(np.mean(distances == 0)),
    }
    return SpaceMeasures(crowding, {"not_applicable": NO_CENTRING}, holes, far, distances)


def _hamming_holes(
    train_codes: np.ndarray, codes: np.ndarray, percentile: float, seed: int, progress: bool
) -> tuple[np.ndarray, float, np.ndarray]:
    """:func:`~vaelab.latent.code_usage.far_from_training_grids`, with a bar over the grids compared."""
    total = min(THRESHOLD_GRIDS, len(train_codes)) + len(codes)
    with progress_bar(total=total, desc="nearest training grids", unit="grid", enabled=progress) as bar:
        return far_from_training_grids(train_codes, codes, percentile, seed=seed, advance=bar.update)
