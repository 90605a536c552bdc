"""The regularised autoencoder's objective (``rae``: RAE-L2, Ghosh et al., 2020).

With x the clean image, z = E(x) its (deterministic) code, x̂ = D(z) the decoded logits and θ_dec the
decoder's weights (:meth:`~vaelab.models.rae.RegularisedAutoencoder.decoder_squared_norm`, computed in
the model's forward pass as ``ModelOutput.penalty``):

    loss = BCE(x, x̂) + β · ½‖z‖² + λ · ‖θ_dec‖²

Terms (every term averaged over the images of the batch):

* ``loss`` — the sum above (nats per image for its first term; the regularisers are not nats).
* ``reconstruction_nats`` — binary cross-entropy summed over an image's pixels (nats per image,
  as ``beta-vae``'s).
* ``z_l2`` — ½‖z‖², summed over the latent dimensions (squared latent units per image).
* ``decoder_l2`` — ‖θ_dec‖², one number per batch (the same for every image, so its average over
  images is itself).

Defaults, β = 0.1 and λ = 1e-4: the authors' RAE-L2 for MNIST (their code: Adam 5e-4, batch 100)
minimises the per-pixel *mean* squared error + 1e-4 · mean_d z_d² + 1e-7 · ‖θ_dec‖². Our
reconstruction is *summed* over P = 1,024 pixels, so the same balance per pixel is every weight
× 1,024: 0.1024 on mean_d z_d², which is ½‖z‖² at our default d = 2, and 1.024e-4 on ‖θ_dec‖²;
rounded, β = 0.1 and λ = 1e-4. (The paper writes the code term as ½‖z‖² for any d; we keep that
form, so at other d it differs from the authors' mean over dimensions by the factor d/2.) The
reconstruction stays BCE, as in every preset here: per pixel its gradient with respect to the
logit, p − x, is at least twice squared error's, 2(p − x)·p(1 − p), so these weights regularise
somewhat less, relative to the reconstruction, than the paper's against squared error.
``--beta`` sets β.
"""

from __future__ import annotations

from vaelab.errors import ConfigError
from vaelab.models.base import LatentModel, ModelOutput
from vaelab.training.batch import Batch
from vaelab.training.objectives.common import Terms, bce_per_image, check_weight


class RaeObjective:
    """BCE + β·½‖z‖² + λ·‖θ_dec‖² (see the module docstring); β, λ ≥ 0 (0 turns a term off)."""

    terms = ("loss", "reconstruction_nats", "z_l2", "decoder_l2")
    #: The parameter ``train --beta`` sets.
    beta_param = "beta"

    def __init__(self, beta: float = 0.1, decoder_weight: float = 1e-4) -> None:
        self.beta = check_weight("beta", beta, allow_zero=True)
        self.decoder_weight = check_weight("decoder_weight", decoder_weight, allow_zero=True)

    def __call__(self, model: LatentModel, batch: Batch, output: ModelOutput) -> Terms:
        if output.penalty is None:
            raise ConfigError("the rae objective needs a model whose forward pass gives the decoder's L2 norm (rae)")
        nats = bce_per_image(output.logits, batch.targets).mean()
        z_l2 = 0.5 * output.z.square().sum(dim=-1).mean()
        decoder_l2 = output.penalty
        loss = nats + self.beta * z_l2 + self.decoder_weight * decoder_l2
        return {"loss": loss, "reconstruction_nats": nats, "z_l2": z_l2, "decoder_l2": decoder_l2}
