"""Turn a :class:`ModelSpec` into a module."""

from __future__ import annotations

from torch import nn

from vaelab.models.autoencoder import Autoencoder
from vaelab.models.base import LatentModule
from vaelab.models.conv_decoder import ConvDecoder
from vaelab.models.conv_encoder import ConvFeatures, GaussianEncoder, PointEncoder
from vaelab.models.faces_conv import BatchNormConvDecoder, BatchNormConvFeatures
from vaelab.models.spec import ModelSpec
from vaelab.models.vae import VariationalAutoencoder

#: Per architecture: the encoder's convolutional features and the decoder.
ARCHITECTURE_PARTS = {
    "book-conv": (ConvFeatures, ConvDecoder),
    "book-faces": (BatchNormConvFeatures, BatchNormConvDecoder),
}


def build_model(spec: ModelSpec) -> LatentModule:
    """A freshly initialised model for ``spec``."""
    features_class, decoder_class = ARCHITECTURE_PARTS[spec.architecture]
    features = features_class(spec.image_channels, spec.encoder_channels)
    if spec.kind == "ae":
        return Autoencoder(PointEncoder(spec, features), decoder_class(spec), spec.latent_dim)
    if spec.kind == "vae":
        return VariationalAutoencoder(GaussianEncoder(spec, features), decoder_class(spec), spec.latent_dim)
    raise NotImplementedError(f"model kind {spec.kind!r} is not built yet")


def count_parameters(module: nn.Module, trainable_only: bool = True) -> int:
    """Number of (trainable) parameters of ``module``."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)
