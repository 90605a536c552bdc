"""The few threads that build the explorer's answers, and giving memory back after a burst of requests.

FastAPI runs a plain (``def``) route on one of anyio's 40 threads per concurrent request. With the
explorer's answers that multiplied memory: each thread in flight held its answer's arrays and PNG
buffers (a 32-image morph strip at scale 16 is 512 × 16,384 pixels, several copies of it while it is
encoded), each thread that ran torch kept an OpenMP team of its own, and glibc's malloc, which hands
each thread an arena and keeps the peak it reached, held on to all of it: 1,000 concurrent requests
took the server from 325 MB to 765 MB, and another 1,000 to 854 MB (``benchmarks/explorer_memory.py``).

:class:`AnswerWorkers` runs the routes' work on a fixed number of threads instead; the other requests
wait in the event loop, where waiting costs nothing. When requests had to wait (a burst) and all are
answered, :func:`release_free_memory` hands the memory the burst freed back to the system. It is not
done after every answer: one request at a time (the page under the mouse) never waits, and would pay
for memory faulted in again on every request (``docs/explorer.md``, "Memory under load", has the numbers).
"""

from __future__ import annotations

import asyncio
import ctypes
import os
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")


def _glibc_malloc_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim``, or None on another C library or system."""
    try:
        if not os.confstr("CS_GNU_LIBC_VERSION"):
            return None
        return ctypes.CDLL(None).malloc_trim
    except (ValueError, OSError, AttributeError):
        return None


_MALLOC_TRIM = _glibc_malloc_trim()


def release_free_memory() -> bool:
    """Hand the free memory of every malloc arena back to the system (glibc's ``malloc_trim(0)``,
    about 0.1 ms); False where the C library has no such call (nothing is done)."""
    if _MALLOC_TRIM is None:
        return False
    _MALLOC_TRIM(0)
    return True


class AnswerWorkers:
    """``count`` threads that build answers, whatever the number of concurrent requests.

    :meth:`run` awaits a function run on one of them. When a function had to wait for a thread since
    the last release, the moment the last one in flight finishes, :func:`release_free_memory` is called.

    Attributes:
        count: the number of threads.
        releases: how many times memory was handed back (once per burst).
    """

    def __init__(self, count: int) -> None:
        if count < 1:
            raise ValueError(f"AnswerWorkers needs at least one thread, got {count}")
        self.count = count
        self.releases = 0
        self._executor = ThreadPoolExecutor(max_workers=count, thread_name_prefix="vaelab-explorer")
        self._lock = threading.Lock()
        self._in_flight = 0
        self._burst = False

    async def run(self, compute: Callable[[], T]) -> T:
        """``compute()``, run on one of the threads; its exception is raised here."""
        with self._lock:
            self._in_flight += 1
            self._burst = self._burst or self._in_flight > self.count
        future = self._executor.submit(compute)  # a request cancelled before its turn cancels its work
        future.add_done_callback(self._finished)
        return await asyncio.wrap_future(future)

    def _finished(self, future: Future) -> None:
        with self._lock:
            self._in_flight -= 1
            burst_over = self._burst and self._in_flight == 0
            if burst_over:
                self._burst = False
                self.releases += 1
        if burst_over:
            release_free_memory()

    def shutdown(self) -> None:
        """Stop the threads once the functions in flight finish."""
        self._executor.shutdown(wait=False, cancel_futures=True)
