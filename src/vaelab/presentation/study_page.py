"""``vaelab study``'s page, ``report.html``: the study as one self-contained HTML page
(:mod:`~vaelab.presentation.html_page`).

It holds the summary figure, the table over seeds (``comparison.md``'s) with its legend and what each
metric means, the protocol and the command that reruns it, each family's samples, and then every run's
own row, as ``vaelab compare`` makes them (``runs.csv``'s). :mod:`vaelab.workflows.study` writes it;
this module only lays it out.
"""

from __future__ import annotations

from collections.abc import Sequence

from vaelab import __version__
from vaelab.presentation.html_page import code_block, details, escape, page, paragraph, png_figure, section, table
from vaelab.presentation.study_table import LEGEND, StudyMetric


def study_page(
    *,
    title: str,
    protocol: Sequence[str],
    commands: Sequence[str],
    summary_png: bytes,
    study_table: tuple[Sequence[str], Sequence[Sequence[str]]],
    metrics: Sequence[StudyMetric],
    samples: Sequence[tuple[str, bytes]],
    runs_table: tuple[Sequence[str], Sequence[Sequence[str]]],
    runs_legend: str,
) -> str:
    """The page: ``title``, the summary figure, the study's table, the ``protocol`` (lines) and the
    ``commands`` that rerun it, a figure of ``samples`` per family (``(preset, PNG bytes)``) and the
    table of every run (``runs_table``, with ``runs_legend``)."""
    meanings = "".join(
        f"<li><b>{escape(m.name)}</b> ({'lower' if m.lower_is_better else 'higher'} is better): "
        f"{escape(m.meaning)}.</li>"
        for m in metrics
    )
    body = [
        f"<h1>{escape(title)}</h1>",
        paragraph(f"Written by vaelab {__version__} from the study's runs.", note=True),
        png_figure(summary_png, "The summary: each family's numbers over seeds (`summary.png`)."),
        section(
            "Every family, setting and sampler over seeds",
            table(*study_table, wide=True),
            paragraph(LEGEND, note=True),
            f"<ul>{meanings}</ul>",
        ),
        section("The protocol", "<ul>" + "".join(f"<li>{escape(line)}</li>" for line in protocol) + "</ul>"),
        section("Rerun it", code_block(commands)),
        section(
            "Samples, per family",
            paragraph("The first samples of each family's first seed, a row per setting and sampler.", note=True),
            *(png_figure(data, f"`{preset}`") for preset, data in samples),
        ),
        section(
            "Every run",
            details(
                "One row per run and sampler, as `vaelab compare` makes them (`runs.csv`)",
                table(*runs_table, wide=True) + paragraph(runs_legend, note=True),
            ),
        ),
    ]
    return page(title, body)
