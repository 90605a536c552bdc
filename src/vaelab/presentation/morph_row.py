"""Figure: a morph between two images, as one row."""

from __future__ import annotations

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from vaelab.latent.morph import Morph
from vaelab.presentation.images import show_image


def plot_morph(result: Morph, title: str | None = None) -> Figure:
    """The start image, the decoded path (captioned with its fraction f; the first and last are
    the endpoints' reconstructions) and the end image."""
    steps = len(result.images)
    fig, axes = plt.subplots(1, steps + 2, figsize=(1.2 * (steps + 2) + 0.4, 2.0), squeeze=False, layout="constrained")
    row = axes[0]
    show_image(row[0], result.endpoints[0], f"image {result.start}", fontsize=8)
    for k in range(steps):
        show_image(row[k + 1], result.images[k], f"f = {result.fractions[k]:.2f}", fontsize=8)
    show_image(row[-1], result.endpoints[1], f"image {result.end}", fontsize=8)
    fig.suptitle(title or f"{result.method} morph from test image {result.start} to {result.end}")
    return fig
