"""Generating new items by decoding sampled latent points."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from vaelab.latent.codec import decode_points
from vaelab.latent.embedding import Embedding
from vaelab.latent.samplers import make_sampler
from vaelab.models.base import LatentModel


@dataclass
class Generated:
    """Sampled latent points [n, d], their decoded images [n, C, H, W] and how they were drawn."""

    points: np.ndarray
    images: np.ndarray
    sampler: str
    seed: int
    sampler_details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready description (points as lists)."""
        return {**self.sampler_details, "sampler": self.sampler, "seed": self.seed, "points": self.points.tolist()}


def generate(
    model: LatentModel,
    embedding: Embedding,
    count: int = 18,
    seed: int = 0,
    sampler: str = "uniform-box",
    fit_to: np.ndarray | None = None,
) -> Generated:
    """Decode ``count`` points drawn by ``sampler`` fitted to ``fit_to`` (default: the
    embeddings). See :mod:`vaelab.latent.samplers`; the book uses ``uniform-box`` for its AE and
    ``prior`` for its VAE."""
    fitted = make_sampler(sampler, model).fit(embedding.z if fit_to is None else fit_to)
    points = fitted.sample(count, seed)
    return Generated(points, decode_points(model, points), fitted.name, seed, fitted.describe())
