"""The VQ-VAE's objective (``vq-vae``; van den Oord et al., 2017, with the codebook learnt by EMA).

With x the clean image, z_e its encoder output at the H × W positions of the code grid, e_{k*} the
code chosen at each position (:mod:`vaelab.models.quantizer`), x̂ the decoded logits of the
straight-through codes, sg the stop-gradient and β the commitment weight:

    loss = BCE(x, x̂) + β · Σ_positions ‖z_e − sg(e_{k*})‖²

The paper's loss has a third term, the *codebook* loss ‖sg(z_e) − e_{k*}‖², which moves the codes
towards the encodings by gradient descent. Here the codebook is learnt by exponential moving averages
instead (the paper's appendix A.1), so that term is absent: no gradient reaches the codebook.
The commitment distance is computed in the model's forward pass (``ModelOutput.commitment``: it runs
through the encoder's parameters); this objective only weights it.

Terms (every term averaged over the images of the batch):

* ``loss`` — the sum above (nats per image for its first term; the commitment is not nats).
* ``reconstruction_nats`` — binary cross-entropy summed over an image's pixels (nats per image,
  as ``beta-vae``'s; −log p(x | codes) under Bernoulli pixels).
* ``commitment`` — ‖z_e − sg(e_{k*})‖² summed over the positions and the D dimensions of an image's
  code grid (squared code units per image).
* ``perplexity`` — exp(H) of the frequencies of the codes chosen over the whole *batch* (all its
  images and positions): the number of equally used codes with the same entropy, from 1 to K
  (:func:`~vaelab.models.quantizer.perplexity`). No gradient.
* ``codes_used`` — how many of the K codes the batch chose at least once. No gradient.

The last two are properties of a batch, not of an image: like every term they are averaged over the
batch's images, so an epoch's (or a validation pass's) value is the mean over its batches of each
batch's number, weighted by the batch's images. That is not the perplexity of the epoch's pooled
codes, which is at least as large (a batch of 100 images, at the preset's 8 × 8 = 64 positions, has
6,400 codes to spread over K; an epoch has many batches that may prefer different codes). Under
torchrun each process scores its own slice of the batch, so there they are the mean over slices.

Default β = 0.25, the paper's. Its loss uses mean squared errors over pixels and over code entries;
here the reconstruction is summed over the 1,024 pixels and the commitment over the preset's
8 × 8 × 16 = 1,024 code entries, so the ratio of the two sums is the paper's ratio of means (with
BCE in place of squared error, as in every preset here). ``--beta`` sets β.
"""

from __future__ import annotations

from vaelab.errors import ConfigError
from vaelab.models.base import LatentModel, ModelOutput
from vaelab.models.quantizer import code_histogram, perplexity
from vaelab.training.batch import Batch
from vaelab.training.objectives.common import Terms, bce_per_image, check_weight


class VqVaeObjective:
    """BCE + β · commitment, with the batch's code perplexity and codes used reported beside them
    (see the module docstring); β ≥ 0."""

    terms = ("loss", "reconstruction_nats", "commitment", "perplexity", "codes_used")
    #: The parameter ``train --beta`` sets.
    beta_param = "beta"

    def __init__(self, beta: float = 0.25) -> None:
        self.beta = check_weight("beta", beta, allow_zero=True)

    def __call__(self, model: LatentModel, batch: Batch, output: ModelOutput) -> Terms:
        if output.codes is None or output.commitment is None or not model.codebook_size:
            raise ConfigError("the vq-vae objective needs a model with discrete codes and a codebook (vq-vae)")
        nats = bce_per_image(output.logits, batch.targets).mean()
        commitment = output.commitment.mean()
        histogram = code_histogram(output.codes.detach(), model.codebook_size)
        return {
            "loss": nats + self.beta * commitment,
            "reconstruction_nats": nats,
            "commitment": commitment,
            "perplexity": perplexity(histogram),
            "codes_used": (histogram > 0).sum().float(),
        }
