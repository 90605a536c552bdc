"""Embedding images into the latent space (the book's "wardrobe")."""

from __future__ import annotations

from dataclasses import dataclass
import numpy as np
from torch import nn

from vaelab.data.image_set import ImageSet
from vaelab.latent.codec import encode_images


@dataclass
class Embedding:
    """Latent points z [N, latent_dim] of N images, with their labels and class names."""

    z: np.ndarray
    labels: np.ndarray | None
    class_names: tuple[str, ...]

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Per-dimension minimum and maximum (the bounding box the book samples in)."""
        return self.z.min(axis=0), self.z.max(axis=0)


def embed(model: nn.Module, images: ImageSet, count: int | None = 5000) -> Embedding:
    """Encode the first ``count`` images (the book embeds the first 5,000 test images)."""
    subset = images.head(count)
    return Embedding(encode_images(model, subset.images), subset.labels, subset.class_names)
