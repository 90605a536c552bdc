"""``vaelab export RUN DIR`` and :func:`save_pretrained`: a run (or a model) shared as a folder in the
Hugging Face layout, with its model card.

It chains the layers: the run and its prior are loaded and checked (training), the configs and
weights written (:mod:`vaelab.training.pretrained`), samples drawn (latent), and the samples image and
the card written (presentation: :mod:`vaelab.presentation.model_card`). Files, in the order written:

```text
DIR/
  config.json, model.safetensors             the model (training/pretrained.py: config.json first)
  prior/config.json, prior/model.safetensors  a vq-vae's PixelCNN prior, when the run has one that fits
  samples.png                                 samples (see below), when the model has a way to draw them
  README.md                                   the model card, last
```

Samples: a model whose default sampler is its prior (every family with one, a vq-vae with its
PixelCNN) gets :data:`SAMPLES_SEED`'s draws from it, decoded by the exported weights. A model whose
default sampler is fitted to the data (``uniform-box``, ``gmm``) gets a copy of the run's
``figures/generated.png`` when ``vaelab generate`` wrote one, and otherwise a card that says how to
make it; a vq-vae without a prior gets a card that says why there are none.
"""

from __future__ import annotations

from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import numpy as np

from vaelab.atomic import atomic_copy, atomic_write_text
from vaelab.data import CLASS_NAMES
from vaelab.data.image_cache import Warn, warn_on_stderr
from vaelab.errors import ConfigError, PretrainedError, RunDirError
from vaelab.latent.generation import Generated, draw
from vaelab.latent.samplers import PriorSampler, check_sampler_applies, default_sampler, make_sampler
from vaelab.limits import MAX_GENERATED
from vaelab.models import parameter_counts
from vaelab.models.base import LatentModel
from vaelab.presentation.compare import collect_rows
from vaelab.presentation.images import save_png, tile
from vaelab.presentation.model_card import CardFacts, model_card
from vaelab.presentation.outputs import remove_data_file
from vaelab.presentation.report import sample_grid
from vaelab.presentation.run_summary import preset_description
from vaelab.presentation.tables import latent_size
from vaelab.reading import MB, FileProblem, check_regular_file
from vaelab.safetensors_io import read_safetensors_metadata
from vaelab.training import Run, RunDir, load_run
from vaelab.training.checkpoint import read_training_state
from vaelab.training.pretrained import PretrainedDir, attached_prior, read_pretrained_config, write_pretrained
from vaelab.training.prior_dir import PriorConfig, PriorDir
from vaelab.training.reproduce import Command, export_command, prior_train_command, train_command

#: The seed of the samples drawn into ``samples.png``.
SAMPLES_SEED = 0
#: Rows of samples of a model that draws under classes (one column per class).
CLASS_ROWS = 3
#: Pixels per image pixel in ``samples.png``.
SAMPLES_SCALE = 2
#: The largest ``figures/generated.png`` copied into an export.
MAX_FIGURE_BYTES = 64 * MB


def export_run(run_dir: str | Path, folder: str | Path, device: str = "cpu", warn: Warn = warn_on_stderr) -> list[Path]:
    """What ``vaelab export RUN DIR`` does: write the run in ``run_dir`` (its weights checked as every
    analysis checks them; a vq-vae's prior too, when one fits) into ``folder`` with its model card,
    computing on ``device``; returns the files written. ``folder`` must be new, empty or an earlier
    export (checked before the run is loaded); a run without weights is refused in one line. A prior
    in the run that does not fit its weights is left out, with one line through ``warn`` saying why."""
    RunDir(run_dir).read_config()  # a missing or foreign run directory is named first
    check_outside_run(run_dir, folder)
    PretrainedDir(folder).check_destination()
    run = load_run(run_dir, device)
    written = export(run, folder)
    if not run.model.continuous_codes and not run.model.has_prior and PriorDir(run.dir.path).path.is_dir():
        warn(f"the export has no prior and no samples: {run.model.missing_prior_hint}")
    return written


def check_outside_run(run_dir: str | Path, folder: str | Path) -> None:
    """A :class:`PretrainedError` when ``folder`` is the run directory or lies inside it, where the export
    would mix with the run's own files (its ``figures/``, its prior's folder)."""
    run, target = Path(run_dir).resolve(), Path(folder).resolve()
    if target == run or run in target.parents:
        raise PretrainedError(
            f"{folder} is inside the run directory {run_dir}; export into a folder outside it "
            f"(for example {Path(run_dir).name}-export beside it)"
        )


def save_pretrained(run_or_model: Run | LatentModel | str | Path, folder: str | Path) -> list[Path]:
    """Save a run (a :class:`~vaelab.training.Run`, or its folder, as ``vaelab export`` does) or a model
    (built by :func:`~vaelab.models.build_model` or loaded by ``vaelab.from_pretrained``) into ``folder``
    in the Hugging Face layout, with a model card; ``vaelab.from_pretrained(folder)`` loads it back. The
    card of a model saved alone has no recipe, metrics or commands. Returns the files written."""
    if isinstance(run_or_model, LatentModel):
        return export_model(run_or_model, folder)
    if isinstance(run_or_model, Run):
        return export(run_or_model, folder)
    return export_run(run_or_model, folder)


def export(run: Run, folder: str | Path) -> list[Path]:
    """Write the loaded ``run`` into ``folder`` (see the module docstring); returns the files written."""
    check_outside_run(run.dir.path, folder)
    target = PretrainedDir(folder)
    prior_training, prior_last_epoch = _prior_record(run)
    epoch = run.weights.epoch if run.weights is not None else None
    written = write_pretrained(target, run.model, run.config, epoch, prior_training)
    samples, note = _write_samples(run.model, target, run.config.dataset, run.dir)
    facts = replace(
        _model_facts(run.model, target, samples, note),
        name=run.config.preset,
        description=preset_description(run.config.preset),
        run=run.config,
        last_epoch=_epoch_row(run),
        measures=_measures(run),
        commands=_commands(run, target, prior_training),
        prior_training=asdict(prior_training) if prior_training is not None else None,
        prior_last_epoch=prior_last_epoch,
    )
    return _finish(target, facts, written, samples)


def export_model(model: LatentModel, folder: str | Path) -> list[Path]:
    """Write ``model`` alone into ``folder``: its configs and weights (a vq-vae's attached prior too),
    samples from its prior when it has one, and a card without a recipe; returns the files written."""
    target = PretrainedDir(folder)
    written = write_pretrained(target, model)
    samples, note = _write_samples(model, target, "", None)
    return _finish(target, _model_facts(model, target, samples, note), written, samples)


def _finish(target: PretrainedDir, facts: CardFacts, written: list[Path], samples: Path | None) -> list[Path]:
    """Write the card, last; returns every file written."""
    atomic_write_text(target.card, model_card(facts))
    return [*written, *([samples] if samples else []), target.card]


def _model_facts(model: LatentModel, target: PretrainedDir, samples: Path | None, note: str) -> CardFacts:
    """What a card states that the model and its exported folder tell (:func:`export` adds the run's)."""
    spec = model.spec
    assert spec is not None  # write_pretrained refused a model without one
    prior = attached_prior(model)
    return CardFacts(
        name=model.family,
        description=f"A {model.family} model saved from Python with vaelab.",
        source=str(target),
        spec=spec,
        capabilities=model.facts(),
        latent=latent_size(model),
        point_size=model.latent_dim,
        parameters=parameter_counts(model),
        weights=read_pretrained_config(target)["weights"],
        samples=samples.name if samples is not None else None,
        samples_note=note,
        prior=prior.settings() if prior is not None else None,
    )


def _prior_record(run: Run) -> tuple[PriorConfig | None, dict[str, Any] | None]:
    """How the prior attached to a vq-vae run was trained, and its last epoch's metrics (from its
    checkpoint, which committed the weights loaded); (None, None) without one."""
    if attached_prior(run.model) is None:
        return None, None
    folder = PriorDir(run.dir.path)
    history = read_training_state(folder.checkpoint, read_safetensors_metadata(folder.checkpoint)).history
    return folder.read_config(), (history[-1] if history else None)


def _epoch_row(run: Run) -> dict[str, Any] | None:
    """The row of ``metrics.jsonl`` of the epoch whose weights were exported (the last row for weights
    without a record), or None."""
    try:
        rows = run.dir.read_metrics()
    except RunDirError:
        return None
    if run.weights is not None:
        rows = [row for row in rows if row["epoch"] == run.weights.epoch]
    return rows[-1] if rows else None


def _measures(run: Run) -> list[dict[str, Any]]:
    """The rows of ``vaelab compare`` for the run measured on the exported weights (none when their
    epoch is not recorded, or the results files are missing or damaged)."""
    if run.weights is None:
        return []
    try:
        rows = collect_rows([run.dir.path], warn=lambda message: None)
    except RunDirError:
        return []
    return [row for row in rows if row["weights"] == f"epoch {run.weights.epoch}"]


def _commands(run: Run, target: PretrainedDir, prior_training: PriorConfig | None) -> list[Command]:
    """The commands that reproduce the run (and its prior) and this export."""
    run_dir = str(run.dir)
    commands = [train_command(run.config, run_dir)]
    if prior_training is not None:
        commands.append(prior_train_command(prior_training, run_dir))
    return [*commands, export_command(run_dir, str(target))]


def _write_samples(
    model: LatentModel, target: PretrainedDir, dataset: str, run_dir: RunDir | None
) -> tuple[Path | None, str]:
    """``samples.png`` (see the module docstring) and the card's words on it; (None, why) without one,
    and then a ``samples.png`` of an earlier export is removed."""
    sampler = default_sampler(model)
    try:
        check_sampler_applies(sampler, model)
    except ConfigError as refusal:
        remove_data_file(target.samples)
        return None, f"No samples: {refusal}."
    if sampler == PriorSampler.name:
        generated, columns, classes = _draw_from_prior(model, dataset)
        save_png(tile(generated.images, columns), target.samples, SAMPLES_SCALE)
        return target.samples, _caption(generated, classes, dataset)
    figure = run_dir.figures / "generated.png" if run_dir is not None else None
    if figure is not None and _is_figure(figure):
        atomic_copy(figure, target.samples)
        return target.samples, f"The run's `figures/generated.png`, as `vaelab generate {run_dir}` last drew it."
    remove_data_file(target.samples)
    return None, (
        f"No samples image: this model's sampler, {sampler}, is fitted to the data, which an export does not read; "
        f"draw samples with `vaelab generate {run_dir or 'RUN'}`, then export again to add its figure."
    )


def _draw_from_prior(model: LatentModel, dataset: str) -> tuple[Generated, int, int]:
    """Samples of ``model``'s prior, decoded; the columns to show them in; the classes they are drawn
    under (0: none). The book's grid for the dataset, or for a model that draws under classes
    :data:`CLASS_ROWS` rows of one column per class (sample k is of class k mod classes)."""
    classes = model.condition_dim if model.conditional else model.prior_classes
    count, columns = (min(CLASS_ROWS * classes, MAX_GENERATED), classes) if classes else sample_grid(dataset)
    fitted = make_sampler(PriorSampler.name, model, progress=False).fit(np.zeros((1, model.latent_dim), np.float32))
    return draw(model, fitted, count, SAMPLES_SEED), columns, classes


def _caption(generated: Generated, classes: int, dataset: str) -> str:
    """What ``samples.png`` shows."""
    distribution = str(generated.sampler_details.get("distribution", "the prior"))
    prior = distribution if distribution.startswith("the ") else f"the prior {distribution}"
    text = (
        f"{len(generated.images)} draws from {prior} (seed {SAMPLES_SEED}), decoded by these weights when this "
        "folder was exported; pixels as the model outputs them (1 is white)."
    )
    if classes:
        names = CLASS_NAMES if dataset == "fashion-mnist" and classes == len(CLASS_NAMES) else ()
        listed = ", ".join(f"{k} {names[k]}" if names else str(k) for k in range(classes))
        text += f" Column k holds class k: {listed}."
    return text


def _is_figure(path: Path) -> bool:
    """Whether ``path`` is a regular file of a size a figure has."""
    try:
        check_regular_file(path, MAX_FIGURE_BYTES)
    except (FileNotFoundError, FileProblem):
        return False
    return True
