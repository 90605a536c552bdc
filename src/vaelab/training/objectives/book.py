"""The book's objectives (book-ae, book-dae, book-vae, book-faces) and the plain β-VAE ELBO.

Reductions, per term (every term is averaged over the images of the batch; see the package's
docstring for the common rules):

``bce`` (book-ae, the book's ``binary_crossentropy``):
    * ``loss`` — binary cross-entropy averaged over every pixel of every image (the number
      Keras prints as ``loss``; nats per pixel).
    * ``bce_nats`` — the same cross-entropy summed over the pixels of an image, then averaged
      over images (nats per image; ``loss`` × pixels per image).

``vae-book`` (book-vae, the book's VAE loss; P = pixels per image, 1,024 for 32×32):
    * ``loss`` — ``reconstruction_weight`` × ``reconstruction`` + ``kl``. The book calls the
      weight "beta" (500), but it multiplies the reconstruction term, not the KL term.
    * ``reconstruction`` — binary cross-entropy averaged over the pixels of each image, then
      over the images (nats per pixel, comparable with book-ae's ``loss``).
    * ``kl`` — KL(q(z|x) ‖ N(0, I)) in closed form, summed over the latent dimensions, averaged
      over the images (nats per image).
    * ``neg_elbo_nats`` — the negative evidence lower bound: cross-entropy summed over the pixels
      of an image plus ``kl``, averaged over images (nats per image, = P × ``reconstruction`` +
      ``kl``; lower is better). Under the Bernoulli pixel model it bounds −log p(x) from above.

``beta-vae`` (the standard β-VAE form; β = 1 is the plain ELBO):
    * ``loss`` — ``reconstruction_nats`` + β × ``kl``.
    * ``reconstruction_nats`` — cross-entropy summed over the pixels of an image, averaged over
      images (nats per image).
    * ``kl``, ``neg_elbo_nats`` — as for ``vae-book``, so both objectives can be compared.

``vae-mse`` (book-faces, the book's faces loss; D = pixels × channels per image, 3,072 for
32×32 RGB):
    * ``loss`` — ``reconstruction_weight`` (w, the book's 2000) × ``reconstruction`` + ``kl``.
    * ``reconstruction`` — squared error between the decoded image (after the sigmoid) and the
      target, averaged over the pixels and channels of each image, then over the images (the MSE
      Keras prints).
    * ``kl`` — as for ``vae-book``.
    * ``neg_elbo_nats`` — the negative ELBO of a Gaussian decoder with a fixed variance,
      ``SE/(2σ²) + (D/2)·log(2πσ²) + kl`` with SE the summed squared error of an image and
      σ² = D/(2w) (nats per image, averaged over images; lower is better).

  Why that σ²: a decoder p(x|z) = N(x̂(z), σ²I) over D continuous values has
  −log p(x|z) = SE/(2σ²) + (D/2)·log(2πσ²). With σ² = D/(2w) the first term is w·SE/D =
  w × ``reconstruction``, so the book's loss is exactly this negative ELBO minus the constant
  (D/2)·log(2πσ²) (for D = 3,072 and w = 2000: σ² = 0.768, σ ≈ 0.88, constant 2,417.5 nats).
  It is a *density* of continuous pixel values, so it can be negative in principle and is not
  comparable with the Bernoulli numbers of ``vae-book`` and ``beta-vae`` (probabilities of
  binary pixels) — only with other ``vae-mse`` runs at the same w and image size.

From one to the other: with weight w on the per-pixel mean over P pixels, the book's loss is
w·S/P + KL = (w/P)·(S + (P/w)·KL), where S is the summed cross-entropy. So the book's recipe is a
β-VAE with β = P/w (for 32×32 images and w = 500: β = 1024/500 = 2.048) with the loss multiplied
by the constant w/P: the same optimum, and with Adam (nearly invariant to a constant scale of the
loss) nearly the same steps. Larger w means smaller β: sharper reconstructions, a less regular
latent space.

The cross-entropy is computed from the decoder's logits (``binary_cross_entropy_with_logits``),
which equals sigmoid + BCE but never takes the log of 0.
"""

from __future__ import annotations

import math

import torch

from vaelab.models.base import LatentModel, ModelOutput
from vaelab.training.batch import Batch
from vaelab.training.objectives.common import Terms, bce_per_image, check_weight, kl_term


class BceObjective:
    """The book's autoencoder loss: per-pixel mean BCE (see the module docstring)."""

    terms = ("loss", "bce_nats")

    def __call__(self, model: LatentModel, batch: Batch, output: ModelOutput) -> Terms:
        nats = bce_per_image(output.logits, batch.targets).mean()
        return {"loss": nats / batch.targets[0].numel(), "bce_nats": nats}


class VaeBookObjective:
    """The book's VAE loss: weight × per-pixel mean BCE + KL (see the module docstring)."""

    terms = ("loss", "reconstruction", "kl", "neg_elbo_nats")
    #: The parameter ``train --beta`` sets.
    beta_param = "reconstruction_weight"

    def __init__(self, reconstruction_weight: float = 500.0) -> None:
        self.reconstruction_weight = check_weight("reconstruction_weight", reconstruction_weight)

    def __call__(self, model: LatentModel, batch: Batch, output: ModelOutput) -> Terms:
        nats = bce_per_image(output.logits, batch.targets).mean()
        kl = kl_term(output).mean()
        reconstruction = nats / batch.targets[0].numel()
        return {
            "loss": self.reconstruction_weight * reconstruction + kl,
            "reconstruction": reconstruction,
            "kl": kl,
            "neg_elbo_nats": nats + kl,
        }


class BetaVaeObjective:
    """The standard β-VAE loss: summed BCE + β × KL (see the module docstring)."""

    terms = ("loss", "reconstruction_nats", "kl", "neg_elbo_nats")
    #: The parameter ``train --beta`` sets.
    beta_param = "beta"

    def __init__(self, beta: float = 1.0) -> None:
        self.beta = check_weight("beta", beta)

    def __call__(self, model: LatentModel, batch: Batch, output: ModelOutput) -> Terms:
        nats = bce_per_image(output.logits, batch.targets).mean()
        kl = kl_term(output).mean()
        return {"loss": nats + self.beta * kl, "reconstruction_nats": nats, "kl": kl, "neg_elbo_nats": nats + kl}


def squared_error_per_image(images: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Squared error summed over each image's pixels and channels: shape [batch]."""
    return (images - target).square().flatten(1).sum(dim=1)


def gaussian_decoder_variance(values_per_image: int, reconstruction_weight: float) -> float:
    """σ² = D/(2w): the fixed decoder variance under which w × per-value MSE is SE/(2σ²)."""
    return values_per_image / (2.0 * reconstruction_weight)


class VaeMseObjective:
    """The book's faces loss: weight × per-pixel-channel MSE + KL (see the module docstring)."""

    terms = ("loss", "reconstruction", "kl", "neg_elbo_nats")
    #: The parameter ``train --beta`` sets.
    beta_param = "reconstruction_weight"

    def __init__(self, reconstruction_weight: float = 2000.0) -> None:
        self.reconstruction_weight = check_weight("reconstruction_weight", reconstruction_weight)

    def __call__(self, model: LatentModel, batch: Batch, output: ModelOutput) -> Terms:
        target = batch.targets
        values = target[0].numel()
        squared_error = squared_error_per_image(torch.sigmoid(output.logits), target).mean()
        kl = kl_term(output).mean()
        reconstruction = squared_error / values
        variance = gaussian_decoder_variance(values, self.reconstruction_weight)
        gaussian_nll = squared_error / (2.0 * variance) + 0.5 * values * math.log(2.0 * math.pi * variance)
        return {
            "loss": self.reconstruction_weight * reconstruction + kl,
            "reconstruction": reconstruction,
            "kl": kl,
            "neg_elbo_nats": gaussian_nll + kl,
        }
