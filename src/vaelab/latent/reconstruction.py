"""The book's first check: test images beside their reconstructions."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vaelab.data.image_set import ImageSet
from vaelab.latent.codec import conditions_of, decode_points, encode_images
from vaelab.models.base import LatentModel


@dataclass
class Reconstructions:
    """Originals and reconstructions, float32 [n, C, H, W] in [0, 1], with their labels."""

    originals: np.ndarray
    reconstructions: np.ndarray
    labels: np.ndarray | None
    class_names: tuple[str, ...]

    def mean_squared_error(self) -> float:
        """Mean squared error per pixel between originals and reconstructions."""
        return float(np.mean((self.originals - self.reconstructions) ** 2))


def reconstruct(model: LatentModel, images: ImageSet, count: int = 10) -> Reconstructions:
    """Encode and decode the first ``count`` images (the book shows the first 10 test images); a
    conditional model encodes and decodes each image under its own class."""
    subset = images.head(count)
    labels = conditions_of(model, subset)
    decoded = decode_points(model, encode_images(model, subset.images, labels=labels), labels=labels)
    originals = subset.images.astype(np.float32) / 255.0
    return Reconstructions(originals, decoded, subset.labels, subset.class_names)
