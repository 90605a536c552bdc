"""What the explorer computes once at start-up, and the decoding it does per request.

At start-up the first N test images are embedded (encoder means for a VAE) and shown in the
plane of :mod:`vaelab.latent.projection` — the latent space itself when it is 2-D, the PCA plane
of the embeddings otherwise. A point (x, y) of that plane maps back to the latent vector
``projection.lift([x, y])``, which is what the explorer decodes under the mouse.

Nothing here knows about HTTP: the web layer (:mod:`.app`) turns these arrays into JSON and PNGs,
the :class:`~vaelab.errors.ConfigError` of a bad request into a 4xx answer, and the
:class:`~vaelab.errors.RunDirError` of a run file damaged or removed while serving (only
``metrics.jsonl`` is read again after start-up) into a 503 answer.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from vaelab.data.image_set import ImageSet
from vaelab.errors import ConfigError, DataError, RunDirError
from vaelab.latent.codec import decode_points
from vaelab.latent.embedding import Embedding, embed
from vaelab.latent.morph import METHODS, Morph, morph
from vaelab.training.run import Run
from vaelab.training.run_dir import metrics_fix

DEFAULT_POINTS = 5000
"""Test images embedded by default (the book's scatter shows the first 5,000)."""

MIN_STEPS, MAX_STEPS = 2, 32
"""Allowed images on a morph path, both endpoints included."""

COORDINATE_LIMIT = 1e6
"""Largest |x| or |y| of a plane point to decode; beyond it float32 latent codes lose meaning."""

BOUNDS_MARGIN = 0.05
"""Fraction of the embeddings' extent added on each side of the plane shown."""


@dataclass
class ExplorerState:
    """The embedded test images of one run and the model that decodes the plane.

    Attributes:
        run: the run (model in eval mode, config, run directory).
        images: the embedded test images (the first ``len(self)`` of the test set; index i here is
            test image i).
        embedding: their latent points ``z`` [N, d], labels, class names and the plane's projection.
        plane: ``embedding.plane`` [N, 2], the coordinates shown.
        had_metrics: whether ``metrics.jsonl`` existed at start-up (so that its removal while
            serving is reported, not taken for a run that has not finished an epoch).
    """

    run: Run
    images: ImageSet
    embedding: Embedding
    plane: np.ndarray
    had_metrics: bool = False
    _model_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __len__(self) -> int:
        return len(self.images)

    def check_index(self, index: int) -> None:
        """A :class:`ConfigError` unless ``index`` is one of the embedded test images."""
        if not 0 <= index < len(self):
            raise ConfigError(
                f"test image {index} is not among the {len(self):,} embedded test images (0 to {len(self) - 1:,}); "
                "restart the explorer with a larger --points to reach it"
            )

    def bounds(self) -> tuple[tuple[float, float], tuple[float, float]]:
        """The plane's ((x_min, x_max), (y_min, y_max)): the embeddings' range, widened by
        :data:`BOUNDS_MARGIN` of it on each side (by 1 where all points share a coordinate)."""
        (x_low, y_low), (x_high, y_high) = self.plane.min(axis=0), self.plane.max(axis=0)
        return _widen(float(x_low), float(x_high)), _widen(float(y_low), float(y_high))

    def latent_point(self, x: float, y: float) -> np.ndarray:
        """The latent vector [1, d] (float32) of plane point (x, y); a :class:`ConfigError` for a
        coordinate that is not finite or beyond :data:`COORDINATE_LIMIT`."""
        for name, value in (("x", x), ("y", y)):
            if not math.isfinite(value) or abs(value) > COORDINATE_LIMIT:
                raise ConfigError(
                    f"{name} must be a finite number between -{COORDINATE_LIMIT:g} and "
                    f"{COORDINATE_LIMIT:g}, got {value}"
                )
        return self.embedding.projection.lift(np.array([[x, y]], np.float64))

    def decode_plane(self, x: float, y: float) -> np.ndarray:
        """The image [C, H, W] in [0, 1] decoded at plane point (x, y)."""
        z = self.latent_point(x, y)
        with self._model_lock:
            return decode_points(self.run.model, z)[0]

    def original(self, index: int) -> np.ndarray:
        """Test image ``index`` as float32 [C, H, W] in [0, 1]."""
        self.check_index(index)
        return self.images.images[index].astype(np.float32) / 255.0

    def reconstruction(self, index: int) -> np.ndarray:
        """The decoding of test image ``index``'s embedding (its encoder mean for a VAE)."""
        self.check_index(index)
        with self._model_lock:
            return decode_points(self.run.model, self.embedding.z[index : index + 1])[0]

    def morph(self, start: int, end: int, steps: int, method: str = "linear") -> Morph:
        """The ``method`` morph from test image ``start`` to ``end`` (see :func:`vaelab.latent.morph.morph`)."""
        self.check_index(start)
        self.check_index(end)
        if not MIN_STEPS <= steps <= MAX_STEPS:
            raise ConfigError(f"steps must be between {MIN_STEPS} and {MAX_STEPS}, got {steps}")
        if method not in METHODS:
            raise ConfigError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
        with self._model_lock:
            return morph(self.run.model, self.images, start, end, steps, method)

    def points(self) -> dict[str, Any]:
        """The scatter as JSON-ready data: plane coordinates ``x``, ``y``, ``labels`` (None without
        labels), ``class_names``, test-set ``indices``, ``bounds`` and ``axis_labels``."""
        (x0, x1), (y0, y1) = self.bounds()
        labels = self.embedding.labels
        return {
            "count": len(self),
            "x": self.plane[:, 0].tolist(),
            "y": self.plane[:, 1].tolist(),
            "labels": None if labels is None else labels.tolist(),
            "class_names": list(self.embedding.class_names) if labels is not None else [],
            "indices": list(range(len(self))),
            "bounds": {"x": [x0, x1], "y": [y0, y1]},
            "axis_labels": list(self.embedding.axis_labels()),
        }

    def facts(self) -> dict[str, Any]:
        """The run's facts as JSON-ready data (see :func:`run_facts`); ``metrics.jsonl`` is read
        again each time, and a :class:`RunDirError` says when it was damaged or removed since start-up."""
        metrics = self.run.dir.metrics
        if self.had_metrics and not metrics.exists():
            raise RunDirError(f"{metrics} was removed while the explorer was running; {metrics_fix(self.run.dir.path)}")
        return run_facts(self.run, self.embedding, len(self))


def _widen(low: float, high: float) -> tuple[float, float]:
    margin = BOUNDS_MARGIN * (high - low) if high > low else 1.0
    return low - margin, high + margin


def run_facts(run: Run, embedding: Embedding, points: int) -> dict[str, Any]:
    """What the explorer's facts panel shows: preset, model kind, dataset, latent size, image
    shape, epochs trained (of those configured), the last epoch's validation loss terms (None
    before the first epoch ends), the number of embedded points and the plane's projection."""
    config = run.config
    rows = run.dir.read_metrics()
    last = rows[-1] if rows else None
    final_val = validation_terms(last) if last else None
    projection = embedding.projection
    return {
        "run_dir": str(run.dir),
        "name": run.dir.path.resolve().name,
        "preset": config.preset,
        "kind": config.model.kind,
        "dataset": config.dataset,
        "latent_dim": config.model.latent_dim,
        "image_shape": list(run_image_shape(run)),
        "epochs_trained": int(last["epoch"]) if last else 0,
        "epochs_configured": config.epochs,
        "final_val": final_val,
        "points": points,
        "projection": {
            "method": projection.method,
            "explained_variance": [float(e) for e in projection.explained],
            "axis_labels": list(projection.axis_labels()),
        },
    }


def validation_terms(row: dict[str, Any]) -> dict[str, float] | None:
    """The validation loss terms of a ``metrics.jsonl`` row (None when it has none; finite numbers,
    as :meth:`~vaelab.training.run_dir.RunDir.read_metrics` checks)."""
    if "val" not in row:
        return None
    return {name: float(value) for name, value in row["val"].items()}


def run_image_shape(run: Run) -> tuple[int, int, int]:
    """(C, H, W) of the run's images."""
    spec = run.config.model
    return spec.image_channels, spec.image_size, spec.image_size


def build_state(run: Run, test_set: ImageSet, points: int = DEFAULT_POINTS) -> ExplorerState:
    """Embed the first ``points`` images of ``test_set`` with ``run``'s model (done once)."""
    if points < 1:
        raise ConfigError(f"--points must be at least 1, got {points}")
    subset = test_set.head(points)
    if len(subset) == 0:
        raise DataError(f"the test set {test_set.name} has no images to explore")
    if subset.image_shape != run_image_shape(run):
        raise DataError(
            f"the test images are {'×'.join(map(str, subset.image_shape))} but the model of {run.dir} takes "
            f"{'×'.join(map(str, run_image_shape(run)))}; pass the --data-dir of the dataset it was trained on"
        )
    embedding = embed(run.model, subset, count=None)
    if not np.isfinite(embedding.plane).all():
        raise RunDirError(
            f"the model of {run.dir} maps some test images to non-finite latent points; its weights are damaged "
            "(restore model.safetensors, or train the run again)"
        )
    return ExplorerState(run, subset, embedding, embedding.plane, had_metrics=run.dir.metrics.exists())
