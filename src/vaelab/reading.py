"""Reading back the small files vaelab writes (JSON, JSON lines, CSV tables), whatever is in their place.

A run directory or a cache can be edited by hand, damaged, or replaced by something that is not a file
at all. Before a byte is read, the path must be a regular file: a FIFO would block the reader forever
and a device such as ``/dev/zero`` never ends. Its size must be within a cap the caller states (a
config is a few hundred bytes; a cap of megabytes leaves room and refuses a file that would exhaust
memory). JSON nested deeper than Python's parser can follow, or holding an integer too long to
convert, is refused like any other invalid JSON.

Every problem is a :class:`FileProblem` whose text completes a sentence that starts with the path
(``is not a regular file``, ``is 3.1 GB, more than the 1 MB a config.json can be``), so each caller
words its own one-line error with its own fix. Nothing here imports PyTorch.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

#: Caps on what vaelab reads back, in bytes: comfortably above anything it writes.
KB, MB = 1024, 1024 * 1024


class FileProblem(Exception):
    """What is wrong with a file, as the end of a sentence that starts with its path."""


def check_regular_file(path: Path, max_bytes: int | None = None, what: str = "the file") -> int:
    """The size of ``path``, a regular file (symbolic links followed) of at most ``max_bytes``;
    a :class:`FileProblem` otherwise. :class:`FileNotFoundError` passes through (callers often
    treat a missing file on its own)."""
    try:
        status = os.stat(path)
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise FileProblem(f"cannot be read ({_reason(exc)})") from None
    if stat.S_ISDIR(status.st_mode):
        raise FileProblem("is a folder, not a file")
    if not stat.S_ISREG(status.st_mode):
        raise FileProblem("is not a regular file (a pipe, a device or a socket is in its place)")
    if max_bytes is not None and status.st_size > max_bytes:
        raise FileProblem(f"is {_size(status.st_size)}, more than the {_size(max_bytes)} {what} can be")
    return status.st_size


def read_bytes(path: Path, max_bytes: int, what: str = "the file") -> bytes:
    """The content of the regular file ``path`` (at most ``max_bytes``); a :class:`FileProblem` when it is
    not a regular file, too large or unreadable."""
    check_regular_file(path, max_bytes, what)
    try:
        with open(path, "rb") as handle:
            data = handle.read(max_bytes + 1)
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise FileProblem(f"cannot be read ({_reason(exc)})") from None
    if len(data) > max_bytes:  # it grew since the check
        raise FileProblem(f"is more than the {_size(max_bytes)} {what} can be")
    return data


def read_text(path: Path, max_bytes: int, what: str = "the file", encoding: str = "utf-8") -> str:
    """The text of the regular file ``path`` (at most ``max_bytes``); a :class:`FileProblem` when it is
    not a regular file, too large, unreadable or not text in ``encoding``."""
    data = read_bytes(path, max_bytes, what)
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise FileProblem(f"is not UTF-8 text (bad byte at offset {exc.start})") from None


def parse_json(text: str) -> Any:
    """``json.loads(text)``, with every way it can fail (syntax, an integer too long to convert,
    nesting too deep for the parser) as a :class:`FileProblem`."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise FileProblem(f"is not valid JSON ({exc.msg} at line {exc.lineno})") from None
    except ValueError as exc:
        raise FileProblem(f"is not valid JSON ({exc})") from None
    except RecursionError:
        raise FileProblem("is not valid JSON (it is nested too deeply)") from None


def read_json(path: Path, max_bytes: int, what: str = "the file") -> Any:
    """The JSON content of the regular file ``path`` (see :func:`read_text` and :func:`parse_json`)."""
    return parse_json(read_text(path, max_bytes, what))


def is_own_file(path: Path, starts: tuple[str, ...]) -> bool:
    """Whether vaelab may write its file at ``path``: nothing is there (not even a dangling symbolic link),
    or a regular file whose first line begins with one of ``starts`` (the marker or header vaelab writes)."""
    try:
        check_regular_file(path)
        with open(path, "rb") as handle:
            head = handle.read(4096)
    except FileNotFoundError:
        return not path.is_symlink()
    except (FileProblem, OSError):
        return False
    first = head.split(b"\n", 1)[0].rstrip(b"\r")
    return first.decode("utf-8", errors="replace").startswith(starts)


def _reason(exc: OSError) -> str:
    reason = exc.strerror or str(exc) or type(exc).__name__
    return reason[:1].lower() + reason[1:]


def _size(count: int) -> str:
    for unit, scale in (("GB", 1024**3), ("MB", MB), ("kB", KB)):
        if count >= scale:
            return f"{count / scale:.3g} {unit}"
    return f"{count} bytes"
