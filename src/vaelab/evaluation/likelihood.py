"""Likelihood bounds of a VAE, in nats per image.

* The **negative ELBO**: E_q[−log p(x|z)] + KL(q(z|x) ‖ p(z)), the KL in closed form and the
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
from vaelab.latent.codec import device_batches, model_device
from vaelab.models.base import GaussianLatentModel
from vaelab.progress import progress_bar
from vaelab.training.objectives import bce_per_image, kl_to_standard_normal

LOG_2PI = math.log(2 * math.pi)


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


def _log_normal(z: torch.Tensor, mean: torch.Tensor, log_var: torch.Tensor) -> torch.Tensor:
    """log N(z; mean, diag(exp(log_var))) summed over the last dimension."""
    return -0.5 * (LOG_2PI + log_var + (z - mean) ** 2 / log_var.exp()).sum(dim=-1)


@torch.inference_mode()
def log_weights(
    model: GaussianLatentModel, x: torch.Tensor, k: int, generator: torch.Generator, chunk: int = 256
) -> torch.Tensor:
    """log p(x|z) + log p(z) − log q(z|x) for k draws z ~ q(z|x) per image: shape [batch, k]."""
    mean, log_var = model.encode_distribution(x)
    columns = []
    for start in range(0, k, chunk):
        n = min(chunk, k - start)
        eps = torch.randn((n, *mean.shape), generator=generator, device=mean.device, dtype=mean.dtype)
        z = mean + (0.5 * log_var).exp() * eps  # [n, batch, d]
        flat = z.reshape(-1, z.shape[-1])
        logits = model.decoder(flat)
        repeated = x.unsqueeze(0).expand(n, *x.shape).reshape(-1, *x.shape[1:])
        log_px = -bce_per_image(logits, repeated).view(n, -1)
        log_pz = _log_normal(z, torch.zeros_like(z), torch.zeros_like(z))
        log_qz = _log_normal(z, mean, log_var)
        columns.append((log_px + log_pz - log_qz).T)
    return torch.cat(columns, dim=1)


@torch.inference_mode()
def likelihood_bounds(
    model: GaussianLatentModel,
    images: ImageSet,
    k: int | None = None,
    seed: int = 0,
    batch_size: int = 50,
    progress: bool = True,
) -> LikelihoodBounds:
    """The negative ELBO and the k-sample importance-weighted NLL bound over ``images``."""
    model.eval()
    device = model_device(model)
    k = k or default_importance_samples(device)
    generator = torch.Generator(device=device).manual_seed(seed)
    sums = torch.zeros(2, dtype=torch.float64, device=device)  # negative ELBO, IW bound
    batches = device_batches(images.images, device, batch_size)
    for batch in progress_bar(
        batches,
        total=-(-len(images) // batch_size),
        desc=f"likelihood (k={k})",
        unit="batch",
        enabled=progress,
        leave=False,
    ):
        x = to_unit_float(batch)
        weights = log_weights(model, x, k, generator).double()
        sums[0] += -_elbo(model, x, generator).sum()
        sums[1] += -(torch.logsumexp(weights, dim=1) - math.log(k)).sum()
    elbo_sum, iw_sum = sums.tolist()
    count = len(images)
    return LikelihoodBounds(elbo_sum / count, iw_sum / count, k, count, seed)


def _elbo(model: GaussianLatentModel, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """One-sample ELBO per image with the KL in closed form: shape [batch]."""
    mean, log_var = model.encode_distribution(x)
    eps = torch.randn(mean.shape, generator=generator, device=mean.device, dtype=mean.dtype)
    z = mean + (0.5 * log_var).exp() * eps
    return (-bce_per_image(model.decoder(z), x) - kl_to_standard_normal(mean, log_var)).double()
