"""Figure: a run's loss terms, epoch by epoch, on the training and the validation images."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import matplotlib.pyplot as plt
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

#: Panels per row.
COLUMNS = 4


def loss_terms(rows: Sequence[dict[str, Any]]) -> list[str]:
    """Every loss term of ``rows`` (rows of a ``metrics.jsonl``), in the order they first appear."""
    names = [name for row in rows for split in ("train", "val") for name in row.get(split, {})]
    return list(dict.fromkeys(names))


def plot_loss_curves(rows: Sequence[dict[str, Any]]) -> Figure:
    """One panel per loss term of ``rows`` (at least one row): its training value (solid) and its
    validation value (dashed) against the epoch. A term missing from an epoch leaves a gap."""
    terms = loss_terms(rows)
    columns = min(len(terms), COLUMNS) or 1
    lines = math.ceil(len(terms) / columns) or 1
    fig, axes = plt.subplots(
        lines, columns, figsize=(3.4 * columns + 0.4, 2.5 * lines + 0.2), squeeze=False, layout="constrained"
    )
    epochs = [row["epoch"] for row in rows]
    for index, ax in enumerate(axes.flat):
        if index >= len(terms):
            ax.axis("off")
            continue
        for split, label, style in (("train", "training", "-"), ("val", "validation", "--")):
            values = [row.get(split, {}).get(terms[index], math.nan) for row in rows]
            ax.plot(epochs, values, style, marker="o", markersize=3, label=label)
        ax.set_title(terms[index], fontsize=9)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.tick_params(labelsize=7)
        ax.set_xlabel("epoch", fontsize=8)
        if index == 0:
            ax.legend(fontsize=7)
    return fig
