"""Reading chosen rows of a memory-mapped image array with positioned reads (``pread``).

A batch gathered through the memory map itself would leave every page it touched mapped into the
process: over an epoch, the whole file would count in the process's resident memory, once per
process. Positioned reads copy the rows into a buffer and leave the file's pages in the
operating system's page cache only, which every process of the machine shares: one copy of the
data per machine, however many torchrun processes read it, and none in any process.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np


class FileRows:
    """The rows of a C-contiguous uint8 array ``[N, ...]`` stored at ``offset`` in file ``path``."""

    def __init__(self, path: str | Path, offset: int, row_shape: tuple[int, ...], count: int) -> None:
        self.path, self.offset, self.row_shape, self.count = Path(path), offset, row_shape, count
        self.row_bytes = int(np.prod(row_shape))
        self._descriptor = os.open(self.path, os.O_RDONLY)

    @classmethod
    def of(cls, images: np.ndarray) -> FileRows | None:
        """The file region that a memory-mapped ``images`` shows (a ``numpy.memmap`` or a contiguous
        view of one), or None for an array in memory."""
        top = images
        while isinstance(top.base, np.ndarray):
            top = top.base
        if not isinstance(top, np.memmap) or top.filename is None or not images.flags.c_contiguous:
            return None
        start = top.offset + images.__array_interface__["data"][0] - top.__array_interface__["data"][0]
        return cls(top.filename, start, tuple(images.shape[1:]), len(images))

    def close(self) -> None:
        if self._descriptor >= 0:
            os.close(self._descriptor)
            self._descriptor = -1

    def __del__(self) -> None:
        self.close()

    def read_into(self, indices: np.ndarray, out: np.ndarray) -> None:
        """Copy rows ``indices`` into ``out`` (uint8, C-contiguous, ``[len(indices), ...]``), one read
        per run of consecutive indices."""
        if len(indices) and (indices.min() < 0 or indices.max() >= self.count):
            raise IndexError(f"row indices must lie in [0, {self.count})")
        if not (out.flags.c_contiguous and out.dtype == np.uint8):
            raise ValueError("read_into needs a C-contiguous uint8 array to read into")
        buffer = out.reshape(-1).data
        position = 0
        for first, length in _runs(indices):
            size = length * self.row_bytes
            self._read_exactly(buffer[position : position + size], self.offset + int(first) * self.row_bytes)
            position += size

    def _read_exactly(self, target: memoryview, offset: int) -> None:
        done = 0
        while done < len(target):
            read = os.preadv(self._descriptor, [target[done:]], offset + done)
            if read == 0:
                raise OSError(f"{self.path} ended early (truncated while in use?)")
            done += read


def _runs(indices: np.ndarray) -> list[tuple[int, int]]:
    """``(first index, length)`` of each run of consecutive values in ``indices``, in order."""
    if len(indices) == 0:
        return []
    breaks = np.flatnonzero(np.diff(indices) != 1) + 1
    starts = np.concatenate(([0], breaks))
    lengths = np.diff(np.concatenate((starts, [len(indices)])))
    return list(zip(indices[starts].tolist(), lengths.tolist(), strict=True))
