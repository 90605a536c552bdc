"""The plain autoencoder (``ae``, book-ae and book-dae): an encoder to a point z and a decoder back.

Its code is deterministic (:class:`~vaelab.models.base.PointPosterior`) and it has no prior: its
samples are drawn from a box around the training embeddings (``uniform-box``, the book's sampler) or
from a distribution fitted to them after training (``gmm``, ``two-stage``).
"""

from __future__ import annotations

import torch
from torch import nn

from vaelab.models.base import LatentModel, PointPosterior, check_condition


class Autoencoder(LatentModel):
    """Encoder + decoder with a sigmoid output (pixel values in [0, 1]).

    ``encoder`` maps images to points [N, latent_dim]; ``decoder`` maps points to logits.
    """

    family = "ae"
    posterior_kind = "point"
    has_prior = False
    default_sampler = "uniform-box"

    def __init__(self, encoder: nn.Module, decoder: nn.Module, latent_dim: int) -> None:
        super().__init__()
        self.encoder = encoder
        self.decoder = decoder
        self.latent_dim = latent_dim

    def encode(self, x: torch.Tensor, condition: torch.Tensor | None = None) -> PointPosterior:
        check_condition(self, condition)
        return PointPosterior(self.encoder(x))

    def decode_logits(self, z: torch.Tensor, condition: torch.Tensor | None = None) -> torch.Tensor:
        return self.decoder(z)
