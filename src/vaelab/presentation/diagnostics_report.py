"""``vaelab diagnose``: the three problems' numbers of a run and a sampler, and their figure.

The numbers and their checks come from :func:`vaelab.evaluation.run_measures.diagnose_run` (which
also saves them into ``figures/diagnostics.json``); this module draws ``diagnostics-<sampler>.png``.
"""

from __future__ import annotations

from pathlib import Path

from vaelab.data.image_set import ImageSet
from vaelab.evaluation.judge import Judge
from vaelab.evaluation.run_measures import diagnose_run
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
    summary, samples, images = result.diagnosis.summary, result.samples, result.train_set
    title = (
        f"{run.config.preset}, sampler {result.sampler}: the three problems of the latent space "
        f"({result.num_samples:,} samples)"
    )
    diagnosis = result.diagnosis
    figure = plot_diagnostics(
        summary,
        samples,
        images.labels,
        images.class_names,
        diagnosis.unconfident,
        diagnosis.far,
        title,
        diagnosis.distances,
    )
    return [save_figure(figure, run.dir.figure_path(f"diagnostics-{result.sampler}.png")), result.path]
