"""``vaelab diagnose`` and ``vaelab evaluate``: numbers (and a figure) for a run and a sampler.

Results are kept per sampler in ``figures/diagnostics.json`` and ``figures/evaluation.json``
(``{"samplers": {"uniform-box": {...}, "gmm": {...}}}``), so one run can be measured with several
samplers; ``vaelab compare`` reads them back.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from vaelab.data.image_set import ImageSet
from vaelab.evaluation.diagnostics import diagnose
from vaelab.evaluation.judge import Judge
from vaelab.evaluation.metrics import default_likelihood_images, evaluate
from vaelab.evaluation.sampling import draw_samples
from vaelab.latent.samplers import default_sampler
from vaelab.presentation.diagnostics_figure import plot_diagnostics
from vaelab.presentation.images import save_figure
from vaelab.presentation.outputs import save_json
from vaelab.training.run import Run

DIAGNOSTICS = "diagnostics.json"
EVALUATION = "evaluation.json"


def _merge(path: Path, sampler: str, result: dict[str, Any]) -> Path:
    """Write ``result`` under ``samplers[sampler]`` of the JSON file at ``path``, keeping the rest."""
    content = read_results(path)
    content.setdefault("samplers", {})[sampler] = result
    return save_json(path, content)


def read_results(path: Path) -> dict[str, Any]:
    """A per-sampler results file (an empty one when it does not exist or cannot be read)."""
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return {"samplers": {}}


def write_diagnostics(
    run: Run, train_set: ImageSet, judge: Judge, sampler: str | None = None, num_samples: int = 10000, seed: int = 0
) -> list[Path]:
    """The three problems' numbers (``diagnostics.json``) and ``diagnostics-<sampler>.png``."""
    sampler = sampler or default_sampler(run.config.model.kind)
    samples = draw_samples(run.model, train_set, sampler, num_samples, seed)
    diagnosis = diagnose(samples, train_set, judge)
    data = _merge(run.dir.figure_path(DIAGNOSTICS), sampler, diagnosis.summary)
    title = f"{run.config.preset}, sampler {sampler}: the three problems of the latent space ({num_samples:,} samples)"
    figure = plot_diagnostics(
        diagnosis.summary, samples, train_set.labels, train_set.class_names, diagnosis.unconfident, diagnosis.far, title
    )
    return [save_figure(figure, run.dir.figure_path(f"diagnostics-{sampler}.png")), data]


def write_evaluation(
    run: Run,
    train_set: ImageSet,
    test_set: ImageSet,
    judge: Judge,
    sampler: str | None = None,
    num_samples: int = 10000,
    importance_samples: int | None = None,
    likelihood_images: int | None = None,
    seed: int = 0,
    progress: bool = True,
) -> list[Path]:
    """Every metric of :mod:`vaelab.evaluation.metrics` into ``evaluation.json``."""
    sampler = sampler or default_sampler(run.config.model.kind)
    samples = draw_samples(run.model, train_set, sampler, num_samples, seed)
    if likelihood_images is None:
        likelihood_images = default_likelihood_images(run.device)
    result = evaluate(
        run.model, run.config.model.kind, samples, test_set, judge, importance_samples, likelihood_images,
        progress=progress,
    )
    return [_merge(run.dir.figure_path(EVALUATION), sampler, result)]
