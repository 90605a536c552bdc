"""``vaelab report RUN [--output FILE]``: a run as one self-contained HTML page.

The page (:mod:`~vaelab.presentation.html_page`: inline style and images, no script, no request)
shows, from the run's files alone (no weights are loaded, nothing is computed but the loss curves'
drawing):

* the model: its family, latent space, images and trainable parameters (counted on a model built
  without memory, on PyTorch's ``meta`` device), and the weights ``model.safetensors`` records;
* the recipe (:mod:`~vaelab.presentation.run_summary`) and the run's ``config.json``;
* training: the loss curves of ``metrics.jsonl``, each epoch's loss, time and speed, the last epoch's terms;
* what ``vaelab evaluate`` and ``vaelab diagnose`` measured, one column per sampler and set of weights
  (:func:`vaelab.presentation.compare.collect_rows`; rows of other weights than the current ones are
  marked, and said under the table and on stderr);
* a vq-vae's prior (``prior/``): its settings and parameters, the weights it models, its curves;
* every figure in ``figures/``;
* the commands that reproduce the run (:mod:`vaelab.training.reproduce`) and its measurements.

The page goes to ``RUN/report.html`` unless ``--output`` names another file; see
:func:`~vaelab.presentation.html_page.check_destination` for where it may be written.
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Any

import torch

from vaelab import __version__
from vaelab.atomic import atomic_write_text
from vaelab.data.image_cache import Warn, warn_on_stderr
from vaelab.evaluation.results import DIAGNOSTICS, EVALUATION, measure_command, read_results
from vaelab.models import build_model, count_parameters, parameter_counts
from vaelab.models.base import LatentModel
from vaelab.models.vq_vae import discrete_family
from vaelab.presentation.compare import LEGEND, collect_rows, metric_lines
from vaelab.presentation.html_page import (
    check_destination,
    code_block,
    details,
    escape,
    page,
    paragraph,
    section,
    side_by_side,
    table,
)
from vaelab.presentation.report_figures import CURVES_CAPTION, figures_html, loss_curves_html
from vaelab.presentation.run_summary import (
    count,
    epoch_lines,
    model_rows,
    number,
    preset_description,
    prior_epoch_sentence,
    recipe_rows,
    reproduce_notes,
)
from vaelab.presentation.tables import latent_size
from vaelab.training.config import RunConfig
from vaelab.training.prior_dir import PriorConfig, PriorDir
from vaelab.training.reproduce import Command, prior_train_command, train_command
from vaelab.training.run_dir import RunDir

#: The page's file in the run directory when ``--output`` is not given.
REPORT_FILE = "report.html"


def write_report(run_dir: str | Path, output: str | Path | None = None, warn: Warn = warn_on_stderr) -> Path:
    """What ``vaelab report`` does: write the page of the run in ``run_dir`` (see the module docstring)
    to ``output`` (default ``RUN/report.html``); returns its path. A folder that is not a run, or an
    ``output`` that cannot take the page, is refused in one line before anything is written."""
    run = RunDir(run_dir)
    run.read_config()  # a missing or foreign run directory is named first
    path = check_destination(run.path / REPORT_FILE if output is None else output, "--output")
    atomic_write_text(path, report_page(run_dir, warn, output))
    return path


def report_page(run_dir: str | Path, warn: Warn = warn_on_stderr, output: str | Path | None = None) -> str:
    """The HTML of the run's page (for a notebook: ``IPython.display.HTML(report_page(run))``); its last
    command writes it to ``output`` (None: the run's own ``report.html``)."""
    run = RunDir(run_dir)
    config = run.read_config()
    with torch.device("meta"):  # the parameters' shapes, without memory or the caller's random numbers
        model = build_model(config.model)
    prior_dir = PriorDir(run.path)
    prior = prior_dir.read_config() if prior_dir.config.exists() else None
    measured, measures = _measures(run, warn)
    body = [
        f"<h1>{_title(run, config)}</h1>",
        paragraph(preset_description(config.preset)),
        paragraph(f"Written by vaelab {__version__} from the files of `{run}`.", note=True),
        side_by_side(
            section("Model", table(None, _model_lines(run, config, model))),
            section(
                "Recipe", table(None, recipe_rows(config)), details("The run's `config.json`", _config_json(config))
            ),
        ),
        section("Training", *_training(run, config)),
        section("Evaluation and diagnostics", *measures),
        _prior_section(run, model, prior),
        section("Figures", figures_html(run)),
        section("Reproduce", *_reproduce(run, config, prior, measured, output)),
    ]
    return page(f"vaelab report: {config.preset} ({run})", body)


def _title(run: RunDir, config: RunConfig) -> str:
    return f"{escape(config.preset)} <small>— <code>{escape(run)}</code></small>"


def _model_lines(run: RunDir, config: RunConfig, model: LatentModel) -> list[tuple[str, str]]:
    """The model's rows, and the weights ``model.safetensors`` records."""
    record = run.weights_record()
    weights = (
        f"epoch {record.epoch}, SHA-256 `{record.sha256}`"
        if record is not None
        else "no record: `model.safetensors` is missing, or older than vaelab 0.6"
    )
    rows = model_rows(config.model, model.facts(), latent_size(model), parameter_counts(model))
    return [*rows, ("weights", weights)]


def _config_json(config: RunConfig) -> str:
    return code_block(json.dumps(config.to_dict(), indent=2).splitlines())


def _training(run: RunDir, config: RunConfig) -> list[str]:
    """The loss curves, each epoch's loss, time and speed, and the last epoch's terms."""
    rows = run.read_metrics()
    done = paragraph(f"{count(len(rows), 'epoch')} of {config.epochs} completed, as `metrics.jsonl` records them.")
    if not rows:
        return [done]
    epochs = [
        (
            row["epoch"],
            number(row.get("train", {}).get("loss")),
            number(row.get("val", {}).get("loss")),
            number(row.get("seconds"), ".1f"),
            number(row.get("images_per_second"), ",.0f"),
        )
        for row in rows
    ]
    last = rows[-1]
    return [
        done,
        loss_curves_html(rows, CURVES_CAPTION),
        side_by_side(
            section(
                "Each epoch",
                table(("epoch", "training loss", "validation loss", "seconds", "images/s"), epochs),
                level=3,
            ),
            section(
                f"Epoch {last['epoch']}, every term",
                table(("term", "training", "validation"), epoch_lines(last)),
                level=3,
            ),
        ),
    ]


def _measures(run: RunDir, warn: Warn) -> tuple[list[str], list[str]]:
    """The commands that measured the run, and the section's parts: the table of what they measured
    (one column per sampler and weights) with its legend and warnings, or how to measure it."""
    files = (run.figures / EVALUATION, run.figures / DIAGNOSTICS)
    samplers = {path: list(read_results(path)["samplers"]) for path in files}
    if not any(samplers.values()):
        return [], [
            paragraph(
                f"Nothing measured yet: `vaelab judge train` (once), then `vaelab evaluate {run}` and "
                f"`vaelab diagnose {run}` (each takes `--sampler`)."
            )
        ]
    warnings: list[str] = []
    rows = collect_rows([run.path], warnings.append)
    for warning in warnings:
        warn(warning)
    header = ("measured on the test set", *(f"{row['sampler']} ({row['weights']})" for row in rows))
    parts = [table(header, metric_lines(rows), wide=True), paragraph(LEGEND, note=True)]
    parts += [paragraph(warning, note=True) for warning in warnings]
    commands = [measure_command(path, sampler) for path in files for sampler in samplers[path]]
    return commands, parts


def _prior_section(run: RunDir, model: LatentModel, prior: PriorConfig | None) -> str:
    """A vq-vae's prior: its settings, parameters and the weights it models, and its training; "" for a
    model without codes, a line saying how to train one for a vq-vae without."""
    vq = discrete_family(model)
    if vq is None:
        return ""
    if prior is None:
        return section("Prior", paragraph(f"No prior yet: `vaelab prior train {run}` trains one over the code grids."))
    with torch.device("meta"):
        parameters = count_parameters(prior.build(vq.codebook_size, vq.grid))
    rows: list[tuple[str, Any]] = [
        ("network", f"gated PixelCNN: {prior.channels} channels, {prior.layers} layers, kernel {prior.kernel}"),
        ("classes", prior.classes or "none (unconditional)"),
        ("parameters", f"{parameters:,}"),
        (
            "training",
            f"Adam, lr {prior.lr:g}, batch {prior.batch_size}, {count(prior.epochs, 'epoch')}, seed {prior.seed}",
        ),
        ("models", _modelled_weights(run, prior)),
    ]
    history = PriorDir(run.path).read_metrics()
    parts = [
        table(None, rows),
        loss_curves_html(history, "The prior's negative log-likelihood in bits per code, from `prior/metrics.jsonl`."),
    ]
    if history:
        parts.append(paragraph(prior_epoch_sentence(history[-1])))
    return section("Prior", *parts)


def _modelled_weights(run: RunDir, prior: PriorConfig) -> str:
    """Which weights' code grids the prior models, and whether they are the run's current ones."""
    record = run.weights_record()
    if record is not None and prior.vq_weights == record.to_dict():
        return f"the code grids of the weights of epoch {record.epoch}, the run's current ones"
    modelled = f"epoch {prior.vq_weights['epoch']}" if prior.vq_weights else "unrecorded weights"
    return (
        f"the code grids of {modelled}, not the run's current weights: delete `{PriorDir(run.path)}` and train a "
        f"new one with `vaelab prior train {run}`"
    )


def _reproduce(
    run: RunDir, config: RunConfig, prior: PriorConfig | None, measured: list[str], output: str | Path | None
) -> list[str]:
    """The commands that train the run (and its prior) again, measure it and write this page (to
    ``output``, when not the run's own ``report.html``)."""
    commands: list[Command] = [train_command(config, str(run))]
    if prior is not None:
        commands.append(prior_train_command(prior, str(run)))
    report = ["vaelab", "report", str(run), *(["--output", str(output)] if output is not None else [])]
    lines = [command.text for command in commands] + measured + [shlex.join(report)]
    parts = [
        paragraph("The commands that train this run again, with the same numbers on the same device, then measure it:"),
        code_block(lines),
    ]
    parts += [paragraph(note, note=True) for note in reproduce_notes(commands, prior is not None)]
    if measured:
        parts.append(
            paragraph(
                "`evaluate` and `diagnose` need the judge (`vaelab judge train`, once), and are shown with their "
                "default options: `evaluation.json` and `diagnostics.json` record the samples, seed and bounds each "
                "measurement used.",
                note=True,
            )
        )
    return parts
