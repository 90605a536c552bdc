"""Turning Ctrl-C and SIGTERM into a request to stop at the next safe point.

While :class:`StopRequest` is active, the first SIGINT (Ctrl-C) or SIGTERM (what ``kill``, Slurm,
Kubernetes and torchrun's agent send to stop a job) only sets a flag that the training loop checks
between optimiser steps, so the checkpoint it then writes is consistent. A second signal raises
:class:`KeyboardInterrupt` at once, as usual.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType
from typing import Any

#: The signals that request a stop, with how a message names them.
SIGNALS: dict[int, str] = {signal.SIGINT: "interrupted", signal.SIGTERM: "terminated (SIGTERM)"}


class SignalAbort(KeyboardInterrupt):
    """A second Ctrl-C or SIGTERM: stop at once. ``signum`` says which signal (the exit status is
    128 + it, as a shell reports)."""

    def __init__(self, signum: int) -> None:
        super().__init__(SIGNALS.get(signum, "stopped"))
        self.signum = signum


class StopRequest:
    """Context manager; ``bool(self)`` is True once Ctrl-C or SIGTERM has arrived."""

    def __init__(self) -> None:
        self.signal: int | None = None
        self._previous: dict[int, Any] = {}

    def __bool__(self) -> bool:
        return self.signal is not None

    @property
    def requested(self) -> bool:
        return bool(self)

    def request(self, signum: int = signal.SIGINT) -> None:
        """Ask to stop as if signal ``signum`` had arrived (used by tests)."""
        if self.signal is None:
            self.signal = signum

    @property
    def exit_code(self) -> int:
        """128 + the signal number, as a shell reports a process that the signal ended."""
        return 128 + int(self.signal or signal.SIGINT)

    def describe(self) -> str:
        """``interrupted`` (Ctrl-C) or ``terminated (SIGTERM)``."""
        return SIGNALS.get(self.signal or signal.SIGINT, "stopped")

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.signal is not None:
            raise SignalAbort(signum)
        self.signal = signum

    def __enter__(self) -> StopRequest:
        if threading.current_thread() is threading.main_thread():
            for signum in SIGNALS:
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for signum, previous in self._previous.items():
            signal.signal(signum, previous)
        self._previous = {}
