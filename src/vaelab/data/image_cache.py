"""Decoding image files once into a memory-mapped uint8 cache, so that no epoch or later run decodes
a JPEG and no process holds a whole image set in its memory.

:func:`load_images` decodes a list of files with Pillow (RGB; optionally the largest centred
square cut out first; then the whole image resized bilinearly to S × S), in parallel threads and
with a progress bar, into one uint8 array ``[N, 3, S, S]`` stored raw in the user cache,
``$XDG_CACHE_HOME/vaelab/images/<key>.u8`` (or ``~/.cache/vaelab/images``), beside the record
``<key>.json`` that commits it (the format: :mod:`vaelab.data.cache_store`). The images come
back memory-mapped read-only: the operating system's page cache holds them once per machine,
whatever the number of processes that read them, and pages them in as they are used.

The key is a hash of the file list (each file's name, size and modification time), the size and
the crop, so a changed, added or removed file, or another size, makes a new cache entry; anything
else finds the old one and decodes nothing. An entry is trusted only when its file matches its
record (size and SHA-256): a truncated, resized or edited file is reported in a warning and
decoded again. A build stopped by a kill resumes where its journal says; a build that cannot
write (a full disk, a read-only folder) removes what it wrote, warns, and decodes into memory.

Pillow's bilinear filter widens with the shrink factor, so it averages every source pixel
(antialiased); TensorFlow's ``image_dataset_from_directory``, which the book uses, samples
bilinearly without antialiasing. The results differ slightly; the images are the same size.

An unreadable file (not an image, truncated, damaged) is reported by name: the ``fail`` policy
stops with that name, ``skip`` leaves it out and warns with the count. Which files were left
out is stored in the cache, so a later ``fail`` run still refuses them.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from vaelab.data import cache_store
from vaelab.data.cache_store import EntryPaths, Progress, Untrusted
from vaelab.data.image_files import ImageFile
from vaelab.data.image_options import ImageOptions
from vaelab.data.locations import user_cache_dir
from vaelab.errors import DataError, WriteError
from vaelab.progress import progress_bar

#: Changes whenever the cache's contents would change for the same key.
CACHE_FORMAT = cache_store.CACHE_FORMAT

#: Threads decoding images (Pillow releases the GIL while it decodes and resizes).
DECODE_THREADS = min(4, os.cpu_count() or 1)

#: Files handed to the threads at a time.
CHUNK = 256

#: Files decoded between two commits of the journal (fsync of the rows, then the journal).
JOURNAL_EVERY = 8192

Warn = Callable[[str], None]


def warn_on_stderr(message: str) -> None:
    """Print ``warning: message`` on stderr."""
    print(f"warning: {message}", file=sys.stderr)


@dataclass
class DecodedImages:
    """The decoded images of a file list.

    Attributes:
        images: uint8 ``[M, 3, S, S]``, one per readable file: memory-mapped from the cache file,
            or in memory when the cache could not be written.
        kept: int64 ``[M]``, the position in the file list of each image.
        skipped: ``(name, reason)`` of each unreadable file.
        cache_path: the cache file that holds ``images`` (None when it could not be written).
        from_cache: whether it was read from the cache (nothing decoded).
    """

    images: np.ndarray
    kept: np.ndarray
    skipped: list[tuple[str, str]]
    cache_path: Path | None
    from_cache: bool


def image_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/vaelab/images`` (or ``~/.cache/vaelab/images``)."""
    return user_cache_dir() / "images"


def cache_key(files: list[ImageFile], options: ImageOptions) -> str:
    """A hash of the file list (names, sizes, modification times), the size and the crop."""
    digest = hashlib.sha256()
    header = {"format": CACHE_FORMAT, "size": options.image_size, "center_crop": options.center_crop}
    digest.update(json.dumps(header, sort_keys=True).encode())
    for f in files:
        digest.update(f"\n{f.name}\t{f.size}\t{f.mtime_ns}".encode())
    return digest.hexdigest()[:32]


def cache_entry(files: list[ImageFile], options: ImageOptions) -> EntryPaths:
    """Where the cache entry of ``files`` decoded with ``options`` lives (it may not exist yet)."""
    return EntryPaths(image_cache_dir(), cache_key(files, options))


def decode_image(path: Path, size: int, center_crop: bool = False) -> np.ndarray:
    """One image file as uint8 ``[3, size, size]`` (RGB), resized bilinearly, after cutting the
    largest centred square when ``center_crop``. Raises what Pillow raises for a bad file."""
    with Image.open(path) as image:
        rgb = image.convert("RGB")
    if center_crop:
        width, height = rgb.size
        side = min(width, height)
        left, top = (width - side) // 2, (height - side) // 2
        rgb = rgb.crop((left, top, left + side, top + side))
    resized = rgb.resize((size, size), Image.Resampling.BILINEAR)
    return np.asarray(resized, dtype=np.uint8).transpose(2, 0, 1)


def load_images(
    files: list[ImageFile],
    options: ImageOptions,
    label: str,
    *,
    progress: bool = True,
    warn: Warn = warn_on_stderr,
) -> DecodedImages:
    """The images of ``files`` from the cache, or decoded (with a progress bar named ``label`` on
    stderr when ``progress`` and stderr is a terminal) and cached. Applies ``options.on_bad_image``
    to unreadable files (see the module docstring). The processes of a torchrun job that ask for
    the same images decode them once: the others wait for the cache entry and map it."""
    paths = cache_entry(files, options)
    with cache_store.locked(paths):
        decoded = _open_cached(paths, len(files), options.image_size, warn)
        if decoded is None:
            _remove_old_format(paths.folder, warn)
            decoded = _build(paths, files, options, label, progress, warn)
    _apply_policy(decoded, files, options, label, warn)
    return decoded


def _open_cached(paths: EntryPaths, count: int, size: int, warn: Warn) -> DecodedImages | None:
    """The cached images, or None when there are none or they cannot be trusted (then removed)."""
    try:
        entry = cache_store.open_entry(paths, count, (3, size, size))
    except (Untrusted, OSError) as exc:
        warn(f"the image cache {paths.data} does not match its images: {exc}; decoding the images again")
        cache_store.discard(paths, partial=False)
        return None
    if entry is None:
        return None
    paths.journal.unlink(missing_ok=True)  # left by a build stopped after its commit
    return DecodedImages(entry.images, entry.kept, entry.skipped, entry.path, True)


def _remove_old_format(folder: Path, warn: Warn) -> None:
    """Delete the caches of vaelab before 0.6 (one ``.npz`` per entry, loaded whole): no key finds
    them any more, and they may take gigabytes."""
    old = list(folder.glob("*.npz")) if folder.is_dir() else []
    removed = 0
    for path in old:
        try:
            size = path.stat().st_size
            path.unlink()
            removed += size
        except OSError:
            continue
    if removed:
        warn(f"removed {len(old)} image cache file(s) of an older vaelab from {folder} ({removed / 1e9:.2f} GB)")


def _decode_one(file: ImageFile, options: ImageOptions) -> np.ndarray | str:
    """The image, or the reason it cannot be read."""
    try:
        return decode_image(file.path, options.image_size, options.center_crop)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        return str(exc) or type(exc).__name__


def _decoded_chunks(
    files: list[ImageFile], options: ImageOptions, start: int, pool: ThreadPoolExecutor
) -> Iterator[tuple[int, list[np.ndarray | str]]]:
    """``(first position, results)`` for each chunk of :data:`CHUNK` files from ``start``, decoded
    by the threads of ``pool``, in the list's order."""
    for begin in range(start, len(files), CHUNK):
        yield begin, list(pool.map(lambda f: _decode_one(f, options), files[begin : begin + CHUNK]))


def _absorb(
    results: list[np.ndarray | str], begin: int, files: list[ImageFile], progress: Progress, policy: str
) -> tuple[list[np.ndarray], bool]:
    """Add a chunk's results to ``progress``: the decoded rows it keeps, and whether decoding stops
    here (the first unreadable file under the ``fail`` policy)."""
    rows: list[np.ndarray] = []
    for index, result in enumerate(results, begin):
        progress.files_done = index + 1
        if isinstance(result, str):
            progress.skipped.append((files[index].name, result))
            if policy == "fail":
                return rows, True
        else:
            rows.append(result)
            progress.kept.append(index)
    return rows, False


def _bar(files: list[ImageFile], options: ImageOptions, label: str, show: bool, initial: int = 0) -> tqdm:
    """The decoding progress bar."""
    return progress_bar(
        total=len(files),
        initial=initial,
        desc=f"decoding {label} to {options.describe()}",
        unit="image",
        enabled=show,
        leave=False,
    )


def _build(
    paths: EntryPaths, files: list[ImageFile], options: ImageOptions, label: str, show: bool, warn: Warn
) -> DecodedImages:
    """Decode ``files`` into the cache entry ``paths`` (resuming an interrupted build of the same
    files) and map it. Under the ``fail`` policy the first unreadable file stops decoding and
    nothing is kept. A write that fails removes the entry's files and decodes into memory."""
    shape = (3, options.image_size, options.image_size)
    row_bytes = int(np.prod(shape))
    progress = cache_store.read_journal(paths, len(files), row_bytes)
    if progress is not None:
        warn(f"resuming the interrupted decoding of {label}: {progress.files_done:,} of {len(files):,} files done")
    progress = progress or Progress()
    try:
        with (
            _PartialFile(paths, len(files), row_bytes, progress) as out,
            _bar(files, options, label, show, progress.files_done) as bar,
            ThreadPoolExecutor(DECODE_THREADS) as pool,
        ):
            stopped = False
            for begin, results in _decoded_chunks(files, options, progress.files_done, pool):
                rows, stopped = _absorb(results, begin, files, progress, options.on_bad_image)
                out.append(rows)
                bar.update(len(results))
                if stopped:
                    break
                if progress.files_done - out.journaled >= JOURNAL_EVERY:
                    out.checkpoint(progress)
            sha256 = out.finish(len(progress.kept))
        if stopped:  # the fail policy: report the file, keep nothing
            cache_store.discard(paths)
            return DecodedImages(
                np.empty((0, *shape), np.uint8), np.array(progress.kept), progress.skipped, None, False
            )
        meta = {"source": label, "image_size": options.image_size, "center_crop": options.center_crop}
        cache_store.commit(paths, progress, shape, sha256, meta)
        entry = cache_store.open_entry(paths, len(files), shape, verify=False)
    except (OSError, WriteError) as exc:
        cache_store.discard(paths)
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        warn(
            f"cannot write the image cache {paths.data} ({reason}); decoding into memory instead, and again next "
            "time (free some space, or set XDG_CACHE_HOME to a writable folder with room for "
            f"{len(files) * row_bytes / 1e9:.2f} GB)"
        )
        return _decode_in_memory(files, options, label, show)
    assert entry is not None  # just committed
    return DecodedImages(entry.images, entry.kept, entry.skipped, entry.path, False)


class _PartialFile:
    """``K.u8.partial`` open for appending rows, with the running SHA-256 of its bytes.

    On entering, the file is cut to the rows that ``progress`` records (a resumed build) and space
    for every file's row is reserved, so that a disk too small fails at once with ENOSPC.
    """

    def __init__(self, paths: EntryPaths, count: int, row_bytes: int, progress: Progress) -> None:
        self.paths, self.count, self.row_bytes, self.progress = paths, count, row_bytes, progress
        self.journaled = progress.files_done
        self.digest = hashlib.sha256()

    def __enter__(self) -> _PartialFile:
        self.paths.folder.mkdir(parents=True, exist_ok=True)
        committed = len(self.progress.kept) * self.row_bytes
        self.handle = open(self.paths.partial, "r+b" if self.progress.files_done else "wb")
        try:
            self.handle.truncate(committed)
            if committed:
                cache_store.file_sha256(self.paths.partial, digest=self.digest)
            self.handle.seek(committed)
            _reserve(self.handle.fileno(), self.count * self.row_bytes)
        except BaseException:
            self.handle.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.handle.close()

    def append(self, rows: list[np.ndarray]) -> None:
        if rows:
            block = np.ascontiguousarray(np.stack(rows)).reshape(-1)
            self.handle.write(block.data)
            self.digest.update(block.data)

    def _sync(self) -> None:
        self.handle.flush()
        os.fsync(self.handle.fileno())

    def checkpoint(self, progress: Progress) -> None:
        """Put the rows so far on disk, then record them in the journal."""
        self._sync()
        cache_store.write_journal(self.paths, progress, self.row_bytes)
        self.journaled = progress.files_done

    def finish(self, rows: int) -> str:
        """Cut the reserved space to ``rows`` rows, put them on disk; their SHA-256."""
        self.handle.truncate(rows * self.row_bytes)
        self._sync()
        return str(self.digest.hexdigest())


def _reserve(descriptor: int, size: int) -> None:
    """Allocate ``size`` bytes for the file (ENOSPC now rather than half way); a no-op where the
    file system cannot preallocate."""
    try:
        os.posix_fallocate(descriptor, 0, size)
    except OSError as exc:
        if exc.errno not in (errno.EOPNOTSUPP, errno.EINVAL, errno.ENOSYS):
            raise


def _decode_in_memory(files: list[ImageFile], options: ImageOptions, label: str, show: bool) -> DecodedImages:
    """Decode every file into an array in memory (the cache cannot be written)."""
    size = options.image_size
    images = np.empty((len(files), 3, size, size), dtype=np.uint8)
    progress = Progress()
    with _bar(files, options, label, show) as bar, ThreadPoolExecutor(DECODE_THREADS) as pool:
        for begin, results in _decoded_chunks(files, options, 0, pool):
            rows, stopped = _absorb(results, begin, files, progress, options.on_bad_image)
            if rows:
                images[len(progress.kept) - len(rows) : len(progress.kept)] = np.stack(rows)
            bar.update(len(results))
            if stopped:
                break
    kept = np.array(progress.kept, dtype=np.int64)
    return DecodedImages(images[: len(kept)], kept, progress.skipped, None, False)


def _apply_policy(
    decoded: DecodedImages, files: list[ImageFile], options: ImageOptions, label: str, warn: Warn
) -> None:
    if not decoded.skipped:
        return
    name, reason = decoded.skipped[0]
    where = next(str(f.path) for f in files if f.name == name)
    count = len(decoded.skipped)
    if options.on_bad_image == "fail":
        others = f" (and {count - 1} other unreadable file(s))" if count > 1 else ""
        raise DataError(
            f"cannot read image {where} ({reason}){others}; delete or replace it, or pass "
            "--on-bad-image skip to leave unreadable images out"
        )
    shown = ", ".join(n for n, _ in decoded.skipped[:5]) + (", ..." if count > 5 else "")
    warn(f"skipped {count} unreadable image(s) of {len(files)} in {label}: {shown} (first: {where}: {reason})")
