"""Batches read from the host, for image sets that should not be copied whole to the device.

:class:`HostImages` has :class:`~vaelab.data.batching.DeviceImages`' interface and yields the same
uint8 batches in the same order, so a run trains to the same weights in either placement; only
where the images wait between two epochs differs. The images stay in their memory-mapped cache
file (:mod:`vaelab.data.image_cache`) and each batch's rows are read with positioned reads
(:mod:`vaelab.data.file_rows`: the data lives once per machine, in the page cache), or, for an
array in memory, gathered from it. A background thread (:mod:`vaelab.data.prefetch`) reads the next
batches while the step computes; on a GPU they are read into pinned memory and copied without
blocking.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch

from vaelab.data.batching import batch_starts, count_batches
from vaelab.data.file_rows import FileRows
from vaelab.data.prefetch import Prefetcher

#: Batches read ahead of the one the step uses.
PREFETCH_DEPTH = 3

Batch = tuple[torch.Tensor, torch.Tensor | None]


class HostImages:
    """uint8 images [N, C, H, W] (and optional labels) kept on the host, batched onto ``device``."""

    placement = "host"

    def __init__(self, images: np.ndarray, labels: np.ndarray | None, device: torch.device) -> None:
        self.images = images
        self.rows = FileRows.of(images)
        self.labels = None if labels is None else np.asarray(labels, dtype=np.int64)
        self.device = torch.device(device)
        self.pin = self.device.type == "cuda"

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def required_labels(self) -> torch.Tensor:
        """The labels on the device, for images stored with them (a ValueError for images stored without)."""
        if self.labels is None:
            raise ValueError("these images were stored without labels")
        return torch.from_numpy(self.labels).to(self.device)

    def first(self, count: int) -> Batch:
        """The first ``count`` images and their labels (None without), on the device."""
        return self._to_device(self._gather(np.arange(min(count, len(self)))))

    def num_batches(self, batch_size: int, min_last: int = 1) -> int:
        """As :meth:`DeviceImages.num_batches <vaelab.data.batching.DeviceImages.num_batches>`."""
        return count_batches(len(self), batch_size, min_last)

    def permutation(self, generator: torch.Generator) -> torch.Tensor:
        """A random order of the images, drawn on the CPU from ``generator`` (the same draws as
        :class:`~vaelab.data.batching.DeviceImages`; it stays on the CPU, where the reads are)."""
        return torch.randperm(len(self), generator=generator)

    def batches(
        self, batch_size: int, order: torch.Tensor | None = None, start: int = 0, min_last: int = 1
    ) -> Iterator[torch.Tensor]:
        """uint8 batches on the device, as :meth:`labelled_batches` without the labels."""
        for images, _ in self.labelled_batches(batch_size, order, start, min_last):
            yield images

    def labelled_batches(
        self, batch_size: int, order: torch.Tensor | None = None, start: int = 0, min_last: int = 1
    ) -> Iterator[Batch]:
        """The batches of :meth:`DeviceImages.labelled_batches
        <vaelab.data.batching.DeviceImages.labelled_batches>`, read ahead by a background thread."""
        starts = batch_starts(len(self), batch_size, start, min_last)
        chosen = None if order is None else order.cpu().numpy()

        def read(number: int) -> Batch:
            begin = starts[number]
            end = min(begin + batch_size, len(self))
            indices = np.arange(begin, end) if chosen is None else chosen[begin:end]
            return self._gather(indices)

        for batch in Prefetcher(read, len(starts), PREFETCH_DEPTH):
            yield self._to_device(batch)

    def _gather(self, indices: np.ndarray) -> Batch:
        """The rows ``indices`` and their labels as host tensors (pinned for a GPU)."""
        images = torch.empty((len(indices), *self.images.shape[1:]), dtype=torch.uint8, pin_memory=self.pin)
        if self.rows is not None:
            self.rows.read_into(indices, images.numpy())
        else:
            np.take(self.images, indices, axis=0, out=images.numpy())
        labels = None if self.labels is None else torch.from_numpy(self.labels[indices])
        return images, labels

    def _to_device(self, batch: Batch) -> Batch:
        images, labels = batch
        images = images.to(self.device, non_blocking=self.pin)
        return images, None if labels is None else labels.to(self.device, non_blocking=self.pin)
