"""The Wasserstein autoencoder's objective with the MMD penalty (``wae-mmd``; Tolstikhin et al., 2018).

With x the clean image, z = E(x) its (deterministic) code, x̂ = D(z) the decoded logits, and, for the
batch of n images, z_1…z_n the codes and p_1…p_n draws from the prior N(0, I) (made in the model's
forward pass, ``ModelOutput.prior_z``):

    loss = BCE(x, x̂) + λ · MMD²(q(z), p(z))

    MMD² = 1/(n(n−1)) Σ_{i≠j} [k(z_i, z_j) + k(p_i, p_j)] − 2/n² Σ_{i,j} k(z_i, p_j)

the unbiased estimate of the squared maximum mean discrepancy between the batch's codes and the
prior (:func:`~vaelab.models.distributions.mmd_imq`), under the inverse multiquadratic kernel
k(a, b) = Σ_s C_s / (C_s + ‖a − b‖²), C_s = s · 2d, s ∈ {0.1, 0.2, 0.5, 1, 2, 5, 10} (the paper's
kernel and scales, :func:`~vaelab.models.distributions.imq_kernel`).

Terms (averaged over the images of the batch):

* ``loss`` — the sum above.
* ``reconstruction_nats`` — binary cross-entropy summed over an image's pixels (nats per image).
* ``mmd`` — MMD² above: one number per batch, unitless (each kernel value is in (0, 7]), zero in
  expectation when the codes follow N(0, I); the estimate is unbiased, so a batch's value can be
  slightly negative. A batch of one image (an epoch's last, or an empty data-parallel slice) has no
  pair to compare: its MMD² is taken as 0.

Default λ = 250: the authors' MNIST setting is λ = 10 against the cost c(x, x̂) = 0.05 · ‖x − x̂‖²
summed over 784 pixels (their code; the paper prints c = ‖x − x̂‖²), that is λ = 10/(0.05 · 784) =
0.255 per unit of the per-pixel mean squared error. Our reconstruction is summed over 1,024 pixels:
0.255 × 1,024 ≈ 261, rounded to 250. BCE stands in for squared error, as in every preset here (its
gradient per pixel is at least twice squared error's, so the MMD weighs somewhat less than in the
paper). ``--beta`` sets λ.
"""

from __future__ import annotations

import torch

from vaelab.errors import ConfigError
from vaelab.models.base import LatentModel, ModelOutput
from vaelab.models.distributions import mmd_imq
from vaelab.training.batch import Batch
from vaelab.training.objectives.common import Terms, bce_per_image, check_weight


def mmd_to_prior(output: ModelOutput, family: str) -> torch.Tensor:
    """MMD²(q(z), p(z)) between the output's ``z`` [n, d] and its prior draws ``prior_z`` [n, d]
    (:func:`~vaelab.models.distributions.mmd_imq`); 0 for a batch of one image. A
    :class:`ConfigError` for a model whose forward pass draws no prior points (a preset pairing the
    ``family`` objective with another model)."""
    if output.prior_z is None:
        raise ConfigError(f"the {family} objective needs a model whose forward pass draws from its prior")
    if output.z.shape[0] < 2:
        return output.z.new_zeros(())
    return mmd_imq(output.z, output.prior_z)


class WaeMmdObjective:
    """BCE + λ · MMD²(q(z), p(z)) (see the module docstring); λ ≥ 0."""

    terms = ("loss", "reconstruction_nats", "mmd")
    #: The parameter ``train --beta`` sets.
    beta_param = "mmd_weight"

    def __init__(self, mmd_weight: float = 250.0) -> None:
        self.mmd_weight = check_weight("mmd_weight", mmd_weight, allow_zero=True)

    def __call__(self, model: LatentModel, batch: Batch, output: ModelOutput) -> Terms:
        nats = bce_per_image(output.logits, batch.targets).mean()
        mmd = mmd_to_prior(output, "wae-mmd")
        return {"loss": nats + self.mmd_weight * mmd, "reconstruction_nats": nats, "mmd": mmd}
