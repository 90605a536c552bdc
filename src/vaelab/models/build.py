"""Turn a :class:`ModelSpec` into a module."""

from __future__ import annotations

from torch import nn

from vaelab.models.autoencoder import Autoencoder
from vaelab.models.conv_decoder import ConvDecoder
from vaelab.models.conv_encoder import GaussianEncoder, PointEncoder
from vaelab.models.spec import ModelSpec
from vaelab.models.vae import VariationalAutoencoder


def build_model(spec: ModelSpec) -> nn.Module:
    """A freshly initialised model for ``spec``."""
    if spec.kind == "ae":
        return Autoencoder(PointEncoder(spec), ConvDecoder(spec), spec.latent_dim)
    if spec.kind == "vae":
        return VariationalAutoencoder(GaussianEncoder(spec), ConvDecoder(spec), spec.latent_dim)
    raise NotImplementedError(f"model kind {spec.kind!r} is not built yet")


def count_parameters(module: nn.Module, trainable_only: bool = True) -> int:
    """Number of (trainable) parameters of ``module``."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)
