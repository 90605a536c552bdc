"""Figure: sampled latent points on the scatter, and the images decoded from them."""

from __future__ import annotations

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from vaelab.latent.embedding import Embedding
from vaelab.latent.generation import Generated
from vaelab.presentation.images import show_image
from vaelab.presentation.latent_scatter import draw_latent_scatter


def plot_generated(embedding: Embedding, generated: Generated, columns: int = 6) -> Figure:
    """Left: the embeddings with the samples in black; right: the decoded samples captioned
    with their coordinates, ``columns`` per row (the book's 3×6 grid)."""
    count = len(generated.points)
    rows = -(-count // columns)
    fig = plt.figure(figsize=(15, 6.2), layout="constrained")
    left, right = fig.subfigures(1, 2, squeeze=False, width_ratios=[1.0, 1.15])[0]
    ax = left.subplots()
    draw_latent_scatter(ax, embedding)
    shown = embedding.projection.project(generated.points)
    ax.scatter(shown[:, 0], shown[:, 1], s=28, c="black", marker="o", label="samples")
    ax.set_title(f"{count} points sampled ({generated.sampler})")
    axes = right.subplots(rows, columns, squeeze=False)
    for i, cell in enumerate(axes.flat):
        if i < count:
            x, y = shown[i]
            show_image(cell, generated.images[i], f"({x:.2g}, {y:.2g})", fontsize=9 if columns <= 6 else 6.5)
        else:
            cell.axis("off")
    where = "(z[0], z[1])" if embedding.projection.method == "identity" else "(PC1, PC2) of each sample"
    right.suptitle(f"decoded samples, captioned {where}")
    return fig
