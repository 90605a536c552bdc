"""The pictures of a run's HTML pages: its loss curves, drawn from ``metrics.jsonl``, and the figures
its analyses wrote into ``figures/``, each put inline (:mod:`~vaelab.presentation.html_page`).

A figure file is read guarded (:mod:`vaelab.reading`): a regular file of at most
:data:`MAX_FIGURE_BYTES` that begins as a PNG does. Any other is left out, and a line under the
figures names it and says why, so a damaged file cannot break the page.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from vaelab.presentation.html_page import paragraph, png_figure
from vaelab.presentation.images import figure_png
from vaelab.presentation.loss_curves import plot_loss_curves
from vaelab.reading import MB, FileProblem, read_bytes
from vaelab.training.run_dir import RunDir

#: The largest figure file put into a page.
MAX_FIGURE_BYTES = 32 * MB
#: How every PNG file begins.
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: The chapter's figures, first, in the order a reader meets them; any other follows, by name.
ORDER = (
    "reconstructions",
    "latent_scatter",
    "latent_cdf",
    "latent_histograms",
    "generated",
    "generated_classes",
    "latent_grid",
    "denoising",
)
#: The figures a comparison shows of each run: the chapter's pictures of its latent space and samples,
#: and the diagnostics of each sampler (``diagnostics-<sampler>.png``).
KEY_FIGURES = ("reconstructions", "latent_scatter", "generated", "generated_classes", "latent_grid")
KEY_PREFIX = "diagnostics-"
#: What a run's loss curves show.
CURVES_CAPTION = "Each loss term of `metrics.jsonl`, epoch by epoch: training (solid) and validation (dashed)."


def figure_files(run: RunDir, key_only: bool = False) -> list[Path]:
    """The ``figures/*.png`` of ``run`` (only the key ones with ``key_only``), the chapter's in its order first."""
    if not run.figures.is_dir():
        return []
    found = [path for path in run.figures.glob("*.png") if not path.name.startswith(".")]
    if key_only:
        found = [path for path in found if path.stem in KEY_FIGURES or path.stem.startswith(KEY_PREFIX)]
    return sorted(found, key=lambda path: (ORDER.index(path.stem) if path.stem in ORDER else len(ORDER), path.name))


def figures_html(run: RunDir, key_only: bool = False) -> str:
    """The run's figures (:func:`figure_files`) inline, each captioned with its file, then a line for each
    file left out; a line saying there are none when there are none."""
    files = figure_files(run, key_only)
    if not files:
        what = "key figures" if key_only else "figures"
        return paragraph(f"No {what} in `{run.figures}` yet: the analyses (`vaelab embed {run}`, …) write them.")
    shown, problems = [], []
    for path in files:
        try:
            shown.append(png_figure(read_png(path), f"`figures/{path.name}`"))
        except FileProblem as problem:
            problems.append(paragraph(f"`{path}` {problem}; left out.", note=True))
    return "".join(shown) + "".join(problems)


def read_png(path: Path) -> bytes:
    """The bytes of the PNG file ``path``; a :class:`~vaelab.reading.FileProblem` when it is not one
    (or larger than :data:`MAX_FIGURE_BYTES`); FileNotFoundError when it has gone."""
    data = read_bytes(path, MAX_FIGURE_BYTES, "a figure")
    if not data.startswith(PNG_SIGNATURE):
        raise FileProblem("is not a PNG image")
    return data


def loss_curves_html(rows: Sequence[dict[str, Any]], caption: str) -> str:
    """The loss curves of ``rows`` (a ``metrics.jsonl``'s) as an inline figure with ``caption``; a line
    saying so when no epoch has completed."""
    if not rows:
        return paragraph("No epoch has completed yet: `metrics.jsonl` is empty.")
    return png_figure(figure_png(plot_loss_curves(rows)), caption)
