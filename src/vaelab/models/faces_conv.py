"""The chapter's faces network (``book-faces``): convolutions with BatchNorm and LeakyReLU.

Encoder features: per stage a 3×3 stride-2 convolution ("same" padding), BatchNorm and
LeakyReLU(0.3), then flatten (128·2·2 = 512 features for 32×32 inputs and four stages of 128
channels). Decoder: Linear(latent → 512) → BatchNorm → LeakyReLU → reshape 128×2×2 → per stage
a 3×3 stride-2 transposed convolution that doubles the size → BatchNorm → LeakyReLU, then a 3×3
stride-1 transposed convolution to the image channels (logits; the model applies the sigmoid).

BatchNorm takes Keras' ε = 1e-3, as the book's code does, but PyTorch's running-statistics
momentum 0.1 (Keras' default, 0.99 in its convention, would be ``momentum=0.01``): with 0.01 the
running means and variances that eval mode uses need several hundred steps to forget their
initial values, so a model trained for a few dozen steps (a small folder of images, a quick
test) decodes grey images in eval mode. On CelebA (1,583 steps per epoch) both settle within
the first epoch. LeakyReLU's slope 0.3 is Keras' default. For the book's 32×32 RGB input and a 200-d latent space the
encoder has 652,560 trainable parameters and the decoder 698,755; the book's totals, 653,584 and
700,803, also count BatchNorm's running means and variances (1,024 and 2,048 numbers).

``faces-mirror`` (the presets ``faces-64`` and ``faces-128``) is the same network with the widths
of the field's usual CelebA VAE (PyTorch-VAE's ``VanillaVAE``): the decoder mirrors the encoder's
widths instead of repeating the widest one. Its stride-2 transposed convolutions go from each
width to the next narrower one and the last one keeps the narrowest width (for encoder widths
32, 64, 128, 256, 512: 512→256→128→64→32→32), then the stride-1 transposed convolution to
the image channels (a 3×3 convolution with its kernel flipped and transposed: the same function
class and parameter count as VanillaVAE's final ``Conv2d``). ``book-faces`` instead opens with a
stage that keeps the widest width (128→128 ×4 in the book, where the widths are all equal, so
both plans give the same layers; with 32…512 it would add a 512→512 stage of 2.36 million
parameters). Trainable parameters, z = 128:

========== ============================ ========= =========
preset     encoder widths               encoder   decoder
========== ============================ ========= =========
faces-64   32, 64, 128, 256, 512        2,095,104 1,846,627
faces-128  32, 64, 128, 256, 512, 512   4,455,936 4,207,459
========== ============================ ========= =========

faces-64's encoder has exactly VanillaVAE's parameters; its decoder has 4,096 more, the BatchNorm
after the decoder's Linear layer (VanillaVAE has 1,842,531: its Linear feeds the transposed
convolutions directly, with no normalisation or activation).
"""

from __future__ import annotations

import torch
from torch import nn

from vaelab.models.spec import ModelSpec

LEAKY_SLOPE = 0.3
BN_EPS = 1e-3
BN_MOMENTUM = 0.1


def _activation() -> nn.Module:
    return nn.LeakyReLU(LEAKY_SLOPE, inplace=True)


class BatchNormConvFeatures(nn.Sequential):
    """[Conv 3×3 stride 2 → BatchNorm → LeakyReLU(0.3)] per channel count, then flatten."""

    def __init__(self, in_channels: int, channels: tuple[int, ...]) -> None:
        layers: list[nn.Module] = []
        for out_channels in channels:
            layers += [
                nn.Conv2d(in_channels, out_channels, 3, stride=2, padding=1),
                nn.BatchNorm2d(out_channels, eps=BN_EPS, momentum=BN_MOMENTUM),
                _activation(),
            ]
            in_channels = out_channels
        layers.append(nn.Flatten())
        super().__init__(*layers)


class BatchNormConvDecoder(nn.Module):
    """z ↦ image logits through Linear/BatchNorm/LeakyReLU and stride-2 transposed convolutions
    (``book-faces``: the first of them keeps the widest width, :meth:`stage_widths`)."""

    @staticmethod
    def stage_widths(channels: tuple[int, ...]) -> tuple[int, ...]:
        """The output widths of the stride-2 transposed convolutions, given the encoder's widths
        reversed (widest first): the book's plan, the widest width again, then each narrower one."""
        return channels

    def __init__(self, spec: ModelSpec) -> None:
        super().__init__()
        channels = spec.encoder_channels[::-1]
        self.shape = (channels[0], spec.feature_size, spec.feature_size)
        flat = channels[0] * spec.feature_size**2
        self.from_latent = nn.Sequential(
            nn.Linear(spec.latent_dim, flat),
            nn.BatchNorm1d(flat, eps=BN_EPS, momentum=BN_MOMENTUM),
            _activation(),
        )
        layers: list[nn.Module] = []
        in_channels = channels[0]
        for out_channels in self.stage_widths(channels):
            layers += [
                nn.ConvTranspose2d(in_channels, out_channels, 3, stride=2, padding=1, output_padding=1),
                nn.BatchNorm2d(out_channels, eps=BN_EPS, momentum=BN_MOMENTUM),
                _activation(),
            ]
            in_channels = out_channels
        layers.append(nn.ConvTranspose2d(in_channels, spec.image_channels, 3, stride=1, padding=1))
        self.upsample = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.from_latent(z).view(z.shape[0], *self.shape)
        return self.upsample(h)


class MirroredBatchNormConvDecoder(BatchNormConvDecoder):
    """``faces-mirror``: :class:`BatchNormConvDecoder` whose stride-2 stages mirror the encoder's
    widths, each to the next narrower width and the last one keeping the narrowest (PyTorch-VAE's
    ``VanillaVAE`` plan)."""

    @staticmethod
    def stage_widths(channels: tuple[int, ...]) -> tuple[int, ...]:
        """Each narrower width in turn, then the narrowest again (512, 256, …, 32 ↦ 256, …, 32, 32)."""
        return (*channels[1:], channels[-1])
