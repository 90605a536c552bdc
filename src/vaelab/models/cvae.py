"""The conditional VAE (``cvae``): a VAE whose encoder and decoder both see the image's class.

Sohn, Lee and Yan (2015), "Learning structured output representation using deep conditional
generative models", in its simplest form, with the class y as the condition:

* encoder q(z|x, y): the book's convolutional features of x, flattened (2,048 for book-conv),
  concatenated with the one-hot y (K values), then the two linear heads ``z_mean`` and
  ``z_log_var``;
* decoder p(x|z, y): z concatenated with the one-hot y, then the book's decoder (its first Linear
  takes d + K inputs instead of d);
* prior p(z|y) = p(z) = N(0, I), *independent of the class* (Sohn et al. also learn a prior
  network p(z|x) for structured outputs; with a class as the condition the fixed N(0, I) is the
  usual choice, Kingma et al. 2014's M2 and most tutorials do the same).

So z is free to carry what the class does not say (the "style": width, tone, pose), and a sample of
class c is the decoding of z ~ N(0, I) under c. The objective is the conditional ELBO,
E_q[log p(x|z, y)] − KL(q(z|x, y) ‖ N(0, I)): the ``beta-vae`` objective with β = 1, unchanged,
because the forward pass gets the class (:mod:`vaelab.training.objectives.book`).

Concatenating a one-hot vector to a Linear's input is the same as adding a learned vector per class
to its output (the Linear's weight columns for the one-hot entries), so conditioning costs K·d
parameters in each encoder head and K·(first decoder layer's width) in the decoder.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from vaelab.data.image_set import ImageSet
from vaelab.errors import ConfigError
from vaelab.models.base import GaussianPosterior, LatentModel, check_condition, clamp_log_var
from vaelab.models.spec import ModelSpec
from vaelab.models.vae import VariationalAutoencoder


class ConditionalGaussianEncoder(nn.Module):
    """(x, one-hot y) ↦ (mean, log-variance) of q(z|x, y): ``features`` of x (flattened), the one-hot
    class appended, then the linear heads ``z_mean`` and ``z_log_var`` (the book's names).

    For book-conv at 32×32, a 2-D latent space and 10 classes: 100,868 + 2·10·2 = 100,908 parameters.
    """

    def __init__(self, spec: ModelSpec, features: nn.Module) -> None:
        super().__init__()
        self.features = features
        flat = spec.encoder_channels[-1] * spec.feature_size**2
        self.z_mean = nn.Linear(flat + spec.conditions, spec.latent_dim)
        self.z_log_var = nn.Linear(flat + spec.conditions, spec.latent_dim)

    def forward(self, x: torch.Tensor, one_hot: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.features(x)
        h = torch.cat([h, one_hot.to(h.dtype)], dim=1)
        return self.z_mean(h), self.z_log_var(h)


class ConditionalDecoder(nn.Module):
    """(z, one-hot y) ↦ image logits: the architecture's decoder built for d + K inputs, fed z and the
    one-hot class side by side (for book-conv: its first Linear takes d + K values)."""

    def __init__(self, spec: ModelSpec, decoder: Callable[[ModelSpec], nn.Module]) -> None:
        super().__init__()
        self.body = decoder(replace(spec, latent_dim=spec.latent_dim + spec.conditions, conditions=0))

    def forward(self, z: torch.Tensor, one_hot: torch.Tensor) -> torch.Tensor:
        return self.body(torch.cat([z, one_hot.to(z.dtype)], dim=-1))


class ConditionalVAE(VariationalAutoencoder):
    """The conditional VAE (see the module docstring): Gaussian q(z|x, y), prior N(0, I) whatever the
    class, decoder p(x|z, y). ``condition`` is an int64 class index per image, from 0 to
    ``condition_dim`` − 1, in :meth:`encode`, :meth:`decode_logits` and the forward pass."""

    family = "cvae"
    conditional = True

    def __init__(self, encoder: nn.Module, decoder: nn.Module, latent_dim: int, conditions: int) -> None:
        super().__init__(encoder, decoder, latent_dim)
        self.condition_dim = conditions

    def one_hot(self, condition: torch.Tensor | None) -> torch.Tensor:
        """The classes as one-hot float rows [N, K] (a ValueError without classes; on the CPU, for a
        class outside 0 … K − 1, PyTorch's own)."""
        check_condition(self, condition)
        assert condition is not None  # check_condition refused None
        return F.one_hot(condition.long(), self.condition_dim).float()

    def encode(self, x: torch.Tensor, condition: torch.Tensor | None = None) -> GaussianPosterior:
        mean, log_var = self.encoder(x, self.one_hot(condition))
        return GaussianPosterior(mean, clamp_log_var(log_var))

    def decode_logits(self, z: torch.Tensor, condition: torch.Tensor | None = None) -> torch.Tensor:
        return self.decoder(z, self.one_hot(condition))


def build_cvae(spec: ModelSpec, features: nn.Module, decoder: Callable[[ModelSpec], nn.Module]) -> ConditionalVAE:
    """The ``cvae`` family on the spec's network; a :class:`ConfigError` for a spec without classes."""
    if spec.conditions < 1:
        raise ConfigError(
            "the cvae family needs the number of classes it is conditioned on (model conditions ≥ 1), got 0"
        )
    return ConditionalVAE(
        ConditionalGaussianEncoder(spec, features), ConditionalDecoder(spec, decoder), spec.latent_dim, spec.conditions
    )


def condition_labels(model: LatentModel, images: ImageSet) -> np.ndarray | None:
    """The classes ``model`` is conditioned on for ``images``: their labels for a conditional family,
    None for every other family. A :class:`ConfigError` when the images have no classes, or not as
    many as the model was trained on."""
    if not model.conditional:
        return None
    if images.labels is None:
        raise ConfigError(
            f"the {model.family} model is conditioned on classes and the {images.name} images have none; "
            "use a labelled dataset (fashion-mnist)"
        )
    if len(images.class_names) != model.condition_dim:
        raise ConfigError(
            f"the {model.family} model is conditioned on {model.condition_dim} classes but the {images.name} images "
            f"have {len(images.class_names)}; use the dataset it was trained on"
        )
    return images.labels
