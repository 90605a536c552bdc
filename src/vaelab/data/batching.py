"""Batches from a dataset held on the training device as uint8.

Fashion-MNIST is 60,000 × 32 × 32 bytes = 61 MB: it fits on any device, so the whole set is
copied there once and every batch is a single index-select, converted to float on the fly. This
replaces a per-sample Python DataLoader, whose overhead dominates for models this small. Image
sets too large for that stay in their memory-mapped cache file and are read batch by batch
(:class:`vaelab.data.host_images.HostImages`, the same interface).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch

#: Bytes copied to the device at a time by :func:`resident_images` (the host holds one such chunk).
COPY_CHUNK_BYTES = 1 << 26


def resident_images(images: np.ndarray, device: torch.device) -> torch.Tensor:
    """uint8 ``images`` as one tensor on ``device``.

    A writable array in memory is shared with the tensor on the CPU (no copy). A memory-mapped or
    read-only one (the image cache: :mod:`vaelab.data.image_cache`) is copied chunk by chunk, so
    the host never holds a second whole copy and the tensor does not depend on the file.
    """
    device = torch.device(device)
    in_memory = images.flags.writeable and not isinstance(images, np.memmap)
    if in_memory:
        return torch.from_numpy(np.ascontiguousarray(images)).to(device)
    out = torch.empty(images.shape, dtype=torch.uint8, device=device)
    row_bytes = max(1, int(np.prod(images.shape[1:])))
    rows = max(1, COPY_CHUNK_BYTES // row_bytes)
    for begin in range(0, len(images), rows):
        out[begin : begin + rows].copy_(torch.from_numpy(np.array(images[begin : begin + rows])))
    return out


class DeviceImages:
    """A uint8 image tensor [N, C, H, W] (and optional labels) resident on ``device``."""

    placement = "device"

    def __init__(self, images: np.ndarray, labels: np.ndarray | None, device: torch.device) -> None:
        self.images = resident_images(images, device)
        self.labels = None if labels is None else torch.from_numpy(np.asarray(labels)).to(device)
        self.device = device

    def __len__(self) -> int:
        return self.images.shape[0]

    def required_labels(self) -> torch.Tensor:
        """The labels, for images stored with them (a ValueError for images stored without)."""
        if self.labels is None:
            raise ValueError("these images were stored without labels")
        return self.labels

    def first(self, count: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The first ``count`` images and their labels (None without), on the device."""
        return self.images[:count], None if self.labels is None else self.labels[:count]

    def num_batches(self, batch_size: int, min_last: int = 1) -> int:
        """Batches per pass: the last one possibly smaller, and left out when it holds fewer than
        ``min_last`` images (with the default 1, nothing is left out)."""
        return count_batches(len(self), batch_size, min_last)

    def permutation(self, generator: torch.Generator) -> torch.Tensor:
        """A random order of the images, drawn on the CPU from ``generator`` (device-independent)."""
        return torch.randperm(len(self), generator=generator).to(self.device)

    def batches(
        self, batch_size: int, order: torch.Tensor | None = None, start: int = 0, min_last: int = 1
    ) -> Iterator[torch.Tensor]:
        """uint8 batches in ``order`` (or the stored order), beginning at batch number ``start``;
        a last batch of fewer than ``min_last`` images is left out (see :meth:`num_batches`)."""
        for images, _ in self.labelled_batches(batch_size, order, start, min_last):
            yield images

    def labelled_batches(
        self, batch_size: int, order: torch.Tensor | None = None, start: int = 0, min_last: int = 1
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor | None]]:
        """As :meth:`batches`, each batch with its labels (None for images stored without)."""
        for begin in batch_starts(len(self), batch_size, start, min_last):
            if order is None:
                index: slice | torch.Tensor = slice(begin, begin + batch_size)
                images = self.images[index]
            else:
                index = order[begin : begin + batch_size]
                images = self.images.index_select(0, index)
            labels = None if self.labels is None else self.labels[index]
            yield images, labels


def count_batches(count: int, batch_size: int, min_last: int = 1) -> int:
    """Batches of ``batch_size`` in ``count`` images, a last one of fewer than ``min_last`` left out."""
    full, rest = divmod(count, batch_size)
    return full + (1 if rest >= min_last else 0)


def batch_starts(count: int, batch_size: int, start: int = 0, min_last: int = 1) -> range:
    """The position of each batch's first image, from batch number ``start``."""
    end = count_batches(count, batch_size, min_last) * batch_size
    return range(start * batch_size, min(end, count), batch_size)
