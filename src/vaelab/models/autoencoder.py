"""The plain autoencoder: an encoder to a point z and a decoder back to the image."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass
class AutoencoderOutput:
    """What a forward pass returns.

    Attributes:
        logits: decoder output before the sigmoid, shape of the input.
        z: the latent code that was decoded.
    """

    logits: torch.Tensor
    z: torch.Tensor


class Autoencoder(nn.Module):
    """Encoder + decoder with a sigmoid output (pixel values in [0, 1])."""

    kind = "ae"

    def __init__(self, encoder: nn.Module, decoder: nn.Module, latent_dim: int) -> None:
        super().__init__()
        self.encoder = encoder
        self.decoder = decoder
        self.latent_dim = latent_dim

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Map images in [0, 1] to latent points."""
        return self.encoder(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Map latent points to images in [0, 1]."""
        return torch.sigmoid(self.decoder(z))

    def forward(self, x: torch.Tensor) -> AutoencoderOutput:
        z = self.encoder(x)
        return AutoencoderOutput(logits=self.decoder(z), z=z)
