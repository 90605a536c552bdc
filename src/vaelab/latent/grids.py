"""Decoding a regular grid of latent points (2-D latent spaces)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from torch import nn

from vaelab.errors import ConfigError
from vaelab.latent.codec import decode_points
from vaelab.latent.embedding import Embedding


@dataclass
class LatentGrid:
    """Images decoded at grid points: ``images[r, c]`` is decoded at (``xs[c]``, ``ys[r]``).

    Rows run from the largest y (top) to the smallest, so the mosaic reads like a plot.
    """

    xs: np.ndarray
    ys: np.ndarray
    images: np.ndarray

    @property
    def points(self) -> np.ndarray:
        """The grid points in row-major order [rows·cols, 2]."""
        gx, gy = np.meshgrid(self.xs, self.ys)
        return np.stack([gx.ravel(), gy.ravel()], axis=1).astype(np.float32)


def decode_grid(model: nn.Module, embedding: Embedding, size: int = 15) -> LatentGrid:
    """A ``size``×``size`` grid spanning the embeddings' min–max on each axis, decoded."""
    if embedding.z.shape[1] != 2:
        raise ConfigError(f"a latent grid needs a 2-D latent space; this model has {embedding.z.shape[1]} dimensions")
    if size < 2:
        raise ConfigError(f"--size must be at least 2, got {size}")
    low, high = embedding.bounds()
    xs = np.linspace(low[0], high[0], size, dtype=np.float32)
    ys = np.linspace(high[1], low[1], size, dtype=np.float32)
    grid = LatentGrid(xs, ys, np.empty(0))
    images = decode_points(model, grid.points)
    grid.images = images.reshape(size, size, *images.shape[1:])
    return grid
