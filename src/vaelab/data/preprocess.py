"""Turning stored uint8 images into model inputs.

Padding happens once, on the uint8 arrays (28×28 Fashion-MNIST becomes 32×32, a size that halves
cleanly through strided convolutions); scaling to [0, 1] happens per batch on the training device,
so the dataset stays uint8 in memory.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch


def pad_images(images: np.ndarray, pad: int = 2) -> np.ndarray:
    """Zero-pad uint8 images ``[N, H, W]`` (or ``[N, C, H, W]``) by ``pad`` pixels on every side.

    Returns a new uint8 array ``[N, C, H + 2*pad, W + 2*pad]``, with ``C = 1`` for ``[N, H, W]``.
    """
    if images.dtype != np.uint8:
        raise TypeError(f"pad_images needs uint8 images, got {images.dtype}")
    if images.ndim == 3:
        images = images[:, np.newaxis]
    if images.ndim != 4:
        raise ValueError(f"pad_images needs images [N, H, W] or [N, C, H, W], got shape {images.shape}")
    if isinstance(pad, bool) or not isinstance(pad, int) or pad < 0:
        raise ValueError(f"pad_images needs an integer pad >= 0, got {pad!r}")
    count, channels, height, width = images.shape
    padded = np.zeros((count, channels, height + 2 * pad, width + 2 * pad), dtype=np.uint8)
    padded[:, :, pad : pad + height, pad : pad + width] = images
    return padded


def to_unit_float(batch: torch.Tensor) -> torch.Tensor:
    """A uint8 batch as float32 in [0, 1] (0 → 0.0, 255 → 1.0), on the same device and memory format."""
    import torch  # deferred so that importing vaelab.data stays free of torch's start-up cost

    if batch.dtype != torch.uint8:
        raise TypeError(f"to_unit_float needs a uint8 tensor, got {batch.dtype}")
    return batch.to(dtype=torch.float32, memory_format=torch.preserve_format).div_(255.0)
