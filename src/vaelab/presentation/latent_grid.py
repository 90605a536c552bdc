"""Figure: a regular grid of latent points decoded, beside the coloured scatter."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from vaelab.latent.grids import LatentGrid
from vaelab.presentation.images import display_array, mosaic
from vaelab.presentation.latent_scatter import draw_class_scatter


def plot_latent_grid(
    plane: np.ndarray,
    labels: np.ndarray | None,
    class_names: tuple[str, ...],
    grid: LatentGrid,
    title: str = "decoded grid",
) -> Figure:
    """Left: the embeddings (already in the grid's plane coordinates, ``plane`` [N, 2]) with the
    grid points marked; right: the decoded grid placed at its coordinates, so the two panels
    share axes."""
    size_x, size_y = len(grid.xs), len(grid.ys)
    fig, (left, right) = plt.subplots(1, 2, figsize=(16, 7.4), layout="constrained")
    xlabel, ylabel = grid.axis_labels
    draw_class_scatter(left, plane, labels, class_names, xlabel, ylabel)
    points = grid.points
    left.scatter(points[:, 0], points[:, 1], s=4, c="black", marker="+", linewidths=0.6)
    left.set_title(f"embeddings and the {size_x}×{size_y} grid")
    dx = abs(grid.xs[-1] - grid.xs[0]) / (2 * (size_x - 1))
    dy = abs(grid.ys[0] - grid.ys[-1]) / (2 * (size_y - 1))
    extent = (grid.xs[0] - dx, grid.xs[-1] + dx, grid.ys[-1] - dy, grid.ys[0] + dy)
    image = mosaic(grid.images)
    cmap = "gray_r" if image.shape[0] == 1 else None
    right.imshow(display_array(image), cmap=cmap, vmin=0, vmax=1, extent=extent, aspect="auto")
    right.set_xlabel(xlabel)
    right.set_ylabel(ylabel)
    right.set_title(title)
    left.set_xlim(extent[0], extent[1])
    left.set_ylim(extent[2], extent[3])
    return fig
