"""The study's table: each family, setting and sampler's numbers over seeds, as mean ± spread, with the
best of each metric marked only where the seeds tell it apart (:mod:`vaelab.evaluation.spread`).

Its input is one :class:`MeasuredRow` per run and sampler: the row ``vaelab compare`` makes of the run
(:func:`vaelab.presentation.compare.collect_rows`), with the study's group, setting, preset and seed.
:func:`aggregate` turns the seeds' rows of each (setting, preset, sampler) into one :class:`StudyRow`;
the best of a metric is found within a group (the runs of one latent size, compared with each other),
and for a metric that no sampler changes (``per_run``: the test reconstruction, P2) between the runs'
families rather than between their samplers, which share one value. :func:`as_markdown` and
:func:`as_csv` write it (``comparison.md``, ``comparison.csv``).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from vaelab.evaluation.spread import BEST, SPREAD_WORDS, TIED, OverSeeds, best_marks, over_seeds


@dataclass(frozen=True)
class StudyMetric:
    """A number the study reports: ``name`` in its table and figure, the ``column`` of ``compare``'s
    rows it reads, which way is better, whether every sampler of a run shares it (``per_run``), its
    number ``fmt`` and one line saying what it means."""

    name: str
    column: str
    lower_is_better: bool
    per_run: bool
    fmt: str
    meaning: str


#: The summary figure's metrics: the chapter's three problems, then what fixing them costs or buys.
HEADLINE = (
    StudyMetric(
        "P1 crowding",
        "P1 KL(uniform)",
        True,
        False,
        ".3f",
        "KL of the judge's class shares of the samples from uniform, nats (0: every class drawn equally often; "
        "ln 10 = 2.30: one class only)",
    ),
    StudyMetric(
        "P2 centring",
        "P2 KL(N(0,I))",
        True,
        True,
        ".2f",
        "KL of the Gaussian fitted to the training embeddings from N(0, I), nats (0: centred and scaled like "
        "the standard normal; not defined for discrete codes)",
    ),
    StudyMetric(
        "P3 holes",
        "P3 in holes",
        True,
        False,
        ".3f",
        "share of samples farther from every training embedding than 99 % of the training embeddings are from "
        "their nearest neighbour (for codes: in Hamming distance)",
    ),
    StudyMetric(
        "reconstruction", "recon BCE/px", True, True, ".4f", "test images' binary cross-entropy per pixel, nats"
    ),
    StudyMetric(
        "Fréchet distance",
        "Fréchet (judge)",
        True,
        False,
        ".1f",
        "Fréchet distance between the judge's features of the samples and of the test images",
    ),
    StudyMetric(
        "recall",
        "recall",
        False,
        False,
        ".4f",
        "share of test images inside the samples' k-NN manifold (k = 3); four places, as a recall of 0.0004 is not 0",
    ),
)

#: The table's further metrics.
MORE = (
    StudyMetric(
        "precision", "precision", False, False, ".3f", "share of samples inside the test images' k-NN manifold"
    ),
    StudyMetric(
        "P3 judge unsure",
        "P3 judge unsure",
        True,
        False,
        ".3f",
        "share of samples whose top judge probability is under 0.5: no recognisable item",
    ),
    StudyMetric(
        "P1 rarest class",
        "P1 min class share",
        False,
        False,
        ".3f",
        "the judge's share of the samples of the class it sees least (0.1 when balanced)",
    ),
    StudyMetric(
        "IW NLL",
        "IW NLL nats",
        True,
        True,
        ".1f",
        "importance-weighted bound on −log p(x), nats per image (VAE families only)",
    ),
    StudyMetric(
        "train seconds",
        "train seconds",
        True,
        True,
        ".0f",
        "seconds of training (all epochs, validation included) on the machine the study ran on, which others may "
        "have shared",
    ),
)

#: Every metric of the table, headline first.
METRICS = (*HEADLINE, *MORE)

#: The first line of every ``comparison.md`` the study writes.
MARKDOWN_MARKER = "<!-- written by vaelab study, which replaces this file when it runs again -->"

#: The key columns of the table, before the metrics.
KEYS = ("group", "setting", "preset", "sampler", "seeds")


@dataclass(frozen=True)
class MeasuredRow:
    """One run's numbers for one sampler: ``values`` by ``compare``'s column names (None where not
    measured or not defined), with the run's place in the study."""

    group: str
    setting: str
    preset: str
    sampler: str
    seed: int
    values: dict[str, Any]


@dataclass
class StudyRow:
    """One (group, setting, preset, sampler) over its seeds: ``numbers`` and ``marks`` by metric name."""

    group: str
    setting: str
    preset: str
    sampler: str
    seeds: tuple[int, ...]
    numbers: dict[str, OverSeeds | None] = field(default_factory=dict)
    marks: dict[str, str] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """``book-ae · uniform-box``, or ``vq-vae (8×8 codes) · prior`` where the setting is not the group."""
        what = self.preset if self.setting == self.group else f"{self.preset} ({self.setting})"
        return f"{what} · {self.sampler}"


def aggregate(rows: Sequence[MeasuredRow], metrics: Sequence[StudyMetric] = METRICS) -> list[StudyRow]:
    """The rows of the same group, setting, preset and sampler over their seeds, in the order they first
    appear, each metric as :class:`OverSeeds` (None where no seed has it) and marked (:func:`mark`)."""
    grouped: dict[tuple[str, str, str, str], list[MeasuredRow]] = {}
    for row in rows:
        grouped.setdefault((row.group, row.setting, row.preset, row.sampler), []).append(row)
    study = []
    for (group, setting, preset, sampler), seeds in grouped.items():
        numbers = {m.name: over_seeds([row.values.get(m.column) for row in seeds]) for m in metrics}
        study.append(StudyRow(group, setting, preset, sampler, tuple(row.seed for row in seeds), numbers))
    mark(study, metrics)
    return study


def mark(rows: Sequence[StudyRow], metrics: Sequence[StudyMetric]) -> None:
    """Set each row's marks: within each group, per metric, :func:`~vaelab.evaluation.spread.best_marks`
    over the rows, or for a ``per_run`` metric over the group's (setting, preset) runs, each run's mark
    given to all its samplers' rows."""
    for group in dict.fromkeys(row.group for row in rows):
        members = [row for row in rows if row.group == group]
        for metric in metrics:
            units: dict[tuple[str, ...], list[StudyRow]] = {}
            for row in members:
                key = (row.setting, row.preset) if metric.per_run else (row.setting, row.preset, row.sampler)
                units.setdefault(key, []).append(row)
            numbers = [unit[0].numbers.get(metric.name) for unit in units.values()]
            for unit, unit_mark in zip(units.values(), best_marks(numbers, not metric.lower_is_better), strict=True):
                for row in unit:
                    row.marks[metric.name] = unit_mark


#: Each mark as the tables show it, after the number.
MARK_SIGNS = {BEST: "★", TIED: "="}

#: What the marks and the numbers mean, under the tables.
LEGEND = (
    f"Each number is the mean {SPREAD_WORDS} (the seeds column says which seeds). Within each group (one latent "
    "size), ★ marks the best of a column when it is farther from every other row than their spreads together; "
    "when it is not, = marks it and every row within the spread of it: the seeds cannot tell them apart. P2 and "
    "the reconstruction are the same for every sampler of a run, so they are compared between runs. –: not "
    "measured, or not defined for the model."
)


def cell(row: StudyRow, metric: StudyMetric) -> str:
    """``0.253 ± 0.004 ★``: the number, its spread and its mark; ``–`` when there is none."""
    number = row.numbers.get(metric.name)
    if number is None:
        return "–"
    sign = MARK_SIGNS.get(row.marks.get(metric.name, ""), "")
    return number.format(metric.fmt) + (f" {sign}" if sign else "")


def formatted(rows: Sequence[StudyRow], metrics: Sequence[StudyMetric] = METRICS) -> tuple[list[str], list[list[str]]]:
    """The table's header and cells as text."""
    header = [*KEYS, *(metric.name for metric in metrics)]
    cells = [
        [row.group, row.setting, row.preset, row.sampler, _seeds(row.seeds), *(cell(row, m) for m in metrics)]
        for row in rows
    ]
    return header, cells


def _seeds(seeds: Sequence[int]) -> str:
    return " ".join(str(seed) for seed in seeds)


def as_markdown(rows: Sequence[StudyRow], metrics: Sequence[StudyMetric] = METRICS) -> str:
    """The table in GitHub Markdown after :data:`MARKDOWN_MARKER`, the best of each column in bold, then
    the :data:`LEGEND` and what each metric means."""
    header, cells = formatted(rows, metrics)
    lines = [MARKDOWN_MARKER, "", "| " + " | ".join(header) + " |", "|" + "---|" * len(KEYS) + "---:|" * len(metrics)]
    for row, row_cells in zip(rows, cells, strict=True):
        for index, metric in enumerate(metrics, len(KEYS)):
            if row.marks.get(metric.name) == BEST:
                row_cells[index] = f"**{row_cells[index]}**"
        lines.append("| " + " | ".join(row_cells) + " |")
    lines += ["", LEGEND, ""]
    lines += [f"* **{metric.name}** ({_better(metric)}): {metric.meaning}." for metric in metrics]
    return "\n".join(lines) + "\n"


def _better(metric: StudyMetric) -> str:
    return "lower is better" if metric.lower_is_better else "higher is better"


def csv_header(metrics: Sequence[StudyMetric] = METRICS) -> list[str]:
    """The CSV's columns: the keys, then each metric's mean, spread and mark."""
    return [*KEYS, *(f"{m.name} {part}" for m in metrics for part in ("mean", "spread", "mark"))]


def as_csv(rows: Sequence[StudyRow], metrics: Sequence[StudyMetric] = METRICS) -> str:
    """The table as CSV, full-precision numbers (empty where there is none)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(csv_header(metrics))
    for row in rows:
        line: list[Any] = [row.group, row.setting, row.preset, row.sampler, _seeds(row.seeds)]
        for metric in metrics:
            number = row.numbers.get(metric.name)
            line += ["", "", ""] if number is None else [number.mean, number.spread, row.marks.get(metric.name, "")]
        writer.writerow(line)
    return buffer.getvalue()
