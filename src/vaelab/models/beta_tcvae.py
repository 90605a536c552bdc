"""β-TCVAE (``beta-tcvae``; Chen, Li, Grosse and Duvenaud, 2018, "Isolating Sources of
Disentanglement in Variational Autoencoders").

The VAE itself — Gaussian q(z|x), one reparameterised draw, p(z) = N(0, I), the same likelihood
bounds and prior sampler — trained with the KL term split into index-code mutual information, total
correlation and dimension-wise KL, each with its own weight, estimated on the batch by
minibatch-weighted sampling (:mod:`vaelab.training.objectives.beta_tcvae`). Nothing in the network
or the forward pass differs; the family exists so that a run names its objective's model.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from vaelab.models.base import LatentModel
from vaelab.models.conv_encoder import GaussianEncoder
from vaelab.models.spec import ModelSpec
from vaelab.models.vae import VariationalAutoencoder


class BetaTcVae(VariationalAutoencoder):
    """The VAE under β-TCVAE's name (its objective is what differs)."""

    family = "beta-tcvae"


def build_beta_tcvae(spec: ModelSpec, features: nn.Module, decoder: Callable[[ModelSpec], nn.Module]) -> LatentModel:
    """The ``beta-tcvae`` family on the spec's network (a :data:`~vaelab.models.families.Builder`)."""
    return BetaTcVae(GaussianEncoder(spec, features), decoder(spec), spec.latent_dim)
