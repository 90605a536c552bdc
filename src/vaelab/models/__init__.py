"""Models: the latent-model interface and its families, encoders, decoders, the training recipe and
the registry of presets."""

from vaelab.models.autoencoder import Autoencoder
from vaelab.models.base import (
    GaussianPosterior,
    LatentModel,
    ModelOutput,
    PointPosterior,
    Posterior,
    has_gaussian_posterior,
)
from vaelab.models.build import build_model, count_parameters, parameter_counts
from vaelab.models.families import FAMILIES, Family, get_family
from vaelab.models.presets import PRESETS, Preset, get_preset
from vaelab.models.recipe import RECIPE_FIELDS, Recipe
from vaelab.models.spec import ModelSpec
from vaelab.models.vae import VariationalAutoencoder

__all__ = [
    "FAMILIES",
    "PRESETS",
    "RECIPE_FIELDS",
    "Autoencoder",
    "Family",
    "GaussianPosterior",
    "LatentModel",
    "ModelOutput",
    "ModelSpec",
    "PointPosterior",
    "Posterior",
    "Preset",
    "Recipe",
    "VariationalAutoencoder",
    "build_model",
    "count_parameters",
    "get_family",
    "get_preset",
    "has_gaussian_posterior",
    "parameter_counts",
]
