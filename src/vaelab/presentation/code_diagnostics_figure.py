"""Figure: the three problems for a family with discrete codes (``vq-vae``), one panel each.

The numbers come from :mod:`vaelab.evaluation.code_diagnostics`: P1 the judge's class shares of the
samples beside each class's code entropy; P2 has no number for codebook indices, so its panel says
why and shows, in its place, how each class uses the codebook; P3 the sampled grids' Hamming
distances to their nearest training grid, split by whether the judge was sure of the sample.
"""

from __future__ import annotations

import textwrap
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure

from vaelab.evaluation.sampling import SampleSet
from vaelab.latent.code_usage import usage_counts


def plot_code_diagnostics(
    result: dict[str, Any],
    samples: SampleSet,
    labels: np.ndarray | None,
    class_names: tuple[str, ...],
    unconfident: np.ndarray,
    distances: np.ndarray,
    title: str,
) -> Figure:
    """The three panels of the module docstring for ``result`` (``diagnostics.json``'s entry), the
    ``samples`` it was measured on (their ``train_codes``), and per sample whether the judge was unsure
    and its Hamming distance to the nearest training grid."""
    fig, (p1, p2, p3) = plt.subplots(1, 3, figsize=(20, 6.4), layout="constrained")
    _crowding_panel(p1, result["p1_crowding"], class_names)
    _usage_panel(p2, result["p2_centring"], samples, labels, class_names)
    _holes_panel(p3, result["p3_holes"], unconfident, distances)
    fig.suptitle(title)
    return fig


def _crowding_panel(ax: Any, crowd: dict[str, Any], class_names: tuple[str, ...]) -> None:
    """The judge's class shares of the samples (bars, against uniform) and each class's code entropy
    (markers, on the right-hand axis, up to log₂ K)."""
    k = np.arange(len(class_names))
    ax.bar(k, list(crowd["class_shares"].values()), 0.6, label="decoded samples (judge)")
    ax.axhline(1 / len(class_names), color="black", linewidth=1, linestyle="--", label="uniform share")
    ax.set_xticks(k, class_names, rotation=45, ha="right", fontsize=8)
    ax.set_ylabel("share of the samples")
    ax.legend(fontsize=8, loc="upper left")
    usage = crowd["code_usage"]
    per_class = usage.get("per_class")
    if per_class:
        entropy = ax.twinx()
        bits = [per_class[name]["entropy_bits"] for name in class_names]
        entropy.plot(k, bits, "o", color="tab:orange", label="class's code entropy (training grids)")
        entropy.set_ylim(0, usage["max_entropy_bits"])
        entropy.set_ylabel("bits (log₂ K at the top)")
        entropy.legend(fontsize=8, loc="upper right")
    overall = usage["overall"]
    ax.set_title(
        f"P1 crowding: KL from uniform {crowd['kl_from_uniform']:.3f} nats; "
        f"codes used {overall['codes_used']} of {usage['codebook_size']}",
        fontsize=10,
    )


def _usage_panel(
    ax: Any, centring: dict[str, Any], samples: SampleSet, labels: np.ndarray | None, class_names: tuple[str, ...]
) -> None:
    """Each class's share of uses of each code (codes sorted by overall use), under P2's reason."""
    assert samples.train_codes is not None
    size = samples.codebook_size
    order = np.argsort(-usage_counts(samples.train_codes, size), kind="stable")
    if labels is None:
        rows = usage_counts(samples.train_codes, size)[None, order].astype(float)
        names: tuple[str, ...] = ("all",)
    else:
        rows = np.stack([usage_counts(samples.train_codes[labels == k], size)[order] for k in range(len(class_names))])
        names = class_names
    rows = rows / np.maximum(rows.sum(axis=1, keepdims=True), 1)
    floor = 1.0 / max(int(samples.train_codes.size), 1)  # one use among every position: the log scale's floor
    norm = LogNorm(vmin=floor, vmax=max(float(rows.max()), 2 * floor))
    image = ax.imshow(np.maximum(rows, floor), aspect="auto", cmap="viridis", interpolation="nearest", norm=norm)
    ax.figure.colorbar(image, ax=ax, label="share of the class's code positions")
    ax.set_yticks(np.arange(len(names)), names, fontsize=8)
    ax.set_xlabel("code, most used first")
    reason = textwrap.fill("P2 centring: " + centring.get("not_applicable", ""), 70)
    ax.set_title(reason + "\nIn its place: how each class uses the codebook", fontsize=9)


def _holes_panel(ax: Any, holes: dict[str, Any], unconfident: np.ndarray, distances: np.ndarray) -> None:
    bins = np.arange(holes["positions"] + 2) - 0.5
    ax.hist(
        [distances[~unconfident], distances[unconfident]],
        bins=bins,
        stacked=True,
        color=["tab:green", "tab:orange"],
        label=["judged confidently", "judge unsure (< 0.5)"],
    )
    ax.axvline(holes["distance_threshold"], color="tab:red", linestyle="--", label="hole threshold")
    ax.set_xlabel(f"codes differing from the nearest training grid (of {holes['positions']})")
    ax.set_ylabel("samples")
    ax.legend(fontsize=8)
    ax.set_title(
        f"P3 holes: judge unsure {100 * holes['unconfident_fraction']:.1f}%, "
        f"novel grids {100 * holes['hole_fraction']:.1f}%, copies {100 * holes['copies_fraction']:.1f}%",
        fontsize=10,
    )
