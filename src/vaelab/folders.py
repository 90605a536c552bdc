"""Creating the folders vaelab writes into, with one-line errors when that is impossible.

A path given as a folder (``train --run-dir``, ``compare --output``) may name a regular file, lie
under one, or sit where nothing can be created (a read-only or virtual file system). Each case
becomes one :class:`~vaelab.errors.VaelabError` line that names the path, the reason and the fix,
instead of a traceback from :meth:`pathlib.Path.mkdir`.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

from vaelab.errors import VaelabError


def make_folder(path: str | Path, error: type[VaelabError], fix: str) -> Path:
    """Create folder ``path`` and its parents (nothing happens when it exists) and return it.

    When it cannot be created, raise ``error`` with one line: what is in the way (or the
    system's reason) followed by ``fix``, e.g. ``"choose another --run-dir"``.
    """
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise error(f"{_reason(path, exc.strerror or str(exc))}; {fix}") from None
    return path


def not_writable_reason(folder: str | Path) -> str | None:
    """Why this process cannot create files in the existing ``folder`` (``read-only file system``
    or ``permission denied``), or None when it can."""
    if os.access(folder, os.W_OK | os.X_OK):
        return None
    try:
        read_only = bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
    except (OSError, AttributeError):
        read_only = False
    return os.strerror(errno.EROFS if read_only else errno.EACCES).lower()


def check_folder_possible(path: str | Path, error: type[VaelabError], fix: str) -> None:
    """Raise ``error`` (as :func:`make_folder` would) when ``path`` clearly cannot become a
    folder to write into — it or a parent is a file, it or the nearest existing parent is not
    writable — without creating anything. Some failures (e.g. a virtual file system) only show when creating."""
    path = Path(path)
    blocking = _file_in_the_way(path)
    if blocking is not None:
        raise error(f"{_reason(path, '')}; {fix}")
    if path.exists():
        reason = not_writable_reason(path)
        if reason:
            raise error(f"{path} is not writable ({reason}); {fix}")
        return
    parent = _nearest_existing(path)
    reason = not_writable_reason(parent)
    if reason:
        raise error(f"cannot create {path} ({reason} in {parent}); {fix}")


def _reason(path: Path, strerror: str) -> str:
    blocking = _file_in_the_way(path)
    if blocking == path:
        return f"{path} is a file, not a folder"
    if blocking is not None:
        return f"cannot create {path}: {blocking} is a file, not a folder"
    return f"cannot create {path} ({strerror[:1].lower()}{strerror[1:]})"


def _file_in_the_way(path: Path) -> Path | None:
    """``path`` or the first of its parents that exists but is not a folder, else None."""
    for candidate in (path, *path.parents):
        if candidate.exists():
            return None if candidate.is_dir() else candidate
    return None


def _nearest_existing(path: Path) -> Path:
    for candidate in path.absolute().parents:
        if candidate.exists():
            return candidate
    return Path(path.absolute().anchor)
