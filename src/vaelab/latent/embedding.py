"""Embedding images into the latent space (the book's "wardrobe")."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from vaelab.data.image_set import ImageSet
from vaelab.latent.codec import conditions_of, encode_images
from vaelab.latent.projection import Projection, fit_projection, tsne_plane
from vaelab.models.base import LatentModel


@dataclass
class Embedding:
    """Latent points z [N, latent_dim] of N images, with their labels and class names.

    ``projection`` is the plane the embeddings are shown in (the identity for a 2-D latent
    space, PCA otherwise); it is fitted to ``z`` when not given.
    """

    z: np.ndarray
    labels: np.ndarray | None
    class_names: tuple[str, ...]
    projection: Projection = field(default=None)  # type: ignore[assignment]  # None only until __post_init__ fits it
    view: np.ndarray | None = None
    view_labels: tuple[str, str] | None = None

    def __post_init__(self) -> None:
        if (self.view is None) != (self.view_labels is None):
            raise ValueError("an embedding's view comes with its axis labels")
        if self.projection is None:
            self.projection = fit_projection(self.z)

    @property
    def plane(self) -> np.ndarray:
        """The embeddings as shown [N, 2]: ``view`` when one was set (e.g. t-SNE), else the
        projection's plane."""
        return self.view if self.view is not None else self.projection.project(self.z)

    def axis_labels(self) -> tuple[str, str]:
        """What the axes of :attr:`plane` are."""
        return self.view_labels if self.view_labels is not None else self.projection.axis_labels()

    def with_tsne(self, seed: int = 0) -> Embedding:
        """A copy shown through t-SNE (for a latent space over 2-D; a 2-D space is shown as is)."""
        if self.z.shape[1] <= 2:
            return self
        return replace(self, view=tsne_plane(self.z, seed), view_labels=("t-SNE 1", "t-SNE 2"))

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Per-dimension minimum and maximum (the bounding box the book samples in)."""
        return self.z.min(axis=0), self.z.max(axis=0)


def embed(
    model: LatentModel, images: ImageSet, count: int | None = 5000, sampled: bool = False, seed: int = 0
) -> Embedding:
    """Encode the first ``count`` images (the book embeds the first 5,000 test images).

    A VAE's embeddings are its encoder means unless ``sampled`` (see
    :func:`~vaelab.latent.codec.encode_images`); a conditional model encodes each image with its class.
    """
    subset = images.head(count)
    z = encode_images(model, subset.images, sampled=sampled, seed=seed, labels=conditions_of(model, subset))
    return Embedding(z, subset.labels, subset.class_names)
