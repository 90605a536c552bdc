"""Figure: a VAE's latent scatter beside its image under the normal CDF."""

from __future__ import annotations

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from vaelab.latent.embedding import Embedding
from vaelab.latent.normal import normal_cdf
from vaelab.presentation.latent_scatter import draw_class_scatter


def plot_latent_cdf(embedding: Embedding) -> Figure:
    """Left: z[0], z[1]; right: Φ(z[0]), Φ(z[1]) in [0, 1]², where points from N(0, I) would be
    spread uniformly. Both coloured by class."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(15, 6.5), layout="constrained")
    z = embedding.z[:, :2]
    draw_class_scatter(left, z, embedding.labels, embedding.class_names, "z[0]", "z[1]", legend=False)
    left.set_title("latent space z")
    draw_class_scatter(right, normal_cdf(z), embedding.labels, embedding.class_names, "Φ(z[0])", "Φ(z[1])")
    right.set_xlim(0, 1)
    right.set_ylim(0, 1)
    right.set_aspect("equal")
    right.set_title("under the normal CDF: uniform if z ~ N(0, I)")
    return fig
