"""Generating new items by decoding sampled latent points."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from torch import nn

from vaelab.latent.codec import decode_points
from vaelab.latent.embedding import Embedding
from vaelab.latent.samplers import uniform_box


@dataclass
class Generated:
    """Sampled latent points [n, d], their decoded images [n, C, H, W] and how they were drawn."""

    points: np.ndarray
    images: np.ndarray
    sampler: str
    seed: int

    def to_dict(self) -> dict:
        """JSON-ready description (points as lists)."""
        return {"sampler": self.sampler, "seed": self.seed, "points": self.points.tolist()}


def generate(model: nn.Module, embedding: Embedding, count: int = 18, seed: int = 0) -> Generated:
    """Decode ``count`` points drawn uniformly in the embeddings' bounding box (as the book)."""
    low, high = embedding.bounds()
    points = uniform_box(low, high, count, seed)
    return Generated(points, decode_points(model, points), "uniform-box", seed)
