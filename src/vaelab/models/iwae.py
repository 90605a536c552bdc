"""The importance-weighted autoencoder (``iwae``; Burda, Grosse and Salakhutdinov, 2016).

The same network as the VAE (:mod:`vaelab.models.vae`: a Gaussian q(z|x), a decoder, the prior
N(0, I)); only the training forward pass differs. It draws k points z₁…z_k ~ q(z|x) per image and
decodes all of them, so that the objective (:mod:`vaelab.training.objectives.iwae`) can score the
k-sample importance-weighted bound instead of the one-sample ELBO. Encoding, decoding, the prior
and every analysis are the VAE's: k matters to training and validation only.

k is part of the model's description (:attr:`vaelab.models.spec.ModelSpec.samples`, ``train --k``),
because the forward pass — the only place that runs the network during training, and the one that
DistributedDataParallel watches — has to know how many points to decode.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from vaelab.errors import ConfigError
from vaelab.models.base import LatentModel, ModelOutput
from vaelab.models.conv_encoder import GaussianEncoder
from vaelab.models.spec import ModelSpec
from vaelab.models.vae import VariationalAutoencoder


class ImportanceWeightedAutoencoder(VariationalAutoencoder):
    """A VAE whose training forward pass decodes ``samples`` (k) draws of z per image.

    :meth:`forward` returns ``z`` of shape [k, N, d] and ``logits`` of shape [k, N, C, H, W]. With
    k = 1 it draws exactly what the VAE's forward pass draws from the same random state.
    """

    family = "iwae"

    def __init__(self, encoder: nn.Module, decoder: nn.Module, latent_dim: int, samples: int) -> None:
        super().__init__(encoder, decoder, latent_dim)
        if isinstance(samples, bool) or not isinstance(samples, int) or samples < 1:
            raise ConfigError(f"--k must be a positive integer (draws of z per image), got {samples!r}")
        self.samples = samples

    def forward(
        self, x: torch.Tensor, condition: torch.Tensor | None = None, generator: torch.Generator | None = None
    ) -> ModelOutput:
        """Encode, draw k reparameterised z per image (ε from ``generator`` or the global RNG),
        decode all k·N of them in one pass."""
        posterior = self.encode(x, condition)
        z = posterior.sample_many(self.samples, generator)  # [k, N, d]
        repeated = None if condition is None else condition.repeat(self.samples)  # matches z.flatten(0, 1)
        logits = self.decode_logits(z.flatten(0, 1), repeated).unflatten(0, z.shape[:2])
        return ModelOutput(logits=logits, z=z, posterior=posterior)


def build_iwae(spec: ModelSpec, features: nn.Module, decoder: Callable[[ModelSpec], nn.Module]) -> LatentModel:
    """The ``iwae`` family on the spec's network (k = ``spec.samples``)."""
    return ImportanceWeightedAutoencoder(GaussianEncoder(spec, features), decoder(spec), spec.latent_dim, spec.samples)
