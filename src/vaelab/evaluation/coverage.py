"""Which classes a set of generated images covers, by the judge's verdict.

Each image is assigned to its most probable class under the judge (the argmax of its row of
probabilities). From these assignments:

* the class distribution: per class, the count and the share of the images assigned to it;
* the class coverage: the share of the K classes whose share of the images is at least
  ``min_share``, by default 1/(5·K), a fifth of the share each class would get if the classes were
  balanced (2 % for Fashion-MNIST's 10 classes). A class counts as covered when the model
  produces it at a noticeable rate, not merely once: any single image can be assigned to a class
  by a judge's mistake (a Fashion-MNIST classifier errs on several percent of real test images,
  spread over the classes), and "at least one image" would also depend on how many images were drawn. The 2 %
  bar is independent of the sample size and above what one class's confusions add to another;
  a model that never draws a class has that class well under it;
* the KL divergence of the class distribution p from the uniform one,
  KL(p ‖ U) = Σ p_k log(K p_k) = log K − H(p), in nats: 0 for perfectly balanced classes,
  log K (2.303 for K = 10) when every image falls in one class.

The test set of Fashion-MNIST is balanced (1,000 images per class), so a model that generates the
data's distribution has coverage 1 and a KL divergence near 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

SHARE_FRACTION = 5
"""A class is covered when its share is at least 1/(SHARE_FRACTION · K)."""


@dataclass(frozen=True)
class ClassDistribution:
    """How many images (``counts``, int64 [K]) and which share of them (``shares``, float [K]) each
    class received as its most probable class."""

    counts: np.ndarray
    shares: np.ndarray

    @property
    def num_images(self) -> int:
        return int(self.counts.sum())

    @property
    def num_classes(self) -> int:
        return len(self.counts)


@dataclass(frozen=True)
class ClassCoverage:
    """The result of :func:`class_coverage`; ``to_dict`` gives it as JSON-ready values."""

    coverage: float
    """Share of the classes covered (covered / K), in [0, 1]."""
    covered: tuple[int, ...]
    """The indices of the covered classes."""
    min_share: float
    """The share a class needed to count as covered."""
    kl_from_uniform: float
    """KL(class distribution ‖ uniform) in nats."""
    distribution: ClassDistribution
    class_names: tuple[str, ...] | None = None

    def to_dict(self) -> dict[str, Any]:
        names = self.class_names or tuple(str(k) for k in range(self.distribution.num_classes))
        classes = zip(names, self.distribution.counts, self.distribution.shares, strict=True)
        return {
            "coverage": self.coverage,
            "covered_classes": len(self.covered),
            "num_classes": self.distribution.num_classes,
            "min_share": self.min_share,
            "kl_from_uniform": self.kl_from_uniform,
            "num_images": self.distribution.num_images,
            "per_class": {
                name: {"count": int(count), "share": float(share), "covered": k in self.covered}
                for k, (name, count, share) in enumerate(classes)
            },
        }


def class_distribution(probabilities: np.ndarray) -> ClassDistribution:
    """Counts and shares of each class as the most probable class of probabilities [N, K] (N ≥ 1)."""
    p = _as_probabilities(probabilities)
    counts = np.bincount(p.argmax(axis=1), minlength=p.shape[1]).astype(np.int64)
    return ClassDistribution(counts, counts / counts.sum())


def kl_from_uniform(shares: np.ndarray) -> float:
    """KL(p ‖ uniform) = Σ p_k log(K p_k) in nats (0 · log 0 = 0) for a distribution ``shares`` [K]."""
    p = np.asarray(shares, dtype=np.float64)
    nonzero = p[p > 0]
    return max(float(np.sum(nonzero * np.log(len(p) * nonzero))), 0.0)


def class_coverage(
    probabilities: np.ndarray, min_share: float | None = None, class_names: Sequence[str] | None = None
) -> ClassCoverage:
    """Class coverage, class distribution and KL from uniform of judge probabilities [N, K].

    ``min_share`` defaults to 1/(5·K) (2 % for 10 classes); see the module's documentation for the
    definitions and the reason for that bar.
    """
    distribution = class_distribution(probabilities)
    num_classes = distribution.num_classes
    if min_share is None:
        min_share = 1.0 / (SHARE_FRACTION * num_classes)
    if not 0 < min_share <= 1:
        raise ValueError(f"min_share must be in (0, 1], got {min_share}")
    if class_names is not None and len(class_names) != num_classes:
        raise ValueError(f"{len(class_names)} class names for {num_classes} classes")
    covered = tuple(int(k) for k in np.flatnonzero(distribution.shares >= min_share))
    return ClassCoverage(
        coverage=len(covered) / num_classes,
        covered=covered,
        min_share=float(min_share),
        kl_from_uniform=kl_from_uniform(distribution.shares),
        distribution=distribution,
        class_names=None if class_names is None else tuple(class_names),
    )


def _as_probabilities(probabilities: np.ndarray) -> np.ndarray:
    """``probabilities`` as float64 [N, K], N ≥ 1, K ≥ 2, rows non-negative and summing to 1 (±1e-3)."""
    p = np.asarray(probabilities, dtype=np.float64)
    if p.ndim != 2 or p.shape[0] < 1 or p.shape[1] < 2:
        raise ValueError(f"probabilities must be [N, K] with N >= 1 and K >= 2, got shape {p.shape}")
    if not np.all(np.isfinite(p)) or p.min() < 0:
        raise ValueError("probabilities must be finite and non-negative")
    if np.abs(p.sum(axis=1) - 1).max() > 1e-3:
        raise ValueError("each row of probabilities must sum to 1 (pass softmax outputs, not logits)")
    return p
