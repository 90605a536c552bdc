"""Listing the image files of a folder, with what identifies each version of a file."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from vaelab.errors import DataError

#: File name endings taken as images (compared in lower case).
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff")


@dataclass(frozen=True)
class ImageFile:
    """One image file: its name relative to the folder (``/``-separated), path, size and mtime."""

    name: str
    path: Path
    size: int
    mtime_ns: int


def list_images(folder: Path, recursive: bool = False) -> list[ImageFile]:
    """The image files in ``folder`` (and its subfolders when ``recursive``; hidden ones are
    left out), sorted by name. A DataError when the folder cannot be read."""
    found: list[ImageFile] = []
    pending = [(Path(folder), "")]
    while pending:
        directory, prefix = pending.pop()
        try:
            entries = list(os.scandir(directory))
        except OSError as exc:
            raise DataError(f"cannot list the images in {directory} ({exc.strerror or exc}); check the folder") from exc
        for entry in entries:
            if entry.name.startswith("."):
                continue
            if recursive and entry.is_dir():
                pending.append((Path(entry.path), f"{prefix}{entry.name}/"))
            elif entry.name.lower().endswith(IMAGE_SUFFIXES) and entry.is_file():
                stat = entry.stat()
                found.append(ImageFile(prefix + entry.name, Path(entry.path), stat.st_size, stat.st_mtime_ns))
    return sorted(found, key=lambda f: f.name)
