"""Figure: images moved along an attribute vector, one row per image."""

from __future__ import annotations

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from vaelab.latent.arithmetic import Arithmetic
from vaelab.presentation.images import show_image


def factor_caption(factor: float) -> str:
    """``f = -4``, ``f = 0.5``; f = 0 is the reconstruction."""
    return "f = 0 (recon.)" if factor == 0 else f"f = {factor:+.3g}"


def plot_arithmetic(result: Arithmetic, title: str) -> Figure:
    """Each row: the original image, then z + f·v decoded for every factor f (captioned)."""
    rows, columns = result.images.shape[:2]
    fig, axes = plt.subplots(
        rows, columns + 1, figsize=(1.25 * (columns + 1) + 0.4, 1.3 * rows + 0.8), squeeze=False, layout="constrained"
    )
    for i in range(rows):
        show_image(axes[i, 0], result.originals[i], "original" if i == 0 else None, fontsize=8)
        for k in range(columns):
            show_image(
                axes[i, k + 1],
                result.images[i, k],
                factor_caption(float(result.factors[k])) if i == 0 else None,
                fontsize=8,
            )
    fig.suptitle(title)
    return fig
