"""Encoding images to latent points and decoding points to images, in batches, without gradients.

The inputs go to the model's device once, every batch is computed there, and the results come
back in one transfer: on a GPU the host never waits between batches.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch

from vaelab.data.batching import resident_images
from vaelab.data.image_set import ImageSet
from vaelab.data.preprocess import to_unit_float
from vaelab.errors import ConfigError, RunDirError
from vaelab.models.base import LatentModel, Posterior, has_gaussian_posterior
from vaelab.models.cvae import condition_labels

BATCH_SIZE = 500


def model_device(model: LatentModel) -> torch.device:
    """The device holding ``model``'s parameters."""
    return next(model.parameters()).device


def device_batches(images: np.ndarray, device: torch.device, batch_size: int) -> Iterator[torch.Tensor]:
    """uint8 ``images`` [N, C, H, W] copied to ``device`` once, then yielded in batches of ``batch_size``."""
    resident = resident_images(images, device)
    for begin in range(0, len(resident), batch_size):
        yield resident[begin : begin + batch_size]


def conditions_of(model: LatentModel, images: ImageSet) -> np.ndarray | None:
    """The classes ``model`` is conditioned on for ``images``: their labels for a conditional family
    (a :class:`ConfigError` for images without, or with another number of classes), None for every
    other family (:func:`vaelab.models.cvae.condition_labels`)."""
    return condition_labels(model, images)


def labelled_device_batches(
    images: np.ndarray, labels: np.ndarray | None, device: torch.device, batch_size: int
) -> Iterator[tuple[torch.Tensor, torch.Tensor | None]]:
    """:func:`device_batches` of ``images``, each with its ``labels`` (None when there are none)."""
    resident = None if labels is None else torch.as_tensor(np.asarray(labels, dtype=np.int64)).to(device)
    for begin, batch in zip(range(0, len(images), batch_size), device_batches(images, device, batch_size), strict=True):
        yield batch, None if resident is None else resident[begin : begin + batch_size]


@torch.inference_mode()
def encode_images(
    model: LatentModel,
    images: np.ndarray,
    batch_size: int = BATCH_SIZE,
    sampled: bool = False,
    seed: int = 0,
    labels: np.ndarray | None = None,
) -> np.ndarray:
    """Latent points [N, latent_dim] (float32) of uint8 images [N, C, H, W] (with their ``labels``
    for a conditional family: :func:`conditions_of`).

    For a Gaussian encoder the points are the posterior means (deterministic) unless ``sampled``,
    which draws z = mean + σ·ε with ε from a generator seeded with ``seed`` (what the book's notebook
    plots).
    """
    model.eval()
    device = model_device(model)
    generator = torch.Generator(device=device).manual_seed(seed) if sampled else None
    chunks = []
    for batch, condition in labelled_device_batches(images, labels, device, batch_size):
        posterior = model.encode(to_unit_float(batch), condition)
        z = _sample_posterior(model, posterior, generator) if sampled else posterior.mean
        chunks.append(z.float())
    if not chunks:
        return np.zeros((0, model.latent_dim), np.float32)
    return _finite(torch.cat(chunks), "latent points").cpu().numpy()


def _sample_posterior(model: LatentModel, posterior: Posterior, generator: torch.Generator | None) -> torch.Tensor:
    if not has_gaussian_posterior(model):
        raise ConfigError(
            f"sampled embeddings need a VAE's Gaussian encoder; the {model.family} family's code is a point"
        )
    return posterior.sample(generator)


@torch.inference_mode()
def decode_points(
    model: LatentModel, points: np.ndarray, batch_size: int = BATCH_SIZE, labels: np.ndarray | None = None
) -> np.ndarray:
    """Images [N, C, H, W] in [0, 1] (float32) decoded from latent points [N, latent_dim] (each with
    its class in ``labels``, for a conditional family)."""
    model.eval()
    device = model_device(model)
    z = torch.as_tensor(np.asarray(points, dtype=np.float32)).to(device)
    if not torch.isfinite(z).all():
        raise ConfigError("latent points to decode must be finite numbers (one is NaN or infinite)")
    condition = None if labels is None else torch.as_tensor(np.asarray(labels, dtype=np.int64)).to(device)
    chunks = [
        model.decode(z[b : b + batch_size], None if condition is None else condition[b : b + batch_size]).float()
        for b in range(0, len(z), batch_size)
    ]
    return _finite(torch.cat(chunks), "images").cpu().numpy()


@torch.inference_mode()
def code_grids_of_points(model: LatentModel, points: np.ndarray, batch_size: int = BATCH_SIZE) -> np.ndarray:
    """The code grids of latent points [N, latent_dim] of a family with discrete codes: int64 [N, H, W]
    (:meth:`~vaelab.models.base.LatentModel.code_indices`)."""
    device = model_device(model)
    z = torch.as_tensor(np.asarray(points, dtype=np.float32))
    chunks = [model.code_indices(z[b : b + batch_size].to(device)).cpu() for b in range(0, len(z), batch_size)]
    return torch.cat(chunks).numpy() if chunks else np.zeros((0,), np.int64)


def _finite(values: torch.Tensor, what: str) -> torch.Tensor:
    """``values``, or a :class:`RunDirError` when the model gave a NaN or infinity: weights that are
    finite yet this far off (damaged, or saved from a run that was diverging) cannot be analysed."""
    if not torch.isfinite(values).all():
        raise RunDirError(
            f"the model gives {what} that are not finite numbers (NaN or infinity): its weights are damaged or its "
            "training diverged; restore model.safetensors from a backup, or train the run again"
        )
    return values
