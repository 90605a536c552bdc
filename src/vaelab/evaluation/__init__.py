"""Evaluation: the judge classifier and the metrics computed with it.

* :mod:`~vaelab.evaluation.judge` — a Fashion-MNIST CNN trained once and cached (weights, accuracy,
  hash), giving class probabilities and 128-d features of images;
* :mod:`~vaelab.evaluation.frechet` — the Fréchet distance in the judge's feature space;
* :mod:`~vaelab.evaluation.precision_recall` — precision and recall with k-NN manifolds;
* :mod:`~vaelab.evaluation.coverage` — class distribution, class coverage, KL from uniform.
"""

from vaelab.evaluation.coverage import (
    ClassCoverage,
    ClassDistribution,
    class_coverage,
    class_distribution,
    kl_from_uniform,
)
from vaelab.evaluation.frechet import frechet_distance, frechet_distance_from_stats, gaussian_stats
from vaelab.evaluation.judge import (
    Judge,
    JudgeNet,
    JudgeResult,
    default_judge_dir,
    judge_summary,
    load_judge,
    save_judge,
    train_and_save_judge,
    train_judge,
)
from vaelab.evaluation.precision_recall import knn_radii, precision_recall

__all__ = [
    "ClassCoverage",
    "ClassDistribution",
    "Judge",
    "JudgeNet",
    "JudgeResult",
    "class_coverage",
    "class_distribution",
    "default_judge_dir",
    "frechet_distance",
    "frechet_distance_from_stats",
    "gaussian_stats",
    "judge_summary",
    "kl_from_uniform",
    "knn_radii",
    "load_judge",
    "precision_recall",
    "save_judge",
    "train_and_save_judge",
    "train_judge",
]
