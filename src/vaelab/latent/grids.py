"""Decoding a regular grid of latent points (in the projection plane for latent spaces over 2-D)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from torch import nn

from vaelab.errors import ConfigError
from vaelab.latent.codec import decode_points
from vaelab.latent.embedding import Embedding
from vaelab.latent.projection import Projection


@dataclass
class LatentGrid:
    """Images decoded at grid points: ``images[r, c]`` is decoded at plane point
    (``xs[c]``, ``ys[r]``), i.e. at latent point ``projection.lift`` of it.

    Rows run from the largest y (top) to the smallest, so the mosaic reads like a plot.
    """

    xs: np.ndarray
    ys: np.ndarray
    images: np.ndarray
    projection: Projection

    @property
    def points(self) -> np.ndarray:
        """The grid points in the plane, row-major [rows·cols, 2]."""
        gx, gy = np.meshgrid(self.xs, self.ys)
        return np.stack([gx.ravel(), gy.ravel()], axis=1).astype(np.float32)

    @property
    def latent_points(self) -> np.ndarray:
        """The grid points in the latent space [rows·cols, latent_dim]."""
        return self.projection.lift(self.points)


def decode_grid(model: nn.Module, embedding: Embedding, size: int = 15) -> LatentGrid:
    """A ``size``×``size`` grid spanning the embeddings' min–max on each axis of their plane
    (the latent axes themselves for a 2-D space), decoded."""
    if size < 2:
        raise ConfigError(f"--size must be at least 2, got {size}")
    plane = embedding.plane
    low, high = plane.min(axis=0), plane.max(axis=0)
    xs = np.linspace(low[0], high[0], size, dtype=np.float32)
    ys = np.linspace(high[1], low[1], size, dtype=np.float32)
    grid = LatentGrid(xs, ys, np.empty(0), embedding.projection)
    images = decode_points(model, grid.latent_points)
    grid.images = images.reshape(size, size, *images.shape[1:])
    return grid
