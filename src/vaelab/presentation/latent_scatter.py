"""Figure: the latent space as a scatter of embedded images coloured by class."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from vaelab.latent.embedding import Embedding

CLASS_COLORS = plt.get_cmap("tab10")


def draw_class_scatter(
    ax: Axes,
    points: np.ndarray,
    labels: np.ndarray | None,
    class_names: tuple[str, ...],
    xlabel: str,
    ylabel: str,
    point_size: float = 3.0,
    legend: bool = True,
) -> None:
    """Scatter 2-D ``points``, one colour per class, with a legend of class names."""
    if labels is None:
        ax.scatter(points[:, 0], points[:, 1], s=point_size, color="tab:gray", alpha=0.6, linewidths=0)
    else:
        ax.scatter(points[:, 0], points[:, 1], s=point_size, c=CLASS_COLORS(labels % 10), alpha=0.7, linewidths=0)
        if legend:
            handles = [
                Line2D([], [], marker="o", linestyle="", color=CLASS_COLORS(int(k) % 10), label=class_names[int(k)])
                for k in np.unique(labels)
            ]
            ax.legend(
                handles=handles,
                fontsize=7,
                loc="upper left",
                bbox_to_anchor=(1.01, 1.0),
                title="class",
                title_fontsize=8,
                frameon=False,
            )
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)


def draw_latent_scatter(ax: Axes, embedding: Embedding, point_size: float = 3.0, legend: bool = True) -> None:
    """Scatter the embeddings in their plane (the latent axes, or PCA for more than two
    dimensions), coloured by class."""
    xlabel, ylabel = embedding.axis_labels()
    draw_class_scatter(ax, embedding.plane, embedding.labels, embedding.class_names, xlabel, ylabel, point_size, legend)


def plot_latent_scatter(embedding: Embedding, title: str | None = None) -> Figure:
    """The book's latent-space scatter, coloured by class, with a legend of class names."""
    fig, ax = plt.subplots(figsize=(7.5, 6))
    draw_latent_scatter(ax, embedding)
    ax.set_title(title or f"Latent space: {len(embedding.z):,} test images")
    return fig
