"""The study's summary figure: families × {P1 crowding, P2 centring, P3 holes, reconstruction, Fréchet
distance, recall}, one panel per group (latent size), so that which model fixes which problem is seen
at a glance.

Each cell holds the mean ± spread over seeds (:mod:`vaelab.evaluation.spread`) and is coloured by its
rank within its column and panel, green for the best and red for the worst; ★ marks the best where the
seeds tell it apart from every other row and = the rows tied for the best
(:func:`~vaelab.presentation.study_table.mark`).
A metric not defined for a row (P2 for discrete codes) is a grey cell.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.colors import LinearSegmentedColormap
from matplotlib.figure import Figure

from vaelab.evaluation.spread import BEST, SPREAD_WORDS, TIED
from vaelab.presentation.study_table import HEADLINE, MARK_SIGNS, StudyMetric, StudyRow

#: Worst → best: a soft red through pale yellow to a soft green, light enough for black text.
RANK_COLOURS = LinearSegmentedColormap.from_list("study-rank", ["#f4a6a6", "#fbf3c4", "#9fd8a4"])
#: A cell without a number.
MISSING_COLOUR = "#e6e6e6"
#: Inches: a table row, a metric column, the row labels, the gap between panels, above and below the tables.
ROW_HEIGHT, COLUMN_WIDTH, LABEL_WIDTH, GAP, TOP, BOTTOM = 0.27, 1.22, 2.3, 0.3, 1.15, 0.75


def rank_scores(values: Sequence[float | None], lower_is_better: bool) -> list[float | None]:
    """Each value's place among the others, from 0 (the worst) to 1 (the best); equal values share a
    place; None stays None. A single value scores 1."""
    present = sorted({v for v in values if v is not None}, reverse=not lower_is_better)
    if not present:
        return [None] * len(values)
    steps = max(len(present) - 1, 1)
    place = {v: 1.0 - i / steps for i, v in enumerate(present)}
    return [None if v is None else place[v] for v in values]


def plot_study_summary(rows: Sequence[StudyRow], title: str, metrics: Sequence[StudyMetric] = HEADLINE) -> Figure:
    """The summary figure of the study's ``rows`` (:func:`~vaelab.presentation.study_table.aggregate`'s):
    a panel per group, side by side, a row per preset and sampler, a column per metric."""
    groups = list(dict.fromkeys(row.group for row in rows)) or [""]
    heights = [sum(row.group == group for row in rows) for group in groups]
    panel = LABEL_WIDTH + COLUMN_WIDTH * len(metrics)
    width, height = len(groups) * (panel + GAP) + GAP, TOP + ROW_HEIGHT * max(max(heights), 1) + BOTTOM
    figure = plt.figure(figsize=(width, height))
    for index, (group, lines) in enumerate(zip(groups, heights, strict=True)):
        left = GAP + index * (panel + GAP) + LABEL_WIDTH
        tall = ROW_HEIGHT * max(lines, 1)
        ax = figure.add_axes(
            (left / width, (height - TOP - tall) / height, COLUMN_WIDTH * len(metrics) / width, tall / height)
        )
        _panel(ax, [row for row in rows if row.group == group], group, metrics)
    figure.suptitle(title, fontsize=12, fontweight="bold", y=1 - 0.15 / height, va="top")
    figure.text(
        0.5,
        0.1 / height,
        f"mean {SPREAD_WORDS}.  ★ best beyond the spread of every other row;  = tied for the best (within the "
        "spread).\nColour: rank within the column (green best, red worst); grey: not defined.  Lower is better, "
        "except recall.  P2 and reconstruction are per run (every sampler of a run shares them).",
        ha="center",
        va="bottom",
        fontsize=8.5,
    )
    return figure


def _panel(ax: Axes, rows: list[StudyRow], group: str, metrics: Sequence[StudyMetric]) -> None:
    """One group's rows as a coloured table in ``ax``."""
    ax.set_xlim(0, len(metrics))
    ax.set_ylim(max(len(rows), 1), 0)
    ax.set_xticks(np.arange(len(metrics)) + 0.5)
    ax.set_xticklabels(
        [f"{m.name}\n({'higher' if not m.lower_is_better else 'lower'} better)" for m in metrics], fontsize=8.5
    )
    ax.xaxis.tick_top()
    ax.set_yticks(np.arange(len(rows)) + 0.5)
    ax.set_yticklabels([row.label for row in rows], fontsize=8.5)
    ax.tick_params(length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)
    ax.set_title(group, fontsize=11, fontweight="bold", pad=30)
    for column, metric in enumerate(metrics):
        numbers = [row.numbers.get(metric.name) for row in rows]
        scores = rank_scores([n.mean if n is not None else None for n in numbers], metric.lower_is_better)
        for line, (row, number, score) in enumerate(zip(rows, numbers, scores, strict=True)):
            colour = MISSING_COLOUR if score is None else RANK_COLOURS(score)
            ax.add_patch(plt.Rectangle((column, line), 1, 1, facecolor=colour, edgecolor="white", linewidth=1.2))
            mark = row.marks.get(metric.name, "")
            text = "–" if number is None else number.format(metric.fmt).replace(" ± ", "±")
            if mark in MARK_SIGNS:
                text += f" {MARK_SIGNS[mark]}"
            weight = "bold" if mark in (BEST, TIED) else "normal"
            ax.text(column + 0.5, line + 0.5, text, ha="center", va="center", fontsize=7.5, fontweight=weight)
    previous = None
    for line, row in enumerate(rows):  # a rule between presets
        if previous is not None and row.preset != previous:
            ax.axhline(line, color="#555555", linewidth=0.8)
        previous = row.preset
