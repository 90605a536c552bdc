"""Encoding images to latent points and decoding points to images, in batches, without gradients."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from vaelab.data.preprocess import to_unit_float
from vaelab.errors import ConfigError

BATCH_SIZE = 500


def model_device(model: nn.Module) -> torch.device:
    """The device holding ``model``'s parameters."""
    return next(model.parameters()).device


@torch.no_grad()
def encode_images(
    model: nn.Module, images: np.ndarray, batch_size: int = BATCH_SIZE, sampled: bool = False, seed: int = 0
) -> np.ndarray:
    """Latent points [N, latent_dim] (float32) of uint8 images [N, C, H, W].

    For a VAE the points are the encoder's means (deterministic) unless ``sampled``, which draws
    z = mean + σ·ε with ε from a generator seeded with ``seed`` (what the book's notebook plots).
    """
    model.eval()
    device = model_device(model)
    generator = torch.Generator(device=device).manual_seed(seed) if sampled else None
    chunks = []
    for begin in range(0, len(images), batch_size):
        batch = torch.from_numpy(np.ascontiguousarray(images[begin : begin + batch_size])).to(device)
        x = to_unit_float(batch)
        z = _sample_posterior(model, x, generator) if sampled else model.encode(x)
        chunks.append(z.float().cpu())
    return torch.cat(chunks).numpy() if chunks else np.zeros((0, model.latent_dim), np.float32)


def _sample_posterior(model: nn.Module, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    if not hasattr(model, "sample_latent"):
        raise ConfigError("sampled embeddings need a VAE; a plain autoencoder's encoder is deterministic")
    return model.sample_latent(x, generator)


@torch.no_grad()
def decode_points(model: nn.Module, points: np.ndarray, batch_size: int = BATCH_SIZE) -> np.ndarray:
    """Images [N, C, H, W] in [0, 1] (float32) decoded from latent points [N, latent_dim]."""
    model.eval()
    device = model_device(model)
    z = torch.as_tensor(np.asarray(points, dtype=np.float32))
    chunks = [model.decode(z[b : b + batch_size].to(device)).float().cpu() for b in range(0, len(z), batch_size)]
    return torch.cat(chunks).numpy()
