"""The latent space: encoding, decoding, embeddings, samplers, grids and reconstructions."""

from vaelab.latent.codec import decode_points, encode_images
from vaelab.latent.embedding import Embedding, embed
from vaelab.latent.generation import Generated, generate
from vaelab.latent.grids import LatentGrid, decode_grid
from vaelab.latent.projection import Projection, fit_projection
from vaelab.latent.reconstruction import Reconstructions, reconstruct
from vaelab.latent.samplers import uniform_box

__all__ = [
    "Embedding",
    "Generated",
    "LatentGrid",
    "Projection",
    "Reconstructions",
    "decode_grid",
    "decode_points",
    "embed",
    "encode_images",
    "fit_projection",
    "generate",
    "reconstruct",
    "uniform_box",
]
