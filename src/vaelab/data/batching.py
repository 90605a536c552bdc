"""Batches from a dataset held on the training device as uint8.

Fashion-MNIST is 60,000 × 32 × 32 bytes = 61 MB: it fits on any device, so the whole set is
copied there once and every batch is a single index-select, converted to float on the fly. This
replaces a per-sample Python DataLoader, whose overhead dominates for models this small.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch


class DeviceImages:
    """A uint8 image tensor [N, C, H, W] (and optional labels) resident on ``device``."""

    def __init__(self, images: np.ndarray, labels: np.ndarray | None, device: torch.device) -> None:
        self.images = torch.from_numpy(np.ascontiguousarray(images)).to(device)
        self.labels = None if labels is None else torch.from_numpy(np.asarray(labels)).to(device)
        self.device = device

    def __len__(self) -> int:
        return self.images.shape[0]

    def required_labels(self) -> torch.Tensor:
        """The labels, for images stored with them (a ValueError for images stored without)."""
        if self.labels is None:
            raise ValueError("these images were stored without labels")
        return self.labels

    def num_batches(self, batch_size: int, min_last: int = 1) -> int:
        """Batches per pass: the last one possibly smaller, and left out when it holds fewer than
        ``min_last`` images (with the default 1, nothing is left out)."""
        full, rest = divmod(len(self), batch_size)
        return full + (1 if rest >= min_last else 0)

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
        end = self.num_batches(batch_size, min_last) * batch_size
        for begin in range(start * batch_size, min(end, len(self)), batch_size):
            if order is None:
                index: slice | torch.Tensor = slice(begin, begin + batch_size)
                images = self.images[index]
            else:
                index = order[begin : begin + batch_size]
                images = self.images.index_select(0, index)
            labels = None if self.labels is None else self.labels[index]
            yield images, labels
