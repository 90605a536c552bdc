"""Progress bars and colour: the one place that decides how vaelab's terminal output looks.

On a terminal a bar redraws up to ten times a second. When stderr is a file or a pipe (``make demo
> log``, CI), a bar that redrew that often would fill the log with hundreds of carriage-return
updates per epoch, so it writes at most one update every :data:`LOG_INTERVAL_S` seconds, plus its
final state. Bars are never coloured.

Colour, where a library would add it (the explorer's server log), is allowed only on a terminal whose
user has not set ``NO_COLOR`` (https://no-color.org: any non-empty value) and whose ``TERM`` is not
``dumb`` (:func:`colour_allowed`).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from typing import Any, TextIO

from tqdm import tqdm

#: Seconds between a bar's updates when stderr is not a terminal.
LOG_INTERVAL_S = 30.0
#: Seconds between a bar's redraws on a terminal (tqdm's default).
TERMINAL_INTERVAL_S = 0.1


def progress_bar(
    iterable: Iterable | None = None,
    *,
    total: float | None = None,
    desc: str,
    unit: str,
    enabled: bool = True,
    leave: bool = True,
    initial: float = 0,
    **options: Any,
) -> tqdm:
    """A tqdm bar on stderr (see the module docstring); ``enabled=False`` shows nothing.

    ``options`` go to tqdm as they are (``unit_scale``, ``unit_divisor``, ...).
    """
    terminal = _stderr_is_terminal()
    return tqdm(
        iterable,
        total=total,
        desc=desc,
        unit=unit,
        initial=initial,
        disable=not enabled,
        leave=leave,
        dynamic_ncols=terminal,
        mininterval=TERMINAL_INTERVAL_S if terminal else LOG_INTERVAL_S,
        file=sys.stderr,
        **options,
    )


def colour_allowed(stream: TextIO | None = None) -> bool:
    """Whether output to ``stream`` (default: stderr) may be coloured: a terminal, ``NO_COLOR`` unset
    or empty, ``TERM`` not ``dumb``."""
    if os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return False
    return _is_terminal(sys.stderr if stream is None else stream)


def _stderr_is_terminal() -> bool:
    return _is_terminal(sys.stderr)


def _is_terminal(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # replaced or closed
        return False
