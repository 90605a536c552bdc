"""Short content hashes that identify files (a judge's weights, a run's weights)."""

from __future__ import annotations

import hashlib
from pathlib import Path

#: Hex digits kept of a SHA-256: 64 bits, plenty to tell files apart, short enough to print.
HASH_CHARS = 16


def short_hash(data: bytes) -> str:
    """The first :data:`HASH_CHARS` hex digits of the SHA-256 of ``data``."""
    return hashlib.sha256(data).hexdigest()[:HASH_CHARS]


def file_hash(path: str | Path) -> str:
    """The first :data:`HASH_CHARS` hex digits of the SHA-256 of ``path``'s bytes."""
    return short_hash(Path(path).read_bytes())
