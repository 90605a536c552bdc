"""``vaelab compare RUN... --html FILE``: the comparison as one self-contained HTML page.

The page (:mod:`~vaelab.presentation.html_page`) holds the table ``compare`` prints, one row per
run, sampler and set of weights, with its legend and its warnings about rows of other weights;
then, per run, its recipe, its loss curves and its key figures
(:data:`~vaelab.presentation.report_figures.KEY_FIGURES`, and each sampler's diagnostics).
:func:`vaelab.presentation.compare.write_comparison` writes it, beside ``comparison.md`` and
``comparison.csv``; this module only lays it out.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from vaelab import __version__
from vaelab.presentation.html_page import escape, page, paragraph, section, table
from vaelab.presentation.report_figures import CURVES_CAPTION, figures_html, loss_curves_html
from vaelab.presentation.run_summary import count, recipe_rows
from vaelab.training.run_dir import RunDir


def comparison_page(
    header: Sequence[str],
    cells: Sequence[Sequence[str]],
    legend: str,
    warnings: Sequence[str],
    run_dirs: Sequence[str | Path],
) -> str:
    """The page of a comparison: the table (``header`` and ``cells``, as ``compare`` formats them), its
    ``legend`` and ``warnings``, then a section per run of ``run_dirs``."""
    runs = list(dict.fromkeys(str(run_dir) for run_dir in run_dirs))
    body = [
        f"<h1>vaelab compare: {escape(count(len(runs), 'run'))}</h1>",
        paragraph(f"Written by vaelab {__version__} from the runs' files.", note=True),
        section(
            "Every metric, by run, sampler and weights",
            table(header, cells, wide=True),
            paragraph(legend, note=True),
            *(paragraph(warning, note=True) for warning in warnings),
        ),
        *(_run_section(RunDir(run_dir)) for run_dir in runs),
    ]
    return page(f"vaelab compare: {', '.join(runs)}", body)


def _run_section(run: RunDir) -> str:
    """A run's recipe, loss curves and key figures."""
    config = run.read_config()
    return section(
        f"{config.preset}: `{run}`",
        table(None, recipe_rows(config)),
        loss_curves_html(run.read_metrics(), CURVES_CAPTION),
        figures_html(run, key_only=True),
    )
