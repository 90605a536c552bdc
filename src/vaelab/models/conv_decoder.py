"""The chapter's convolutional decoder: linear, reshape, transposed convolutions, output conv."""

from __future__ import annotations

import torch
from torch import nn

from vaelab.models.spec import ModelSpec


class ConvDecoder(nn.Module):
    """z ↦ image logits.

    Linear(latent → C·s·s) with no activation, reshape to C×s×s, one stride-2 3×3 transposed
    convolution with ReLU per encoder stage (channels in reverse order, each doubling the size
    exactly like Keras' "same" padding), then a 3×3 stride-1 convolution to the image channels.
    The output is logits: :class:`~vaelab.models.autoencoder.Autoencoder` applies the sigmoid,
    and the losses work on logits, which is the numerically stable form of the book's
    sigmoid + binary cross-entropy.
    """

    def __init__(self, spec: ModelSpec) -> None:
        super().__init__()
        channels = spec.encoder_channels[::-1]
        self.shape = (channels[0], spec.feature_size, spec.feature_size)
        self.from_latent = nn.Linear(spec.latent_dim, channels[0] * spec.feature_size**2)
        self.upsample = upsampling(spec)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.from_latent(z).view(z.shape[0], *self.shape)
        return self.upsample(h)


def upsampling(spec: ModelSpec) -> nn.Sequential:
    """The decoder after its first layer: from ``encoder_channels[-1]`` feature maps of
    ``feature_size``², one stride-2 3×3 transposed convolution with ReLU per encoder stage (channels
    in reverse order), then a 3×3 stride-1 convolution to the image channels' logits."""
    channels = spec.encoder_channels[::-1]
    layers: list[nn.Module] = []
    in_channels = channels[0]
    for out_channels in channels:
        layers += [
            nn.ConvTranspose2d(in_channels, out_channels, 3, stride=2, padding=1, output_padding=1),
            nn.ReLU(inplace=True),
        ]
        in_channels = out_channels
    layers.append(nn.Conv2d(in_channels, spec.image_channels, 3, stride=1, padding=1))
    return nn.Sequential(*layers)
