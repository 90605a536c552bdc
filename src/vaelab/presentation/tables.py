"""Plain-text tables for the terminal."""

from __future__ import annotations

from collections.abc import Sequence

from vaelab.data.fashion_mnist import FileReport
from vaelab.models import PRESETS, build_model, count_parameters


def format_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """Left-aligned columns separated by two spaces, with a rule under the header."""
    cells = [[str(c) for c in header]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def presets_table() -> str:
    """Every preset with its data, latent size, parameter counts and recipe."""
    rows = []
    for preset in PRESETS.values():
        model = build_model(preset.model)
        rows.append([
            preset.name, preset.dataset, preset.model.kind, preset.model.latent_dim,
            f"{count_parameters(model.encoder):,}", f"{count_parameters(model.decoder):,}",
            preset.epochs, preset.batch_size, f"{preset.lr:g}", preset.description,
        ])
    header = ["preset", "dataset", "kind", "latent", "encoder", "decoder", "epochs", "batch", "lr", "description"]
    return format_table(header, rows)


def data_table(reports: Sequence[FileReport]) -> str:
    """Where each dataset file was found and whether it verified."""
    rows = [
        [r.name, r.status, r.origin or "-", r.path or "-", r.detail]
        for r in reports
    ]
    return format_table(["file", "status", "found via", "path", "detail"], rows)
