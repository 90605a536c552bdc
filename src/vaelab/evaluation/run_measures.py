"""Diagnosing and evaluating a trained run: its checks, its data, the judge, and its results files.

:func:`diagnose_run` and :func:`write_evaluation` are what ``vaelab diagnose`` and ``vaelab evaluate``
call, and what a notebook calls. Each refuses a request it cannot answer before any costly work, in
this order: a run the judge cannot score (from its dataset's name), then the data (loaded unless
given), then a request the data cannot satisfy (too few images, likelihood options for an
autoencoder, a mixture larger than the training set), then a missing judge. The numbers go into the
run's per-sampler results files (:mod:`vaelab.evaluation.results`), each with the record (epoch and
SHA-256) of the weights it measured: that of the run's ``model.safetensors``, read when the
measuring starts (``load_run`` checked those weights when it loaded them).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vaelab.data.image_set import ImageSet
from vaelab.evaluation.diagnostics import Diagnosis, check_diagnosis_request, diagnose
from vaelab.evaluation.judge import Judge, check_judge_applies, load_judge
from vaelab.evaluation.metrics import (
    check_evaluation_request,
    default_likelihood_images,
    evaluate,
    run_metrics,
)
from vaelab.evaluation.results import DIAGNOSTICS, EVALUATION, merge_results
from vaelab.evaluation.sampling import SampleSet, draw_samples, embed_training_set
from vaelab.latent.samplers import check_fit_size, check_sampler_applies, default_sampler
from vaelab.latent.two_stage import TwoStageSettings
from vaelab.limits import (
    MAX_DATASET_IMAGES,
    MAX_IMPORTANCE_SAMPLES,
    MAX_METRIC_SAMPLES,
    MAX_SEED,
    check_range,
)
from vaelab.training.run import Run


@dataclass
class RunDiagnosis:
    """A run's diagnosis for one sampler: the numbers, the samples they were measured on, the
    training set they were drawn from, and the results file they were saved into."""

    sampler: str
    num_samples: int
    diagnosis: Diagnosis
    samples: SampleSet
    train_set: ImageSet
    path: Path


def diagnose_run(
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
) -> RunDiagnosis:
    """The three problems' numbers for ``num_samples`` points drawn by ``sampler`` (default: the
    book's for the run's kind of model) fitted to the training-set embeddings, saved under the
    sampler's name in ``figures/diagnostics.json``.

    ``train_set`` defaults to the run's training set (from ``data_dir`` or where the run found it,
    its first ``limit_train`` images); ``judge`` to the cached judge; ``progress`` shows the bar of a
    sampler fitted by training (``two-stage``). A one-line error, before any encoding, when the run is
    not a Fashion-MNIST run, the latent space cannot be drawn in a plane, there are fewer than 2
    training images, the sampler is unknown, does not apply to the model or cannot be fitted, or there
    is no judge.
    """
    check_judge_applies(run.config.dataset)
    weights = run.weights
    sampler = sampler or default_sampler(run.model)
    check_sampler_applies(sampler, run.model)
    check_range("--num-samples", num_samples, 1, MAX_METRIC_SAMPLES)
    check_range("--seed", seed, 0, MAX_SEED)
    train_set = train_set if train_set is not None else run.train_set(data_dir, limit_train)
    check_diagnosis_request(run.config.model.latent_dim, len(train_set))
    check_fit_size(sampler, len(train_set))
    judge = judge if judge is not None else load_judge(str(run.device))
    samples = draw_samples(run.model, train_set, sampler, num_samples, seed, progress)
    diagnosis = diagnose(samples, train_set, judge, progress=progress)
    path = merge_results(run.dir.figure_path(DIAGNOSTICS), sampler, diagnosis.summary, weights)
    return RunDiagnosis(sampler, num_samples, diagnosis, samples, train_set, path)


def write_evaluation(
    run: Run,
    train_set: ImageSet | None = None,
    test_set: ImageSet | None = None,
    judge: Judge | None = None,
    sampler: str | None = None,
    num_samples: int = 10000,
    importance_samples: int | None = None,
    likelihood_images: int | None = None,
    seed: int = 0,
    progress: bool = True,
    *,
    data_dir: str | None = None,
    limit_train: int | None = None,
    limit_test: int | None = None,
) -> list[Path]:
    """Every metric of :mod:`vaelab.evaluation.metrics` for ``num_samples`` points drawn by
    ``sampler``, saved under the sampler's name in ``figures/evaluation.json``; returns its path.

    ``train_set`` (the samplers' fit) and ``test_set`` default to the run's splits (from
    ``data_dir`` or where the run found them, their first ``limit_train``/``limit_test`` images);
    ``judge`` to the cached judge; ``likelihood_images`` to all test images on a GPU and 2,000 on a
    CPU; ``progress`` shows the bars of the likelihood bounds and of a sampler fitted by training
    (``two-stage``). A one-line error, before any encoding, for what :func:`check_evaluation_request` and
    :func:`diagnose_run` refuse.
    """
    check_judge_applies(run.config.dataset)
    weights = run.weights
    sampler = sampler or default_sampler(run.model)
    check_sampler_applies(sampler, run.model)
    check_range("--num-samples", num_samples, 1, MAX_METRIC_SAMPLES)
    check_range("-k/--importance-samples", importance_samples, 1, MAX_IMPORTANCE_SAMPLES)
    check_range("--likelihood-images", likelihood_images, 1, MAX_DATASET_IMAGES)
    check_range("--seed", seed, 0, MAX_SEED)
    train_set = train_set if train_set is not None else run.train_set(data_dir, limit_train)
    test_set = test_set if test_set is not None else run.test_set(data_dir, limit_test)
    check_evaluation_request(run.model, num_samples, len(test_set), importance_samples, likelihood_images)
    check_fit_size(sampler, len(train_set))
    judge = judge if judge is not None else load_judge(str(run.device))
    samples = draw_samples(run.model, train_set, sampler, num_samples, seed, progress)
    if likelihood_images is None:
        likelihood_images = default_likelihood_images(run.device)
    result = evaluate(run.model, samples, test_set, judge, importance_samples, likelihood_images, progress=progress)
    return [merge_results(run.dir.figure_path(EVALUATION), sampler, result, weights)]


@dataclass
class SamplerMeasures:
    """What :func:`measure_run` measured with one sampler: its diagnosis (with the samples) and its
    evaluation (the dict saved into ``evaluation.json``), and the two results files."""

    diagnosis: RunDiagnosis
    evaluation: dict[str, Any]
    paths: list[Path]


def measure_run(
    run: Run,
    samplers: Sequence[str | None],
    train_set: ImageSet | None = None,
    test_set: ImageSet | None = None,
    judge: Judge | None = None,
    *,
    num_samples: int = 10000,
    importance_samples: int | None = None,
    likelihood_images: int | None = None,
    seed: int = 0,
    progress: bool = True,
    two_stage: TwoStageSettings | None = None,
    data_dir: str | None = None,
    limit_train: int | None = None,
    limit_test: int | None = None,
    on_measured: Callable[[SamplerMeasures], None] | None = None,
) -> list[SamplerMeasures]:
    """``diagnose`` and ``evaluate`` of ``run`` with each of ``samplers`` (None: the model's own), each
    sampler's samples drawn once for both and judged in one pass, and what no sampler changes (the
    training set's embeddings, the test reconstruction, the likelihood bounds, the judge's features of
    the test images) measured once for all: the numbers :func:`diagnose_run` and :func:`write_evaluation`
    give with the same arguments, in less time (the study, :mod:`vaelab.workflows.study`, measures
    dozens of runs so).

    Each sampler's results are saved into ``diagnostics.json`` and ``evaluation.json`` as soon as they
    are measured, and then handed to ``on_measured`` (so that a stop loses at most the sampler being
    measured). ``two_stage`` sets the two-stage sampler's fit (default: its own settings). Every request
    is checked, for every sampler, before any work, as those two functions check it."""
    check_judge_applies(run.config.dataset)
    weights = run.weights
    names = [sampler or default_sampler(run.model) for sampler in samplers]
    for name in names:
        check_sampler_applies(name, run.model)
    check_range("--num-samples", num_samples, 1, MAX_METRIC_SAMPLES)
    check_range("-k/--importance-samples", importance_samples, 1, MAX_IMPORTANCE_SAMPLES)
    check_range("--likelihood-images", likelihood_images, 1, MAX_DATASET_IMAGES)
    check_range("--seed", seed, 0, MAX_SEED)
    train_set = train_set if train_set is not None else run.train_set(data_dir, limit_train)
    test_set = test_set if test_set is not None else run.test_set(data_dir, limit_test)
    check_diagnosis_request(run.config.model.latent_dim, len(train_set))
    check_evaluation_request(run.model, num_samples, len(test_set), importance_samples, likelihood_images)
    for name in names:
        check_fit_size(name, len(train_set))
    judge = judge if judge is not None else load_judge(str(run.device))
    if likelihood_images is None:
        likelihood_images = default_likelihood_images(run.device)
    train_z = embed_training_set(run.model, train_set)
    measured = run_metrics(run.model, test_set, judge, importance_samples, likelihood_images, seed, progress)
    results = []
    for name in names:
        samples = draw_samples(
            run.model, train_set, name, num_samples, seed, progress, train_z=train_z, two_stage=two_stage
        )
        scores = judge.scores(samples.images)
        diagnosis = diagnose(samples, train_set, judge, progress=progress, probabilities=scores[0])
        evaluation = evaluate(
            run.model,
            samples,
            test_set,
            judge,
            importance_samples,
            likelihood_images,
            progress=progress,
            measured=measured,
            scores=scores,
        )
        paths = [
            merge_results(run.dir.figure_path(DIAGNOSTICS), name, diagnosis.summary, weights),
            merge_results(run.dir.figure_path(EVALUATION), name, evaluation, weights),
        ]
        result = SamplerMeasures(
            RunDiagnosis(name, num_samples, diagnosis, samples, train_set, paths[0]), evaluation, paths
        )
        if on_measured is not None:
            on_measured(result)
        results.append(result)
    return results
