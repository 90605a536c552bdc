"""The chapter's three latent-space problems as numbers (``vaelab diagnose``).

Geometric measures come from :mod:`vaelab.latent.diagnostics`; this module adds the judge's
view of the decoded samples:

* **P1 crowding** — the judge's class distribution over decoded samples, against uniform: the
  KL divergence from uniform (nats; 0 when every class is generated equally often, ln 10 = 2.30
  when only one is) and the ratio of the most to the least generated class; beside it, each
  class's share of the latent region.
* **P2 centring and bounds** — :func:`vaelab.latent.diagnostics.centring_and_bounds` of the
  training-set embeddings.
* **P3 holes** — the fraction of decoded samples the judge cannot classify with confidence
  (top probability under 0.5), and the fraction of samples farther from every training embedding
  than the 99th percentile of the training set's nearest-neighbour distances.

For a conditional model (``cvae``) the class is not in z but chosen when decoding, and the samples
are drawn under every class in turn, so the three problems read differently:

* P1 — the sampler cannot crowd out a class (each is asked for equally often); the judge's class
  shares show whether the decoder honours the class asked for, and so does
  ``p1_crowding.conditional_accuracy`` (:mod:`vaelab.evaluation.conditional`). The latent region
  shares measure how much the classes still separate in z (for a cvae they overlap: z holds the
  style, so its regions say little).
* P2 — unchanged: the training embeddings (each image encoded with its class) against N(0, I).
* P3 — unchanged: samples the judge is unsure of, and samples far from every training embedding.

For a family with discrete codes (``vq-vae``) the judge's halves stay, and the latent space's are
measured on code grids instead (:mod:`vaelab.evaluation.code_diagnostics`): code usage and its
entropy per class for P1, a one-line reason in place of P2's numbers, and Hamming distances to the
nearest training grid for P3's holes. A class-conditional prior draws every class in turn, so its
conditional accuracy is reported as a cvae's is.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from vaelab.data.image_set import ImageSet
from vaelab.errors import ConfigError
from vaelab.evaluation.code_diagnostics import code_space_measures
from vaelab.evaluation.conditional import conditional_accuracy
from vaelab.evaluation.coverage import class_coverage
from vaelab.evaluation.judge import Judge, judge_summary
from vaelab.evaluation.sampling import SampleSet
from vaelab.evaluation.space_measures import continuous_space_measures
from vaelab.latent.projection import check_shown_in_plane

#: Below this top probability the judge is "not confident" about a decoded sample.
CONFIDENCE = 0.5


#: The percentile of the training embeddings' nearest-neighbour distances beyond which a sample
#: is in a hole.
HOLE_PERCENTILE = 99.0


@dataclass
class Diagnosis:
    """The numbers (``summary``, JSON-ready) and, per sample, whether the judge was unsure, whether
    the sample lies in a hole, and its distance to the nearest training embedding (Euclidean; for
    code grids, Hamming in positions)."""

    summary: dict[str, Any]
    unconfident: np.ndarray
    far: np.ndarray
    distances: np.ndarray


#: Training images needed: the hole threshold comes from each embedding's nearest other one.
MIN_TRAIN_IMAGES = 2


def check_diagnosis_request(latent_dim: int, train_images: int) -> None:
    """A :class:`ConfigError`, before any work, when :func:`diagnose` and its figure cannot be
    made: a latent space that cannot be drawn in a plane, or fewer than
    :data:`MIN_TRAIN_IMAGES` training images."""
    check_shown_in_plane(latent_dim)
    _check_train_images(train_images)


def _check_train_images(count: int) -> None:
    if count < MIN_TRAIN_IMAGES:
        raise ConfigError(
            f"diagnose needs at least {MIN_TRAIN_IMAGES} training images (holes are measured from each embedding's "
            f"nearest other one) but has {count}; use --limit-train {MIN_TRAIN_IMAGES} or more"
        )


def diagnose(
    samples: SampleSet,
    train_set: ImageSet,
    judge: Judge,
    region_samples: int = 20000,
    progress: bool = False,
    *,
    probabilities: np.ndarray | None = None,
) -> Diagnosis:
    """All three problems' numbers for ``samples`` (drawn from the training-set embeddings): the
    judge's view for every family, and the latent space's measures, of a continuous space or of
    discrete code grids (:mod:`vaelab.evaluation.code_diagnostics`, whose Hamming distances show a
    bar when ``progress``). ``probabilities``, the judge's of the samples' images computed already
    (:meth:`~vaelab.evaluation.judge.Judge.scores`), saves computing them again."""
    _check_train_images(len(samples.train_z))
    if probabilities is None:
        probabilities = judge.predict_proba(samples.images)
    coverage = class_coverage(probabilities, class_names=train_set.class_names)
    shares = coverage.distribution.shares
    unconfident = probabilities.max(axis=1) < CONFIDENCE
    if samples.discrete:
        space = code_space_measures(samples, train_set, HOLE_PERCENTILE, progress)
    else:
        space = continuous_space_measures(samples, train_set, probabilities.shape[1], HOLE_PERCENTILE, region_samples)
    summary: dict[str, Any] = {
        "judge": judge_summary(judge),
        "sampler": samples.sampler,
        "samples": len(samples.points),
        "seed": samples.seed,
        "p1_crowding": {
            "kl_from_uniform": coverage.kl_from_uniform,
            "max_class_share": float(shares.max()),
            "min_class_share": float(shares.min()),
            "max_min_share_ratio": float(shares.max() / shares.min()) if shares.min() > 0 else None,
            "class_shares": dict(zip(train_set.class_names, map(float, shares), strict=True)),
            **space.crowding,
        },
        "p2_centring": space.centring,
        "p3_holes": {
            "unconfident_fraction": float(np.mean(unconfident)),
            "confidence_threshold": CONFIDENCE,
            **space.holes,
        },
    }
    if samples.labels is not None:  # a conditional model or prior: were the classes asked for drawn?
        summary["p1_crowding"]["conditional_accuracy"] = conditional_accuracy(
            probabilities, samples.labels, train_set.class_names
        )
    return Diagnosis(summary, unconfident, space.far, space.distances)
