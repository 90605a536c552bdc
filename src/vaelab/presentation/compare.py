"""``vaelab compare``: one table of every diagnostic and metric across runs and samplers.

Each row is one run, one sampler and one set of weights: the ``weights`` column names the epoch the
results were measured on, marked ``(not current)`` when those are not the weights the run's
``model.safetensors`` holds now (training was resumed since) and ``unknown`` when the results do not
record them (written before vaelab did). Evaluation and diagnostics of one sampler measured on
different weights are two rows, never one. Each run with such rows gets a one-line warning naming
the commands that measure them again.

``comparison.md`` and ``comparison.csv`` are written into ``--output`` only over files vaelab wrote:
the Markdown starts with :data:`MARKDOWN_MARKER`, the CSV with its header row (or, for files of an
earlier vaelab, whose tables had other columns, the key columns their header rows began with:
:data:`FIRST_LINE_STARTS`). Anything else there is refused in one
line before anything is written. The CSV, the data, is written last, after the old one is removed,
so a ``comparison.csv`` is always the table of the ``comparison.md`` beside it. ``--html FILE`` adds
the comparison as one self-contained HTML page (:mod:`~vaelab.presentation.comparison_page`).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from vaelab.atomic import atomic_write_text
from vaelab.data.image_cache import Warn, warn_on_stderr
from vaelab.errors import ConfigError, RunDirError, WriteError
from vaelab.evaluation.results import (
    DIAGNOSTICS,
    EVALUATION,
    WRITTEN_BY,
    describe_weights,
    measure_command,
    read_results,
    result_weights,
)
from vaelab.folders import make_folder
from vaelab.presentation.comparison_page import comparison_page
from vaelab.presentation.html_page import check_destination
from vaelab.presentation.tables import format_table
from vaelab.reading import is_own_file
from vaelab.training.run_dir import RunDir, WeightsRecord


def _get(*keys: str) -> Callable[[dict[str, Any]], Any]:
    def read(data: dict[str, Any]) -> Any:
        for key in keys:
            if not isinstance(data, dict) or key not in data or data[key] is None:
                return None
            data = data[key]
        return data

    return read


#: (column, source, reader, format) — source is "evaluation" or "diagnostics".
COLUMNS: list[tuple[str, str, Callable[[dict[str, Any]], Any], str]] = [
    ("recon BCE/px", "evaluation", _get("reconstruction", "bce_per_pixel"), ".4f"),
    ("recon PSNR dB", "evaluation", _get("reconstruction", "psnr_db"), ".2f"),
    ("-ELBO nats", "evaluation", _get("likelihood", "neg_elbo_nats"), ".1f"),
    ("IW NLL nats", "evaluation", _get("likelihood", "iw_nll_nats"), ".1f"),
    ("IW k", "evaluation", _get("likelihood", "importance_samples"), "d"),
    ("prior bits/code", "evaluation", _get("prior_likelihood", "bits_per_code"), ".3f"),
    ("Fréchet (judge)", "evaluation", _get("frechet_distance_judge"), ".2f"),
    ("precision", "evaluation", _get("precision"), ".3f"),
    ("recall", "evaluation", _get("recall"), ".4f"),  # four places: a recall of 0.0004 is not 0
    ("class coverage", "evaluation", _get("class_coverage", "coverage"), ".2f"),
    ("cond. acc. mean", "evaluation", _get("conditional_accuracy", "mean"), ".3f"),
    ("cond. acc. worst", "evaluation", _get("conditional_accuracy", "worst"), ".3f"),
    ("P1 KL(uniform)", "diagnostics", _get("p1_crowding", "kl_from_uniform"), ".3f"),
    ("P1 max class share", "diagnostics", _get("p1_crowding", "max_class_share"), ".3f"),
    ("P1 min class share", "diagnostics", _get("p1_crowding", "min_class_share"), ".3f"),
    ("P1 min region/data", "diagnostics", _get("p1_crowding", "latent_region", "smallest_region_ratio"), ".2f"),
    ("P1 codes used", "diagnostics", _get("p1_crowding", "code_usage", "overall", "codes_used"), "d"),
    ("P2 |mean| sd", "diagnostics", _get("p2_centring", "mean_in_sd_norm"), ".2f"),
    ("P2 KL(N(0,I))", "diagnostics", _get("p2_centring", "kl_gaussian_to_standard"), ".2f"),
    ("P2 beyond 3σ", "diagnostics", _get("p2_centring", "beyond_3sd"), ".3f"),
    ("P3 judge unsure", "diagnostics", _get("p3_holes", "unconfident_fraction"), ".3f"),
    ("P3 in holes", "diagnostics", _get("p3_holes", "hole_fraction"), ".3f"),
]


#: The columns before the metrics.
KEYS = ["run", "preset", "sampler", "weights"]

#: The files ``compare`` writes into ``--output``.
MARKDOWN_FILE, CSV_FILE = "comparison.md", "comparison.csv"

#: The first line of every ``comparison.md`` vaelab writes.
MARKDOWN_MARKER = "<!-- written by vaelab compare, which replaces this file when it runs again -->"


def check_named_once(run_dirs: Sequence[str | Path]) -> None:
    """A :class:`ConfigError` when one run directory is named twice (under any spelling of its path):
    its rows would be counted twice."""
    seen: dict[Path, str | Path] = {}
    for path in run_dirs:
        key = Path(path).resolve()
        if key in seen:
            raise ConfigError(f"{path} is the same run directory as {seen[key]}; name each run once")
        seen[key] = path


def collect_rows(run_dirs: Sequence[str | Path], warn: Warn = warn_on_stderr) -> list[dict[str, Any]]:
    """One row per run, sampler and set of weights found in the runs' ``evaluation.json`` and
    ``diagnostics.json``; a :class:`RunDirError` naming the file when one is damaged or holds a
    non-number where a metric belongs. Rows not measured on the run's current weights are marked
    in their ``weights`` column, with one line through ``warn`` per run that has any."""
    check_named_once(run_dirs)
    rows = []
    for path in run_dirs:
        run = RunDir(path)
        config = run.read_config()
        files = {"evaluation": run.figures / EVALUATION, "diagnostics": run.figures / DIAGNOSTICS}
        results = {source: read_results(file)["samplers"] for source, file in files.items()}
        samplers = list(dict.fromkeys([*results["evaluation"], *results["diagnostics"]]))
        if not samplers:
            raise RunDirError(f"{run} has no evaluation or diagnostics yet; run `vaelab evaluate {run}` first")
        current = run.weights_record()
        stale: list[str] = []
        for sampler in samplers:
            for weights, sources in _by_weights(results, sampler).items():
                row_results = {source: results[source][sampler] if source in sources else {} for source in files}
                label = _weights_label(weights, current)
                rows.append(_row(run, config.preset, sampler, label, row_results, files))
                if weights is None or weights != current:
                    stale += [measure_command(files[source], sampler) for source in sources]
        if stale:
            warn(_stale_message(run, current, stale))
    return rows


def _by_weights(results: dict[str, dict[str, Any]], sampler: str) -> dict[WeightsRecord | None, list[str]]:
    """The sources (evaluation, diagnostics) holding results of ``sampler``, grouped by the weights
    they were measured on."""
    groups: dict[WeightsRecord | None, list[str]] = {}
    for source, samplers in results.items():
        if sampler in samplers:
            groups.setdefault(result_weights(samplers[sampler]), []).append(source)
    return groups


def _weights_label(weights: WeightsRecord | None, current: WeightsRecord | None) -> str:
    """``epoch 2``; ``epoch 1 (not current)``; ``unknown``."""
    if weights is None:
        return "unknown"
    return f"epoch {weights.epoch}" if weights == current else f"epoch {weights.epoch} (not current)"


def _stale_message(run: RunDir, current: WeightsRecord | None, commands: list[str]) -> str:
    """The warning for a run with rows of other (or unrecorded) weights than its current ones."""
    now = (
        f"on {describe_weights(current)}, which its model.safetensors holds now"
        if current is not None
        else "on the weights its model.safetensors holds now (it records no epoch and digest to check)"
    )
    listed = ", ".join(f"`{command}`" for command in commands)
    return f"{run}: rows marked in the weights column were not measured {now}; measure them again with {listed}"


def _row(
    run: RunDir,
    preset: str,
    sampler: str,
    weights: str,
    results: dict[str, dict[str, Any]],
    files: dict[str, Path],
) -> dict[str, Any]:
    """The table row of one run, sampler and set of weights, its values checked to be numbers (or missing)."""
    row: dict[str, Any] = {"run": str(run), "preset": preset, "sampler": sampler, "weights": weights}
    for name, source, read, fmt in COLUMNS:
        value = read(results[source])
        if not _fits(value, fmt):
            kind = "a whole number" if fmt.endswith("d") else "a number"
            raise RunDirError(
                f"{files[source]} holds {value!r} as {name} of sampler {sampler!r}, not {kind}; re-create it "
                f"with `vaelab {WRITTEN_BY[files[source].name]} {run} --sampler {sampler}`"
            )
        row[name] = value
    return row


def _fits(value: Any, fmt: str) -> bool:
    """Whether ``value`` is missing (None) or a number that ``fmt`` can format."""
    if value is None:
        return True
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return isinstance(value, int) or not fmt.endswith("d")


def _header() -> list[str]:
    return [*KEYS, *(name for name, *_ in COLUMNS)]


#: Each metric column's format.
FORMATS = {name: fmt for name, _, _, fmt in COLUMNS}


def _cell(row: dict[str, Any], name: str) -> str:
    """``row``'s value of column ``name`` as the tables show it ("–" for a metric not measured)."""
    if name not in FORMATS:
        return str(row[name])
    return "–" if row[name] is None else format(row[name], FORMATS[name])


def formatted(rows: list[dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
    """The table's header and its rows' cells, as text: one row per run, sampler and weights."""
    header = _header()
    return header, [[_cell(row, name) for name in header] for row in rows]


def metric_lines(rows: list[dict[str, Any]]) -> list[list[str]]:
    """The table turned on its side: one line per metric that any of ``rows`` measured, its name first,
    then its value in each row (for a model card or a report, whose rows are one run's samplers)."""
    names = [name for name, *_ in COLUMNS if any(row.get(name) is not None for row in rows)]
    return [[name, *(_cell(row, name) for row in rows)] for name in names]


#: What a "–" in the table means, printed under it.
LEGEND = (
    "–: not measured for that row, or not defined for its model (likelihood bounds of an autoencoder; a region "
    "share and P2 for discrete codes, whose diagnostics.json says why)"
)


def as_text(rows: list[dict[str, Any]]) -> str:
    """The table for a terminal, one column per metric, and the :data:`LEGEND` under it."""
    return format_table(*formatted(rows)) + "\n" + LEGEND


def _markdown_row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def as_markdown(rows: list[dict[str, Any]]) -> str:
    """The table in GitHub Markdown, after :data:`MARKDOWN_MARKER` and a blank line, and the
    :data:`LEGEND` after another."""
    header, cells = formatted(rows)
    lines = [MARKDOWN_MARKER, "", _markdown_row(header), "|" + "---|" * len(header)]
    lines += [_markdown_row(row) for row in cells]
    lines += ["", LEGEND]
    return "\n".join(lines) + "\n"


def as_csv(rows: list[dict[str, Any]]) -> str:
    """The table as CSV with full-precision numbers."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=_header())
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


#: How the first line of each file compare writes begins, today and in every earlier vaelab (whose
#: tables had fewer columns, and before the weights column and the marker, no marker): the key columns.
FIRST_LINE_STARTS = {
    MARKDOWN_FILE: (MARKDOWN_MARKER, _markdown_row(KEYS[:3])),
    CSV_FILE: (",".join(KEYS[:3]) + ",",),
}


def check_output(folder: Path) -> None:
    """A :class:`ConfigError` naming the ``comparison.md``/``.csv`` in ``folder`` that vaelab did not
    write (which compare would replace)."""
    foreign = [folder / name for name, starts in FIRST_LINE_STARTS.items() if not is_own_file(folder / name, starts)]
    if foreign:
        names = " and ".join(str(path) for path in foreign)
        raise ConfigError(
            f"{names} {'were' if len(foreign) > 1 else 'was'} not written by vaelab compare, which would replace "
            f"{'them' if len(foreign) > 1 else 'it'}; move {'them' if len(foreign) > 1 else 'it'} away, "
            f"or choose another --output"
        )


def write_comparison(
    run_dirs: Sequence[str | Path],
    output: str | Path,
    warn: Warn = warn_on_stderr,
    html: str | Path | None = None,
) -> tuple[str, list[Path]]:
    """Collect, and write ``comparison.md`` and ``comparison.csv`` into ``output`` (refusing to
    replace files there that vaelab did not write) and, given ``html``, the comparison's page there
    (:mod:`~vaelab.presentation.comparison_page`, written first); returns the terminal table and the
    paths. Every destination is checked, and the page laid out, before any file is written. The
    warnings about rows of other weights go through ``warn`` once the files are written (an error
    is the only line)."""
    warnings: list[str] = []
    rows = collect_rows(run_dirs, warnings.append)
    into_output = html is not None and Path(html).parent.resolve() == Path(output).resolve()
    if html is not None and not into_output:  # before --output is created: a refusal leaves nothing behind
        check_destination(html, "--html")
    folder = make_folder(output, ConfigError, "choose another --output")
    check_output(folder)
    page_path = check_destination(html, "--html") if html is not None else None  # may lie in the new folder
    written = []
    if page_path is not None:
        atomic_write_text(page_path, comparison_page(*formatted(rows), LEGEND, warnings, run_dirs))
        written.append(page_path)
    md, csv_path = folder / MARKDOWN_FILE, folder / CSV_FILE
    try:  # vaelab's own (checked above): gone until the new one is written, last
        csv_path.unlink(missing_ok=True)
    except OSError as exc:
        raise WriteError.of(csv_path, exc) from None
    atomic_write_text(md, as_markdown(rows))
    atomic_write_text(csv_path, as_csv(rows))
    for warning in warnings:
        warn(warning)
    return as_text(rows), [*written, md, csv_path]
