"""Likelihood bounds of a model with a Gaussian encoder and a prior, in nats per image.

* The **negative ELBO**: E_q[−log p(x|z)] + KL(q(z|x) ‖ p(z)), the KL in closed form (for a N(0, I)
  prior; the VampPrior's is estimated at the same draw) and the
  expectation estimated with one z per image (as in training), for every k: its own z, drawn
  after the bound's, so that it has the lower variance of the closed-form KL even when k = 1.
* The **importance-weighted bound** (Burda et al., 2016):
  −log p(x) ≤ −log (1/k) Σᵢ p(x|zᵢ) p(zᵢ) / q(zᵢ|x), zᵢ ~ q(z|x).
  With k = 1 its expectation is the negative ELBO (but it estimates the KL from its one sample,
  so it is not equal to the closed-form value above); it falls towards −log p(x) as k grows.
  Papers use k = 1000–5000; each image costs k decoder passes, which is seconds on a GPU but
  hours for the whole test set on a small CPU, so callers choose k by device and report it.

Pixels are Bernoulli with the decoder's probabilities, as in the training loss.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from vaelab.data.image_set import ImageSet
from vaelab.data.preprocess import to_unit_float
from vaelab.errors import ConfigError
from vaelab.latent.codec import conditions_of, labelled_device_batches, model_device
from vaelab.models.base import GaussianPosterior, LatentModel
from vaelab.progress import progress_bar
from vaelab.training.objectives import bce_per_image


def default_importance_samples(device: torch.device) -> int:
    """The number of importance samples k used when none is given: 1000 on a GPU, 64 on a CPU."""
    return 1000 if device.type == "cuda" else 64


@dataclass
class LikelihoodBounds:
    """Bounds averaged over ``images`` test images, nats per image."""

    neg_elbo: float
    iw_nll: float
    k: int
    images: int
    seed: int

    def to_dict(self) -> dict:
        return {
            "neg_elbo_nats": self.neg_elbo,
            "iw_nll_nats": self.iw_nll,
            "importance_samples": self.k,
            "images": self.images,
            "seed": self.seed,
        }


@torch.inference_mode()
def log_weights(
    model: LatentModel,
    x: torch.Tensor,
    k: int,
    generator: torch.Generator,
    chunk: int = 256,
    condition: torch.Tensor | None = None,
) -> torch.Tensor:
    """log p(x|z) + log p(z) − log q(z|x) for k draws z ~ q(z|x) per image: shape [batch, k]
    (p(z) is the model's prior: N(0, I), or the VampPrior's mixture)."""
    posterior = _gaussian(model, x, condition)
    columns = []
    for start in range(0, k, chunk):
        n = min(chunk, k - start)
        z = posterior.sample_many(n, generator)  # [n, batch, d]
        flat = z.reshape(-1, z.shape[-1])
        repeated = None if condition is None else condition.repeat(n)
        logits = model.decode_logits(flat, repeated).view(n, *x.shape)
        log_px = -bce_per_image(logits, x)
        columns.append((log_px + model.prior_log_density(z) - posterior.log_prob(z)).T)
    return torch.cat(columns, dim=1)


@torch.inference_mode()
def likelihood_bounds(
    model: LatentModel,
    images: ImageSet,
    k: int | None = None,
    seed: int = 0,
    batch_size: int = 50,
    progress: bool = True,
) -> LikelihoodBounds:
    """The negative ELBO and the k-sample importance-weighted NLL bound over ``images`` (for a
    conditional family, of each image given its class)."""
    model.eval()
    device = model_device(model)
    k = k or default_importance_samples(device)
    generator = torch.Generator(device=device).manual_seed(seed)
    sums = torch.zeros(2, dtype=torch.float64, device=device)  # negative ELBO, IW bound
    batches = labelled_device_batches(images.images, conditions_of(model, images), device, batch_size)
    for batch, condition in progress_bar(
        batches,
        total=-(-len(images) // batch_size),
        desc=f"likelihood (k={k})",
        unit="batch",
        enabled=progress,
        leave=False,
    ):
        x = to_unit_float(batch)
        weights = log_weights(model, x, k, generator, condition=condition).double()
        sums[0] += -_elbo(model, x, generator, condition).sum()
        sums[1] += -(torch.logsumexp(weights, dim=1) - math.log(k)).sum()
    elbo_sum, iw_sum = sums.tolist()
    count = len(images)
    return LikelihoodBounds(elbo_sum / count, iw_sum / count, k, count, seed)


def _gaussian(model: LatentModel, x: torch.Tensor, condition: torch.Tensor | None) -> GaussianPosterior:
    posterior = model.encode(x, condition)
    if not isinstance(posterior, GaussianPosterior) or not model.has_prior:
        raise ConfigError(f"likelihood bounds need a Gaussian encoder and a prior; the {model.family} family lacks one")
    return posterior


def _elbo(
    model: LatentModel, x: torch.Tensor, generator: torch.Generator, condition: torch.Tensor | None
) -> torch.Tensor:
    """One-sample ELBO per image, the KL in closed form for a N(0, I) prior and estimated at the same
    draw otherwise (the VampPrior): shape [batch]."""
    posterior = _gaussian(model, x, condition)
    z = posterior.sample(generator)
    if model.standard_normal_prior:
        kl = posterior.kl_to_standard_normal()
    else:
        kl = posterior.log_prob(z) - model.prior_log_density(z)
    return (-bce_per_image(model.decode_logits(z, condition), x) - kl).double()
