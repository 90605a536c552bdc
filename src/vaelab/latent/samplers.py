"""Ways of choosing latent points to decode."""

from __future__ import annotations

import numpy as np


def uniform_box(low: np.ndarray, high: np.ndarray, count: int, seed: int = 0) -> np.ndarray:
    """``count`` points drawn uniformly in the box [low, high] (the book's sampler for the AE)."""
    rng = np.random.default_rng(seed)
    low, high = np.asarray(low, np.float32), np.asarray(high, np.float32)
    return (low + (high - low) * rng.random((count, low.shape[0]))).astype(np.float32)
