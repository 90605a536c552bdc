"""The chapter's three problems of a latent space, measured geometrically.

The book shows them by eye on the plain autoencoder's scatter:

1. **Crowding** — some classes occupy tiny regions, so sampling the space favours the others.
   :func:`region_shares` measures each class's share of the latent region: points drawn uniformly
   in the embeddings' bounding box are labelled with the class of their nearest embedding (a
   Monte-Carlo estimate of each class's Voronoi area inside the box). A fair space gives each
   class about its share of the data.
2. **Centring and bounds** — the distribution is neither centred on 0 nor bounded, so there is
   no principled way to pick a random point. :func:`centring_and_bounds` compares the embeddings
   with N(0, I), the distribution one would like to sample from.
3. **Holes** — regions between the classes decode to nothing. :func:`hole_fraction` counts the
   samples that fall farther from every training embedding than almost all training embeddings
   are from their nearest neighbour.

The judge-based halves of problems 1 and 3 (what the decoded samples look like) live in
:mod:`vaelab.evaluation.diagnostics`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from vaelab.latent.samplers import uniform_box


def nearest_neighbour_distances(reference: np.ndarray, queries: np.ndarray, exclude_self: bool = False) -> np.ndarray:
    """Distance from each query to its nearest reference point (excluding the point itself
    when ``exclude_self`` and the queries are the reference)."""
    from sklearn.neighbors import NearestNeighbors

    index = NearestNeighbors(n_neighbors=2 if exclude_self else 1).fit(reference)
    distances, _ = index.kneighbors(queries)
    return distances[:, -1]


def nearest_labels(reference: np.ndarray, labels: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """The label of each query's nearest reference point."""
    from sklearn.neighbors import NearestNeighbors

    _, index = NearestNeighbors(n_neighbors=1).fit(reference).kneighbors(queries)
    return labels[index[:, 0]]


def region_shares(
    z: np.ndarray, labels: np.ndarray, num_classes: int, samples: int = 20000, seed: int = 0
) -> dict[str, Any]:
    """Each class's share of the embeddings' bounding box (nearest-embedding labelling of
    ``samples`` uniform points) beside its share of the embeddings themselves."""
    points = uniform_box(z.min(axis=0), z.max(axis=0), samples, seed)
    region = np.bincount(nearest_labels(z, labels, points), minlength=num_classes) / samples
    data = np.bincount(labels, minlength=num_classes) / len(labels)
    return {
        "region_share": region.tolist(),
        "data_share": data.tolist(),
        "smallest_region_ratio": float(np.min(region / np.maximum(data, 1e-12))),
        "largest_region_ratio": float(np.max(region / np.maximum(data, 1e-12))),
        "samples": samples,
    }


def centring_and_bounds(z: np.ndarray) -> dict[str, Any]:
    """How far the embeddings are from N(0, I).

    * ``mean_in_sd`` — each dimension's mean divided by its standard deviation (0 when centred),
      and ``mean_in_sd_norm`` its Euclidean norm;
    * ``cov_minus_identity_fro`` — the Frobenius norm of (covariance − I), and ``cov_eigenvalues``;
    * ``kl_gaussian_to_standard`` — KL(N(μ, Σ) ‖ N(0, I)) of the Gaussian fitted to z, nats;
    * ``beyond_3sd`` — the fraction of points with some |z_i| > 3 (3 standard deviations of the
      prior; 0.0054 for N(0, I) in 2-D, 0.042 in 16-D);
    * ``extent`` — max − min per dimension and ``max_norm`` the largest ‖z‖.
    """
    z = np.asarray(z, np.float64)
    d = z.shape[1]
    mean = z.mean(axis=0)
    sd = z.std(axis=0)
    cov = np.atleast_2d(np.cov(z, rowvar=False))
    sign, logdet = np.linalg.slogdet(cov)
    kl = 0.5 * (np.trace(cov) + mean @ mean - d - logdet) if sign > 0 else float("inf")
    mean_in_sd = mean / np.maximum(sd, 1e-12)
    return {
        "mean": mean.tolist(),
        "sd": sd.tolist(),
        "mean_in_sd": mean_in_sd.tolist(),
        "mean_in_sd_norm": float(np.linalg.norm(mean_in_sd)),
        "cov_minus_identity_fro": float(np.linalg.norm(cov - np.eye(d))),
        "cov_eigenvalues": np.linalg.eigvalsh(cov).tolist(),
        "kl_gaussian_to_standard": float(kl),
        "beyond_3sd": float(np.mean(np.abs(z).max(axis=1) > 3.0)),
        "extent": (z.max(axis=0) - z.min(axis=0)).tolist(),
        "max_norm": float(np.linalg.norm(z, axis=1).max()),
    }


def far_from_data(
    train_z: np.ndarray, samples: np.ndarray, percentile: float = 99.0
) -> tuple[np.ndarray, float, np.ndarray]:
    """Which ``samples`` are farther from every training embedding than the ``percentile``-th
    percentile of the training embeddings' own nearest-neighbour distances: (mask, that
    threshold, each sample's distance to its nearest training embedding)."""
    threshold = float(np.percentile(nearest_neighbour_distances(train_z, train_z, exclude_self=True), percentile))
    distances = nearest_neighbour_distances(train_z, samples)
    return distances > threshold, threshold, distances


def hole_fraction(train_z: np.ndarray, samples: np.ndarray, percentile: float = 99.0) -> dict[str, float]:
    """The fraction of ``samples`` that are :func:`far_from_data`, with the threshold used."""
    far, threshold, distances = far_from_data(train_z, samples, percentile)
    return {
        "hole_fraction": float(np.mean(far)),
        "distance_threshold": threshold,
        "percentile": percentile,
        "median_sample_distance": float(np.median(distances)),
    }
