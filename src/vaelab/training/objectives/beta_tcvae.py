"""β-TCVAE's objective (``beta-tcvae``; Chen, Li, Grosse and Duvenaud, 2018), by minibatch-weighted
sampling.

With x the clean image, q(z|x) = N(μ, diag σ²) the encoder's posterior, z one reparameterised draw,
x̂ = D(z) the decoded logits, p(z) = N(0, I), and the aggregate posterior estimated on the batch of
B images out of a training set of N (``Batch.dataset_size``) as
q(z) ≈ 1/(B·N) Σ_j q(z | x_j) (and likewise each marginal q(z_d)):

    mi   = log q(z|x) − log q(z)                  index-code mutual information
    tc   = log q(z) − Σ_d log q(z_d)               total correlation
    dwkl = Σ_d log q(z_d) − log p(z)              dimension-wise KL

    loss = BCE(x, x̂) + α · mi + β · tc + γ · dwkl

(:func:`~vaelab.models.distributions.total_correlation_terms`). mi + tc + dwkl = log q(z|x) − log p(z)
exactly, whatever the estimate of q(z): the one-sample Monte Carlo estimate of KL(q(z|x) ‖ p(z)),
so α = β = γ = 1 is the VAE's loss with its KL estimated by sampling. The minibatch estimates of
mi and tc are biased (log of an average), their sum with dwkl is not.

Terms (averaged over the images of the batch; nats per image):

* ``loss`` — the sum above.
* ``reconstruction_nats`` — binary cross-entropy summed over an image's pixels.
* ``mi``, ``tc``, ``dwkl`` — the three terms above.
* ``kl`` — KL(q(z|x) ‖ N(0, I)) in closed form, as ``beta-vae`` reports it: the expectation over z
  of mi + tc + dwkl.
* ``neg_elbo_nats`` — ``reconstruction_nats`` + mi + tc + dwkl: the one-sample estimate of the
  negative ELBO. Its expectation is the closed-form negative ELBO (``reconstruction_nats`` + ``kl``),
  its noise that of one draw of z per image, which averaging over a validation set's images mostly
  removes; the difference of the two (averaged) is the Monte Carlo error.

Defaults α = γ = 1, β = 6: only the total correlation is weighted up, the paper's recommendation
(β-TCVAE penalises the TC alone, to favour statistically independent dimensions without the β-VAE's
cost in mutual information); β = 6 is within the range of β the paper studies. Its decoder is
Bernoulli, summed over pixels like ours, so no rescaling applies. ``--beta`` sets β.
"""

from __future__ import annotations

from vaelab.models.base import LatentModel, ModelOutput
from vaelab.models.distributions import total_correlation_terms
from vaelab.training.batch import Batch
from vaelab.training.objectives.common import Terms, bce_per_image, check_weight, gaussian_posterior


class BetaTcVaeObjective:
    """BCE + α·MI + β·TC + γ·DWKL by minibatch-weighted sampling (see the module docstring)."""

    terms = ("loss", "reconstruction_nats", "mi", "tc", "dwkl", "kl", "neg_elbo_nats")
    #: The parameter ``train --beta`` sets.
    beta_param = "beta"

    def __init__(self, alpha: float = 1.0, beta: float = 6.0, gamma: float = 1.0) -> None:
        self.alpha = check_weight("alpha", alpha, allow_zero=True)
        self.beta = check_weight("beta", beta, allow_zero=True)
        self.gamma = check_weight("gamma", gamma, allow_zero=True)

    def __call__(self, model: LatentModel, batch: Batch, output: ModelOutput) -> Terms:
        posterior = gaussian_posterior(output, "beta-tcvae")
        if batch.dataset_size < len(batch):
            raise ValueError(
                f"the beta-tcvae objective needs the training set's size (Batch.dataset_size), got "
                f"{batch.dataset_size} for a batch of {len(batch)}"
            )
        nats = bce_per_image(output.logits, batch.targets).mean()
        mi, tc, dwkl = (
            term.mean()
            for term in total_correlation_terms(output.z, posterior.mean, posterior.log_var, batch.dataset_size)
        )
        kl = posterior.kl_to_standard_normal().mean()
        loss = nats + self.alpha * mi + self.beta * tc + self.gamma * dwkl
        return {
            "loss": loss,
            "reconstruction_nats": nats,
            "mi": mi,
            "tc": tc,
            "dwkl": dwkl,
            "kl": kl,
            "neg_elbo_nats": nats + mi + tc + dwkl,
        }
