"""Writing files so that a crash or Ctrl-C never leaves a half-written one.

Each write goes to a temporary file in the destination's folder, is flushed and fsynced, then
renamed over the destination (``os.replace`` is atomic on POSIX and Windows).

The finished file gets the permissions a plain ``open(path, "w")`` would give it: those of the file
it replaces, or else ``0o666`` less the process's umask (``0o644`` under the usual umask 022). The
temporary file is created with mode ``0o666`` so that the kernel applies the umask (and any default
ACL of the folder) itself: the umask is never read or changed, which ``os.umask`` could only do for
the whole process at once, racing with other threads.
"""

from __future__ import annotations

import os
import secrets
import stat
from collections.abc import Callable
from pathlib import Path

#: Attempts at a free temporary name before giving up (each name has 64 random bits).
_NAME_ATTEMPTS = 100


def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Call ``write(tmp_path)`` then move the finished file onto ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp, mode = _create_temporary(path)
    try:
        write(tmp)
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.chmod(tmp, _existing_mode(path, mode))
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def atomic_write_text(path: Path, text: str) -> None:
    """Atomically replace ``path`` with ``text`` (UTF-8)."""
    atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def _create_temporary(path: Path) -> tuple[Path, int]:
    """A new empty file ``.<name>.<random>.tmp`` beside ``path``, and the permission bits the
    kernel gave it (``0o666`` less the umask)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    for _ in range(_NAME_ATTEMPTS):
        tmp = path.parent / f".{path.name}.{secrets.token_hex(8)}.tmp"
        try:
            fd = os.open(tmp, flags, 0o666)
        except FileExistsError:
            continue
        try:
            return tmp, stat.S_IMODE(os.fstat(fd).st_mode)
        finally:
            os.close(fd)
    raise FileExistsError(f"no free temporary file name beside {path}")


def _existing_mode(path: Path, default: int) -> int:
    """The permission bits of the regular file at ``path``, or ``default`` when there is none."""
    try:
        status = os.stat(path)
    except OSError:
        return default
    return stat.S_IMODE(status.st_mode) if stat.S_ISREG(status.st_mode) else default


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
