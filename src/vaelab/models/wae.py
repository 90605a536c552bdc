"""The Wasserstein autoencoder with an MMD penalty (``wae-mmd``; Tolstikhin et al., 2018,
"Wasserstein Auto-Encoders").

A deterministic encoder, as in the plain autoencoder, but with a prior p(z) = N(0, I): the objective
(:mod:`vaelab.training.objectives.wae_mmd`) pulls the distribution of the batch's codes q(z) towards
p(z) by the maximum mean discrepancy under the IMQ kernel. So, unlike the plain autoencoder, it can be
sampled from its prior (its default sampler), and the ex-post GMM still applies. It has no
likelihood bound: a point code has no density q(z|x).

The forward pass draws one prior point per image (``ModelOutput.prior_z``): from the global RNG in
training (whose state a checkpoint saves, so a resumed run draws the same points) and from the
``generator`` it is given in validation and analyses (deterministic numbers).
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from vaelab.models.autoencoder import Autoencoder
from vaelab.models.base import DrawsPriorPoints, LatentModel
from vaelab.models.conv_encoder import PointEncoder
from vaelab.models.spec import ModelSpec


class WassersteinAutoencoder(DrawsPriorPoints, Autoencoder):
    """The plain autoencoder's network with a N(0, I) prior, sampled by default, and prior draws in
    its training output."""

    family = "wae-mmd"
    has_prior = True
    default_sampler = "prior"


def build_wae_mmd(spec: ModelSpec, features: nn.Module, decoder: Callable[[ModelSpec], nn.Module]) -> LatentModel:
    """The ``wae-mmd`` family on the spec's network (a :data:`~vaelab.models.families.Builder`)."""
    return WassersteinAutoencoder(PointEncoder(spec, features), decoder(spec), spec.latent_dim)
