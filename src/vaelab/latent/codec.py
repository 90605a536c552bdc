"""Encoding images to latent points and decoding points to images, in batches, without gradients.

The inputs go to the model's device once, every batch is computed there, and the results come
back in one transfer: on a GPU the host never waits between batches.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch

from vaelab.data.preprocess import to_unit_float
from vaelab.errors import ConfigError, RunDirError
from vaelab.models.base import LatentModel, has_gaussian_posterior

BATCH_SIZE = 500


def model_device(model: LatentModel) -> torch.device:
    """The device holding ``model``'s parameters."""
    return next(model.parameters()).device


def device_batches(images: np.ndarray, device: torch.device, batch_size: int) -> Iterator[torch.Tensor]:
    """uint8 ``images`` [N, C, H, W] copied to ``device`` once, then yielded in batches of ``batch_size``."""
    resident = torch.from_numpy(np.ascontiguousarray(images)).to(device)
    for begin in range(0, len(resident), batch_size):
        yield resident[begin : begin + batch_size]


@torch.inference_mode()
def encode_images(
    model: LatentModel, images: np.ndarray, batch_size: int = BATCH_SIZE, sampled: bool = False, seed: int = 0
) -> np.ndarray:
    """Latent points [N, latent_dim] (float32) of uint8 images [N, C, H, W].

    For a VAE the points are the encoder's means (deterministic) unless ``sampled``, which draws
    z = mean + σ·ε with ε from a generator seeded with ``seed`` (what the book's notebook plots).
    """
    model.eval()
    device = model_device(model)
    generator = torch.Generator(device=device).manual_seed(seed) if sampled else None
    chunks = []
    for batch in device_batches(images, device, batch_size):
        x = to_unit_float(batch)
        z = _sample_posterior(model, x, generator) if sampled else model.encode(x)
        chunks.append(z.float())
    if not chunks:
        return np.zeros((0, model.latent_dim), np.float32)
    return _finite(torch.cat(chunks), "latent points").cpu().numpy()


def _sample_posterior(model: LatentModel, x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    if not has_gaussian_posterior(model):
        raise ConfigError("sampled embeddings need a VAE; a plain autoencoder's encoder is deterministic")
    return model.sample_latent(x, generator)


@torch.inference_mode()
def decode_points(model: LatentModel, points: np.ndarray, batch_size: int = BATCH_SIZE) -> np.ndarray:
    """Images [N, C, H, W] in [0, 1] (float32) decoded from latent points [N, latent_dim]."""
    model.eval()
    device = model_device(model)
    z = torch.as_tensor(np.asarray(points, dtype=np.float32)).to(device)
    if not torch.isfinite(z).all():
        raise ConfigError("latent points to decode must be finite numbers (one is NaN or infinite)")
    chunks = [model.decode(z[b : b + batch_size]).float() for b in range(0, len(z), batch_size)]
    return _finite(torch.cat(chunks), "images").cpu().numpy()


def _finite(values: torch.Tensor, what: str) -> torch.Tensor:
    """``values``, or a :class:`RunDirError` when the model gave a NaN or infinity: weights that are
    finite yet this far off (damaged, or saved from a run that was diverging) cannot be analysed."""
    if not torch.isfinite(values).all():
        raise RunDirError(
            f"the model gives {what} that are not finite numbers (NaN or infinity): its weights are damaged or its "
            "training diverged; restore model.safetensors from a backup, or train the run again"
        )
    return values
