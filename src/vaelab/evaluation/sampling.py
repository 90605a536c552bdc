"""Drawing the samples that diagnostics and metrics judge."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from vaelab.data.image_set import ImageSet
from vaelab.latent.codec import conditions_of, decode_points, encode_images
from vaelab.latent.conditions import sample_classes
from vaelab.latent.samplers import make_sampler
from vaelab.models.base import LatentModel


@dataclass
class SampleSet:
    """``count`` latent points drawn by a sampler fitted to the training-set embeddings
    ``train_z``, and the images decoded from them; for a conditional model, the class each point
    was decoded under (``labels``, int64 [count]: every class in turn, so the set is
    class-balanced), None otherwise."""

    train_z: np.ndarray
    points: np.ndarray
    images: np.ndarray
    sampler: dict[str, Any]
    seed: int
    labels: np.ndarray | None = None


def draw_samples(
    model: LatentModel, train_set: ImageSet, sampler: str, count: int, seed: int = 0, progress: bool = True
) -> SampleSet:
    """Embed the training set (a conditional model: each image with its class), fit ``sampler`` to
    it (for ``uniform-box``, its bounding box; ``prior`` ignores it), draw ``count`` points and decode
    them (a conditional model: under every class in turn, :func:`~vaelab.latent.conditions.sample_classes`).
    ``progress`` shows the bar of a sampler that is fitted by training (``two-stage``)."""
    train_z = encode_images(model, train_set.images, labels=conditions_of(model, train_set))
    fitted = make_sampler(sampler, model, progress).fit(train_z)
    points = fitted.sample(count, seed)
    labels = sample_classes(model, count)
    images = decode_points(model, points, labels=labels)
    return SampleSet(train_z, points, images, fitted.describe(), seed, labels)
