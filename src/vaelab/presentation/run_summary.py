"""What a run's model card (:mod:`~vaelab.presentation.model_card`) and its HTML report
(:mod:`~vaelab.presentation.html_report`) both state about it, as rows of plain text.

Each function gives the facts once; the card writes them as Markdown and the report as HTML.
Text between backticks is code (a file name, a command): Markdown shows it as such, and the report
turns it into ``<code>``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from vaelab.errors import ConfigError
from vaelab.models import ModelSpec, get_preset
from vaelab.training.config import RunConfig
from vaelab.training.reproduce import Command


def preset_description(preset: str) -> str:
    """The preset's one-line description (a sentence naming it for a preset this vaelab no longer has)."""
    try:
        return get_preset(preset).description
    except ConfigError:
        return f"Trained from the preset {preset}."


def model_rows(
    spec: ModelSpec, capabilities: dict[str, object], latent: str, parameters: dict[str, int]
) -> list[tuple[str, str]]:
    """The model: its family and capabilities, latent space, images and trainable parameters."""
    posterior, sampler = capabilities["posterior"], capabilities["default_sampler"]
    return [
        ("family", f"{spec.kind} ({posterior} posterior; default sampler {sampler})"),
        ("latent", latent),
        ("images", f"{spec.image_channels} × {spec.image_size} × {spec.image_size}, values in [0, 1]"),
        ("parameters", ", ".join(f"{name} {count:,}" for name, count in parameters.items())),
    ]


def recipe_rows(run: RunConfig) -> list[tuple[str, str]]:
    """The recipe of a run: preset, data, objective, optimiser, and its corruption when it has one."""
    objective = f"{run.objective} {json.dumps(run.objective_params)}" if run.objective_params else run.objective
    rows = [
        ("preset", run.preset),
        ("dataset", run.dataset + _limits(run)),
        ("objective", objective),
        ("optimiser", f"Adam, lr {run.lr:g}, batch {run.batch_size}, {count(run.epochs, 'epoch')}, seed {run.seed}"),
    ]
    if run.corruption is not None:
        rows.append(("corruption", run.corruption.describe()))
    return rows


def _limits(run: RunConfig) -> str:
    limits = (("training", run.limit_train), ("test", run.limit_test))
    parts = [f"first {number:,} {split} images" for split, number in limits if number]
    return f" ({', '.join(parts)})" if parts else ""


def epoch_lines(row: dict[str, Any]) -> list[tuple[str, str, str]]:
    """One line per loss term of a ``metrics.jsonl`` row: the term, its training and validation values."""
    train, val = row.get("train", {}), row.get("val", {})
    return [(term, number(train.get(term)), number(val.get(term))) for term in dict.fromkeys([*train, *val])]


def prior_epoch_sentence(row: dict[str, Any]) -> str:
    """What the last row of a prior's ``metrics.jsonl`` says, in a sentence."""
    bits = [number(row.get(split, {}).get("nll_bits_per_code")) for split in ("train", "val")]
    return (
        f"The prior, epoch {row['epoch']}: {bits[0]} bits per code on the training images' code grids, "
        f"{bits[1]} on the test images'."
    )


def reproduce_notes(commands: Sequence[Command], has_prior: bool) -> list[str]:
    """What the commands that reproduce a run leave to the reader: the settings no flag sets (the run's
    ``config.json``, shown above the notes, holds them) and the data a prior was trained on."""
    notes = [
        f"`{command.program}` cannot set {', '.join(command.unreproduced)}: the run's `config.json` above holds "
        "their values."
        for command in commands
        if command.unreproduced
    ]
    if has_prior:
        notes.append(
            "`vaelab prior train` takes the run's data; add `--data-dir`, `--limit-train` or `--limit-test` if the "
            "prior was trained on others (its config does not record them)."
        )
    return notes


def count(number: int, noun: str) -> str:
    """``1 epoch``, ``5 epochs``, ``1,000 epochs``."""
    return f"{number:,} {noun}" + ("" if number == 1 else "s")


def number(value: Any, fmt: str = ".5g") -> str:
    """``value`` in ``fmt``, or "–" when it is None (not measured)."""
    return "–" if value is None else format(value, fmt)
