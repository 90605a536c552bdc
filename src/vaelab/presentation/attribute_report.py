"""Attribute vectors, latent arithmetic and morphing of a run, written into its ``figures/``.

* ``attribute-<NAME>.json`` / ``.npz`` — the unit vector, the difference it came from, the counts,
  the norm before normalising, the convergence data, and which weights it was computed with
  (``<NAME>`` is the attribute, or ``<A>-vs-<B>`` with ``against``); and
  ``attribute-<NAME>-convergence.png``;
* ``arithmetic-<NAME>.png`` / ``.npz`` — images along the vector at each factor;
* ``morph-<I>-<J>-<method>.png`` / ``.npz`` — the path between two test images.

Arithmetic reuses the saved vector when it was computed for the same attribute, comparison group
and weights (the SHA-256 of the run's current ``model.safetensors``); otherwise it computes the
vector (and saves it) first. Saved files are read back guarded, and any problem is a one-line
warning and a recompute: the ``.json`` must be a regular file of at most :data:`MAX_RECORD_BYTES`
holding a sound record; the ``.npz`` a regular file no larger than its arrays can make it
(:func:`max_arrays_bytes`), the one the record's ``arrays_sha256`` names, of which only the expected
arrays are read, each after its header shows the expected shape and numeric type (so nothing
larger is ever decompressed), and whose vector is finite, of unit length and the normalised
difference.

Pairs of files. Each analysis writes its figure and its data so that the data, which later
commands trust, is never left beside a figure or arrays of another write (a full disk or a kill
between two writes): it removes the old data file first (the ``.json`` record for an attribute
vector, the ``.npz`` for arithmetic and morphs), writes the figure (and the vector's arrays), and
writes the data file last. A data file present is one whose whole write completed.
"""

from __future__ import annotations

import hashlib
import io
import re
import shlex
import zipfile
import zlib
from pathlib import Path
from typing import IO, Any

import numpy as np

from vaelab.atomic import atomic_write
from vaelab.choices import ARITHMETIC_PICKS as PICKS
from vaelab.data.image_cache import Warn, warn_on_stderr
from vaelab.data.image_set import ImageSet
from vaelab.data.selection import AtMost, requested_count
from vaelab.errors import ConfigError
from vaelab.hashing import file_hash
from vaelab.json_fields import describe_value, value_problem
from vaelab.latent.arithmetic import DEFAULT_FACTORS, add_vector, check_factors, parse_factors
from vaelab.latent.attributes import (
    CONVERGENCE_POINTS,
    DEFAULT_COUNT,
    AttributeVector,
    Convergence,
    attribute_groups,
    attribute_vector,
)
from vaelab.latent.codec import conditions_of
from vaelab.latent.morph import morph
from vaelab.limits import MAX_ARITHMETIC_CELLS, MAX_ARITHMETIC_IMAGES, MAX_MORPH_STEPS, check_range
from vaelab.presentation.arithmetic_grid import plot_arithmetic
from vaelab.presentation.attribute_convergence import plot_attribute_convergence
from vaelab.presentation.images import save_figure
from vaelab.presentation.morph_row import plot_morph
from vaelab.presentation.outputs import remove_data_file, save_json, save_npz
from vaelab.reading import KB, FileProblem, check_regular_file, read_json
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
    the book) and save it with its convergence figure; returns it and the paths written.

    The record (``.json``) is removed first and written last, with the SHA-256 of the arrays
    (``.npz``) written before it: a record present describes the arrays and figure beside it."""
    vector = attribute_vector(run.model, images, attribute, against, count)
    slug = attribute_slug(attribute, against)
    meta_path = run.dir.figure_path(f"attribute-{slug}.json")
    arrays_path = run.dir.figure_path(f"attribute-{slug}.npz")
    c = vector.convergence
    arrays = npz_bytes(
        vector=vector.vector,
        difference=vector.difference,
        convergence_images=c.images,
        convergence_with=c.with_count,
        convergence_without=c.without_count,
        convergence_distance=c.distance,
        convergence_cosine=c.cosine,
    )
    weights = run.weights
    record = {
        **vector.metadata(),
        "against_given": against,
        "run": str(run.dir),
        "preset": run.config.preset,
        "weights_sha256_16": weights_hash(run),
        "weights": weights.to_dict() if weights is not None else None,
        "arrays_sha256": hashlib.sha256(arrays).hexdigest(),
    }
    remove_data_file(meta_path)
    figure = save_figure(plot_attribute_convergence(vector), run.dir.figure_path(f"attribute-{slug}-convergence.png"))
    atomic_write(arrays_path, lambda tmp: tmp.write_bytes(arrays))
    meta = save_json(meta_path, record)
    return vector, [figure, meta, arrays_path]


def npz_bytes(**arrays: np.ndarray) -> bytes:
    """The bytes of a compressed ``.npz`` of ``arrays``."""
    buffer = io.BytesIO()
    # numpy's stub lets **arrays fill the allow_pickle flag; every key here names an array
    np.savez_compressed(buffer, **arrays)  # type: ignore[arg-type]
    return buffer.getvalue()


#: The fields of ``attribute-<NAME>.json`` that :func:`saved_attribute_vector` reads, and their types.
RECORD_FIELDS = {
    "attribute": str,
    "against": str,
    "against_given": str | None,
    "weights_sha256_16": str,
    "count_with": int,
    "count_without": int,
    "images_scanned": int,
    "source": str,
}

#: Fields that records written before vaelab recorded them lack.
OPTIONAL_RECORD_FIELDS = {"arrays_sha256": str | None}

#: The arrays of ``attribute-<NAME>.npz`` (besides ``vector`` and ``difference``) that make its convergence.
CONVERGENCE_ARRAYS = (
    "convergence_images",
    "convergence_with",
    "convergence_without",
    "convergence_distance",
    "convergence_cosine",
)

#: The largest ``attribute-<NAME>.json`` read back (vaelab writes about 1 kB).
MAX_RECORD_BYTES = 256 * KB

#: Room for one array's ``.npy`` header (numpy writes 128 bytes) and its entry in the zip file.
MEMBER_ROOM = 4 * KB

#: The numeric kinds (``numpy.dtype.kind``) each array may have.
ARRAY_KINDS = {
    "vector": "f",
    "difference": "f",
    "convergence_images": "iu",
    "convergence_with": "iu",
    "convergence_without": "iu",
    "convergence_distance": "f",
    "convergence_cosine": "f",
}


def max_arrays_bytes(latent_dim: int) -> int:
    """The largest ``attribute-<NAME>.npz`` of a ``latent_dim`` model: the vector and the difference
    (``latent_dim`` numbers each) and five convergence arrays of at most ``CONVERGENCE_POINTS``
    numbers, 8 bytes a number at most, with room for each array's headers."""
    return 8 * (2 * latent_dim + len(CONVERGENCE_ARRAYS) * CONVERGENCE_POINTS) + len(ARRAY_KINDS) * MEMBER_ROOM


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
    again = f"computing the vector again, as `{attribute_command(run, attribute, against)}` does"
    record, problem = _read_record(meta_path)
    if problem:
        warn(f"{problem}; {again}")
        return None
    same = (
        record["attribute"] == attribute
        and record["against_given"] == against
        and record["weights_sha256_16"] == weights_hash(run)
    )
    if not same:
        return None
    arrays, problem = _read_arrays(arrays_path, run.config.model.latent_dim, record.get("arrays_sha256"))
    if problem:
        warn(f"{problem}; {again}")
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


def _read_record(path: Path) -> tuple[dict[str, Any], str | None]:
    """The record saved by :func:`write_attribute`, and what is wrong with it (None when nothing is)."""
    try:
        record = read_json(path, MAX_RECORD_BYTES, "an attribute vector's record")
    except FileNotFoundError:
        return {}, f"{path} is missing (its .npz is there)"
    except FileProblem as exc:
        return {}, f"{path} {exc}"
    if not isinstance(record, dict):
        return {}, f"{path} holds {describe_value(record)}, not an object"
    for name, hint in RECORD_FIELDS.items():
        problem = f"no {name}" if name not in record else value_problem(record[name], hint, name)
        if problem:
            return {}, f"{path} is damaged ({problem})"
    for name, hint in OPTIONAL_RECORD_FIELDS.items():
        problem = value_problem(record.get(name), hint, name)
        if problem:
            return {}, f"{path} is damaged ({problem})"
    return record, None


class _Damaged(Exception):
    """What is wrong with an ``attribute-<NAME>.npz``, as the words in ``is damaged (...)``."""


def _read_arrays(path: Path, latent_dim: int, digest: str | None) -> tuple[dict[str, np.ndarray], str | None]:
    """The arrays saved by :func:`write_attribute`, and what is wrong with them (None when nothing
    is): not a regular file, larger than they can be, other than the record's ``digest`` (when it
    has one), not a zip of the expected arrays, or arrays of the wrong shape, type or values."""
    limit = max_arrays_bytes(latent_dim)
    try:
        check_regular_file(path, limit, "an attribute vector's .npz")
        with open(path, "rb") as handle:
            data = handle.read(limit + 1)
    except FileNotFoundError:
        return {}, f"{path} is missing (its .json is there)"
    except FileProblem as exc:
        return {}, f"{path} {exc}"
    except OSError as exc:
        return {}, f"{path} cannot be read ({exc.strerror or exc})"
    if len(data) > limit:
        return {}, f"{path} is more than the {limit:,} bytes an attribute vector's .npz can be"
    if digest is not None and hashlib.sha256(data).hexdigest() != digest:
        return {}, f"{path} is not the file its .json describes (its SHA-256 differs)"
    counts = {"vector": latent_dim, "difference": latent_dim}
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            arrays = {
                name: _member(archive, name, counts.get(name, CONVERGENCE_POINTS), kinds)
                for name, kinds in ARRAY_KINDS.items()
            }
        _check_arrays(arrays, latent_dim)
    except _Damaged as exc:
        return {}, f"{path} is damaged ({exc})"
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError) as exc:
        return {}, f"{path} is unreadable ({type(exc).__name__}: {exc})"
    return arrays, None


def _member(archive: zipfile.ZipFile, name: str, most: int, kinds: str) -> np.ndarray:
    """The 1-D array ``name`` of at most ``most`` numbers of a kind in ``kinds``, read from the
    ``.npz`` ``archive`` only once its sizes and header say it is one."""
    try:
        info = archive.getinfo(f"{name}.npy")
    except KeyError:
        raise _Damaged(f"no {name}") from None
    if info.file_size > MEMBER_ROOM + 8 * most:
        raise _Damaged(f"{name} is {info.file_size:,} bytes, more than {most:,} numbers take")
    with archive.open(info) as member:
        shape, dtype = _npy_header(member, name)
        if dtype.kind not in kinds or dtype.itemsize > 8 or len(shape) != 1 or not 1 <= shape[0] <= most:
            what = "floating-point numbers" if kinds == "f" else "whole numbers"
            raise _Damaged(f"{name} is not 1 to {most:,} {what} (it holds {dtype} of shape {shape})")
        size = shape[0] * dtype.itemsize
        raw = member.read(size)
    if len(raw) != size:
        raise _Damaged(f"{name} is cut short")
    return np.frombuffer(raw, dtype=dtype).copy()


def _npy_header(member: IO[bytes], name: str) -> tuple[tuple[int, ...], np.dtype]:
    """The shape and type a ``.npy`` header announces (its magic and version checked)."""
    version = np.lib.format.read_magic(member)
    if version == (1, 0):
        shape, _, dtype = np.lib.format.read_array_header_1_0(member)
    elif version == (2, 0):
        shape, _, dtype = np.lib.format.read_array_header_2_0(member)
    else:
        raise _Damaged(f"{name} is a NumPy array of format {version}, which vaelab does not write")
    return shape, dtype


def _check_arrays(arrays: dict[str, np.ndarray], latent_dim: int) -> None:
    """A :class:`_Damaged` unless the vector and the difference are ``latent_dim`` finite numbers,
    the vector the difference divided by its non-zero norm, and the convergence arrays of one
    length, counting up from 1 image, with counts from 0 and no infinite distance or cosine."""
    vector, difference = arrays["vector"], arrays["difference"]
    for name, values in (("vector", vector), ("difference", difference)):
        if values.shape != (latent_dim,):
            raise _Damaged(f"{name} is not {latent_dim} numbers")
        if not np.isfinite(values).all():
            raise _Damaged(f"{name} holds NaN or infinity")
    norm = float(np.linalg.norm(difference.astype(np.float64)))
    if norm == 0 or not np.allclose(vector, difference / norm, rtol=0, atol=1e-4):
        raise _Damaged("vector is not the difference divided by its length")
    lengths = {len(arrays[name]) for name in CONVERGENCE_ARRAYS}
    if len(lengths) > 1:
        raise _Damaged("convergence arrays of different lengths")
    images = arrays["convergence_images"]
    if images[0] < 1 or (np.diff(images) <= 0).any():
        raise _Damaged("convergence_images do not count up from 1")
    if (arrays["convergence_with"] < 0).any() or (arrays["convergence_without"] < 0).any():
        raise _Damaged("negative counts in the convergence")
    if np.isinf(arrays["convergence_distance"]).any() or np.isinf(arrays["convergence_cosine"]).any():
        raise _Damaged("infinite distances or cosines in the convergence")


#: The book moves 5 images along the vector.
ARITHMETIC_IMAGES = 5


def pick_images(test_set: ImageSet, count: int | None, pick: str, attribute: str, against: str | None) -> np.ndarray:
    """The uint8 images to move: the first ``count`` (``first``), or the first ``count`` of the
    comparison group, those lacking the attribute (``lacking``). ``None`` takes the book's 5 (or
    all when fewer); a larger ``count`` than there are such images is a :class:`ConfigError`."""
    return test_set.images[pick_indices(test_set, count, pick, attribute, against)]


def pick_indices(test_set: ImageSet, count: int | None, pick: str, attribute: str, against: str | None) -> np.ndarray:
    """The test-set indices of the images :func:`pick_images` picks."""
    if pick not in PICKS:
        raise ConfigError(f"unknown --pick {pick!r}; use one of: {', '.join(PICKS)}")
    if pick == "first":
        count = requested_count(count, ARITHMETIC_IMAGES, len(test_set), "--images", "test images")
        return np.arange(count)
    candidates = np.flatnonzero(attribute_groups(test_set, attribute, against).comparison)
    if len(candidates) == 0:
        raise ConfigError(f"no image of {test_set.name} lacks {attribute}; use --pick first")
    what = f"test images lacking {attribute}" if against is None else f"test images of {against}"
    count = requested_count(count, ARITHMETIC_IMAGES, len(candidates), "--images", what)
    return candidates[:count]


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
    or where the run found it) and saved. A conditional model moves each image under its own class
    (:func:`vaelab.latent.arithmetic.add_vector`)."""
    factors = parse_factors(factors) if isinstance(factors, str) else check_factors(tuple(factors))
    check_range("--images", images, 1, MAX_ARITHMETIC_IMAGES)
    attribute_groups(test_set, attribute, against)  # an unknown name fails here, before any encoding
    picked = pick_indices(test_set, images, pick, attribute, against)
    chosen = test_set.images[picked]
    classes = conditions_of(run.model, test_set)
    _check_figure_size(len(chosen), len(factors))
    written: list[Path] = []
    vector = saved_attribute_vector(run, attribute, against)
    if vector is None:
        images_for_vector = train_set if train_set is not None else attribute_training_set(run, data_dir, count)
        vector, written = write_attribute(run, images_for_vector, attribute, against, count)
    result = add_vector(run.model, chosen, vector.vector, factors, None if classes is None else classes[picked])
    slug = attribute_slug(attribute, against)
    data = run.dir.figure_path(f"arithmetic-{slug}.npz")
    remove_data_file(data)  # the data goes first and comes last: present, it is its figure's
    title = (
        f"{run.config.preset}: z + f·v, v the unit vector {vector.describe()} "
        f"(norm {vector.norm:.3g} before normalising)"
    )
    figure = save_figure(plot_arithmetic(result, title), run.dir.figure_path(f"arithmetic-{slug}.png"))
    save_npz(
        data,
        originals=result.originals,
        factors=result.factors,
        vector=result.vector,
        latent=result.latent,
        images=result.images,
    )
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
    data = run.dir.figure_path(f"{name}.npz")
    remove_data_file(data)  # the data goes first and comes last: present, it is its figure's
    title = f"{run.config.preset}: {method} morph from test image {start} to {end} ({steps} steps, endpoints included)"
    figure = save_figure(plot_morph(result, title), run.dir.figure_path(f"{name}.png"))
    save_npz(
        data,
        fractions=result.fractions,
        points=result.points,
        images=result.images,
        endpoints=result.endpoints,
        method=np.array(method),
    )
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
