"""The latent space: encoding, decoding, embeddings, samplers, grids, reconstructions, attribute
vectors, latent arithmetic and morphing."""

from vaelab.latent.arithmetic import Arithmetic, add_vector, parse_factors
from vaelab.latent.attributes import AttributeVector, attribute_vector
from vaelab.latent.codec import decode_points, encode_images
from vaelab.latent.embedding import Embedding, embed
from vaelab.latent.generation import Generated, generate
from vaelab.latent.grids import LatentGrid, decode_grid
from vaelab.latent.morph import Morph, interpolate, morph
from vaelab.latent.projection import Projection, fit_projection
from vaelab.latent.reconstruction import Reconstructions, reconstruct
from vaelab.latent.samplers import uniform_box

__all__ = [
    "Arithmetic",
    "AttributeVector",
    "Embedding",
    "Generated",
    "LatentGrid",
    "Morph",
    "Projection",
    "Reconstructions",
    "add_vector",
    "attribute_vector",
    "decode_grid",
    "decode_points",
    "embed",
    "encode_images",
    "fit_projection",
    "generate",
    "interpolate",
    "morph",
    "parse_factors",
    "reconstruct",
    "uniform_box",
]
