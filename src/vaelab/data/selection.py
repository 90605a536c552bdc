"""How many images of a set an analysis takes when asked for "the first N".

A count the user gave is honoured exactly or refused: asking for more images than a set holds is
a :class:`~vaelab.errors.ConfigError` naming the flag, not a quietly shorter figure. A default
count (the book's 10 reconstructions, 5,000 embedded points, ...) shrinks to the set's size.
"""

from __future__ import annotations

from vaelab.errors import ConfigError


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
