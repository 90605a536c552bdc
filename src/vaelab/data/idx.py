"""IDX files, the format of MNIST and Fashion-MNIST, read raw or gzip-compressed.

An IDX file is a big-endian header followed by the array's bytes in C order::

    0x00 0x00 <dtype code> <ndim>    then ndim dimensions as uint32, then prod(dims) items

Every problem is a :class:`~vaelab.errors.DataError` whose one-line message names the file (or
whatever ``source`` the caller gave) and ends with ``fix``, the caller's advice for repairing it.
"""

from __future__ import annotations

import gzip
import math
import struct
import zlib
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


def parse_idx_header(data: bytes, source: str, *, fix: str = DEFAULT_FIX) -> IdxHeader:
    """The header of the IDX file ``data``; a malformed one is a DataError naming ``source``."""
    if not data:
        raise DataError(f"{source} is empty; {fix}")
    if len(data) < 4:
        raise DataError(f"{source} is too short ({len(data)} bytes) to be an IDX file; {fix}")
    if data[:2] != b"\x00\x00":
        raise DataError(f"{source} is not an IDX file ({_first_bytes_note(data)}); {fix}")
    dtype_code, ndim = data[2], data[3]
    if dtype_code not in IDX_DTYPES:
        raise DataError(
            f"{source} has unsupported IDX data type code 0x{dtype_code:02x} "
            f"(supported: {_supported_codes()}); {fix}"
        )
    if ndim == 0:
        raise DataError(f"{source} is an IDX file with zero dimensions; {fix}")
    header_size = 4 + 4 * ndim
    if len(data) < header_size:
        raise DataError(
            f"{source} is truncated inside its IDX header ({len(data)} of {header_size} bytes); {fix}"
        )
    dims = struct.unpack(f">{ndim}I", data[4:header_size])
    return IdxHeader(dtype_code=dtype_code, dims=tuple(dims))


def parse_idx(data: bytes, source: str, *, fix: str = DEFAULT_FIX) -> np.ndarray:
    """The array stored in the (decompressed) IDX file ``data``, in native byte order.

    The payload must be exactly as long as the header's dimensions require: truncated or trailing
    data is a DataError naming ``source``. A uint8 result is a read-only view of ``data``; copy it
    before writing to it.
    """
    header = parse_idx_header(data, source, fix=fix)
    _check_payload_size(header, len(data) - header.header_size, source, fix)
    array = np.frombuffer(data, dtype=header.dtype, count=math.prod(header.dims), offset=header.header_size)
    array = array.reshape(header.dims)
    if not header.dtype.isnative:
        array = array.astype(header.dtype.newbyteorder("="))
    return array


def read_idx_bytes(path: str | Path, *, fix: str = DEFAULT_FIX) -> bytes:
    """The bytes of the file at ``path``, decompressed if it is gzip (detected by its magic bytes).

    An unreadable file or a corrupt or truncated gzip stream is a DataError naming the file and
    ending with ``fix``.
    """
    path = Path(path)
    raw = _read_file(path, fix)
    if raw[:2] != GZIP_MAGIC:
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(f"{path} is a corrupt or truncated gzip file ({exc}); {fix}") from exc


def _read_file(path: Path, fix: str) -> bytes:
    """The raw bytes of ``path``, or a DataError saying why they cannot be read."""
    try:
        return path.read_bytes()
    except FileNotFoundError as exc:
        raise DataError(f"{path} does not exist; {fix}") from exc
    except IsADirectoryError as exc:
        raise DataError(f"{path} is a directory, not a data file; {fix}") from exc
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise DataError(f"cannot read {path} ({reason}); check its permissions or {fix}") from exc


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


def _first_bytes_note(data: bytes) -> str:
    """Why the first bytes are wrong, pointing out compressed data passed without decompressing."""
    if data[:2] == GZIP_MAGIC:
        return "it is still gzip-compressed: read it with read_idx_bytes"
    return f"it starts with bytes {data[:2].hex()} instead of 0000"


def _supported_codes() -> str:
    """The supported data type codes, e.g. ``0x08 uint8, 0x09 int8, ...``."""
    return ", ".join(f"0x{code:02x} {dtype.newbyteorder('=').name}" for code, dtype in IDX_DTYPES.items())
