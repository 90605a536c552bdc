"""Numbers as a person types them into a flag: plain ASCII decimal forms, nothing else.

Python's ``int()`` and ``float()`` also accept digit separators (``1_000``), surrounding blanks,
the digits of other scripts (Arabic-Indic ``١٠``, fullwidth ``１０``) and, for floats, ``nan``,
``inf`` and ``infinity``. None of these belongs in a command line or a list of factors: a typo, a
stray blank or a pasted look-alike must be refused, not read as some other number. This module
imports nothing from vaelab, so the command line can use it without loading PyTorch.
"""

from __future__ import annotations

import math
import re

INTEGER = r"[-+]?[0-9]+"
"""An integer: an optional sign and ASCII digits."""

DECIMAL = r"[-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?"
"""A decimal number: an optional sign, ASCII digits with at most one point, an optional exponent
(``3``, ``-0.5``, ``.5``, ``5.``, ``1e-3``, ``2.5E+4``). A pattern, so that other parsers can
build on it (e.g. ``START:STOP`` ranges of factors)."""


def plain_int(text: str) -> int:
    """``text`` as an int if it is :data:`INTEGER`; a ValueError otherwise."""
    if not re.fullmatch(INTEGER, text):
        raise ValueError(f"not a plain integer: {text!r}")
    return int(text)


def plain_float(text: str) -> float:
    """``text`` as a finite float if it is :data:`DECIMAL`; a ValueError otherwise (also for a
    number too large for a float, such as ``1e999``)."""
    if not re.fullmatch(DECIMAL, text):
        raise ValueError(f"not a plain decimal number: {text!r}")
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"too large for a float: {text!r}")
    return value


def counted(count: int, noun: str) -> str:
    """``count`` and ``noun``, plural unless the count is 1: ``1 epoch``, ``2 epochs``."""
    return f"{count:,} {noun}" if count == 1 else f"{count:,} {noun}s"
