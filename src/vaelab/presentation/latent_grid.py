"""Figure: a regular grid of latent points decoded, beside the coloured scatter."""

from __future__ import annotations

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from vaelab.latent.embedding import Embedding
from vaelab.latent.grids import LatentGrid
from vaelab.presentation.images import display_array, mosaic
from vaelab.presentation.latent_scatter import draw_latent_scatter


def plot_latent_grid(embedding: Embedding, grid: LatentGrid) -> Figure:
    """Left: the embeddings with the grid points marked; right: the decoded grid placed at its
    latent coordinates, so the two panels share axes."""
    size = len(grid.xs)
    fig, (left, right) = plt.subplots(1, 2, figsize=(16, 7.4), layout="constrained")
    draw_latent_scatter(left, embedding)
    points = grid.points
    left.scatter(points[:, 0], points[:, 1], s=4, c="black", marker="+", linewidths=0.6)
    left.set_title(f"embeddings and the {size}×{size} grid")
    dx = (grid.xs[-1] - grid.xs[0]) / (2 * (size - 1))
    dy = (grid.ys[0] - grid.ys[-1]) / (2 * (size - 1))
    extent = (grid.xs[0] - dx, grid.xs[-1] + dx, grid.ys[-1] - dy, grid.ys[0] + dy)
    image = mosaic(grid.images)
    right.imshow(display_array(image), cmap="gray_r" if image.shape[0] == 1 else None, vmin=0, vmax=1, extent=extent, aspect="auto")
    xlabel, ylabel = embedding.projection.axis_labels()
    right.set_xlabel(xlabel)
    right.set_ylabel(ylabel)
    right.set_title("decoded grid")
    left.set_xlim(extent[0], extent[1])
    left.set_ylim(extent[2], extent[3])
    return fig
