"""What the objectives share: the terms' type, the reconstruction and KL terms, weight checks."""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F

from vaelab.errors import ConfigError
from vaelab.models.base import GaussianPosterior, ModelOutput
from vaelab.models.distributions import kl_to_standard_normal

#: An objective's named scalar terms, each averaged over the batch's images (``"loss"`` is minimised).
Terms = dict[str, torch.Tensor]


def bce_per_image(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy summed over each image's pixels and channels, from logits: shape [batch]
    (or [k, batch] for logits [k, batch, C, H, W] of k draws per image). −log p(x|z) in nats under
    independent Bernoulli pixels; computed with ``binary_cross_entropy_with_logits``, which never
    takes the log of 0."""
    target = target.expand_as(logits)
    per_pixel = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    return per_pixel.flatten(-3).sum(dim=-1)


def gaussian_posterior(output: ModelOutput, family: str) -> GaussianPosterior:
    """The output's posterior, which an objective of Gaussian families needs; a :class:`ConfigError`
    for a model whose encoder gives a point (a preset pairing a family with the wrong objective)."""
    if not isinstance(output.posterior, GaussianPosterior):
        raise ConfigError(f"the {family} objective needs a model with a Gaussian encoder")
    return output.posterior


def kl_term(output: ModelOutput) -> torch.Tensor:
    """The KL term of the ELBO per image, nats: KL(q(z|x) ‖ N(0, I)) in closed form, or, for a
    family whose prior has no closed form (``output.log_prior`` set: the VampPrior), the one-sample
    Monte Carlo estimate log q(z|x) − log p(z) at the z that was decoded (unbiased; its noise
    averages out over a batch and an epoch)."""
    posterior = gaussian_posterior(output, "ELBO")
    if output.log_prior is None:
        return kl_to_standard_normal(posterior.mean, posterior.log_var)
    return posterior.log_prob(output.z) - output.log_prior


def check_weight(name: str, value: Any, allow_zero: bool = False) -> float:
    """``value`` as a float if it is a finite number > 0 (≥ 0 with ``allow_zero``); a
    :class:`ConfigError` otherwise."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ConfigError(
            f"{name} must be a {'non-negative' if allow_zero else 'positive'} number, got {value!r}"
        ) from None
    if not (number >= 0 if allow_zero else number > 0) or not number < math.inf:
        raise ConfigError(f"{name} must be a {'non-negative' if allow_zero else 'positive'} number, got {value!r}")
    return number
