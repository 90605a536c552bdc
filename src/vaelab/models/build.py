"""Turn a :class:`ModelSpec` into a module: the spec's family (:mod:`vaelab.models.families`) on the
spec's convolutional network."""

from __future__ import annotations

from torch import nn

from vaelab.models.base import LatentModel
from vaelab.models.conv_decoder import ConvDecoder
from vaelab.models.conv_encoder import ConvFeatures
from vaelab.models.faces_conv import BatchNormConvDecoder, BatchNormConvFeatures, MirroredBatchNormConvDecoder
from vaelab.models.families import get_family
from vaelab.models.spec import ModelSpec

#: Per architecture: the encoder's convolutional features and the decoder.
ARCHITECTURE_PARTS: dict[str, tuple[type[nn.Module], type[nn.Module]]] = {
    "book-conv": (ConvFeatures, ConvDecoder),
    "book-faces": (BatchNormConvFeatures, BatchNormConvDecoder),
    "faces-mirror": (BatchNormConvFeatures, MirroredBatchNormConvDecoder),
}


def build_model(spec: ModelSpec) -> LatentModel:
    """A freshly initialised model for ``spec``, which it keeps as ``model.spec``."""
    features_class, decoder_class = ARCHITECTURE_PARTS[spec.architecture]
    features = features_class(spec.image_channels, spec.encoder_channels)
    model = get_family(spec.kind).build(spec, features, decoder_class)
    model.spec = spec
    return model


def count_parameters(module: nn.Module, trainable_only: bool = True) -> int:
    """Number of (trainable) parameters of ``module``."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)


def parameter_counts(model: LatentModel) -> dict[str, int]:
    """The trainable parameters of ``model``'s ``encoder`` and ``decoder``, and the ``total``, which also
    counts a family's own (the VampPrior's pseudo-inputs)."""
    parts = {part: count_parameters(getattr(model, part)) for part in ("encoder", "decoder")}
    return {**parts, "total": count_parameters(model)}
