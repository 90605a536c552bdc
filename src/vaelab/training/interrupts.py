"""Turning Ctrl-C into a request to stop at the next safe point.

While :class:`StopRequest` is active, the first SIGINT only sets a flag that the training loop
checks between optimiser steps, so the checkpoint it then writes is consistent. A second Ctrl-C
raises :class:`KeyboardInterrupt` at once, as usual.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType


class StopRequest:
    """Context manager; ``bool(self)`` is True once Ctrl-C has been pressed."""

    def __init__(self) -> None:
        self.requested = False
        self._previous = None

    def __bool__(self) -> bool:
        return self.requested

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def __enter__(self) -> "StopRequest":
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
            self._previous = None
