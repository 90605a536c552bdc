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
"""

from __future__ import annotations

from typing import Any

import numpy as np

from vaelab.data.image_set import ImageSet
from vaelab.evaluation.coverage import class_distribution
from vaelab.evaluation.judge import Judge, judge_summary
from vaelab.evaluation.sampling import SampleSet
from vaelab.latent.diagnostics import centring_and_bounds, hole_fraction, region_shares

#: Below this top probability the judge is "not confident" about a decoded sample.
CONFIDENCE = 0.5


def diagnose(samples: SampleSet, train_set: ImageSet, judge: Judge, region_samples: int = 20000) -> dict[str, Any]:
    """All three problems' numbers for ``samples`` (drawn from the training-set embeddings)."""
    probabilities = judge.predict_proba(samples.images)
    distribution = class_distribution(probabilities)
    num_classes = probabilities.shape[1]
    labels = train_set.labels
    top = probabilities.max(axis=1)
    return {
        "judge": judge_summary(judge),
        "sampler": samples.sampler,
        "samples": len(samples.points),
        "seed": samples.seed,
        "p1_crowding": {
            **distribution,
            "latent_region": region_shares(samples.train_z, labels, num_classes, region_samples, samples.seed)
            if labels is not None
            else None,
        },
        "p2_centring": centring_and_bounds(samples.train_z),
        "p3_holes": {
            "unconfident_fraction": float(np.mean(top < CONFIDENCE)),
            "confidence_threshold": CONFIDENCE,
            **hole_fraction(samples.train_z, samples.points),
        },
    }
