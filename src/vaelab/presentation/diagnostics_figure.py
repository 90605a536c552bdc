"""Figure: the three latent-space problems, one panel each."""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Circle

from vaelab.evaluation.sampling import SampleSet
from vaelab.latent.projection import fit_projection
from vaelab.presentation.code_diagnostics_figure import plot_code_diagnostics
from vaelab.presentation.latent_scatter import draw_class_scatter


def plot_diagnostics(
    result: dict[str, Any],
    samples: SampleSet,
    labels: np.ndarray | None,
    class_names: tuple[str, ...],
    unconfident: np.ndarray,
    far: np.ndarray,
    title: str,
    distances: np.ndarray | None = None,
) -> Figure:
    """P1: class shares of decoded samples and of the latent region against uniform;
    P2: training embeddings against N(0, I) (1, 2, 3 σ circles); P3: samples in holes. Samples of
    discrete code grids get :func:`~vaelab.presentation.code_diagnostics_figure.plot_code_diagnostics`
    (``distances``: each sample's Hamming distance to the nearest training grid)."""
    if samples.discrete and distances is not None:
        return plot_code_diagnostics(result, samples, labels, class_names, unconfident, distances, title)
    fig, (p1, p2, p3) = plt.subplots(1, 3, figsize=(20, 6.4), layout="constrained")
    crowd = result["p1_crowding"]
    k = np.arange(len(class_names))
    width = 0.4
    p1.bar(k - width / 2, list(crowd["class_shares"].values()), width, label="decoded samples (judge)")
    region = crowd.get("latent_region")
    if region:
        p1.bar(k + width / 2, region["region_share"], width, label="latent region (nearest embedding)")
    p1.axhline(1 / len(class_names), color="black", linewidth=1, linestyle="--", label="uniform")
    p1.set_xticks(k, class_names, rotation=45, ha="right", fontsize=8)
    p1.set_ylabel("share")
    p1.legend(fontsize=8)
    p1.set_title(f"P1 crowding: KL from uniform {crowd['kl_from_uniform']:.3f} nats")

    projection = fit_projection(samples.train_z)
    shown = slice(0, 5000)
    plane = projection.project(samples.train_z[shown])
    xlabel, ylabel = projection.axis_labels()
    draw_class_scatter(p2, plane, None if labels is None else labels[shown], class_names, xlabel, ylabel)
    if projection.method == "identity":
        for r in (1, 2, 3):
            p2.add_patch(Circle((0, 0), r, fill=False, color="black", linewidth=0.8, linestyle=":"))
    p2.plot([0], [0], "k+", markersize=12)
    centring = result["p2_centring"]
    p2.set_title(
        f"P2 centring: mean {centring['mean_in_sd_norm']:.2f} sd from 0, KL to N(0,I) "
        f"{centring['kl_gaussian_to_standard']:.2f}, beyond 3σ {100 * centring['beyond_3sd']:.1f}%",
        fontsize=10,
    )
    p2.set_aspect("equal", adjustable="datalim")

    points = projection.project(samples.points)
    ok = ~(unconfident | far)
    p3.scatter(plane[:, 0], plane[:, 1], s=1, color="lightgray", label="training embeddings")
    p3.scatter(points[ok, 0], points[ok, 1], s=4, color="tab:green", label="judged confidently, near data")
    p3.scatter(points[unconfident, 0], points[unconfident, 1], s=4, color="tab:orange", label="judge unsure (< 0.5)")
    p3.scatter(points[far, 0], points[far, 1], s=4, color="tab:red", label="in a hole (far from data)")
    holes = result["p3_holes"]
    p3.set_title(
        f"P3 holes: judge unsure {100 * holes['unconfident_fraction']:.1f}%, "
        f"far from data {100 * holes['hole_fraction']:.1f}%",
        fontsize=10,
    )
    p3.set_xlabel(xlabel)
    p3.set_ylabel(ylabel)
    p3.legend(fontsize=8, markerscale=3, loc="best")
    fig.suptitle(title)
    return fig
