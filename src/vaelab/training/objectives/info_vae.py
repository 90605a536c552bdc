"""InfoVAE's objective with the MMD divergence (``info-vae``; Zhao, Song and Ermon, 2019).

With x the clean image, q(z|x) = N(μ, diag σ²) the encoder's posterior, z one reparameterised draw
from it, x̂ = D(z) the decoded logits, and p_1…p_n draws from the prior N(0, I) for the batch's n
images (made in the model's forward pass, ``ModelOutput.prior_z``):

    loss = BCE(x, x̂) + (1 − α) · KL(q(z|x) ‖ p(z)) + (α + λ − 1) · MMD²(q(z), p(z))

the negative of the paper's objective (its eq. for InfoVAE, with the MMD as the divergence between
the aggregate posterior q(z) and the prior). KL is in closed form; MMD² is the unbiased estimate
between the batch's draws z_i (samples of q(z)) and the prior's, under the same IMQ kernel as
``wae-mmd`` (:func:`~vaelab.training.objectives.wae_mmd.mmd_to_prior`). α = 0, λ = 1 is the ELBO.

Terms (averaged over the images of the batch):

* ``loss`` — the sum above.
* ``reconstruction_nats`` — binary cross-entropy summed over an image's pixels (nats per image).
* ``kl`` — KL(q(z|x) ‖ N(0, I)) in closed form, summed over the latent dimensions (nats per image).
* ``mmd`` — MMD², one number per batch, unitless (see ``wae-mmd``; 0 for a batch of one image).
* ``neg_elbo_nats`` — ``reconstruction_nats`` + ``kl``: the negative ELBO (nats per image), as
  ``beta-vae`` reports it, so the two are compared directly.

Defaults α = 0 and λ = 1,000: the paper's choice. α = 0 keeps the ELBO's KL term whole (so the loss
is the negative ELBO plus 999 · MMD²) and λ sets how hard the aggregate posterior is pulled to the
prior. On the scale: the authors' MMD-VAE code weighs MMD² by 1 against the per-pixel *mean*
squared error, that is by 784 against MNIST's error summed over its pixels; per pixel of our 1,024
that is 1,024 against our summed reconstruction — the paper's λ = 1,000 is that scale, so it is kept
(BCE stands in for squared error, as in every preset here; the kernel is WAE's IMQ, so that the
``mmd`` of ``info-vae`` and ``wae-mmd`` runs are the same quantity). The weights must keep both
terms non-negative: α ≤ 1 and α + λ − 1 ≥ 0, λ > 0. ``--beta`` sets λ.
"""

from __future__ import annotations

from vaelab.errors import ConfigError
from vaelab.models.base import LatentModel, ModelOutput
from vaelab.training.batch import Batch
from vaelab.training.objectives.common import Terms, bce_per_image, check_weight, kl_term
from vaelab.training.objectives.wae_mmd import mmd_to_prior


class InfoVaeObjective:
    """BCE + (1 − α)·KL + (α + λ − 1)·MMD² (see the module docstring)."""

    terms = ("loss", "reconstruction_nats", "kl", "mmd", "neg_elbo_nats")
    #: The parameter ``train --beta`` sets.
    beta_param = "lambda_"

    def __init__(self, alpha: float = 0.0, lambda_: float = 1000.0) -> None:
        try:
            self.alpha = float(alpha)
        except (TypeError, ValueError):
            raise ConfigError(f"alpha must be a number at most 1, got {alpha!r}") from None
        if not -float("inf") < self.alpha <= 1:
            raise ConfigError(f"alpha must be a number at most 1 (the KL term's weight is 1 − alpha), got {alpha!r}")
        self.lambda_ = check_weight("lambda_", lambda_)
        if self.alpha + self.lambda_ - 1 < 0:
            raise ConfigError(
                f"alpha + lambda_ must be at least 1 (the MMD term's weight is alpha + lambda_ − 1), "
                f"got alpha {alpha!r} and lambda_ {lambda_!r}"
            )

    def __call__(self, model: LatentModel, batch: Batch, output: ModelOutput) -> Terms:
        nats = bce_per_image(output.logits, batch.targets).mean()
        kl = kl_term(output).mean()
        mmd = mmd_to_prior(output, "info-vae")
        loss = nats + (1.0 - self.alpha) * kl + (self.alpha + self.lambda_ - 1.0) * mmd
        return {"loss": loss, "reconstruction_nats": nats, "kl": kl, "mmd": mmd, "neg_elbo_nats": nats + kl}
