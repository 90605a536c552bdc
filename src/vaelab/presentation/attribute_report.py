"""Attribute vectors, latent arithmetic and morphing of a run, written into its ``figures/``.

* ``attribute-<NAME>.json`` / ``.npz`` — the unit vector, the difference it came from, the counts,
  the norm before normalising, the convergence data, and which weights it was computed with
  (``<NAME>`` is the attribute, or ``<A>-vs-<B>`` with ``against``); and
  ``attribute-<NAME>-convergence.png``;
* ``arithmetic-<NAME>.png`` / ``.npz`` — images along the vector at each factor;
* ``morph-<I>-<J>-<method>.png`` / ``.npz`` — the path between two test images.

Arithmetic reuses the saved vector when it was computed for the same attribute, comparison group
and weights; otherwise (or when the saved files are damaged: then with a one-line warning) it
computes the vector (and saves it) first.
"""

from __future__ import annotations

import json
import re
import shlex
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from vaelab.choices import ARITHMETIC_PICKS as PICKS
from vaelab.data.image_cache import Warn, warn_on_stderr
from vaelab.data.image_set import ImageSet
from vaelab.data.selection import AtMost, requested_count
from vaelab.errors import ConfigError
from vaelab.hashing import file_hash
from vaelab.json_fields import describe_value, value_problem
from vaelab.latent.arithmetic import DEFAULT_FACTORS, add_vector, check_factors, parse_factors
from vaelab.latent.attributes import (
    DEFAULT_COUNT,
    AttributeVector,
    Convergence,
    attribute_groups,
    attribute_vector,
)
from vaelab.latent.morph import morph
from vaelab.limits import MAX_ARITHMETIC_CELLS, MAX_ARITHMETIC_IMAGES, MAX_MORPH_STEPS, check_range
from vaelab.presentation.arithmetic_grid import plot_arithmetic
from vaelab.presentation.attribute_convergence import plot_attribute_convergence
from vaelab.presentation.images import save_figure
from vaelab.presentation.morph_row import plot_morph
from vaelab.presentation.outputs import save_json, save_npz
from vaelab.training.run import Run


def attribute_slug(attribute: str, against: str | None = None) -> str:
    """A file-name-safe name: ``Smiling``, ``Sneaker-vs-Sandal``, ``T-shirt-top``."""
    name = attribute if against is None else f"{attribute}-vs-{against}"
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-") or "attribute"


def weights_hash(run: Run) -> str:
    """The first 16 hex digits of the SHA-256 of the run's ``model.safetensors``."""
    return file_hash(run.dir.model)


def attribute_training_set(run: Run, data_dir: str | None = None, count: int | None = DEFAULT_COUNT) -> ImageSet:
    """The first ``count`` training images of the run's dataset, to compute an attribute vector
    over: all of them when the training set is smaller (or when ``count`` is None)."""
    return run.train_set(data_dir, None if count is None else AtMost(count))


def write_attribute(
    run: Run, images: ImageSet, attribute: str, against: str | None = None, count: int | None = DEFAULT_COUNT
) -> tuple[AttributeVector, list[Path]]:
    """Compute the attribute vector over the first ``count`` of ``images`` (the training set, as
    the book) and save it with its convergence figure; returns it and the paths written."""
    vector = attribute_vector(run.model, images, attribute, against, count)
    slug = attribute_slug(attribute, against)
    c = vector.convergence
    arrays = save_npz(
        run.dir.figure_path(f"attribute-{slug}.npz"),
        vector=vector.vector,
        difference=vector.difference,
        convergence_images=c.images,
        convergence_with=c.with_count,
        convergence_without=c.without_count,
        convergence_distance=c.distance,
        convergence_cosine=c.cosine,
    )
    record = {
        **vector.metadata(),
        "against_given": against,
        "run": str(run.dir),
        "preset": run.config.preset,
        "weights_sha256_16": weights_hash(run),
    }
    meta = save_json(run.dir.figure_path(f"attribute-{slug}.json"), record)
    figure = save_figure(plot_attribute_convergence(vector), run.dir.figure_path(f"attribute-{slug}-convergence.png"))
    return vector, [figure, meta, arrays]


#: The fields of ``attribute-<NAME>.json`` that :func:`saved_attribute_vector` reads, and their types.
RECORD_FIELDS = {
    "attribute": str,
    "against": str | None,
    "against_given": str | None,
    "weights_sha256_16": str,
    "count_with": int,
    "count_without": int,
    "images_scanned": int,
    "source": str,
}

#: The arrays of ``attribute-<NAME>.npz`` (besides ``vector`` and ``difference``) that make its convergence.
CONVERGENCE_ARRAYS = (
    "convergence_images",
    "convergence_with",
    "convergence_without",
    "convergence_distance",
    "convergence_cosine",
)


def saved_attribute_vector(
    run: Run, attribute: str, against: str | None = None, warn: Warn = warn_on_stderr
) -> AttributeVector | None:
    """The vector saved by :func:`write_attribute` for this attribute, comparison and weights, or
    None (none saved, saved for something else, or damaged: then after a one-line warning through
    ``warn``, so that the caller computes it again)."""
    slug = attribute_slug(attribute, against)
    meta_path, arrays_path = run.dir.figures / f"attribute-{slug}.json", run.dir.figures / f"attribute-{slug}.npz"
    if not meta_path.exists() and not arrays_path.exists():
        return None
    record, arrays, problem = _read_saved_vector(meta_path, arrays_path, run.config.model.latent_dim)
    if problem:
        warn(f"{problem}; computing the vector again, as `{attribute_command(run, attribute, against)}` does")
        return None
    same = (
        record["attribute"] == attribute
        and record["against_given"] == against
        and record["weights_sha256_16"] == weights_hash(run)
    )
    if not same:
        return None
    convergence = Convergence(*(arrays[name] for name in CONVERGENCE_ARRAYS))
    return AttributeVector(
        attribute=attribute,
        against=record["against"],
        vector=arrays["vector"],
        difference=arrays["difference"],
        count_with=record["count_with"],
        count_without=record["count_without"],
        images_scanned=record["images_scanned"],
        source=record["source"],
        convergence=convergence,
    )


def attribute_command(run: Run, attribute: str, against: str | None = None) -> str:
    """The ``vaelab attribute`` command line that (re)computes and saves this vector."""
    words = ["vaelab", "attribute", str(run.dir), "--attribute", attribute]
    words += ["--against", against] if against is not None else []
    return shlex.join(words)


def _read_saved_vector(
    meta_path: Path, arrays_path: Path, latent_dim: int
) -> tuple[dict[str, Any], dict[str, np.ndarray], str | None]:
    """The record and arrays saved by :func:`write_attribute`, and what is wrong with them (None
    when nothing is): a missing or unreadable file, a wrong shape, a vector of another size."""
    try:
        record = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        return {}, {}, f"{meta_path} is unreadable ({type(exc).__name__}: {exc})"
    if not isinstance(record, dict):
        return {}, {}, f"{meta_path} holds {describe_value(record)}, not an object"
    for name, hint in RECORD_FIELDS.items():
        problem = f"no {name}" if name not in record else value_problem(record[name], hint, name)
        if problem:
            return {}, {}, f"{meta_path} is damaged ({problem})"
    try:
        with np.load(arrays_path, allow_pickle=False) as data:
            arrays = {key: data[key] for key in data.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        return {}, {}, f"{arrays_path} is unreadable ({type(exc).__name__}: {exc})"
    problem = _arrays_problem(arrays, latent_dim)
    return record, arrays, f"{arrays_path} is damaged ({problem})" if problem else None


def _arrays_problem(arrays: dict[str, np.ndarray], latent_dim: int) -> str | None:
    """What is wrong with the arrays of an ``attribute-<NAME>.npz`` for a ``latent_dim`` model, or None."""
    for name in ("vector", "difference"):
        if name not in arrays:
            return f"no {name}"
        if arrays[name].shape != (latent_dim,) or arrays[name].dtype.kind != "f":
            return f"{name} is not {latent_dim} numbers"
    lengths = set()
    for name in CONVERGENCE_ARRAYS:
        if name not in arrays or arrays[name].ndim != 1 or arrays[name].dtype.kind not in "iuf":
            return f"no 1-D numeric {name}"
        lengths.add(len(arrays[name]))
    return "convergence arrays of different lengths" if len(lengths) > 1 else None


#: The book moves 5 images along the vector.
ARITHMETIC_IMAGES = 5


def pick_images(test_set: ImageSet, count: int | None, pick: str, attribute: str, against: str | None) -> np.ndarray:
    """The uint8 images to move: the first ``count`` (``first``), or the first ``count`` of the
    comparison group, those lacking the attribute (``lacking``). ``None`` takes the book's 5 (or
    all when fewer); a larger ``count`` than there are such images is a :class:`ConfigError`."""
    if pick not in PICKS:
        raise ConfigError(f"unknown --pick {pick!r}; use one of: {', '.join(PICKS)}")
    if pick == "first":
        count = requested_count(count, ARITHMETIC_IMAGES, len(test_set), "--images", "test images")
        return test_set.images[:count]
    candidates = np.flatnonzero(attribute_groups(test_set, attribute, against).comparison)
    if len(candidates) == 0:
        raise ConfigError(f"no image of {test_set.name} lacks {attribute}; use --pick first")
    what = f"test images lacking {attribute}" if against is None else f"test images of {against}"
    count = requested_count(count, ARITHMETIC_IMAGES, len(candidates), "--images", what)
    return test_set.images[candidates[:count]]


def write_arithmetic(
    run: Run,
    test_set: ImageSet,
    attribute: str,
    against: str | None = None,
    factors: str | tuple[float, ...] = DEFAULT_FACTORS,
    images: int | None = None,
    pick: str = "first",
    train_set: ImageSet | None = None,
    count: int | None = DEFAULT_COUNT,
    data_dir: str | None = None,
) -> list[Path]:
    """``images`` test images moved along the attribute vector at each factor (the book: 5 images,
    factors −4…4). The vector is the saved one when it matches, else computed over the first
    ``count`` images of ``train_set`` (default: the run's training set, read from ``data_dir``
    or where the run found it) and saved."""
    factors = parse_factors(factors) if isinstance(factors, str) else check_factors(tuple(factors))
    check_range("--images", images, 1, MAX_ARITHMETIC_IMAGES)
    attribute_groups(test_set, attribute, against)  # an unknown name fails here, before any encoding
    chosen = pick_images(test_set, images, pick, attribute, against)
    _check_figure_size(len(chosen), len(factors))
    written: list[Path] = []
    vector = saved_attribute_vector(run, attribute, against)
    if vector is None:
        images_for_vector = train_set if train_set is not None else attribute_training_set(run, data_dir, count)
        vector, written = write_attribute(run, images_for_vector, attribute, against, count)
    result = add_vector(run.model, chosen, vector.vector, factors)
    slug = attribute_slug(attribute, against)
    data = save_npz(
        run.dir.figure_path(f"arithmetic-{slug}.npz"),
        originals=result.originals,
        factors=result.factors,
        vector=result.vector,
        latent=result.latent,
        images=result.images,
    )
    title = (
        f"{run.config.preset}: z + f·v, v the unit vector {vector.describe()} "
        f"(norm {vector.norm:.3g} before normalising)"
    )
    figure = save_figure(plot_arithmetic(result, title), run.dir.figure_path(f"arithmetic-{slug}.png"))
    return [*written, figure, data]


def _check_figure_size(images: int, factors: int) -> None:
    """A :class:`ConfigError` when the arithmetic figure would hold too many decoded images."""
    if images * factors > MAX_ARITHMETIC_CELLS:
        raise ConfigError(
            f"{images} --images × {factors} --factors make {images * factors:,} decoded images; one figure holds "
            f"at most {MAX_ARITHMETIC_CELLS:,}: use fewer --images or --factors"
        )


def write_morph(
    run: Run, test_set: ImageSet, start: int, end: int, steps: int = 10, method: str = "linear"
) -> list[Path]:
    """The morph between test images ``start`` and ``end`` (``morph-<start>-<end>-<method>``)."""
    check_range("--steps", steps, 2, MAX_MORPH_STEPS)
    result = morph(run.model, test_set, start, end, steps, method)
    name = f"morph-{start}-{end}-{method}"
    data = save_npz(
        run.dir.figure_path(f"{name}.npz"),
        fractions=result.fractions,
        points=result.points,
        images=result.images,
        endpoints=result.endpoints,
        method=np.array(method),
    )
    title = f"{run.config.preset}: {method} morph from test image {start} to {end} ({steps} steps, endpoints included)"
    figure = save_figure(plot_morph(result, title), run.dir.figure_path(f"{name}.png"))
    return [figure, data]


def write_attribute_tour(
    run: Run,
    test_set: ImageSet,
    attribute: str,
    against: str | None = None,
    data_dir: str | None = None,
    count: int | None = DEFAULT_COUNT,
) -> list[Path]:
    """The attribute vector (with its convergence), the arithmetic grid on the first test images
    that lack the attribute, and a linear morph from the first of those to the first test image
    that has it (what ``vaelab demo`` shows for book-vae: Sandal → Sneaker).

    The factors are multiples −1, −0.5, …, 2 of the difference's norm ‖d‖, so f = ‖d‖ moves an
    image by the whole difference between the two groups' mean codes (in a 2-D latent space the
    book's −4…4 would overshoot the data many times over)."""
    vector, written = write_attribute(run, attribute_training_set(run, data_dir, count), attribute, against, count)
    factors = tuple(round(k * vector.norm, 4) for k in (-1.0, -0.5, 0.0, 0.5, 1.0, 1.5, 2.0))
    written += write_arithmetic(
        run, test_set, attribute, against, factors, pick="lacking", count=count, data_dir=data_dir
    )
    groups = attribute_groups(test_set, attribute, against)
    start, end = int(np.flatnonzero(groups.comparison)[0]), int(np.flatnonzero(groups.has)[0])
    return written + write_morph(run, test_set, start, end)
