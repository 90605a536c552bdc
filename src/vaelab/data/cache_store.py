"""The decoded-image cache on disk: a raw uint8 file per entry, the record that commits it, and the
journal that lets an interrupted build resume.

An entry of key ``K`` in the cache folder is two files:

* ``K.u8`` — the images, uint8 ``[M, 3, S, S]`` in C order and nothing else, so that readers
  memory-map it (``numpy.memmap``) or read rows of it with positioned reads, and never load it whole;
* ``K.json`` — its record: the format, the shape, the SHA-256 of ``K.u8``, which files of the list
  were kept (by position) and which were skipped, and why.

The record is written last, atomically, after ``K.u8`` is complete and on disk: it is the commit.
An entry without a record, or whose ``K.u8`` differs from its record in size or content (a
truncated file, one from another size, an edited one), is not trusted: :func:`open_entry` says why
and the caller decodes the images again. Every open hashes the whole file (about 2 GB/s).

While an entry is built, ``K.u8.partial`` receives the rows and ``K.journal.json`` records, after
each fsync, how many files are done and which were kept or skipped: a build stopped by a kill
resumes from the journal (:func:`read_journal`), and a partial file is never read as a cache.
``K.lock`` is held (``flock``) while an entry is checked or built, so that the processes of a
torchrun job build it once and the others wait and read it.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vaelab.atomic import atomic_write_text

#: Changes whenever the cache's files would change for the same key (1: one ``.npz`` per entry).
CACHE_FORMAT = 2

#: Bytes hashed per read when an entry is checked.
HASH_BLOCK = 1 << 24


@dataclass(frozen=True)
class EntryPaths:
    """The files of the cache entry ``key`` in ``folder``."""

    folder: Path
    key: str

    @property
    def data(self) -> Path:
        return self.folder / f"{self.key}.u8"

    @property
    def record(self) -> Path:
        return self.folder / f"{self.key}.json"

    @property
    def partial(self) -> Path:
        return self.folder / f"{self.key}.u8.partial"

    @property
    def journal(self) -> Path:
        return self.folder / f"{self.key}.journal.json"

    @property
    def lock(self) -> Path:
        return self.folder / f"{self.key}.lock"


@dataclass
class Progress:
    """How far a build has come: files done, the positions kept, the files skipped and why, and the
    bytes of ``K.u8.partial`` that hold the kept images (on disk when the journal says so)."""

    files_done: int = 0
    kept: list[int] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)

    def to_dict(self, row_bytes: int) -> dict[str, Any]:
        return {
            "format": CACHE_FORMAT,
            "files_done": self.files_done,
            "kept": self.kept,
            "skipped": [list(pair) for pair in self.skipped],
            "bytes": len(self.kept) * row_bytes,
        }


@dataclass(frozen=True)
class Entry:
    """A trusted cache entry: the images memory-mapped read-only, kept positions, skipped files."""

    images: np.ndarray
    kept: np.ndarray
    skipped: list[tuple[str, str]]
    path: Path


class Untrusted(Exception):
    """Why a cache entry cannot be used (its message completes "the image cache … ")."""


@contextmanager
def locked(paths: EntryPaths) -> Iterator[None]:
    """Hold the entry's lock file (exclusive ``flock``) for the block; other processes wait.

    The lock is advisory and taken only where the folder is writable; elsewhere the block runs
    unlocked (the cache then cannot be written either, and nothing is built in it).
    """
    try:
        paths.folder.mkdir(parents=True, exist_ok=True)
        handle = open(paths.lock, "a")  # noqa: SIM115 (closed below)
    except OSError:
        yield
        return
    try:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield
    finally:
        handle.close()  # releases the lock


def open_entry(paths: EntryPaths, count: int, shape: tuple[int, int, int], verify: bool = True) -> Entry | None:
    """The entry for a list of ``count`` files of images ``shape`` (C, S, S), or None when there is
    none; :class:`Untrusted` when its files do not match their record (``verify=False`` skips the
    hash, for an entry this process has just written and hashed)."""
    if not paths.record.is_file():
        return None
    record = _read_record(paths.record)
    rows, row_shape = record["shape"][0], tuple(record["shape"][1:])
    kept = np.arange(rows, dtype=np.int64) if record["kept"] is None else np.asarray(record["kept"], dtype=np.int64)
    skipped = [(str(name), str(reason)) for name, reason in record["skipped"]]
    if row_shape != shape:
        raise Untrusted(f"holds images of shape {row_shape}, not {shape}")
    if len(kept) != rows or rows + len(skipped) != count or (rows and (kept.min() < 0 or kept.max() >= count)):
        raise Untrusted(f"lists {rows} images and {len(skipped)} skipped files for {count} files")
    expected = rows * int(np.prod(shape))
    size = paths.data.stat().st_size if paths.data.is_file() else None
    if size != expected:
        found = "is missing" if size is None else f"has {size:,} bytes"
        raise Untrusted(f"{paths.data.name} {found}, not the {expected:,} of {rows} images (truncated?)")
    if verify and file_sha256(paths.data) != record["sha256"]:
        raise Untrusted(f"{paths.data.name} does not match its recorded SHA-256 (edited or damaged)")
    images = _map(paths.data, (rows, *shape))
    return Entry(images, kept, skipped, paths.data)


def _read_record(path: Path) -> dict[str, Any]:
    """The record at ``path``; :class:`Untrusted` when it is unreadable or of another format."""
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise Untrusted(f"record {path.name} is unreadable ({exc})") from None
    keys = {"format", "shape", "sha256", "kept", "skipped"}
    if not isinstance(record, dict) or not keys <= set(record):
        raise Untrusted(f"record {path.name} is incomplete")
    if record["format"] != CACHE_FORMAT:
        raise Untrusted(f"record {path.name} is of format {record['format']!r}, not {CACHE_FORMAT}")
    shape = record["shape"]
    if not (isinstance(shape, list) and len(shape) == 4 and all(isinstance(n, int) and n >= 0 for n in shape)):
        raise Untrusted(f"record {path.name} has no valid shape")
    return record


def _map(path: Path, shape: tuple[int, ...]) -> np.ndarray:
    """``path`` memory-mapped read-only as uint8 ``shape`` (an empty array for no rows: an empty
    file cannot be mapped)."""
    if shape[0] == 0:
        return np.empty(shape, dtype=np.uint8)
    return np.memmap(path, dtype=np.uint8, mode="r", shape=shape)


def file_sha256(path: Path, start: int = 0, digest: Any = None) -> str:
    """The SHA-256 of ``path``'s bytes (from ``start``, continuing ``digest`` when given)."""
    digest = digest if digest is not None else hashlib.sha256()
    with open(path, "rb") as handle:
        handle.seek(start)
        while block := handle.read(HASH_BLOCK):
            digest.update(block)
    return str(digest.hexdigest())


def commit(
    paths: EntryPaths, progress: Progress, shape: tuple[int, int, int], sha256: str, meta: dict[str, Any]
) -> None:
    """Make the finished ``K.u8.partial`` the entry: rename it to ``K.u8``, then write the record
    (atomically: the commit) and remove the journal."""
    publish(paths.partial, paths.data)
    rows = len(progress.kept)
    all_kept = progress.kept == list(range(rows))
    record = {
        "format": CACHE_FORMAT,
        **meta,
        "shape": [rows, *shape],
        "sha256": sha256,
        "kept": None if all_kept else progress.kept,
        "skipped": [list(pair) for pair in progress.skipped],
    }
    atomic_write_text(paths.record, json.dumps(record) + "\n")
    paths.journal.unlink(missing_ok=True)


def write_journal(paths: EntryPaths, progress: Progress, row_bytes: int) -> None:
    """Record ``progress`` (its rows already fsynced in ``K.u8.partial``)."""
    atomic_write_text(paths.journal, json.dumps(progress.to_dict(row_bytes)) + "\n")


def read_journal(paths: EntryPaths, count: int, row_bytes: int) -> Progress | None:
    """The progress of an interrupted build of the same files, when its journal is readable, fits a
    list of ``count`` files and ``K.u8.partial`` holds at least the bytes it records; else None."""
    try:
        data = json.loads(paths.journal.read_text())
        partial_size = paths.partial.stat().st_size
    except (OSError, ValueError):
        return None
    try:
        progress = Progress(
            int(data["files_done"]),
            [int(i) for i in data["kept"]],
            [(str(name), str(reason)) for name, reason in data["skipped"]],
        )
        consistent = (
            data["format"] == CACHE_FORMAT
            and 0 <= progress.files_done <= count
            and len(progress.kept) + len(progress.skipped) == progress.files_done
            and data["bytes"] == len(progress.kept) * row_bytes <= partial_size
        )
    except (KeyError, TypeError, ValueError):
        return None
    return progress if consistent else None


def discard(paths: EntryPaths, partial: bool = True) -> None:
    """Remove an entry's files: the finished ones, and with ``partial`` those of a build (the lock
    file stays: another process may hold it)."""
    for path in (paths.record, paths.data, *((paths.partial, paths.journal) if partial else ())):
        path.unlink(missing_ok=True)


def publish(partial: Path, data: Path) -> None:
    """Rename the finished ``partial`` file to ``data``, durably."""
    os.replace(partial, data)
    _fsync_folder(data.parent)


def _fsync_folder(folder: Path) -> None:
    """Make a rename in ``folder`` durable."""
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
