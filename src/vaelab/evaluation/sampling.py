"""Drawing the samples that diagnostics and metrics judge."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from vaelab.data.image_set import ImageSet
from vaelab.latent.codec import code_grids_of_points, conditions_of, decode_points, encode_images
from vaelab.latent.conditions import cycled_classes, sample_classes
from vaelab.latent.samplers import make_sampler
from vaelab.latent.two_stage import TwoStageSettings
from vaelab.models.base import LatentModel


@dataclass
class SampleSet:
    """``count`` latent points drawn by a sampler fitted to the training-set embeddings
    ``train_z``, and the images decoded from them; for a conditional model, the class each point
    was decoded under (``labels``, int64 [count]: every class in turn, so the set is
    class-balanced), None otherwise. For a family with discrete codes, the code grids of the training
    embeddings and of the points (``train_codes``, ``codes``: int64 [N, H, W]) and the number of codes
    K they index (``codebook_size``; 0 for continuous codes); a class-conditional
    prior over them drew every class in turn too, and ``labels`` says which (the decoder takes none)."""

    train_z: np.ndarray
    points: np.ndarray
    images: np.ndarray
    sampler: dict[str, Any]
    seed: int
    labels: np.ndarray | None = None
    train_codes: np.ndarray | None = None
    codes: np.ndarray | None = None
    codebook_size: int = 0

    @property
    def discrete(self) -> bool:
        """Whether the points are grids of discrete codes (``codes`` and ``train_codes`` are set)."""
        return self.codes is not None and self.train_codes is not None


def draw_samples(
    model: LatentModel,
    train_set: ImageSet,
    sampler: str,
    count: int,
    seed: int = 0,
    progress: bool = True,
    *,
    train_z: np.ndarray | None = None,
    two_stage: TwoStageSettings | None = None,
) -> SampleSet:
    """Embed the training set (a conditional model: each image with its class), fit ``sampler`` to
    it (for ``uniform-box``, its bounding box; ``prior`` ignores it), draw ``count`` points and decode
    them (a conditional model: under every class in turn, :func:`~vaelab.latent.conditions.sample_classes`).
    ``seed`` seeds both the draw and the fit of a sampler fitted by a random procedure (``gmm``,
    ``two-stage``, fitted with ``two_stage`` settings or its defaults), so that two seeds measure the
    spread of the whole procedure. ``progress`` shows the bar of a sampler that is fitted by training
    (``two-stage``). ``train_z``, the training set's embeddings :func:`embed_training_set` computed
    already, saves embedding it again when one run is measured with several samplers."""
    if train_z is None:
        train_z = embed_training_set(model, train_set)
    fitted = make_sampler(sampler, model, progress, fit_seed=seed, two_stage=two_stage).fit(train_z)
    points = fitted.sample(count, seed)
    labels = sample_classes(model, count)
    images = decode_points(model, points, labels=labels)
    if model.continuous_codes:
        return SampleSet(train_z, points, images, fitted.describe(), seed, labels)
    prior_labels = cycled_classes(count, model.prior_classes) if model.prior_classes else None
    train_codes, codes = code_grids_of_points(model, train_z), code_grids_of_points(model, points)
    described = fitted.describe()
    return SampleSet(train_z, points, images, described, seed, prior_labels, train_codes, codes, model.codebook_size)


def embed_training_set(model: LatentModel, train_set: ImageSet) -> np.ndarray:
    """The embeddings every sampler of :func:`draw_samples` is fitted to: the training images encoded
    (a conditional model: each with its class)."""
    return encode_images(model, train_set.images, labels=conditions_of(model, train_set))
