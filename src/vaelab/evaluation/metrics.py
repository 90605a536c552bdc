"""Honest numbers for a generator (``vaelab evaluate``).

* reconstruction of the test images: BCE per pixel, MSE, PSNR;
* for a VAE, the negative ELBO and the importance-weighted NLL bound (nats per image), with the
  number of importance samples k and of images stated;
* for a family with discrete codes and a learnt prior (``vq-vae``), the test codes' likelihood under
  that prior in bits per code (:mod:`vaelab.evaluation.code_likelihood`);
* the Fréchet distance between the judge's features of the generated images and of the test
  images (the FID recipe, but in a Fashion-MNIST classifier's 128-d feature space rather than
  Inception's, so its values are not comparable with published FIDs);
* precision and recall with k-nearest-neighbour manifolds in the same space;
* the judge's class coverage of the generated images;
* for a conditional model (``cvae``) or prior, whose samples are drawn under every class in turn, the judge's
  conditional accuracy: per class, the share of the samples of class c that it assigns to c
  (:mod:`vaelab.evaluation.conditional`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from vaelab.data.image_set import ImageSet
from vaelab.errors import ConfigError
from vaelab.evaluation.code_likelihood import code_prior_likelihood, has_code_prior
from vaelab.evaluation.conditional import conditional_accuracy
from vaelab.evaluation.coverage import class_coverage
from vaelab.evaluation.frechet import frechet_distance
from vaelab.evaluation.judge import Judge, judge_summary
from vaelab.evaluation.likelihood import likelihood_bounds
from vaelab.evaluation.precision_recall import DEFAULT_K, precision_recall
from vaelab.evaluation.reconstruction import reconstruction_metrics
from vaelab.evaluation.sampling import SampleSet
from vaelab.models.base import LatentModel, has_gaussian_posterior


def default_likelihood_images(device: torch.device) -> int | None:
    """How many test images the likelihood bound uses by default: all on a GPU, 2,000 on a CPU."""
    return None if device.type == "cuda" else 2000


def has_likelihood(model: LatentModel) -> bool:
    """Whether ``model`` has likelihood bounds: a Gaussian encoder and a prior."""
    return has_gaussian_posterior(model) and model.has_prior


def check_evaluation_request(
    model: LatentModel,
    num_samples: int,
    test_images: int,
    importance_samples: int | None = None,
    likelihood_images: int | None = None,
    neighbours: int = DEFAULT_K,
) -> None:
    """A :class:`ConfigError` naming the flag, before any work, when :func:`evaluate` cannot give
    its numbers: precision and recall need more than ``neighbours`` samples and test images; the
    likelihood options apply to a model with likelihood bounds only (:func:`has_likelihood`), and
    ``likelihood_images`` to at most the test set."""
    needed = neighbours + 1
    reason = f"precision and recall compare each image with its {neighbours} nearest neighbours"
    if num_samples < needed:
        raise ConfigError(f"--num-samples must be at least {needed} ({reason}), got {num_samples}")
    if test_images < needed:
        raise ConfigError(
            f"evaluate needs at least {needed} test images ({reason}) but has {test_images}; "
            f"use --limit-test {needed} or more"
        )
    likelihood_flags = {"-k/--importance-samples": importance_samples, "--likelihood-images": likelihood_images}
    for flag, value in likelihood_flags.items():
        if not has_likelihood(model) and value is not None:
            raise ConfigError(
                f"{flag} sets the likelihood bound of a VAE (a Gaussian encoder and a prior); this run's "
                f"{model.family} family has none: leave it out"
            )
    if likelihood_images is not None and likelihood_images > test_images:
        raise ConfigError(
            f"--likelihood-images {likelihood_images} is more than the {test_images:,} test images; "
            f"use --likelihood-images {test_images} or fewer"
        )


@dataclass
class RunMetrics:
    """What :func:`evaluate` measures of a model whatever sampler drew its samples, computed once when
    one run is evaluated with several samplers (:func:`run_metrics`): ``values`` (``reconstruction``, and
    ``likelihood`` or ``prior_likelihood`` where the model has them), the judge's features of the test
    images, how many there were, and the seed of the likelihood bound's draws."""

    values: dict[str, Any]
    test_features: np.ndarray
    test_images: int
    seed: int


def run_metrics(
    model: LatentModel,
    test_set: ImageSet,
    judge: Judge,
    importance_samples: int | None = None,
    likelihood_images: int | None = None,
    seed: int = 0,
    progress: bool = True,
) -> RunMetrics:
    """The sampler-independent part of :func:`evaluate`: the test reconstruction, the likelihood bounds
    (over the first ``likelihood_images`` test images, k = ``importance_samples``, drawn with ``seed``)
    or the code prior's likelihood, and the judge's features of the test images."""
    values: dict[str, Any] = {"reconstruction": reconstruction_metrics(model, test_set)}
    if has_likelihood(model):
        subset = test_set.head(likelihood_images)
        values["likelihood"] = likelihood_bounds(model, subset, importance_samples, seed, progress=progress).to_dict()
    if has_code_prior(model):
        values["prior_likelihood"] = code_prior_likelihood(model, test_set)
    return RunMetrics(values, judge.features(test_set.images), len(test_set), seed)


def evaluate(
    model: LatentModel,
    samples: SampleSet,
    test_set: ImageSet,
    judge: Judge,
    importance_samples: int | None = None,
    likelihood_images: int | None = None,
    neighbours: int = 3,
    progress: bool = True,
    *,
    measured: RunMetrics | None = None,
    scores: tuple[np.ndarray, np.ndarray] | None = None,
) -> dict[str, Any]:
    """Every metric of the module docstring for ``samples`` against ``test_set`` (checked first
    with :func:`check_evaluation_request`). ``measured``, :func:`run_metrics` of the same model, test
    set, judge, likelihood settings and the samples' seed, saves measuring its part again; ``scores``,
    the judge's probabilities and features of the samples' images
    (:meth:`~vaelab.evaluation.judge.Judge.scores`), saves computing them again."""
    check_evaluation_request(model, len(samples.points), len(test_set), importance_samples, neighbours=neighbours)
    if measured is None:
        measured = run_metrics(model, test_set, judge, importance_samples, likelihood_images, samples.seed, progress)
    elif measured.test_images != len(test_set) or measured.seed != samples.seed:
        raise ValueError(
            f"run metrics of {measured.test_images} test images and seed {measured.seed} given for "
            f"{len(test_set)} test images and samples of seed {samples.seed}"
        )
    result: dict[str, Any] = {
        "judge": judge_summary(judge),
        "sampler": samples.sampler,
        "samples": len(samples.points),
        "seed": samples.seed,
        "test_images": len(test_set),
        **measured.values,
    }
    real = measured.test_features
    fake = judge.features(samples.images) if scores is None else scores[1]
    precision, recall = precision_recall(real, fake, k=neighbours)
    result["frechet_distance_judge"] = frechet_distance(real, fake)
    result["precision"] = precision
    result["recall"] = recall
    result["neighbours"] = neighbours
    probabilities = judge.predict_proba(samples.images) if scores is None else scores[0]
    result["class_coverage"] = class_coverage(probabilities, class_names=test_set.class_names).to_dict()
    if samples.labels is not None:
        result["conditional_accuracy"] = conditional_accuracy(probabilities, samples.labels, test_set.class_names)
    return result
