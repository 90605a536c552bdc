"""Figure: the distribution of each latent dimension against the N(0, 1) density."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from vaelab.latent.normal import standard_normal_pdf

MAX_DIMS = 50


def plot_latent_histograms(z: np.ndarray, max_dims: int = MAX_DIMS, title: str | None = None) -> Figure:
    """One histogram (as a density) per latent dimension, the first ``max_dims`` at most, each
    with the standard normal density drawn over it and its mean and standard deviation."""
    dims = min(z.shape[1], max_dims)
    cols = min(dims, 10 if dims > 16 else 5 if dims > 4 else dims)
    rows = math.ceil(dims / cols)
    fig, axes = plt.subplots(
        rows, cols, figsize=(2.1 * cols + 0.4, 1.9 * rows + 0.8), squeeze=False, layout="constrained"
    )
    grid = np.linspace(-4, 4, 200)
    for d, ax in enumerate(axes.flat):
        if d >= dims:
            ax.axis("off")
            continue
        values = z[:, d]
        ax.hist(values, bins=40, range=(-4, 4), density=True, color="tab:blue", alpha=0.6)
        ax.plot(grid, standard_normal_pdf(grid), color="black", linewidth=1)
        ax.set_title(f"z[{d}]: μ={values.mean():.2f} σ={values.std():.2f}", fontsize=8)
        ax.set_yticks([])
        ax.tick_params(labelsize=7)
    shown = f"first {dims} of {z.shape[1]}" if dims < z.shape[1] else f"all {dims}"
    fig.suptitle(title or f"latent dimensions ({shown}) of {len(z):,} images; black: N(0, 1) density")
    return fig
