"""Precision and recall of a generative model with k-nearest-neighbour manifolds.

After Kynkäänniemi et al., "Improved Precision and Recall Metric for Assessing Generative Models"
(NeurIPS 2019). Each set of feature vectors approximates its manifold by the union of balls
centred on its points, the radius of each ball being the distance from that point to its k-th
nearest neighbour in the same set (the point itself not counted). Then

* precision = the share of generated samples that lie inside the real images' manifold
  (how many samples look like real images);
* recall = the share of real images that lie inside the generated samples' manifold
  (how much of the real data the model can produce).

A point lies inside a manifold when it is within the radius of at least one of its balls
(boundary included). Distances are Euclidean, computed in float64 in chunks of rows, so
10,000 × 10,000 comparisons need only ``chunk`` × 10,000 × 8 bytes at a time (40 MB by default).
"""

from __future__ import annotations

import numpy as np
import torch

DEFAULT_K = 3
CHUNK = 500


def precision_recall(
    real_features: np.ndarray, fake_features: np.ndarray, k: int = DEFAULT_K, chunk: int = CHUNK
) -> tuple[float, float]:
    """(precision, recall) of generated features [M, D] against real features [N, D], both in [0, 1].

    Each set needs more than ``k`` points.
    """
    real = _as_tensor(real_features, "real_features", k)
    fake = _as_tensor(fake_features, "fake_features", k)
    if real.shape[1] != fake.shape[1]:
        raise ValueError(f"the feature sets differ in dimension: {real.shape[1]} and {fake.shape[1]}")
    real_radii = knn_radii(real, k, chunk)
    fake_radii = knn_radii(fake, k, chunk)
    precision = inside_manifold(fake, real, real_radii, chunk).double().mean().item()
    recall = inside_manifold(real, fake, fake_radii, chunk).double().mean().item()
    return precision, recall


def knn_radii(points: torch.Tensor, k: int = DEFAULT_K, chunk: int = CHUNK) -> torch.Tensor:
    """For each of ``points`` [N, D], the distance to its k-th nearest neighbour among the others.

    The point itself (at distance 0) is the nearest of its own row and is skipped; a duplicate of
    it counts as a neighbour at distance 0.
    """
    if not 1 <= k < len(points):
        raise ValueError(f"k must be at least 1 and less than the number of points ({len(points)}), got {k}")
    radii = []
    for begin in range(0, len(points), chunk):
        distances = torch.cdist(points[begin : begin + chunk], points)
        radii.append(distances.topk(k + 1, dim=1, largest=False).values[:, k])
    return torch.cat(radii)


def inside_manifold(
    queries: torch.Tensor, centres: torch.Tensor, radii: torch.Tensor, chunk: int = CHUNK
) -> torch.Tensor:
    """Bool [Q]: whether each query lies within ``radii[j]`` of some ``centres[j]``."""
    inside = []
    for begin in range(0, len(queries), chunk):
        distances = torch.cdist(queries[begin : begin + chunk], centres)
        inside.append((distances <= radii[None, :]).any(dim=1))
    return torch.cat(inside) if inside else torch.zeros(0, dtype=torch.bool)


def _as_tensor(features: np.ndarray, name: str, k: int) -> torch.Tensor:
    x = torch.as_tensor(np.asarray(features), dtype=torch.float64)
    if x.ndim != 2 or x.shape[1] < 1:
        raise ValueError(f"{name} must be feature vectors [N, D], got shape {tuple(x.shape)}")
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k < x.shape[0]:
        raise ValueError(
            f"k must be a whole number from 1 to {x.shape[0] - 1} ({name} has {x.shape[0]} points), got {k!r}"
        )
    if not torch.isfinite(x).all():
        raise ValueError(f"{name} holds NaN or infinite values")
    return x
