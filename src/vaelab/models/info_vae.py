"""InfoVAE with the MMD divergence (``info-vae``; Zhao, Song and Ermon, 2019, "InfoVAE: Balancing
Learning and Inference in Variational Autoencoders").

The VAE's network and prior — a Gaussian q(z|x), one reparameterised draw, p(z) = N(0, I) — trained
with the ELBO's KL term reweighted and a second divergence added: the MMD between the aggregate
posterior q(z) (the batch's draws) and p(z) (:mod:`vaelab.training.objectives.info_vae`). It keeps
the VAE's likelihood bounds and samples its prior by default.

The forward pass draws z from q(z|x), then one prior point per image (``ModelOutput.prior_z``), both
from the global RNG in training and from the ``generator`` it is given in validation and analyses.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from vaelab.models.base import DrawsPriorPoints, LatentModel
from vaelab.models.conv_encoder import GaussianEncoder
from vaelab.models.spec import ModelSpec
from vaelab.models.vae import VariationalAutoencoder


class InfoVae(DrawsPriorPoints, VariationalAutoencoder):
    """The VAE with prior draws in its training output, for the MMD term."""

    family = "info-vae"


def build_info_vae(spec: ModelSpec, features: nn.Module, decoder: Callable[[ModelSpec], nn.Module]) -> LatentModel:
    """The ``info-vae`` family on the spec's network (a :data:`~vaelab.models.families.Builder`)."""
    return InfoVae(GaussianEncoder(spec, features), decoder(spec), spec.latent_dim)
