"""Producing the next items in a background thread while the caller uses the current one.

The training step waits for nothing but its own arithmetic when the next batches are already read
(:class:`vaelab.data.host_images.HostImages`): reading releases the GIL (``pread``, copies), so a
thread overlaps it with the step. The items come in order; an error in the thread is raised in the
caller at the item it concerns; leaving the loop early (a Ctrl-C, a break) stops the thread.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")

#: Seconds between the thread's checks of a stop request while the queue is full.
POLL_SECONDS = 0.1


class _Failure:
    def __init__(self, error: BaseException) -> None:
        self.error = error


class Prefetcher(Generic[T]):
    """``produce(0)``, ``produce(1)``, … ``produce(count - 1)``, made up to ``depth`` items ahead."""

    def __init__(self, produce: Callable[[int], T], count: int, depth: int = 2) -> None:
        if depth < 1:
            raise ValueError(f"depth must be at least 1, got {depth}")
        self.produce, self.count = produce, count
        self._items: queue.Queue[T | _Failure] = queue.Queue(maxsize=depth)
        self._stop = threading.Event()

    def __iter__(self) -> Iterator[T]:
        thread = threading.Thread(target=self._run, name="vaelab-prefetch", daemon=True)
        thread.start()
        try:
            for _ in range(self.count):
                item = self._items.get()
                if isinstance(item, _Failure):
                    raise item.error
                yield item
        finally:
            self._stop.set()
            thread.join()

    def _run(self) -> None:
        for index in range(self.count):
            if self._stop.is_set():
                return
            try:
                item: T | _Failure = self.produce(index)
            except BaseException as error:  # handed to the caller, who raises it
                item = _Failure(error)
            while not self._stop.is_set():
                try:
                    self._items.put(item, timeout=POLL_SECONDS)
                    break
                except queue.Full:
                    continue
            if isinstance(item, _Failure):
                return
