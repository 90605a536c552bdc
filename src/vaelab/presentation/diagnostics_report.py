"""``vaelab diagnose``: the three problems' numbers of a run and a sampler, and their figure.

The numbers and their checks come from :func:`vaelab.evaluation.run_measures.diagnose_run` (which
also saves them into ``figures/diagnostics.json``); this module draws them
(:func:`plot_run_diagnosis`, a figure a notebook shows) and saves ``diagnostics-<sampler>.png``.
"""

from __future__ import annotations

from pathlib import Path

from matplotlib.figure import Figure

from vaelab.data.image_set import ImageSet
from vaelab.evaluation.judge import Judge
from vaelab.evaluation.run_measures import RunDiagnosis, diagnose_run
from vaelab.presentation.diagnostics_figure import plot_diagnostics
from vaelab.presentation.images import save_figure
from vaelab.training.run import Run


def write_diagnostics(
    run: Run,
    train_set: ImageSet | None = None,
    judge: Judge | None = None,
    sampler: str | None = None,
    num_samples: int = 10000,
    seed: int = 0,
    progress: bool = True,
    *,
    data_dir: str | None = None,
    limit_train: int | None = None,
) -> list[Path]:
    """The three problems' numbers (``diagnostics.json``) and ``diagnostics-<sampler>.png``; the
    arguments, their defaults and what is refused are those of
    :func:`~vaelab.evaluation.run_measures.diagnose_run`."""
    result = diagnose_run(
        run, train_set, judge, sampler, num_samples, seed, progress, data_dir=data_dir, limit_train=limit_train
    )
    title = f"{run.config.preset}, {default_title(result)}"
    figure = plot_run_diagnosis(result, title)
    return [save_figure(figure, run.dir.figure_path(f"diagnostics-{result.sampler}.png")), result.path]


def default_title(result: RunDiagnosis) -> str:
    """``sampler prior: the three problems of the latent space (10,000 samples)``."""
    return f"sampler {result.sampler}: the three problems of the latent space ({result.num_samples:,} samples)"


def plot_run_diagnosis(result: RunDiagnosis, title: str | None = None) -> Figure:
    """The figure of a diagnosis (:func:`~vaelab.evaluation.run_measures.diagnose_run`'s result): one
    panel per problem (:func:`~vaelab.presentation.diagnostics_figure.plot_diagnostics`)."""
    diagnosis, images = result.diagnosis, result.train_set
    return plot_diagnostics(
        diagnosis.summary,
        result.samples,
        images.labels,
        images.class_names,
        diagnosis.unconfident,
        diagnosis.far,
        title or default_title(result),
        diagnosis.distances,
    )
