"""Drawing the samples that diagnostics and metrics judge."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from vaelab.data.image_set import ImageSet
from vaelab.latent.codec import decode_points, encode_images
from vaelab.latent.samplers import make_sampler
from vaelab.models.base import LatentModel


@dataclass
class SampleSet:
    """``count`` latent points drawn by a sampler fitted to the training-set embeddings
    ``train_z``, and the images decoded from them."""

    train_z: np.ndarray
    points: np.ndarray
    images: np.ndarray
    sampler: dict[str, Any]
    seed: int


def draw_samples(model: LatentModel, train_set: ImageSet, sampler: str, count: int, seed: int = 0) -> SampleSet:
    """Embed the training set, fit ``sampler`` to it (for ``uniform-box``, its bounding box;
    ``prior`` ignores it), draw ``count`` points and decode them."""
    train_z = encode_images(model, train_set.images)
    fitted = make_sampler(sampler, model).fit(train_z)
    points = fitted.sample(count, seed)
    return SampleSet(train_z, points, decode_points(model, points), fitted.describe(), seed)
