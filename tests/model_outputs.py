"""Building model outputs by hand and scoring them, for the objectives' tests."""

from __future__ import annotations

import torch

from vaelab.models.base import GaussianPosterior, ModelOutput, PointPosterior
from vaelab.training.batch import Batch


def point_output(logits: torch.Tensor, z: torch.Tensor) -> ModelOutput:
    """The output of a model with a deterministic code ``z``."""
    return ModelOutput(logits=logits, z=z, posterior=PointPosterior(z))


def gaussian_output(logits: torch.Tensor, z: torch.Tensor, mean: torch.Tensor, log_var: torch.Tensor) -> ModelOutput:
    """The output of a model with a Gaussian q(z|x) of ``mean`` and ``log_var``."""
    return ModelOutput(logits=logits, z=z, posterior=GaussianPosterior(mean, log_var))


def score(objective, output: ModelOutput, targets: torch.Tensor, model=None, **batch) -> dict[str, torch.Tensor]:
    """``objective``'s terms for ``output`` against clean ``targets`` (the inputs are the targets)."""
    return objective(model, Batch(targets, targets, **batch), output)
