"""Figures: sampled latent points on the scatter, and the images decoded from them; a conditional
model's samples one row per class."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
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
    labels = generated.labels
    for i, cell in enumerate(axes.flat):
        if i < count:
            x, y = shown[i]
            caption = f"({x:.2g}, {y:.2g})"
            if labels is not None:
                caption = f"{generated.class_names[int(labels[i])]}\n{caption}"
            show_image(cell, generated.images[i], caption, fontsize=9 if columns <= 6 else 6.5)
        else:
            cell.axis("off")
    where = "(z[0], z[1])" if embedding.projection.method == "identity" else "(PC1, PC2) of each sample"
    classes = " under their classes" if labels is not None else ""
    right.suptitle(f"decoded samples{classes}, captioned {where}")
    return fig


def plot_generated_by_class(generated: Generated, title: str) -> Figure:
    """A conditional model's samples, one row per class (top to bottom: class 0, 1, …), each row the
    samples of that class in the order they were drawn; a ValueError for samples without classes."""
    labels = generated.labels
    if labels is None:
        raise ValueError("plot_generated_by_class() needs the samples of a conditional model")
    classes = np.unique(labels)
    columns = max(int(np.sum(labels == k)) for k in classes)
    fig, axes = plt.subplots(
        len(classes), columns, figsize=(1.1 * columns + 1.4, 1.1 * len(classes) + 0.6), squeeze=False
    )
    for row, k in zip(axes, classes, strict=True):
        indices = np.flatnonzero(labels == k)
        for j, cell in enumerate(row):
            if j < len(indices):
                show_image(cell, generated.images[indices[j]])
            else:
                cell.axis("off")
        row[0].set_ylabel(generated.class_names[int(k)], rotation=0, ha="right", va="center", fontsize=9)
    fig.suptitle(title)
    return fig
