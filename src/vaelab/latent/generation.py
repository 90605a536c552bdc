"""Generating new items by decoding sampled latent points."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from vaelab.latent.codec import decode_points
from vaelab.latent.conditions import sample_classes
from vaelab.latent.embedding import Embedding
from vaelab.latent.samplers import PriorSampler, Sampler, make_sampler
from vaelab.models.base import LatentModel


@dataclass
class Generated:
    """Sampled latent points [n, d], their decoded images [n, C, H, W] and how they were drawn;
    the class of each sample (``labels``, int64 [n]) and the class names for a conditional model
    (the class it decoded the sample under) and for a class-conditional prior told a class (the
    class it drew the sample under)."""

    points: np.ndarray
    images: np.ndarray
    sampler: str
    seed: int
    sampler_details: dict[str, Any] = field(default_factory=dict)
    labels: np.ndarray | None = None
    class_names: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready description (points as lists; a conditional model's classes as indices, with
        the class names)."""
        data = {**self.sampler_details, "sampler": self.sampler, "seed": self.seed, "points": self.points.tolist()}
        if self.labels is not None:
            data["classes"] = self.labels.tolist()
            data["class_names"] = list(self.class_names)
        return data


def generate(
    model: LatentModel,
    embedding: Embedding,
    count: int = 18,
    seed: int = 0,
    sampler: str = "uniform-box",
    fit_to: np.ndarray | None = None,
    condition: int | None = None,
    progress: bool = True,
) -> Generated:
    """Decode ``count`` points drawn by ``sampler`` fitted to ``fit_to`` (default: the
    embeddings). See :mod:`vaelab.latent.samplers`; the book uses ``uniform-box`` for its AE and
    ``prior`` for its VAE. A conditional model decodes them all under class ``condition``, or under
    every class in turn when it is None (:func:`~vaelab.latent.conditions.sample_classes`); a
    class-conditional prior (``model.prior_classes``) draws them all under class ``condition``, or as
    the model chooses when it is None (:func:`~vaelab.latent.conditions.check_sample_class_applies`
    checks a user's choice). ``progress`` shows the bar of a sampler that is fitted by training (``two-stage``).
    ``seed`` seeds the draw and the fit of a sampler fitted by a random procedure (``gmm``, ``two-stage``),
    as in ``diagnose`` and ``evaluate``."""
    prior_class = condition if model.prior_classes else None
    fitted = make_sampler(sampler, model, progress, prior_class, fit_seed=seed)
    fitted = fitted.fit(embedding.z if fit_to is None else fit_to)
    return draw(model, fitted, count, seed, condition, embedding.class_names)


def draw(
    model: LatentModel,
    fitted: Sampler,
    count: int,
    seed: int = 0,
    condition: int | None = None,
    class_names: tuple[str, ...] = (),
) -> Generated:
    """Decode ``count`` points drawn by an already ``fitted`` sampler with ``seed`` (the same seed
    gives the same points): what :func:`generate` does after fitting, for a caller that keeps one
    fitted sampler for many draws (the explorer). A conditional model decodes them under class
    ``condition``, or under every class in turn when it is None; ``class_names`` name its classes.
    Points a class-conditional prior drew under one class (its sampler's ``condition``) record it."""
    points = fitted.sample(count, seed)
    labels = sample_classes(model, count, condition)
    images = decode_points(model, points, labels=labels)
    if labels is None:
        labels = _class_drawn_under(fitted, count)
    names = class_names if labels is not None else ()
    return Generated(points, images, fitted.name, seed, fitted.describe(), labels, names)


def _class_drawn_under(fitted: Sampler, count: int) -> np.ndarray | None:
    """int64 [count]: the class a prior sampler told one drew every point under; None otherwise."""
    condition = fitted.condition if isinstance(fitted, PriorSampler) else None
    return None if condition is None else np.full(count, condition, dtype=np.int64)
