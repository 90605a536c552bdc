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

:class:`FileReads` reads the run's files (``/api/run``) on threads of their own, each read awaited
for at most a few seconds: a file that blocks (a FIFO put in place of ``metrics.jsonl``, a stalled
network drive) then costs one 503 answer and one stuck thread of its own, never a thread that
decodes.
"""

from __future__ import annotations

import asyncio
import ctypes
import os
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

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


class ReadTimedOut(Exception):
    """A :class:`FileReads` function did not finish within its timeout (it may still be running)."""


class FileReads:
    """``count`` daemon threads that run file reads, each awaited for at most ``timeout`` seconds.

    Separate from the :class:`AnswerWorkers` that decode, so a read that is slow or never returns
    cannot hold up decoding. A read still waiting for a thread when its time is up is cancelled; one
    already running cannot be stopped (a blocked ``open`` or ``read`` does not return), so it keeps
    its thread, which is a daemon: it does not keep the process alive when the server stops. While
    all ``count`` threads are stuck, every read times out.

    Attributes:
        count: the number of threads.
        timeout: seconds a caller of :meth:`run` waits before :class:`ReadTimedOut`.
    """

    def __init__(self, count: int, timeout: float) -> None:
        if count < 1:
            raise ValueError(f"FileReads needs at least one thread, got {count}")
        if not timeout > 0:
            raise ValueError(f"FileReads needs a positive timeout, got {timeout}")
        self.count = count
        self.timeout = timeout
        self._jobs: queue.SimpleQueue[tuple[Future[Any], Callable[[], Any]] | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._idle = 0

    @property
    def threads(self) -> int:
        """How many threads were started (one per read in flight, up to :attr:`count`)."""
        return len(self._threads)

    async def run(self, read: Callable[[], T]) -> T:
        """``read()``, run on one of the threads; its exception is raised here, and
        :class:`ReadTimedOut` when it takes longer than :attr:`timeout`."""
        future: Future[T] = Future()
        with self._lock:
            if self._idle == 0 and len(self._threads) < self.count:
                thread = threading.Thread(
                    target=self._work, name=f"vaelab-explorer-read-{len(self._threads)}", daemon=True
                )
                self._threads.append(thread)
                thread.start()
            self._idle = max(self._idle - 1, 0)
        self._jobs.put((future, read))
        try:
            return await asyncio.wait_for(asyncio.wrap_future(future), self.timeout)
        except asyncio.TimeoutError:  # wait_for cancelled the future: a read not yet started never starts
            raise ReadTimedOut(f"took more than {self.timeout:g} s") from None

    def _work(self) -> None:
        while (job := self._jobs.get()) is not None:
            future, read = job
            if future.set_running_or_notify_cancel():
                try:
                    result = read()
                except BaseException as exc:  # handed to the awaiting request, as AnswerWorkers does
                    future.set_exception(exc)
                else:
                    future.set_result(result)
            del future, read, job  # nothing of an answered read stays alive until the next one
            with self._lock:
                self._idle += 1

    def shutdown(self) -> None:
        """Let the threads end once their current reads return (a stuck one stays, as a daemon)."""
        for _ in self._threads:
            self._jobs.put(None)
