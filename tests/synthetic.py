"""Small synthetic image sets for fast tests: ten classes of bright shapes on black."""

from __future__ import annotations

import numpy as np

from vaelab.data.image_set import ImageSet

CLASS_NAMES = tuple(f"shape-{k}" for k in range(10))


def synthetic_images(count: int = 256, size: int = 32, channels: int = 1, seed: int = 0) -> ImageSet:
    """``count`` uint8 images [N, C, size, size]: class k is a filled box whose position and width
    depend on k, with a little pixel noise, so a small autoencoder can learn them in seconds."""
    rng = np.random.default_rng(seed)
    labels = np.arange(count) % 10
    rng.shuffle(labels)
    images = np.zeros((count, channels, size, size), np.uint8)
    for i, k in enumerate(labels):
        top = 2 + (k % 5) * (size // 6)
        left = 2 + (k // 5) * (size // 2)
        height, width = size // 4, size // 3 + (k % 3) * 2
        images[i, :, top : top + height, left : left + width] = 255
    noise = rng.integers(0, 30, images.shape, dtype=np.uint8)
    images = np.where(images > 0, images - noise, noise).astype(np.uint8)
    return ImageSet(images, labels.astype(np.int64), CLASS_NAMES, "synthetic")
