"""The variational autoencoder (``vae``, book-vae, beta-vae and book-faces): a Gaussian encoder
q(z|x), a reparameterised draw, a decoder, and the prior p(z) = N(0, I).

:meth:`~vaelab.models.base.LatentModel.encode` returns the posterior; analyses take its mean, so
embeddings, grids and reconstructions are deterministic by default, and draw from it on request.
"""

from __future__ import annotations

import torch
from torch import nn

from vaelab.models.base import GaussianPosterior, LatentModel, check_condition, clamp_log_var


class VariationalAutoencoder(LatentModel):
    """Gaussian encoder (``encoder`` returns mean and log-variance) + decoder with a sigmoid output.

    The log-variance is clamped to [:data:`~vaelab.models.base.LOG_VAR_MIN`,
    :data:`~vaelab.models.base.LOG_VAR_MAX`] = [−30, 20] (see there why).
    """

    family = "vae"
    posterior_kind = "gaussian"
    has_prior = True
    default_sampler = "prior"

    def __init__(self, encoder: nn.Module, decoder: nn.Module, latent_dim: int) -> None:
        super().__init__()
        self.encoder = encoder
        self.decoder = decoder
        self.latent_dim = latent_dim

    def encode(self, x: torch.Tensor, condition: torch.Tensor | None = None) -> GaussianPosterior:
        check_condition(self, condition)
        mean, log_var = self.encoder(x)
        return GaussianPosterior(mean, clamp_log_var(log_var))

    def decode_logits(self, z: torch.Tensor, condition: torch.Tensor | None = None) -> torch.Tensor:
        return self.decoder(z)
