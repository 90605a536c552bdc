"""The densities and divergences the model families are built from, as plain tensor functions.

Everything is in nats. Shapes: ``z``, ``mean``, ``log_var`` are [B, d] (a batch of d-dimensional
points) unless a docstring says otherwise; "per dimension" results keep the last axis, "per point"
results sum it away. Nothing here knows about images, objectives or files; the families' objectives
(:mod:`vaelab.training.objectives`) and likelihood bounds (:mod:`vaelab.evaluation.likelihood`) use it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

#: log(2π), the constant of every Gaussian log-density.
LOG_2PI = math.log(2 * math.pi)

#: The IMQ kernel's scales (multiples of 2·d·σ², σ = 1 for N(0, I)), as WAE's reference code sums them:
#: several widths, so that both near and far points are compared.
IMQ_SCALES = (0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0)


def gaussian_log_density(z: torch.Tensor, mean: torch.Tensor, log_var: torch.Tensor) -> torch.Tensor:
    """log N(z; mean, diag(exp(log_var))) per dimension: −½(log 2π + log σ² + (z − μ)²/σ²). Broadcasts."""
    return -0.5 * (LOG_2PI + log_var + (z - mean).pow(2) * torch.exp(-log_var))


def standard_normal_log_density(z: torch.Tensor) -> torch.Tensor:
    """log N(z; 0, I) per dimension: −½(log 2π + z²)."""
    return -0.5 * (LOG_2PI + z.pow(2))


def kl_to_standard_normal(mean: torch.Tensor, log_var: torch.Tensor) -> torch.Tensor:
    """KL(N(mean, diag σ²) ‖ N(0, I)) per point: ½ Σ_d (μ² + σ² − 1 − log σ²)."""
    return 0.5 * (mean.pow(2) + torch.exp(log_var) - 1.0 - log_var).sum(dim=-1)


def mixture_log_density(z: torch.Tensor, means: torch.Tensor, log_vars: torch.Tensor) -> torch.Tensor:
    """log of the equal-weight mixture (1/K) Σ_k N(z; means[k], diag exp(log_vars[k])) per point.

    ``z`` [B, d]; ``means``, ``log_vars`` [K, d]. Returns [B]. (The VampPrior's density.)
    """
    per_component = gaussian_log_density(z[:, None, :], means[None], log_vars[None]).sum(dim=-1)  # [B, K]
    return torch.logsumexp(per_component, dim=1) - math.log(means.shape[0])


def log_mean_exp(values: torch.Tensor, dim: int = 0) -> torch.Tensor:
    """log((1/n) Σ exp(values)) along ``dim``, computed stably: the importance-weighted bound of
    log-weights [k, B] is ``log_mean_exp(log_w, 0)``."""
    return torch.logsumexp(values, dim=dim) - math.log(values.shape[dim])


def imq_kernel(a: torch.Tensor, b: torch.Tensor, scales: Sequence[float] = IMQ_SCALES) -> torch.Tensor:
    """The inverse multiquadratic kernel Σ_s C_s / (C_s + ‖a_i − b_j‖²), C_s = s · 2d (d the latent
    dimension, 2d the expected ‖x − y‖² of two N(0, I) points). ``a`` [N, d], ``b`` [M, d] → [N, M]."""
    squared = torch.cdist(a, b).pow(2)
    base = 2.0 * a.shape[-1]
    total = torch.zeros_like(squared)
    for scale in scales:
        total = total + (scale * base) / (scale * base + squared)
    return total


def mmd_imq(z: torch.Tensor, prior_z: torch.Tensor, scales: Sequence[float] = IMQ_SCALES) -> torch.Tensor:
    """The unbiased estimate of MMD² between the samples ``z`` and ``prior_z`` (both [N, d], N ≥ 2)
    under :func:`imq_kernel`: the mean of k(z_i, z_j) and of k(p_i, p_j) over i ≠ j, minus twice the
    mean of k(z_i, p_j) over all pairs. Zero in expectation when both come from one distribution."""
    n = z.shape[0]
    if n < 2 or prior_z.shape[0] != n:
        raise ValueError(f"mmd_imq needs two batches of the same size ≥ 2, got {n} and {prior_z.shape[0]}")
    off_diagonal = 1.0 - torch.eye(n, device=z.device, dtype=z.dtype)
    within_z = (imq_kernel(z, z, scales) * off_diagonal).sum() / (n * (n - 1))
    within_prior = (imq_kernel(prior_z, prior_z, scales) * off_diagonal).sum() / (n * (n - 1))
    across = imq_kernel(z, prior_z, scales).mean()
    return within_z + within_prior - 2.0 * across


def total_correlation_terms(
    z: torch.Tensor, mean: torch.Tensor, log_var: torch.Tensor, dataset_size: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """β-TCVAE's decomposition of the KL term per point (Chen et al., 2018), by minibatch-weighted
    sampling: with q(z) ≈ (1/(B·N)) Σ_j q(z | x_j) over the batch (N = ``dataset_size``),

    * index-code mutual information  log q(z|x) − log q(z),
    * total correlation              log q(z) − Σ_d log q(z_d),
    * dimension-wise KL              Σ_d log q(z_d) − log p(z),

    whose sum is log q(z|x) − log p(z), the one-sample estimate of KL(q(z|x) ‖ p(z)).
    Returns the three terms, each [B].
    """
    batch = z.shape[0]
    pairwise = gaussian_log_density(z[:, None, :], mean[None], log_var[None])  # [B, B, d]: log q(z_i,d | x_j)
    log_norm = math.log(batch * dataset_size)
    log_q_z = torch.logsumexp(pairwise.sum(dim=-1), dim=1) - log_norm
    log_q_dims = (torch.logsumexp(pairwise, dim=1) - log_norm).sum(dim=-1)
    log_q_given_x = gaussian_log_density(z, mean, log_var).sum(dim=-1)
    log_prior = standard_normal_log_density(z).sum(dim=-1)
    return log_q_given_x - log_q_z, log_q_z - log_q_dims, log_q_dims - log_prior
