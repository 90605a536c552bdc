"""Decoding image files once into a cached uint8 array, so that no epoch or later run decodes a JPEG.

:func:`load_images` decodes a list of files with Pillow (RGB; optionally the largest centred
square cut out first; then the whole image resized bilinearly to S × S) into one uint8 array
``[N, 3, S, S]`` and saves it in the user cache,
``$XDG_CACHE_HOME/vaelab/images/<key>.npz`` (or ``~/.cache/vaelab/images``). The key is a hash
of the file list (each file's name, size and modification time), the size and the crop, so a
changed, added or removed file, or another size, makes a new cache file; anything else finds the
old one and decodes nothing. The cache file is written atomically and holds no pickled objects.

Pillow's bilinear filter widens with the shrink factor, so it averages every source pixel
(antialiased); TensorFlow's ``image_dataset_from_directory``, which the book uses, samples
bilinearly without antialiasing. The results differ slightly; the images are the same size.

An unreadable file (not an image, truncated, damaged) is reported by name: the ``fail`` policy
stops with that name, ``skip`` leaves it out and warns with the count. Which files were left
out is stored in the cache, so a later ``fail`` run still refuses them.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from vaelab.atomic import atomic_write
from vaelab.data.image_files import ImageFile
from vaelab.data.image_options import ImageOptions
from vaelab.data.locations import user_cache_dir
from vaelab.errors import DataError
from vaelab.progress import progress_bar

#: Changes whenever the cache's contents would change for the same key.
CACHE_FORMAT = 1

#: Threads decoding images (Pillow releases the GIL while it decodes and resizes).
DECODE_THREADS = min(4, os.cpu_count() or 1)

#: Files handed to the threads at a time.
CHUNK = 256

Warn = Callable[[str], None]


def warn_on_stderr(message: str) -> None:
    """Print ``warning: message`` on stderr."""
    print(f"warning: {message}", file=sys.stderr)


@dataclass
class DecodedImages:
    """The decoded images of a file list.

    Attributes:
        images: uint8 ``[M, 3, S, S]``, one per readable file.
        kept: int64 ``[M]``, the position in the file list of each image.
        skipped: ``(name, reason)`` of each unreadable file.
        cache_path: where the array is cached (None when it could not be written).
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
    to unreadable files (see the module docstring)."""
    path = image_cache_dir() / f"{cache_key(files, options)}.npz"
    decoded = _read_cache(path, len(files), options.image_size, warn)
    if decoded is None:
        decoded = _decode_all(files, options, label, progress)
        if not (decoded.skipped and options.on_bad_image == "fail"):
            decoded.cache_path = _write_cache(path, decoded, options, label, warn)
    _apply_policy(decoded, files, options, label, warn)
    return decoded


def _decode_one(file: ImageFile, options: ImageOptions) -> np.ndarray | str:
    """The image, or the reason it cannot be read."""
    try:
        return decode_image(file.path, options.image_size, options.center_crop)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        return str(exc) or type(exc).__name__


def _decode_all(files: list[ImageFile], options: ImageOptions, label: str, progress: bool) -> DecodedImages:
    """Decode every file. Under the ``fail`` policy the first unreadable file stops decoding at
    once (nothing is cached); under ``skip`` it is recorded and left out."""
    size = options.image_size
    images = np.empty((len(files), 3, size, size), dtype=np.uint8)
    kept: list[int] = []
    skipped: list[tuple[str, str]] = []
    bar = progress_bar(
        total=len(files), desc=f"decoding {label} to {options.describe()}", unit="image", enabled=progress, leave=False
    )
    with bar, ThreadPoolExecutor(DECODE_THREADS) as pool:
        for start in range(0, len(files), CHUNK):
            chunk = files[start : start + CHUNK]
            for index, result in enumerate(pool.map(lambda f: _decode_one(f, options), chunk), start):
                if isinstance(result, str):
                    skipped.append((files[index].name, result))
                    if options.on_bad_image == "fail":
                        break
                else:
                    images[len(kept)] = result
                    kept.append(index)
            bar.update(len(chunk))
            if skipped and options.on_bad_image == "fail":
                break
    return DecodedImages(images[: len(kept)], np.array(kept, dtype=np.int64), skipped, None, False)


def _write_cache(path: Path, decoded: DecodedImages, options: ImageOptions, label: str, warn: Warn) -> Path | None:
    """Save ``decoded`` at ``path`` atomically; a warning (not an error) when that is impossible."""
    meta = {"format": CACHE_FORMAT, "source": label, **options.to_dict()}
    meta.pop("on_bad_image")
    names = np.array([name for name, _ in decoded.skipped], dtype=str)
    reasons = np.array([reason for _, reason in decoded.skipped], dtype=str)

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as handle:
            np.savez(
                handle,
                images=decoded.images,
                kept=decoded.kept,
                skipped_names=names,
                skipped_reasons=reasons,
                meta=np.array(json.dumps(meta)),
            )

    try:
        atomic_write(path, write)
    except OSError as exc:
        warn(
            f"cannot write the image cache {path} ({exc.strerror or exc}); the images will be decoded "
            "again next time (set XDG_CACHE_HOME to a writable folder)"
        )
        return None
    return path


def _read_cache(path: Path, count: int, size: int, warn: Warn) -> DecodedImages | None:
    """The cached images at ``path``, or None when there are none or they are unusable."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            images, kept = data["images"], data["kept"]
            skipped = list(zip(data["skipped_names"].tolist(), data["skipped_reasons"].tolist(), strict=True))
    except (OSError, ValueError, KeyError, EOFError) as exc:
        warn(f"the image cache {path} is unreadable ({exc}); decoding the images again")
        return None
    consistent = (
        images.dtype == np.uint8
        and images.shape == (len(kept), 3, size, size)
        and len(kept) + len(skipped) == count
        and (len(kept) == 0 or (kept.min() >= 0 and kept.max() < count))
    )
    if not consistent:
        warn(f"the image cache {path} does not match its images; decoding the images again")
        return None
    return DecodedImages(images, kept.astype(np.int64), skipped, path, True)


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
