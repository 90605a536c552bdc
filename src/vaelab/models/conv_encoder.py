"""The chapter's convolutional encoders: stride-2 convolutions, then a linear head (AE) or two (VAE)."""

from __future__ import annotations

import torch
from torch import nn

from vaelab.models.spec import ModelSpec


class ConvFeatures(nn.Sequential):
    """Stride-2 3×3 convolutions with "same" padding and ReLU, then flatten.

    For the book's 32×32 input and channels (32, 64, 128) the output has 128·4·4 = 2048 features.
    """

    def __init__(self, in_channels: int, channels: tuple[int, ...]) -> None:
        layers: list[nn.Module] = []
        for out_channels in channels:
            layers += [nn.Conv2d(in_channels, out_channels, 3, stride=2, padding=1), nn.ReLU(inplace=True)]
            in_channels = out_channels
        layers.append(nn.Flatten())
        super().__init__(*layers)


class PointEncoder(nn.Module):
    """Deterministic encoder of the plain autoencoder: x ↦ z.

    ``features`` is the convolutional stack ending in a flatten (default :class:`ConvFeatures`);
    it must give ``encoder_channels[-1] · feature_size²`` features.
    """

    def __init__(self, spec: ModelSpec, features: nn.Module | None = None) -> None:
        super().__init__()
        self.features = features or ConvFeatures(spec.image_channels, spec.encoder_channels)
        flat = spec.encoder_channels[-1] * spec.feature_size**2
        self.to_latent = nn.Linear(flat, spec.latent_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.to_latent(self.features(x))


class GaussianEncoder(nn.Module):
    """Encoder of the variational autoencoder: x ↦ (mean, log-variance) of q(z|x).

    The same convolutional features as :class:`PointEncoder`, then two linear heads, ``z_mean``
    and ``z_log_var``, each of size ``latent_dim`` (the book's layer names). For the book's
    32×32 input and a 2-D latent space this has 100,868 parameters. The log-variance is
    returned as computed; :class:`~vaelab.models.vae.VariationalAutoencoder` clamps it.
    ``features`` replaces the convolutional stack, as for :class:`PointEncoder`.
    """

    def __init__(self, spec: ModelSpec, features: nn.Module | None = None) -> None:
        super().__init__()
        self.features = features or ConvFeatures(spec.image_channels, spec.encoder_channels)
        flat = spec.encoder_channels[-1] * spec.feature_size**2
        self.z_mean = nn.Linear(flat, spec.latent_dim)
        self.z_log_var = nn.Linear(flat, spec.latent_dim)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.features(x)
        return self.z_mean(h), self.z_log_var(h)
