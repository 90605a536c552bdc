"""The Fréchet distance in the judge's feature space.

Each set of feature vectors is summarised by a Gaussian (its mean μ and covariance Σ) and the two
Gaussians are compared with the Fréchet (2-Wasserstein) distance between them, squared:

    d² = ‖μa − μb‖² + Tr(Σa + Σb − 2 (Σa Σb)^½)

This is the formula of the Fréchet Inception Distance, but the features come from vaelab's own
Fashion-MNIST judge (:mod:`vaelab.evaluation.judge`), not from the Inception network, so the
numbers are not FID values and cannot be compared with FIDs published elsewhere; they compare
models scored with the same judge (same hash).

The trace of the matrix square root is computed from a symmetric matrix:
Tr((Σa Σb)^½) = Tr((√Σa Σb √Σa)^½), whose eigenvalues are real and non-negative, so no complex
square root (and no discarded imaginary part) is involved. Everything is in float64.
"""

from __future__ import annotations

import numpy as np


def gaussian_stats(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean [D] and covariance [D, D] (unbiased, float64) of feature vectors [N, D], N ≥ 2."""
    x = _as_features(features, "features")
    return x.mean(axis=0), np.atleast_2d(np.cov(x, rowvar=False))


def frechet_distance(features_a: np.ndarray, features_b: np.ndarray) -> float:
    """The Fréchet distance in the judge's feature space between two sets of feature vectors.

    ``features_a`` [N, D] and ``features_b`` [M, D] (N, M ≥ 2) are each summarised by their mean
    and covariance (:func:`gaussian_stats`); returns the squared Fréchet distance of the two
    Gaussians (see :func:`frechet_distance_from_stats`). 0 for identical sets.
    """
    a = _as_features(features_a, "features_a")
    b = _as_features(features_b, "features_b")
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"the feature sets differ in dimension: {a.shape[1]} and {b.shape[1]}")
    return frechet_distance_from_stats(*gaussian_stats(a), *gaussian_stats(b))


def frechet_distance_from_stats(mu_a: np.ndarray, sigma_a: np.ndarray, mu_b: np.ndarray, sigma_b: np.ndarray) -> float:
    """‖μa − μb‖² + Tr(Σa + Σb − 2 (Σa Σb)^½) for Gaussians N(μa, Σa) and N(μb, Σb).

    Covariances must be symmetric positive semi-definite (tiny negative eigenvalues from rounding
    are clipped to 0). The result is never negative.
    """
    mu_a, mu_b = np.asarray(mu_a, np.float64), np.asarray(mu_b, np.float64)
    sigma_a, sigma_b = np.asarray(sigma_a, np.float64), np.asarray(sigma_b, np.float64)
    dim = mu_a.shape[0] if mu_a.ndim == 1 else -1
    if dim < 1 or mu_b.shape != (dim,) or sigma_a.shape != (dim, dim) or sigma_b.shape != (dim, dim):
        raise ValueError(
            f"expected means [D] and covariances [D, D]; "
            f"got {mu_a.shape}, {sigma_a.shape}, {mu_b.shape}, {sigma_b.shape}"
        )
    mean_term = float(np.sum((mu_a - mu_b) ** 2))
    root_a = _psd_sqrt(_symmetric(sigma_a))
    product = _symmetric(root_a @ _symmetric(sigma_b) @ root_a)
    cross = float(np.sum(np.sqrt(np.clip(np.linalg.eigvalsh(product), 0.0, None))))
    distance = mean_term + float(np.trace(sigma_a) + np.trace(sigma_b)) - 2.0 * cross
    return max(distance, 0.0)


def _psd_sqrt(matrix: np.ndarray) -> np.ndarray:
    """The symmetric square root of a symmetric positive semi-definite matrix (by eigen-decomposition)."""
    values, vectors = np.linalg.eigh(matrix)
    return (vectors * np.sqrt(np.clip(values, 0.0, None))) @ vectors.T


def _symmetric(matrix: np.ndarray) -> np.ndarray:
    return (matrix + matrix.T) / 2.0


def _as_features(features: np.ndarray, name: str) -> np.ndarray:
    """``features`` as a finite float64 array [N, D] with N ≥ 2; ValueError otherwise."""
    x = np.asarray(features, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < 2 or x.shape[1] < 1:
        raise ValueError(f"{name} must be feature vectors [N, D] with N >= 2, got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{name} holds NaN or infinite values")
    return x
