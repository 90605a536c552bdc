"""How many images of a set an analysis takes when asked for "the first N".

A count the user gave is honoured exactly or refused: asking for more images than a set holds is
a :class:`~vaelab.errors.ConfigError` naming the flag, not a quietly shorter figure. A default
count (the book's 10 reconstructions, 5,000 embedded points, ...) shrinks to the set's size.

The same holds when a split is loaded with a ``limit`` (:func:`vaelab.data.registry.load_dataset`):
a plain int is the user's ``--limit-train``/``--limit-test`` and is refused beyond the split's
size; an :class:`AtMost` is a default and shrinks to it.
"""

from __future__ import annotations

from vaelab.errors import ConfigError


class AtMost(int):
    """A limit on the images loaded that shrinks to the split's size instead of being refused:
    what a default count is (the 20,000 training images an attribute vector scans, the 5,000 test
    images the explorer shows). A plain int limit is a count the user asked for."""

    def __repr__(self) -> str:
        return f"AtMost({int(self)})"


def requested_count(count: int | None, default: int, available: int, flag: str, what: str) -> int:
    """``count`` when given (a :class:`ConfigError` unless 1 ≤ ``count`` ≤ ``available``), else
    ``default`` or ``available`` when fewer. ``what`` names the images, e.g. "test images"."""
    if count is None:
        return min(default, available)
    if count < 1:
        raise ConfigError(f"{flag} must be at least 1, got {count}")
    if available < 1:
        raise ConfigError(f"there are no {what} to take {flag} {count} from")
    if count > available:
        raise ConfigError(f"{flag} {count} is more than the {available:,} {what}; use {flag} {available} or fewer")
    return count


def limited_count(limit: int | None, available: int, split: str, dataset: str) -> int:
    """How many of the ``available`` images of split ``split`` of ``dataset`` to load for ``limit``:
    all for None, at most ``limit`` for an :class:`AtMost`, and exactly ``limit`` for a plain int
    (a :class:`ConfigError` naming ``--limit-<split>`` and the split's size when it holds fewer)."""
    if limit is None:
        return available
    if isinstance(limit, AtMost):
        return min(int(limit), available)
    flag = f"--limit-{split}"
    return requested_count(int(limit), available, available, flag, f"images of the {dataset} {split} split")
