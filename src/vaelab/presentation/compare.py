"""``vaelab compare``: one table of every diagnostic and metric across runs and samplers."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from vaelab.atomic import atomic_write_text
from vaelab.errors import ConfigError, RunDirError
from vaelab.evaluation.results import DIAGNOSTICS, EVALUATION, WRITTEN_BY, read_results
from vaelab.folders import make_folder
from vaelab.presentation.tables import format_table
from vaelab.training.run_dir import RunDir


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
    ("Fréchet (judge)", "evaluation", _get("frechet_distance_judge"), ".2f"),
    ("precision", "evaluation", _get("precision"), ".3f"),
    ("recall", "evaluation", _get("recall"), ".3f"),
    ("class coverage", "evaluation", _get("class_coverage", "coverage"), ".2f"),
    ("P1 KL(uniform)", "diagnostics", _get("p1_crowding", "kl_from_uniform"), ".3f"),
    ("P1 max class share", "diagnostics", _get("p1_crowding", "max_class_share"), ".3f"),
    ("P1 min class share", "diagnostics", _get("p1_crowding", "min_class_share"), ".3f"),
    ("P1 min region/data", "diagnostics", _get("p1_crowding", "latent_region", "smallest_region_ratio"), ".2f"),
    ("P2 |mean| sd", "diagnostics", _get("p2_centring", "mean_in_sd_norm"), ".2f"),
    ("P2 KL(N(0,I))", "diagnostics", _get("p2_centring", "kl_gaussian_to_standard"), ".2f"),
    ("P2 beyond 3σ", "diagnostics", _get("p2_centring", "beyond_3sd"), ".3f"),
    ("P3 judge unsure", "diagnostics", _get("p3_holes", "unconfident_fraction"), ".3f"),
    ("P3 in holes", "diagnostics", _get("p3_holes", "hole_fraction"), ".3f"),
]


def collect_rows(run_dirs: Sequence[str | Path]) -> list[dict[str, Any]]:
    """One row per (run, sampler) found in the runs' ``evaluation.json``/``diagnostics.json``; a
    :class:`RunDirError` naming the file when one is damaged or holds a non-number where a metric
    belongs."""
    rows = []
    for path in run_dirs:
        run = RunDir(path)
        config = run.read_config()
        files = {"evaluation": run.figures / EVALUATION, "diagnostics": run.figures / DIAGNOSTICS}
        results = {source: read_results(file)["samplers"] for source, file in files.items()}
        samplers = list(dict.fromkeys([*results["evaluation"], *results["diagnostics"]]))
        if not samplers:
            raise RunDirError(f"{run} has no evaluation or diagnostics yet; run `vaelab evaluate {run}` first")
        rows += [_row(run, config.preset, sampler, results, files) for sampler in samplers]
    return rows


def _row(
    run: RunDir, preset: str, sampler: str, results: dict[str, dict[str, Any]], files: dict[str, Path]
) -> dict[str, Any]:
    """The table row of one run and sampler, its values checked to be numbers (or missing)."""
    row: dict[str, Any] = {"run": str(run), "preset": preset, "sampler": sampler}
    for name, source, read, fmt in COLUMNS:
        value = read(results[source].get(sampler, {}))
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


def _formatted(rows: list[dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
    header = ["run", "preset", "sampler", *(name for name, *_ in COLUMNS)]
    formats = {name: fmt for name, _, _, fmt in COLUMNS}
    cells = [
        [str(row[h]) if h not in formats else ("–" if row[h] is None else format(row[h], formats[h])) for h in header]
        for row in rows
    ]
    return header, cells


def as_text(rows: list[dict[str, Any]]) -> str:
    """The table for a terminal, one column per metric."""
    return format_table(*_formatted(rows))


def as_markdown(rows: list[dict[str, Any]]) -> str:
    """The table in GitHub Markdown."""
    header, cells = _formatted(rows)
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in cells]
    return "\n".join(lines) + "\n"


def as_csv(rows: list[dict[str, Any]]) -> str:
    """The table as CSV with full-precision numbers."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]) if rows else ["run"])
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def write_comparison(run_dirs: Sequence[str | Path], output: str | Path) -> tuple[str, list[Path]]:
    """Collect, and write ``comparison.md`` and ``comparison.csv`` into ``output``; returns the
    terminal table and the paths."""
    rows = collect_rows(run_dirs)
    folder = make_folder(output, ConfigError, "choose another --output")
    md, csv_path = folder / "comparison.md", folder / "comparison.csv"
    atomic_write_text(md, as_markdown(rows))
    atomic_write_text(csv_path, as_csv(rows))
    return as_text(rows), [md, csv_path]
