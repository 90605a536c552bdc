"""Figure: original images above their reconstructions."""

from __future__ import annotations

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from vaelab.latent.reconstruction import Reconstructions
from vaelab.presentation.images import show_image


def plot_reconstructions(result: Reconstructions, title: str = "Reconstructions") -> Figure:
    """Two rows: the originals (captioned with their class) and their reconstructions."""
    count = len(result.originals)
    fig, axes = plt.subplots(2, count, figsize=(1.2 * count + 1.2, 3.2), squeeze=False)
    for i in range(count):
        caption = None
        if result.labels is not None:
            caption = result.class_names[int(result.labels[i])]
        show_image(axes[0, i], result.originals[i], caption, fontsize=7)
        show_image(axes[1, i], result.reconstructions[i])
    axes[0, 0].set_ylabel("original", fontsize=9)
    axes[1, 0].set_ylabel("reconstructed", fontsize=9)
    fig.suptitle(f"{title} (per-pixel MSE {result.mean_squared_error():.4f})", fontsize=11)
    return fig
