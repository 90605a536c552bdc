"""The regularised autoencoder (``rae``): RAE-L2 of Ghosh et al. (2020), "From Variational to
Deterministic Autoencoders".

A deterministic autoencoder (:class:`~vaelab.models.base.PointPosterior`, no prior) whose objective
(:mod:`vaelab.training.objectives.rae`) replaces the VAE's noise and KL term by two explicit
regularisers: ½‖z‖² on the codes, which keeps the latent space bounded and centred, and the squared
L2 norm of the decoder's weights, which keeps the decoder smooth (the paper's reading of what a
VAE's noise does to its decoder). With no prior to sample, its samples come from a density fitted
to the training codes after training: the ex-post Gaussian mixture (``gmm``) is its default sampler.

The decoder's squared norm ‖θ_dec‖² is computed here, in :meth:`RegularisedAutoencoder.forward`
(as ``ModelOutput.penalty``), because it runs through the model's parameters: DistributedDataParallel
sees only what a forward pass computes, and the objective only weights it.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from vaelab.models.autoencoder import Autoencoder
from vaelab.models.base import LatentModel, ModelOutput
from vaelab.models.conv_encoder import PointEncoder
from vaelab.models.spec import ModelSpec


class RegularisedAutoencoder(Autoencoder):
    """The plain autoencoder's network with the RAE's capabilities: a point code, no prior, the
    ex-post GMM as its default sampler, and ‖θ_dec‖² in its training output."""

    family = "rae"
    default_sampler = "gmm"

    def decoder_squared_norm(self) -> torch.Tensor:
        """‖θ_dec‖²: the sum of the squares of the decoder's weights — every linear and convolution
        kernel (parameters of two or more dimensions); biases and normalisation parameters are left
        out, as in weight decay and the authors' code, since they shift the decoder's output without
        changing how fast it varies with z. A scalar tensor."""
        weights = [p for p in self.decoder.parameters() if p.ndim > 1]
        return torch.stack([w.square().sum() for w in weights]).sum()

    def forward(
        self, x: torch.Tensor, condition: torch.Tensor | None = None, generator: torch.Generator | None = None
    ) -> ModelOutput:
        """Encode, decode the code, and add ``penalty`` = ‖θ_dec‖² (:meth:`decoder_squared_norm`)."""
        output = super().forward(x, condition, generator)
        output.penalty = self.decoder_squared_norm()
        return output


def build_rae(spec: ModelSpec, features: nn.Module, decoder: Callable[[ModelSpec], nn.Module]) -> LatentModel:
    """The ``rae`` family on the spec's network (a :data:`~vaelab.models.families.Builder`)."""
    return RegularisedAutoencoder(PointEncoder(spec, features), decoder(spec), spec.latent_dim)
