"""The likelihood of test images' codes under a learnt prior over discrete codes (``vq-vae``).

A VQ-VAE has no ELBO in ``evaluate``'s sense: its encoder is deterministic and its prior is learnt
after training, over the code grids. What measures that prior is the negative log-likelihood of the
test images' code grids under it, −log₂ p(c | y) divided by the H·W positions: *bits per code*
(log₂ K for a prior that knows nothing; the number ``vaelab prior train`` reports after each epoch,
here measured on the weights being evaluated). ``nats_per_image`` is the same sum over a grid in
nats. It is the cost of the codes only, not a bound on log p(x): the decoder's reconstruction error
is not in it.
"""

from __future__ import annotations

import math
from typing import Any

from vaelab.data.image_set import ImageSet
from vaelab.models.base import LatentModel
from vaelab.training.prior import discrete_model, encode_code_grids, mean_bits, prior_labels

#: Code grids scored per PixelCNN pass.
BATCH_SIZE = 500


def has_code_prior(model: LatentModel) -> bool:
    """Whether ``model`` has discrete codes and a learnt prior over them (so :func:`code_prior_likelihood` applies)."""
    return not model.continuous_codes and model.has_prior


def code_prior_likelihood(model: LatentModel, images: ImageSet) -> dict[str, Any]:
    """Bits per code and nats per image of ``images``' code grids under ``model``'s prior (each grid
    under its image's class, for a class-conditional prior); see the module docstring."""
    vq = discrete_model(model)
    prior = vq.prior
    if prior is None:
        raise ValueError("the vq-vae run has no prior over its codes yet")
    codes = encode_code_grids(vq, images)
    bits = mean_bits(prior, codes, prior_labels(images, prior.classes, codes.device), BATCH_SIZE)
    positions = vq.grid[0] * vq.grid[1]
    return {
        "bits_per_code": bits,
        "nats_per_image": bits * positions * math.log(2),
        "positions": positions,
        "codebook_size": vq.codebook_size,
        "images": len(images),
        "conditional": bool(prior.classes),
    }
