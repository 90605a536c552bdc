"""Models: the latent-model interface, encoders, decoders, autoencoders, the training recipe and the registry of the
book's presets."""

from vaelab.models.autoencoder import Autoencoder, AutoencoderOutput
from vaelab.models.base import GaussianLatentModel, LatentModel, LatentModule, ModelOutput, has_gaussian_posterior
from vaelab.models.build import build_model, count_parameters
from vaelab.models.presets import PRESETS, Preset, get_preset
from vaelab.models.recipe import RECIPE_FIELDS, Recipe
from vaelab.models.spec import ModelSpec
from vaelab.models.vae import VaeOutput, VariationalAutoencoder

__all__ = [
    "PRESETS",
    "RECIPE_FIELDS",
    "Autoencoder",
    "AutoencoderOutput",
    "GaussianLatentModel",
    "LatentModel",
    "LatentModule",
    "ModelOutput",
    "ModelSpec",
    "Preset",
    "Recipe",
    "VaeOutput",
    "VariationalAutoencoder",
    "build_model",
    "count_parameters",
    "get_preset",
    "has_gaussian_posterior",
]
