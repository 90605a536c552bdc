"""Downloading a data file so that no partial or unverified file is ever left at its destination.

The bytes are streamed into a hidden temporary file next to the destination, checked (length,
then the SHA-256 of the decompressed contents), flushed to disk, and only then renamed onto the
destination. Any failure, Ctrl-C included, removes the temporary file.
"""

from __future__ import annotations

import hashlib
import http.client
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

from vaelab.atomic import atomic_write
from vaelab.data.idx import HeaderCheck, read_idx_bytes
from vaelab.errors import DataError
from vaelab.folders import make_folder
from vaelab.progress import progress_bar

CHUNK_SIZE = 1 << 20
TIMEOUT_S = 60.0

DEFAULT_FIX_HINT = (
    "check the network connection and try again, or install the Debian package dataset-fashion-mnist "
    "(`sudo apt-get install dataset-fashion-mnist`), or put the files in a folder and pass --data-dir"
)

Opener = Callable[..., Any]
"""Called as ``opener(url, timeout=seconds)``; returns a context manager with ``read(n)``."""


def download_file(
    url: str,
    dest: Path,
    expected_sha256_of_decompressed: str | None,
    *,
    opener: Opener = urllib.request.urlopen,
    progress: bool = True,
    fix_hint: str = DEFAULT_FIX_HINT,
    check_header: HeaderCheck | None = None,
) -> Path:
    """Download ``url`` to ``dest`` atomically and return ``dest``.

    If ``expected_sha256_of_decompressed`` is given, the file must be an IDX file (raw or gzip)
    whose contents hash to it; it is decompressed no further than its header declares (see
    :func:`vaelab.data.idx.read_idx_bytes`), after ``check_header`` (when given) has accepted
    that header. A progress bar goes to stderr when
    ``progress``. Failures are DataErrors saying what failed, from where, and ``fix_hint``; on any
    failure no file is left behind and an existing ``dest`` is untouched.
    """
    dest = Path(dest)
    make_folder(dest.parent, DataError, "fix its permissions or set XDG_CACHE_HOME to a writable folder")

    def fetch_and_verify(tmp: Path) -> None:
        _fetch(url, tmp, opener=opener, bar_label=dest.name if progress else None, fix_hint=fix_hint)
        _verify(tmp, url, expected_sha256_of_decompressed, fix_hint, check_header)

    try:
        atomic_write(dest, fetch_and_verify)
    except OSError as exc:
        raise DataError(
            f"cannot write {dest} ({exc.strerror or exc}); fix the folder's permissions "
            "or set XDG_CACHE_HOME to a writable folder"
        ) from exc
    return dest


def _fetch(url: str, tmp: Path, *, opener: Opener, bar_label: str | None, fix_hint: str) -> None:
    """Stream ``url`` into the file ``tmp``; network problems are DataErrors.

    ``bar_label`` names the file on the progress bar; None shows no bar.
    """
    try:
        with _create(tmp) as out, opener(url, timeout=TIMEOUT_S) as response:
            expected = _content_length(response)
            received = _copy(response, out, expected, tmp, bar_label)
    except DataError:
        raise
    except (OSError, http.client.HTTPException, ValueError) as exc:
        raise DataError(f"download of {url} failed ({_reason(exc)}); {fix_hint}") from exc
    if expected is not None and received != expected:
        raise DataError(f"download of {url} was cut short ({received} of {expected} bytes); {fix_hint}")


def _create(tmp: Path) -> BinaryIO:
    """Open the temporary file ``tmp`` for writing, or raise a DataError saying why it cannot be."""
    try:
        return open(tmp, "wb")
    except OSError as exc:
        raise DataError(
            f"cannot create {tmp} ({exc.strerror or exc}); fix the folder's permissions "
            "or set XDG_CACHE_HOME to a writable folder"
        ) from exc


def _copy(response: Any, out: BinaryIO, total: int | None, tmp: Path, bar_label: str | None) -> int:
    """Copy ``response`` into ``out`` chunk by chunk with a progress bar; return the bytes copied."""
    received = 0
    bar = progress_bar(
        total=total,
        desc=f"downloading {bar_label}",
        enabled=bar_label is not None,
        unit="B",
        unit_scale=True,
        unit_divisor=1024,
        leave=False,
    )
    with bar:
        while chunk := response.read(CHUNK_SIZE):
            _write(out, chunk, tmp)
            received += len(chunk)
            bar.update(len(chunk))
    return received


def _write(out: BinaryIO, chunk: bytes, tmp: Path) -> None:
    """Write ``chunk``; a full disk or similar is a DataError about the local file, not the network."""
    try:
        out.write(chunk)
    except OSError as exc:
        raise DataError(f"cannot write {tmp} ({exc.strerror or exc}); free some disk space and try again") from exc


def _content_length(response: Any) -> int | None:
    """The announced length of ``response`` in bytes, if it announced a usable one."""
    headers = getattr(response, "headers", None)
    value = headers.get("Content-Length") if headers is not None else None
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _verify(tmp: Path, url: str, expected_sha256: str | None, fix_hint: str, check_header: HeaderCheck | None) -> None:
    """Raise a DataError unless the downloaded file's decompressed contents hash to the expected value."""
    if expected_sha256 is None:
        return
    try:
        contents = read_idx_bytes(tmp, check_header=check_header)
    except DataError as exc:
        raise DataError(f"download of {url} is not an intact file ({exc}); {fix_hint}") from exc
    digest = hashlib.sha256(contents).hexdigest()
    if digest != expected_sha256.lower():
        raise DataError(
            f"download of {url} is corrupt: SHA-256 of its contents is {digest}, expected {expected_sha256}; {fix_hint}"
        )


def _reason(exc: BaseException) -> str:
    """A short human reason for a network failure."""
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code} {exc.reason}"
    if isinstance(exc, urllib.error.URLError):
        return str(exc.reason)
    return str(exc) or type(exc).__name__
