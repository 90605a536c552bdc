"""What the explorer computes once at start-up, and the decoding it does per request.

At start-up the first N test images are embedded (encoder means for a VAE) and shown in the
plane of :mod:`vaelab.latent.projection` — the latent space itself when it is 2-D, the PCA plane
of the embeddings otherwise. A point (x, y) of that plane maps back to the latent vector
``projection.lift([x, y])``, which is what the explorer decodes under the mouse.

For a model with discrete codes (``vq-vae``) each image's z is its grid of code vectors, flattened,
so the plane is the PCA of those grids; at start-up the explorer also counts each code's use over the
embedded images and puts the code vectors themselves in their own PCA plane
(:mod:`vaelab.latent.codebook`). Samples are drawn by the model's own sampler, fitted once
(:meth:`ExplorerState.samples`): a vq-vae's learnt prior over code grids, which a run gets from
``vaelab prior train``.

The facts describe the weights in memory, not whatever the run directory holds by now: at start-up
:func:`served_weights` records which weights are served (the SHA-256 of the model's own tensors, and
the epoch that ``model.safetensors`` records for that digest), and each :meth:`ExplorerState.facts`
reports that epoch, that epoch's row of ``metrics.jsonl`` and whether the weights on disk have
changed since (read from the weights file's header only).

Nothing here knows about HTTP: the web layer (:mod:`.app`) turns these arrays into JSON and PNGs,
the :class:`~vaelab.errors.ConfigError` of a bad request into a 4xx answer, and the
:class:`~vaelab.errors.RunDirError` of a run file damaged or removed while serving (only
``metrics.jsonl`` and the header of ``model.safetensors`` are read again after start-up) into a
503 answer.
"""

from __future__ import annotations

import math
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from torch import nn

from vaelab.data.image_set import ImageSet
from vaelab.errors import ConfigError, DataError, RunDirError
from vaelab.latent.codebook import CodebookView, codebook_view
from vaelab.latent.codec import conditions_of, decode_points
from vaelab.latent.conditions import check_class_applies
from vaelab.latent.embedding import Embedding, embed
from vaelab.latent.generation import Generated, draw
from vaelab.latent.morph import METHODS, Morph, morph
from vaelab.latent.samplers import Sampler, check_sampler_applies, default_sampler, make_sampler
from vaelab.limits import MAX_GENERATED, MAX_SEED, check_range
from vaelab.reading import FileProblem, check_regular_file
from vaelab.safetensors_io import tensors_digest
from vaelab.training.run import Run
from vaelab.training.run_dir import RunDir, WeightsRecord, metrics_fix, weights_of

DEFAULT_POINTS = 5000
"""Test images embedded by default (the book's scatter shows the first 5,000)."""

MIN_STEPS, MAX_STEPS = 2, 32
"""Allowed images on a morph path, both endpoints included."""

COORDINATE_LIMIT = 1e6
"""Largest |x| or |y| of a plane point to decode; beyond it float32 latent codes lose meaning."""

BOUNDS_MARGIN = 0.05
"""Fraction of the embeddings' extent added on each side of the plane shown."""


FileIdentity = tuple[int, int, int, int]
"""A file's device, inode, size and modification time (ns): what tells that a file without a weights
record was replaced or rewritten."""


@dataclass(frozen=True)
class ServedWeights:
    """Which weights the explorer serves, as recorded at start-up.

    Attributes:
        sha256: the SHA-256 of the model's tensors in memory (as a weights file records it).
        epoch: the epoch they completed: the record of ``model.safetensors`` when it holds these very
            weights; for a weights file without a record (written before vaelab 0.6) the last row of
            ``metrics.jsonl`` at start-up; None when neither tells.
        record: the record ``model.safetensors`` carried at start-up (None without one).
        file: the identity of ``model.safetensors`` at start-up (None when it was missing), to see a
            change of a file that has no record.
    """

    sha256: str
    epoch: int | None
    record: WeightsRecord | None
    file: FileIdentity | None


@dataclass(frozen=True)
class WeightsOnDisk:
    """How ``model.safetensors`` on disk compares with the weights served.

    Attributes:
        changed: whether it holds other weights than those served (or was removed since start-up).
        epoch: the epoch it records (None when it is missing, unreadable or carries no record).
        note: one line for the page when it changed, None otherwise.
    """

    changed: bool
    epoch: int | None
    note: str | None


@dataclass
class ExplorerState:
    """The embedded test images of one run and the model that decodes the plane.

    Attributes:
        run: the run (model in eval mode, config, run directory).
        images: the embedded test images (the first ``len(self)`` of the test set; index i here is
            test image i).
        embedding: their latent points ``z`` [N, d], labels, class names and the plane's projection.
        plane: ``embedding.plane`` [N, 2], the coordinates shown.
        weights: which weights are served (:func:`served_weights`, at start-up).
        had_metrics: whether ``metrics.jsonl`` existed at start-up (so that its removal while
            serving is reported, not taken for a run that has not finished an epoch).
        codebook: for a model with discrete codes, its code vectors, their use over the embedded
            images and their PCA plane (:func:`vaelab.latent.codebook.codebook_view`); None otherwise.
    """

    run: Run
    images: ImageSet
    embedding: Embedding
    plane: np.ndarray
    weights: ServedWeights
    had_metrics: bool = False
    codebook: CodebookView | None = None
    _model_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _sampler: Sampler | None = field(default=None, repr=False)

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
        return plane_bounds(self.plane)

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

    @property
    def conditional(self) -> bool:
        """Whether the run's model decodes under a class (``cvae``): ``/api/decode`` then takes one."""
        return self.run.model.conditional

    def check_class(self, condition: int | None) -> np.ndarray | None:
        """The class to decode a plane point under, as labels [1] (None for a model that takes none);
        a :class:`ConfigError` when a conditional model gets no class or one out of range, or another
        model gets one."""
        model = self.run.model
        check_class_applies(model, condition, "class")
        if not model.conditional:
            return None
        last = model.condition_dim - 1
        if condition is None:
            raise ConfigError(f"the {model.family} model decodes under a class: give class, from 0 to {last}")
        if not 0 <= condition <= last:
            raise ConfigError(f"class must be from 0 to {last} (the model's classes), got {condition}")
        return np.array([condition], np.int64)

    def decode_plane(self, x: float, y: float, condition: int | None = None) -> np.ndarray:
        """The image [C, H, W] in [0, 1] decoded at plane point (x, y) (under class ``condition``,
        which a conditional model needs and every other model refuses)."""
        labels = self.check_class(condition)
        z = self.latent_point(x, y)
        with self._model_lock:
            return decode_points(self.run.model, z, labels=labels)[0]

    def original(self, index: int) -> np.ndarray:
        """Test image ``index`` as float32 [C, H, W] in [0, 1]."""
        self.check_index(index)
        return self.images.images[index].astype(np.float32) / 255.0

    def reconstruction(self, index: int) -> np.ndarray:
        """The decoding of test image ``index``'s embedding (its encoder mean for a VAE; under its own
        class for a conditional model)."""
        self.check_index(index)
        classes = conditions_of(self.run.model, self.images)
        labels = None if classes is None else classes[index : index + 1]
        with self._model_lock:
            return decode_points(self.run.model, self.embedding.z[index : index + 1], labels=labels)[0]

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

    def sampler(self) -> str:
        """The sampler ``/api/samples`` draws with: the model's own (``default_sampler``: a vq-vae's
        learnt prior over its code grids, a VAE's N(0, I), an autoencoder's bounding box, …). A one-line
        :class:`ConfigError` when it cannot draw for this run (a vq-vae run whose prior is not trained
        yet), saying what to run, then to restart the explorer (the model is loaded once)."""
        model = self.run.model
        name = default_sampler(model)
        try:
            check_sampler_applies(name, model)
        except ConfigError as exc:
            raise ConfigError(f"{exc}, then restart the explorer") from None
        return name

    def samples(self, count: int, seed: int = 0) -> Generated:
        """``count`` (1 to :data:`~vaelab.limits.MAX_GENERATED`) images drawn by :meth:`sampler` with
        ``seed`` (0 to :data:`~vaelab.limits.MAX_SEED`) and decoded: the same seed gives the same
        images. The sampler is fitted once, on the first call, to the embedded test images (a sampler
        that ``generate`` fits to the training set, such as rae's ``gmm``, is fitted to these too); a
        conditional model decodes sample k under class k mod its classes. A one-line
        :class:`ConfigError` for a count or seed out of bounds, or a sampler that cannot draw here."""
        check_range("count", count, 1, MAX_GENERATED)
        check_range("seed", seed, 0, MAX_SEED)
        name = self.sampler()
        model = self.run.model
        with self._model_lock:
            if self._sampler is None:
                self._sampler = self._fitted_sampler(name)
            return draw(model, self._sampler, count, seed, class_names=self.embedding.class_names)

    def _fitted_sampler(self, name: str) -> Sampler:
        """Sampler ``name`` fitted to the embedded test images; a sampler that cannot be fitted to so few
        (``gmm``'s mixture) is a one-line :class:`ConfigError` whose fix is the explorer's ``--points``
        (the sampler's own names the training set's flag)."""
        try:
            return make_sampler(name, self.run.model, progress=False).fit(self.embedding.z)
        except ConfigError as exc:
            problem = str(exc).rsplit("; ", 1)[0]
            raise ConfigError(
                f"{problem} (the explorer fits it to its {len(self):,} embedded test images); restart the explorer "
                "with a larger --points"
            ) from None

    def codebook_answer(self) -> dict[str, Any]:
        """The codebook as JSON-ready data (see :func:`codebook_answer`), computed at start-up (or on
        the first call, for a state built without it); a one-line :class:`ConfigError` for a model
        whose codes are continuous (it has no codebook)."""
        if self.codebook is None:
            with self._model_lock:
                self.codebook = codebook_view(self.run.model, self.images)
        return codebook_answer(self.codebook)

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
        """The facts of the weights served, as JSON-ready data (see :func:`run_facts`).

        ``metrics.jsonl`` is read again each time (a :class:`RunDirError` when it was damaged or
        removed since start-up), and the header of ``model.safetensors`` (whether it changed)."""
        rows = read_metrics_rows(self.run.dir, self.had_metrics)
        facts = run_facts(
            self.run, self.embedding, len(self), self.weights, rows, weights_on_disk(self.run.dir, self.weights)
        )
        return {**facts, **self.code_facts()}

    def code_facts(self) -> dict[str, Any]:
        """What tells the page which panels apply: ``discrete_codes`` (the model's codes are indices
        into a codebook: ``/api/codebook`` answers), ``codebook_size`` (K) and ``code_shape`` ((D, H, W):
        an image's grid of code vectors), None for continuous codes; ``has_prior``; ``sampler``, what
        ``/api/samples`` draws with (None when it cannot draw yet: a vq-vae run without a prior), and
        ``sampler_note``, then, the one line of that 409 (why, and what to run), so that the page says it
        without asking for samples it cannot get."""
        model = self.run.model
        view = self.codebook
        note = None
        try:
            sampler: str | None = self.sampler()
        except ConfigError as exc:
            sampler, note = None, str(exc)
        return {
            "discrete_codes": not model.continuous_codes,
            "codebook_size": None if model.continuous_codes else model.codebook_size,
            "code_shape": None if view is None else [view.vectors.shape[1], *view.usage.grid],
            "has_prior": bool(model.has_prior),
            "sampler": sampler,
            "sampler_note": note,
        }


def plane_bounds(plane: np.ndarray) -> tuple[tuple[float, float], tuple[float, float]]:
    """((x_min, x_max), (y_min, y_max)) of points ``plane`` [N, 2], each range widened by
    :data:`BOUNDS_MARGIN` of it on each side (by 1 where all points share a coordinate)."""
    (x_low, y_low), (x_high, y_high) = plane.min(axis=0), plane.max(axis=0)
    return _widen(float(x_low), float(x_high)), _widen(float(y_low), float(y_high))


def codebook_answer(view: CodebookView) -> dict[str, Any]:
    """A codebook as JSON-ready data: its size, an image's code grid, the images and grid positions
    counted, each code's use (``counts``, item k is code k), the codes ``used`` and the
    ``perplexity``; and the code vectors in their PCA plane (``x``, ``y``, ``bounds``,
    ``axis_labels``, ``explained_variance``)."""
    usage = view.usage
    (x0, x1), (y0, y1) = plane_bounds(view.plane)
    return {
        "codebook_size": usage.size,
        "code_dim": int(view.vectors.shape[1]),
        "grid": list(usage.grid),
        "images": usage.images,
        "positions": usage.positions,
        "counts": usage.counts.tolist(),
        "used": usage.used,
        "perplexity": usage.perplexity,
        "x": view.plane[:, 0].tolist(),
        "y": view.plane[:, 1].tolist(),
        "bounds": {"x": [x0, x1], "y": [y0, y1]},
        "axis_labels": list(view.axis_labels()),
        "explained_variance": [float(e) for e in view.projection.explained],
    }


def _widen(low: float, high: float) -> tuple[float, float]:
    margin = BOUNDS_MARGIN * (high - low) if high > low else 1.0
    return low - margin, high + margin


def read_metrics_rows(run_dir: RunDir, had_metrics: bool = False) -> list[dict[str, Any]]:
    """The rows of ``run_dir``'s ``metrics.jsonl`` ([] when it is missing and ``had_metrics`` is
    False); every way it can fail is one :class:`RunDirError` line naming the file and the fix.

    Read only as a regular file (:func:`vaelab.reading.check_regular_file`): a FIFO or a device in
    its place is refused before it is opened, so it can neither block the reader nor fill memory."""
    metrics = run_dir.metrics
    fix = metrics_fix(run_dir.path)
    try:
        check_regular_file(metrics)
        return run_dir.read_metrics()
    except FileNotFoundError:
        if had_metrics:
            raise RunDirError(f"{metrics} was removed while the explorer was running; {fix}") from None
        return []
    except FileProblem as problem:
        raise RunDirError(f"{metrics} {problem}; {fix}") from None
    except RecursionError:  # json's parser on brackets nested thousands deep
        raise RunDirError(f"{metrics} is not valid JSON (it is nested too deeply); {fix}") from None


def served_weights(run: Run) -> ServedWeights:
    """Which weights ``run``'s model holds: their SHA-256, computed from the tensors in memory, and
    the epoch ``model.safetensors`` records for that digest (``load_run`` checked the file; reading
    its record again here only counts when the digest is the same, so weights replaced on disk
    between loading and now are not taken for those served). A weights file without a record falls
    back on the last row of ``metrics.jsonl``; nothing readable leaves the epoch unknown (None)."""
    model = run.model
    if not isinstance(model, nn.Module):  # every vaelab model is one; LatentModel does not declare state_dict
        raise TypeError(f"the explorer needs a torch module, got {type(model).__name__}")
    sha256 = tensors_digest(weights_of(model))
    record = run.dir.weights_record()
    if record is not None:
        epoch = record.epoch if record.sha256 == sha256 else None
    else:
        try:
            rows = read_metrics_rows(run.dir)
        except RunDirError:
            rows = []
        epoch = int(rows[-1]["epoch"]) if rows else None
    return ServedWeights(sha256, epoch, record, file_identity(run.dir.model))


def file_identity(path: Path) -> FileIdentity | None:
    """``path``'s device, inode, size and modification time, or None when it cannot be seen."""
    try:
        status = os.stat(path)
    except OSError:
        return None
    return status.st_dev, status.st_ino, status.st_size, status.st_mtime_ns


def weights_on_disk(run_dir: RunDir, served: ServedWeights) -> WeightsOnDisk:
    """How ``model.safetensors`` compares with the ``served`` weights now: by its recorded digest
    (read from its header only, whatever the file's size), or, for a file without a record, by
    whether it was replaced, rewritten or removed since start-up."""
    record = run_dir.weights_record()
    restart = "restart the explorer to see them"
    if record is not None:
        if record.sha256 == served.sha256:
            return WeightsOnDisk(False, record.epoch, None)
        newer = served.epoch is not None and record.epoch > served.epoch
        kind = "newer" if newer else "other"
        return WeightsOnDisk(
            True, record.epoch, f"the run has {kind} weights on disk (epoch {record.epoch}); {restart}"
        )
    now = file_identity(run_dir.model)
    if served.record is None and now == served.file:
        return WeightsOnDisk(False, None, None)
    if now is None:
        note = (
            f"{run_dir.model.name} was removed from the run since the explorer started; it serves the weights it loaded"
        )
    else:
        note = (
            f"{run_dir.model.name} changed on disk since the explorer started (and has no readable weights record); "
            f"{restart}"
        )
    return WeightsOnDisk(True, None, note)


def run_facts(
    run: Run,
    embedding: Embedding,
    points: int,
    served: ServedWeights,
    rows: list[dict[str, Any]],
    on_disk: WeightsOnDisk,
) -> dict[str, Any]:
    """What the explorer's facts panel shows: preset, model kind (and whether it is conditional),
    dataset, latent size, image shape, the epoch of the weights served (of those configured) and that
    epoch's validation loss terms from ``rows`` (None when that row is missing), whether the weights on
    disk changed since (``on_disk``), the number of embedded points and the plane's projection."""
    config = run.config
    row = next((row for row in rows if row["epoch"] == served.epoch), None) if served.epoch is not None else None
    projection = embedding.projection
    return {
        "run_dir": str(run.dir),
        "name": run.dir.path.resolve().name,
        "preset": config.preset,
        "kind": config.model.kind,
        "conditional": run.model.conditional,
        "dataset": config.dataset,
        "latent_dim": config.model.latent_dim,
        "image_shape": list(run_image_shape(run)),
        "epochs_trained": served.epoch,
        "epochs_configured": config.epochs,
        "final_val": validation_terms(row) if row else None,
        "weights_sha256": served.sha256,
        "weights_changed": on_disk.changed,
        "weights_on_disk_epoch": on_disk.epoch,
        "note": on_disk.note,
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
    """Embed the first ``points`` images of ``test_set`` with ``run``'s model and record which
    weights it holds (done once)."""
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
    embedding = embed(run.model, subset, count=None)  # non-finite codes are refused there (latent.codec)
    had_metrics = run.dir.metrics.exists()
    codebook = None if run.model.continuous_codes else codebook_view(run.model, subset)
    return ExplorerState(run, subset, embedding, embedding.plane, served_weights(run), had_metrics, codebook)
