"""Plain-text tables for the terminal."""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from vaelab.data.dataset_check import DatasetCheck
from vaelab.data.fashion_mnist import FileReport
from vaelab.data.image_dataset_check import Check
from vaelab.evaluation.judge import Judge
from vaelab.models import PRESETS, build_model, parameter_counts


def format_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """Left-aligned columns separated by two spaces, with a rule under the header."""
    cells = [[str(c) for c in header]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def latent_size(model: nn.Module) -> str:
    """A model's latent size as ``vaelab presets`` shows it: the number of latent dimensions, or for a
    model with a grid of codes (vq-vae) the grid and each code's dimension, "8×8×16"."""
    grid = getattr(model, "grid", None)
    if grid is not None:
        height, width = grid
        return f"{height}×{width}×{model.latent_dim // (height * width)}"
    return str(model.latent_dim)


def presets_table() -> str:
    """Every preset with its data, latent size, parameter counts and recipe. ``total`` counts every
    trainable parameter: the encoder's, the decoder's and a family's own (the VampPrior's
    pseudo-inputs)."""
    rows = []
    for preset in PRESETS.values():
        model = build_model(preset.model)
        rows.append(
            [
                preset.name,
                preset.dataset,
                preset.model.kind,
                latent_size(model),
                *(f"{count:,}" for count in parameter_counts(model).values()),  # encoder, decoder, total
                preset.epochs,
                preset.batch_size,
                f"{preset.lr:g}",
                preset.description,
            ]
        )
    header = ["preset", "dataset", "kind", "latent", "encoder", "decoder", "total", "epochs", "batch", "lr"]
    header.append("description")
    return format_table(header, rows)


def data_table(reports: Sequence[FileReport]) -> str:
    """Where each dataset file was found and whether it verified."""
    rows = [[r.name, r.status, r.origin or "-", r.path or "-", r.detail] for r in reports]
    return format_table(["file", "status", "found via", "path", "detail"], rows)


def checks_table(checks: Sequence[Check]) -> str:
    """An image-file dataset's check, a row per item (images, attributes, partition, cache)."""
    rows = [[c.item, c.status, c.path or "-", c.detail] for c in checks]
    return format_table(["item", "status", "path", "detail"], rows)


def dataset_check_table(result: DatasetCheck) -> str:
    """The table of a dataset check: :func:`data_table` for Fashion-MNIST, :func:`checks_table` otherwise."""
    return data_table(result.files) if result.files else checks_table(result.checks)


def judge_lines(judge: Judge) -> str:
    """Where the judge is, its test accuracy, hash and how it was trained, one fact a line."""
    record = judge.record
    images = f" on {record['test_images']:,} test images" if "test_images" in record else ""
    trained = ", ".join(
        text
        for key, text in (
            ("epochs", f"{record.get('epochs')} epochs"),
            ("train_images", f"{record.get('train_images', 0):,} training images"),
            ("seed", f"seed {record.get('seed')}"),
            ("created", f"{record.get('created')}"),
            ("vaelab_version", f"vaelab {record.get('vaelab_version')}"),
        )
        if key in record
    )
    rows = [("path", judge.path), ("accuracy", f"{judge.accuracy:.2%}{images}"), ("hash", judge.hash)]
    if trained:
        rows.append(("trained", trained))
    return "\n".join(f"{name:<9} {value}" for name, value in rows)
