"""Decoding regular grids of latent points.

Two grids, both ``size``×``size`` and both returned as a :class:`LatentGrid`:

* :func:`decode_grid` — the book's AE grid: evenly spaced over the embeddings' min–max in their
  plane (the latent axes for a 2-D space, the PCA plane otherwise);
* :func:`decode_quantile_grid` — the book's VAE grid: evenly spaced *probabilities* on each of
  the first two latent axes, mapped through the inverse normal CDF (other dimensions at 0, the
  prior's mode). The book feeds it the quantiles 0 and 1, i.e. ±∞; vaelab uses the open-interval
  midpoints (i + ½)/size, so every point is finite (±1.83 at the edges for size 15).

A conditional model (``cvae``) decodes every point of a grid under one class, ``condition``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vaelab.errors import ConfigError
from vaelab.latent.codec import decode_points
from vaelab.latent.embedding import Embedding
from vaelab.latent.normal import normal_quantile
from vaelab.models.base import LatentModel


@dataclass
class LatentGrid:
    """Images decoded at grid points.

    ``images[r, c]`` is decoded from ``latent_points[r * cols + c]``, which sits at plane
    coordinates (``xs[c]``, ``ys[r]``) of the figure's axes (named by ``axis_labels``). Rows run
    from the largest y (top) to the smallest, so the mosaic reads like a plot. ``condition`` is the
    class every point was decoded under (a conditional model's), None otherwise.
    """

    xs: np.ndarray
    ys: np.ndarray
    images: np.ndarray
    latent_points: np.ndarray
    axis_labels: tuple[str, str]
    condition: int | None = None

    @property
    def points(self) -> np.ndarray:
        """The grid points in plane coordinates, row-major [rows·cols, 2]."""
        return plane_points(self.xs, self.ys)


def plane_points(xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """All (x, y) pairs, row-major with y as the row, [len(ys)·len(xs), 2]."""
    gx, gy = np.meshgrid(xs, ys)
    return np.stack([gx.ravel(), gy.ravel()], axis=1).astype(np.float32)


def _check_size(size: int) -> None:
    if size < 2:
        raise ConfigError(f"--size must be at least 2, got {size}")


def _decoded(
    model: LatentModel,
    xs: np.ndarray,
    ys: np.ndarray,
    latent: np.ndarray,
    labels: tuple[str, str],
    condition: int | None = None,
) -> LatentGrid:
    classes = None if condition is None else np.full(len(latent), condition, np.int64)
    images = decode_points(model, latent, labels=classes)
    return LatentGrid(xs, ys, images.reshape(len(ys), len(xs), *images.shape[1:]), latent, labels, condition)


def check_grid_applies(model: LatentModel) -> None:
    """A :class:`ConfigError` for a family with discrete codes (``vq-vae``): a grid spans a plane of a
    continuous latent space, and most of its points are no grid of codes at all."""
    if not model.continuous_codes:
        raise ConfigError(
            f"a latent grid decodes evenly spaced points of a continuous latent space, and the {model.family} "
            "family's codes are discrete; see its reconstructions (`vaelab reconstruct`) instead"
        )


def decode_grid(model: LatentModel, embedding: Embedding, size: int = 15, condition: int | None = None) -> LatentGrid:
    """A ``size``×``size`` grid spanning the embeddings' min–max on each axis of their plane
    (the latent axes themselves for a 2-D space), decoded (under class ``condition``, for a
    conditional model). Refused for discrete codes (:func:`check_grid_applies`)."""
    check_grid_applies(model)
    _check_size(size)
    plane = embedding.plane
    low, high = plane.min(axis=0), plane.max(axis=0)
    xs = np.linspace(low[0], high[0], size, dtype=np.float32)
    ys = np.linspace(high[1], low[1], size, dtype=np.float32)
    latent = embedding.projection.lift(plane_points(xs, ys))
    return _decoded(model, xs, ys, latent, embedding.projection.axis_labels(), condition)


def open_quantiles(size: int) -> np.ndarray:
    """``size`` probabilities (i + ½)/size, evenly spaced strictly inside (0, 1)."""
    return ((np.arange(size) + 0.5) / size).astype(np.float32)


def decode_quantile_grid(
    model: LatentModel, latent_dim: int, size: int = 15, condition: int | None = None
) -> LatentGrid:
    """The VAE grid: open-interval quantiles of N(0, 1) on z[0] and z[1], others at 0, decoded
    (under class ``condition``, for a conditional model).

    The plane coordinates are the probabilities Φ(z[0]), Φ(z[1]), so the figure's axes run over
    (0, 1) like the book's. Refused for discrete codes (:func:`check_grid_applies`).
    """
    check_grid_applies(model)
    _check_size(size)
    if latent_dim < 2:
        raise ConfigError("a latent grid needs at least 2 latent dimensions")
    xs = open_quantiles(size)
    ys = xs[::-1].copy()
    plane = plane_points(xs, ys)
    latent = np.zeros((len(plane), latent_dim), np.float32)
    latent[:, :2] = normal_quantile(plane)
    return _decoded(model, xs, ys, latent, ("Φ(z[0])", "Φ(z[1])"), condition)
