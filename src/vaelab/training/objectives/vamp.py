"""The ELBO of a VAE with a VampPrior (``vamp``; Tomczak and Welling, 2018), its KL by Monte Carlo.

The model (:class:`~vaelab.models.vamp.VampPriorVAE`) draws one z ~ q(z|x) per image, decodes it,
and gives log p(z) under its prior p(z) = (1/K) Σ_k q(z | u_k), the mixture of its posteriors at K
learnt pseudo-inputs u_k (``output.log_prior``, computed in the forward pass so that the
pseudo-inputs learn there). The negative ELBO per image, in nats, is

    −ELBO = E_q[−log p(x|z)] + KL(q(z|x) ‖ p(z)),

−log p(x|z) the binary cross-entropy summed over the P pixels of the image (Bernoulli pixels).

**Why Monte Carlo, and how.** The KL of a Gaussian to a mixture of Gaussians has no closed form
(the log of a sum does not split), so it is estimated from its definition,
KL = E_q[log q(z|x) − log p(z)], with the one z already drawn for the reconstruction:

    KL ≈ log q(z|x) − log p(z),   z = μ(x) + σ(x)·ε,  ε ~ N(0, I),

log q the encoder's diagonal Gaussian and log p(z) = logsumexp_k log q(z|u_k) − log K, both summed
over the latent dimensions. The estimate is unbiased (its mean over ε is the KL) and its gradient is
the reparameterised one, so it trains the encoder (through q and z) and the pseudo-inputs (through
log p) without bias; its noise averages out over the batch's images and the epoch's steps. One draw
can give a negative value (log q < log p at that z); the KL itself never is. Reusing the
reconstruction's draw costs nothing extra, and the one-sample ELBO it gives is the one whose
expectation is the ELBO, as for the VAE; the paper estimates it the same way. (``evaluate``'s
likelihood bounds do the same at their own draws, :mod:`vaelab.evaluation.likelihood`.)

Terms (each averaged over the images of the batch; nats per image):

* ``loss`` — ``reconstruction_nats`` + β × ``kl`` (β = 1, the ELBO, by default; ``train --beta``).
* ``reconstruction_nats`` — the cross-entropy summed over the pixels of an image.
* ``kl`` — the one-sample estimate of KL(q(z|x) ‖ p(z)) above.
* ``neg_elbo_nats`` — ``reconstruction_nats`` + ``kl``: the negative ELBO, comparable with every
  VAE's (a bound on −log p(x) under the model's own prior).
"""

from __future__ import annotations

from vaelab.errors import ConfigError
from vaelab.models.base import LatentModel, ModelOutput
from vaelab.training.batch import Batch
from vaelab.training.objectives.common import Terms, bce_per_image, check_weight, kl_term


class VampObjective:
    """The negative ELBO under a VampPrior with its KL estimated at the decoded draw, the KL weighted
    by β (see the module docstring)."""

    terms = ("loss", "reconstruction_nats", "kl", "neg_elbo_nats")
    #: The parameter ``train --beta`` sets.
    beta_param = "beta"

    def __init__(self, beta: float = 1.0) -> None:
        self.beta = check_weight("beta", beta)

    def __call__(self, model: LatentModel, batch: Batch, output: ModelOutput) -> Terms:
        if output.log_prior is None:
            raise ConfigError("the vamp objective needs a model that gives log p(z) (the vamp family)")
        nats = bce_per_image(output.logits, batch.targets).mean()
        kl = kl_term(output).mean()  # log q(z|x) − log p(z) at the decoded z
        return {"loss": nats + self.beta * kl, "reconstruction_nats": nats, "kl": kl, "neg_elbo_nats": nats + kl}
