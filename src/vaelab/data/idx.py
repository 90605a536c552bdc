"""IDX files, the format of MNIST and Fashion-MNIST, read raw or gzip-compressed.

An IDX file is a big-endian header followed by the array's bytes in C order::

    0x00 0x00 <dtype code> <ndim>    then ndim dimensions as uint32, then prod(dims) items

Files are read no further than their header says: the header is read (and decompressed) first and
checked, then exactly the array's bytes are read in chunks into one buffer, and one byte more is
asked for to detect trailing data. A gzip "bomb" (a small file inflating to gigabytes) therefore
costs at most the array its header declares, which the caller can check and refuse before
anything else is decompressed.

Every problem is a :class:`~vaelab.errors.DataError` whose one-line message names the file (or
whatever ``source`` the caller gave) and ends with ``fix``, the caller's advice for repairing it.
"""

from __future__ import annotations

import gzip
import io
import math
import struct
import zlib
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vaelab.errors import DataError

GZIP_MAGIC = b"\x1f\x8b"
"""The first two bytes of every gzip stream; compression is detected by these, never by name."""

IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
"""The IDX data type codes and the (big-endian) numpy types they stand for."""

DEFAULT_FIX = "replace it with an intact copy"

MAX_PAYLOAD_BYTES = 1 << 30
"""The largest array (in bytes) an IDX file may declare, whatever the caller expects: 1 GiB, about
twice the largest IDX release known (EMNIST ByClass's training images, 547 MB) and 23 times
Fashion-MNIST's. A header declaring more is refused before its array is read."""

READ_CHUNK = 1 << 20
"""Bytes decompressed (or read) at a time: the memory a read needs beyond the array itself."""

Buffer = bytes | bytearray | memoryview
"""The contents of an IDX file: ``bytes`` from a caller, a read-only ``memoryview`` from a file."""


@dataclass(frozen=True)
class IdxHeader:
    """The header of an IDX file: its data type code and its dimensions."""

    dtype_code: int
    dims: tuple[int, ...]

    @property
    def magic(self) -> int:
        """The header's first four bytes read as a big-endian integer (2051 for MNIST images)."""
        return (self.dtype_code << 8) | len(self.dims)

    @property
    def dtype(self) -> np.dtype:
        """The numpy type of the items, big-endian as stored."""
        return IDX_DTYPES[self.dtype_code]

    @property
    def header_size(self) -> int:
        """Bytes before the first item."""
        return 4 + 4 * len(self.dims)

    @property
    def payload_size(self) -> int:
        """Bytes of item data the dimensions call for."""
        return math.prod(self.dims) * self.dtype.itemsize

    def describe(self) -> str:
        """The array the header describes, e.g. ``60000×28×28 uint8``."""
        return "×".join(str(d) for d in self.dims) + f" {self.dtype.name}"


HeaderCheck = Callable[[IdxHeader], str | None]
"""Says what is wrong with a header for the caller's purpose (e.g. an unexpected shape), or None."""


def parse_idx_header(data: Buffer, source: str, *, fix: str = DEFAULT_FIX) -> IdxHeader:
    """The header of the IDX file ``data``; a malformed one is a DataError naming ``source``."""
    ndim = _parse_prefix(data, source, fix)
    header_size = 4 + 4 * ndim
    if len(data) < header_size:
        raise DataError(f"{source} is truncated inside its IDX header ({len(data)} of {header_size} bytes); {fix}")
    dims = struct.unpack(f">{ndim}I", data[4:header_size])
    return IdxHeader(dtype_code=data[2], dims=tuple(dims))


def parse_idx(data: Buffer, source: str, *, fix: str = DEFAULT_FIX) -> np.ndarray:
    """The array stored in the (decompressed) IDX file ``data``, in native byte order.

    The payload must be exactly as long as the header's dimensions require: truncated or trailing
    data is a DataError naming ``source``. A uint8 result is a view of ``data`` (read-only for
    ``bytes`` and for what :func:`read_idx_bytes` returns); copy it before writing to it.
    """
    header = parse_idx_header(data, source, fix=fix)
    _check_payload_size(header, len(data) - header.header_size, source, fix)
    array = np.frombuffer(data, dtype=header.dtype, count=math.prod(header.dims), offset=header.header_size)
    array = array.reshape(header.dims)
    if not header.dtype.isnative:
        array = array.astype(header.dtype.newbyteorder("="))
    return array


def read_idx_bytes(
    path: str | Path,
    *,
    fix: str = DEFAULT_FIX,
    check_header: HeaderCheck | None = None,
    max_payload: int = MAX_PAYLOAD_BYTES,
) -> memoryview:
    """The contents (header and array) of the IDX file at ``path``, decompressed if it is gzip
    (detected by its magic bytes), as a read-only buffer.

    Only the header is read before it is checked: a malformed one, one that ``check_header``
    objects to, or one declaring more than ``max_payload`` bytes is refused before any of the
    array is decompressed. Then exactly the declared bytes are read, in chunks of
    :data:`READ_CHUNK`, so memory stays at the declared size; a file that ends early or goes on
    after the array is refused without reading it further. An unreadable file or a corrupt gzip
    stream is a DataError too; every message names the file and ends with ``fix``.
    """
    path = Path(path)
    with _open_idx_file(path, fix) as (stream, compressed):
        try:
            return _read_bounded(stream, str(path), fix, check_header, max_payload)
        except (OSError, EOFError, zlib.error) as exc:
            if compressed:
                raise DataError(f"{path} is a corrupt or truncated gzip file ({exc}); {fix}") from exc
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
            raise DataError(f"cannot read {path} ({reason}); {fix}") from exc


def _read_bounded(
    stream: io.BufferedIOBase, source: str, fix: str, check_header: HeaderCheck | None, max_payload: int
) -> memoryview:
    """Header, then exactly the payload it declares, then a check that nothing follows."""
    header, header_bytes = _read_header(stream, source, fix)
    _check_declared(header, source, fix, check_header, max_payload)
    buffer = bytearray(header.header_size + header.payload_size)
    buffer[: header.header_size] = header_bytes
    received = _fill(stream, memoryview(buffer)[header.header_size :])
    _check_payload_size(header, received, source, fix)
    if stream.read(1):
        raise DataError(
            f"{source} goes on after the {header.describe()} array its header describes "
            f"(trailing data, not read further); {fix}"
        )
    return memoryview(buffer).toreadonly()


def _read_header(stream: io.BufferedIOBase, source: str, fix: str) -> tuple[IdxHeader, bytes]:
    """Read and parse the header (its first four bytes, then the dimensions they announce); the
    header and its bytes."""
    prefix = _read_up_to(stream, 4)
    ndim = _parse_prefix(prefix, source, fix)
    data = prefix + _read_up_to(stream, 4 * ndim)
    return parse_idx_header(data, source, fix=fix), data


def _check_declared(
    header: IdxHeader, source: str, fix: str, check_header: HeaderCheck | None, max_payload: int
) -> None:
    """Raise unless the caller accepts ``header`` and its array is at most ``max_payload`` bytes."""
    problem = check_header(header) if check_header is not None else None
    if problem:
        raise DataError(f"{source} is corrupt ({problem}); {fix}")
    if header.payload_size > max_payload:
        raise DataError(
            f"{source} declares a {header.describe()} array of {header.payload_size:,} bytes, more than the "
            f"{max_payload:,} an IDX file may hold; {fix}"
        )


def _fill(stream: io.BufferedIOBase, target: memoryview) -> int:
    """Read into ``target`` chunk by chunk until it is full or the stream ends; the bytes read."""
    filled = 0
    while filled < len(target):
        count = stream.readinto(target[filled : filled + READ_CHUNK])
        if not count:
            break
        filled += count
    return filled


def _read_up_to(stream: io.BufferedIOBase, size: int) -> bytes:
    """Up to ``size`` bytes: fewer only where the stream ends."""
    parts, wanted = [], size
    while wanted > 0:
        part = stream.read(wanted)
        if not part:
            break
        parts.append(part)
        wanted -= len(part)
    return b"".join(parts)


def _parse_prefix(data: Buffer, source: str, fix: str) -> int:
    """Check the header's first four bytes (zero bytes, data type, dimension count); the count."""
    if not data:
        raise DataError(f"{source} is empty; {fix}")
    if len(data) < 4:
        raise DataError(f"{source} is too short ({len(data)} bytes) to be an IDX file; {fix}")
    if data[:2] != b"\x00\x00":
        raise DataError(f"{source} is not an IDX file ({_first_bytes_note(data)}); {fix}")
    dtype_code, ndim = data[2], data[3]
    if dtype_code not in IDX_DTYPES:
        raise DataError(
            f"{source} has unsupported IDX data type code 0x{dtype_code:02x} (supported: {_supported_codes()}); {fix}"
        )
    if ndim == 0:
        raise DataError(f"{source} is an IDX file with zero dimensions; {fix}")
    return ndim


@contextmanager
def _open_idx_file(path: Path, fix: str) -> Iterator[tuple[io.BufferedIOBase, bool]]:
    """``path`` open for reading, through a gzip decompressor when it starts with the gzip magic
    bytes, and whether it is compressed; both closed on leaving. A file that cannot be opened is a
    DataError."""
    with ExitStack() as opened:
        try:
            raw = opened.enter_context(open(path, "rb"))
        except FileNotFoundError as exc:
            raise DataError(f"{path} does not exist; {fix}") from exc
        except IsADirectoryError as exc:
            raise DataError(f"{path} is a directory, not a data file; {fix}") from exc
        except OSError as exc:
            reason = exc.strerror or str(exc)
            raise DataError(f"cannot read {path} ({reason}); check its permissions or {fix}") from exc
        try:
            compressed = raw.read(2) == GZIP_MAGIC
            raw.seek(0)
        except OSError as exc:
            raise DataError(f"cannot read {path} ({exc.strerror or exc}); check its permissions or {fix}") from exc
        if compressed:
            # GzipFile does not close a file object it was given: both are closed here.
            yield opened.enter_context(gzip.GzipFile(fileobj=raw, mode="rb")), True
        else:
            yield raw, False


def _check_payload_size(header: IdxHeader, payload: int, source: str, fix: str) -> None:
    """Raise unless ``payload`` bytes is exactly what ``header`` describes."""
    needed = header.payload_size
    if payload < needed:
        raise DataError(
            f"{source} is truncated: its header describes {header.describe()} ({needed} bytes) "
            f"but only {payload} bytes follow; {fix}"
        )
    if payload > needed:
        raise DataError(
            f"{source} has {payload - needed} unexpected trailing bytes after the "
            f"{header.describe()} array its header describes; {fix}"
        )


def _first_bytes_note(data: Buffer) -> str:
    """Why the first bytes are wrong, pointing out compressed data passed without decompressing."""
    if data[:2] == GZIP_MAGIC:
        return "it is still gzip-compressed: read it with read_idx_bytes"
    return f"it starts with bytes {bytes(data[:2]).hex()} instead of 0000"


def _supported_codes() -> str:
    """The supported data type codes, e.g. ``0x08 uint8, 0x09 int8, ...``."""
    return ", ".join(f"0x{code:02x} {dtype.newbyteorder('=').name}" for code, dtype in IDX_DTYPES.items())
