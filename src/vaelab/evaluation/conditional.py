"""Conditional accuracy: does a conditional model (``cvae``) draw the class it is asked for?

Each sample was decoded under a requested class c; the judge assigns it to its most probable class
(the argmax of its row of probabilities). The accuracy of class c is the share of the samples
requested as c that the judge assigns to c; vaelab reports it per class, its mean over the classes
(each class weighs the same, whatever its number of samples), the worst class, and the share of all
samples assigned to their requested class (``overall``, equal to the mean when the samples are
class-balanced, as :func:`vaelab.evaluation.sampling.draw_samples` draws them).

The judge errs on a few percent of real test images (shirts, T-shirts, pullovers and coats are
confused most), so a perfect generator scores about the judge's own per-class test accuracy, not 1.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def conditional_accuracy(
    probabilities: np.ndarray, requested: np.ndarray, class_names: Sequence[str]
) -> dict[str, Any]:
    """The judge's conditional accuracy of samples decoded under the classes ``requested``
    (int64 [N]) from its class ``probabilities`` [N, K], as JSON-ready data: ``per_class`` and
    ``samples_per_class`` by class name, ``mean`` over the classes that were requested,
    ``worst_class`` and ``worst`` (the lowest accuracy; the first such class on ties), ``overall``.
    A ValueError when the shapes or the class names do not agree."""
    probabilities = np.asarray(probabilities)
    requested = np.asarray(requested)
    if probabilities.ndim != 2 or requested.shape != (len(probabilities),):
        raise ValueError(f"{requested.shape} requested classes for probabilities of shape {probabilities.shape}")
    num_classes = probabilities.shape[1]
    if len(class_names) != num_classes:
        raise ValueError(f"{len(class_names)} class names for {num_classes} classes")
    if len(requested) == 0:
        raise ValueError("conditional accuracy needs at least one sample")
    if requested.min() < 0 or requested.max() >= num_classes:
        raise ValueError(f"requested classes must be from 0 to {num_classes - 1}")
    assigned = probabilities.argmax(axis=1)
    per_class: dict[str, float] = {}
    counts: dict[str, int] = {}
    for k, name in enumerate(class_names):
        mask = requested == k
        if mask.any():
            per_class[name] = float(np.mean(assigned[mask] == k))
            counts[name] = int(mask.sum())
    worst_class = min(per_class, key=lambda name: per_class[name])
    return {
        "per_class": per_class,
        "samples_per_class": counts,
        "mean": float(np.mean(list(per_class.values()))),
        "worst_class": worst_class,
        "worst": per_class[worst_class],
        "overall": float(np.mean(assigned == requested)),
    }
