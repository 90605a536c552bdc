"""The importance-weighted bound (``iwae``; Burda, Grosse and Salakhutdinov, 2016).

The model (:class:`~vaelab.models.iwae.ImportanceWeightedAutoencoder`) draws k points
z₁…z_k ~ q(z|x) per image and decodes them (``output.z`` [k, N, d], ``output.logits``
[k, N, C, H, W]). Each draw has the log importance weight, in nats,

    log wᵢ = log p(x|zᵢ) + log p(zᵢ) − log q(zᵢ|x),

with log p(x|zᵢ) = −(binary cross-entropy summed over the P pixels of the image; Bernoulli
pixels, as every objective of vaelab), log p(zᵢ) = log N(zᵢ; 0, I) (or ``output.log_prior`` where a
model sets it) and log q(zᵢ|x) the encoder's diagonal Gaussian, each summed over its dimensions.
Since E_q[wᵢ] = p(x), Jensen's inequality gives, for every k,

    log p(x) ≥ L_k = E[log (1/k) Σᵢ wᵢ],   L_1 = ELBO ≤ L_k ≤ L_{k+1} → log p(x) as k → ∞,

so training on L_k tightens the bound that the VAE maximises; the gradient weights each draw by its
normalised weight wᵢ / Σⱼ wⱼ, so draws that explain the image well dominate, and the posterior is no
longer penalised for covering the data loosely. The average is computed stably as
log (1/k) Σ exp(log wᵢ) = logsumexp(log w) − log k (:func:`~vaelab.models.distributions.log_mean_exp`).

Terms (every term averaged over the images of the batch; nats per image):

* ``loss`` — −L_k estimated with the batch's draws: −log (1/k) Σᵢ wᵢ. Lower is better.
* ``iw_bound_nats`` — the same number, named for what it is (``loss`` is whatever a family
  minimises), so that tables across families can show it: ``evaluate``'s ``iw_nll_nats`` is the same
  bound with many more draws (k = 64 to 1,000) and fresh ones.
* ``neg_elbo_nats`` — the negative ELBO as ``beta-vae`` reports it, averaged over the k draws: the
  mean over i of the cross-entropy of zᵢ, plus ``kl``. Comparable with every VAE's ``neg_elbo_nats``;
  it is ≥ ``loss`` in expectation.
* ``reconstruction_nats`` — the cross-entropy summed over the pixels of an image, averaged over the
  k draws: E_q[−log p(x|z)].
* ``kl`` — KL(q(z|x) ‖ N(0, I)) in closed form, summed over the latent dimensions (for a prior set
  through ``output.log_prior``: the mean over the k draws of log q(zᵢ|x) − log p(zᵢ)).

With k = 1, ``loss`` = −log w₁ = cross-entropy + log q(z₁|x) − log p(z₁): the one-sample negative ELBO
with the KL estimated at the draw, whose expectation is ``beta-vae``'s loss at β = 1 (which takes the
KL in closed form); ``neg_elbo_nats`` then equals ``beta-vae``'s exactly.
"""

from __future__ import annotations

from vaelab.models.base import LatentModel, ModelOutput
from vaelab.models.distributions import log_mean_exp, standard_normal_log_density
from vaelab.training.batch import Batch
from vaelab.training.objectives.common import Terms, bce_per_image, gaussian_posterior


class IwaeObjective:
    """The negative k-sample importance-weighted bound (see the module docstring); k is the number
    of draws in the output (the model's, ``train --k``)."""

    terms = ("loss", "iw_bound_nats", "neg_elbo_nats", "reconstruction_nats", "kl")

    def __call__(self, model: LatentModel, batch: Batch, output: ModelOutput) -> Terms:
        posterior = gaussian_posterior(output, "iwae")
        z, logits, log_prior = output.z, output.logits, output.log_prior
        if z.dim() == posterior.mean.dim():  # one draw per image, [N, d]: k = 1
            z, logits = z[None], logits[None]
            log_prior = None if log_prior is None else log_prior[None]
        log_px = -bce_per_image(logits, batch.targets)  # [k, N]
        log_pz = standard_normal_log_density(z).sum(dim=-1) if log_prior is None else log_prior  # [k, N]
        log_qz = posterior.log_prob(z)  # [k, N]
        bound = -log_mean_exp(log_px + log_pz - log_qz, dim=0).mean()
        reconstruction = -log_px.mean()
        if log_prior is None:
            kl = posterior.kl_to_standard_normal().mean()
        else:
            kl = (log_qz - log_pz).mean()
        return {
            "loss": bound,
            "iw_bound_nats": bound,
            "neg_elbo_nats": reconstruction + kl,
            "reconstruction_nats": reconstruction,
            "kl": kl,
        }
