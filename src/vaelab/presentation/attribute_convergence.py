"""Figure: how an attribute vector settles as more images are scanned."""

from __future__ import annotations

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from vaelab.latent.attributes import AttributeVector


def plot_attribute_convergence(vector: AttributeVector, title: str | None = None) -> Figure:
    """Left: the distance from the difference of means so far to the final one; right: their
    cosine similarity; both against the number of images scanned (log scale)."""
    c = vector.convergence
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4), layout="constrained")
    left.plot(c.images, c.distance, marker=".", color="tab:blue")
    left.set_ylabel("‖difference so far − final difference‖")
    right.plot(c.images, c.cosine, marker=".", color="tab:green")
    right.set_ylabel("cosine to the final difference")
    right.set_ylim(min(0.0, float(c.cosine[c.cosine == c.cosine].min(initial=1.0))) - 0.02, 1.02)
    for ax in (left, right):
        ax.set_xscale("log")
        ax.set_xlabel("images scanned")
        ax.grid(alpha=0.3)
    fig.suptitle(
        title
        or f"attribute vector {vector.describe()}: {vector.count_with:,} with, {vector.count_without:,} without, "
        f"of {vector.images_scanned:,} images; norm before normalising {vector.norm:.3g}"
    )
    return fig
