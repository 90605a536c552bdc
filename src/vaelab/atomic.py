"""Writing files so that a crash or Ctrl-C never leaves a half-written one.

Each write goes to a temporary file in the destination's folder, is flushed and fsynced, then
renamed over the destination (``os.replace`` is atomic on POSIX and Windows).

Temporary files are named ``.<name>.<pid>.<random>.tmp``. A write cut short by a kill leaves its
temporary file behind; the next write of the same file removes it (and any other whose process is
gone), and :func:`remove_stale_temporaries` removes those of a whole folder (the trainer calls it when
it starts in a run directory).

An :class:`OSError` while writing (a full disk, a read-only folder, a folder where the file
belongs) removes the temporary file, leaves the destination as it was and is raised as a
:class:`~vaelab.errors.WriteError` whose one line names the destination, the cause and the fix.

The finished file gets the permissions a plain ``open(path, "w")`` would give it: those of the file
it replaces, or else ``0o666`` less the process's umask (``0o644`` under the usual umask 022). The
temporary file is created with mode ``0o666`` so that the kernel applies the umask (and any default
ACL of the folder) itself: the umask is never read or changed, which ``os.umask`` could only do for
the whole process at once, racing with other threads.
"""

from __future__ import annotations

import errno
import glob
import json
import os
import re
import secrets
import shutil
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

from vaelab.errors import WriteError

#: Attempts at a free temporary name before giving up (each name has 64 random bits).
_NAME_ATTEMPTS = 100


#: What a temporary file's name looks like: ``.<name>.<pid>.<16 hex digits>.tmp`` (vaelab before 0.6
#: wrote no pid; such files are stale by now).
_TEMPORARY = re.compile(r"^\.(?P<name>.+?)(\.(?P<pid>[0-9]+))?\.[0-9a-f]{16}\.tmp$")


def atomic_write(path: Path, write: Callable[[Path], object]) -> None:
    """Call ``write(tmp_path)`` then move the finished file onto ``path``.

    An :class:`OSError` (from ``write`` or from the file system) becomes a
    :class:`~vaelab.errors.WriteError` naming ``path``; ``path`` is then unchanged.
    """
    path = Path(path)
    try:
        _write_and_replace(path, write)
    except OSError as exc:
        raise WriteError.of(path, exc) from None


def _write_and_replace(path: Path, write: Callable[[Path], object]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.is_dir() and not path.is_symlink():
        raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(path))
    _remove_stale(path.parent, path.name)
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


def atomic_copy(source: Path, path: Path) -> Path:
    """Atomically replace ``path`` with a copy of the file ``source``; returns ``path``."""
    atomic_write(path, lambda tmp: shutil.copyfile(source, tmp))
    return path


def atomic_write_json(path: Path, data: Any) -> Path:
    """Atomically replace ``path`` with ``data`` as indented JSON; returns ``path``."""
    atomic_write_text(path, json.dumps(data, indent=2) + "\n")
    return path


def is_temporary_name(name: str) -> bool:
    """Whether ``name`` is that of an :func:`atomic_write` temporary file."""
    return _TEMPORARY.match(name) is not None


def remove_stale_temporaries(folder: Path) -> list[Path]:
    """Remove the temporary files in ``folder`` (not below it) whose writing process no longer
    runs on this machine; returns them. A missing folder has none."""
    return _remove_stale(Path(folder), None)


def _remove_stale(folder: Path, name: str | None) -> list[Path]:
    """Remove the stale temporary files in ``folder`` (of destination ``name`` only, unless None)."""
    removed: list[Path] = []
    try:
        entries = list(folder.glob(f".{glob.escape(name)}.*.tmp") if name else folder.iterdir())
    except OSError:
        return removed
    for entry in entries:
        match = _TEMPORARY.match(entry.name)
        if match and name is not None and match["name"] != name:
            continue
        stale = match is not None and (match["pid"] is None or not _process_alive(int(match["pid"])))
        if stale and entry.is_file() and not entry.is_symlink():
            try:
                entry.unlink()
            except FileNotFoundError:
                continue
            removed.append(entry)
    return removed


def _process_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError):
        return False
    except PermissionError:
        return True  # another user's process
    return True


def _create_temporary(path: Path) -> tuple[Path, int]:
    """A new empty file ``.<name>.<pid>.<random>.tmp`` beside ``path``, and the permission bits the
    kernel gave it (``0o666`` less the umask)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    for _ in range(_NAME_ATTEMPTS):
        tmp = path.parent / f".{path.name}.{os.getpid()}.{secrets.token_hex(8)}.tmp"
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
