"""The standard normal CDF Φ and its inverse, for mapping a VAE's latent space into [0, 1]."""

from __future__ import annotations

import numpy as np
import torch


def normal_cdf(z: np.ndarray) -> np.ndarray:
    """Φ(z), elementwise (float64 inside, so tails are exact to ~1e-16)."""
    return torch.special.ndtr(torch.as_tensor(np.asarray(z, np.float64))).numpy()


def normal_quantile(p: np.ndarray) -> np.ndarray:
    """Φ⁻¹(p), elementwise, for p strictly inside (0, 1) (0 and 1 give ∓∞)."""
    return torch.special.ndtri(torch.as_tensor(np.asarray(p, np.float64))).numpy().astype(np.float32)


def standard_normal_pdf(x: np.ndarray) -> np.ndarray:
    """The N(0, 1) density."""
    x = np.asarray(x, np.float64)
    return np.exp(-0.5 * x**2) / np.sqrt(2 * np.pi)
