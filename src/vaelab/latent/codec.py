"""Encoding images to latent points and decoding points to images, in batches, without gradients."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from vaelab.data.preprocess import to_unit_float

BATCH_SIZE = 500


def model_device(model: nn.Module) -> torch.device:
    """The device holding ``model``'s parameters."""
    return next(model.parameters()).device


@torch.no_grad()
def encode_images(model: nn.Module, images: np.ndarray, batch_size: int = BATCH_SIZE) -> np.ndarray:
    """Latent points [N, latent_dim] (float32) of uint8 images [N, C, H, W]."""
    model.eval()
    device = model_device(model)
    chunks = []
    for begin in range(0, len(images), batch_size):
        batch = torch.from_numpy(np.ascontiguousarray(images[begin : begin + batch_size])).to(device)
        chunks.append(model.encode(to_unit_float(batch)).float().cpu())
    return torch.cat(chunks).numpy() if chunks else np.zeros((0, model.latent_dim), np.float32)


@torch.no_grad()
def decode_points(model: nn.Module, points: np.ndarray, batch_size: int = BATCH_SIZE) -> np.ndarray:
    """Images [N, C, H, W] in [0, 1] (float32) decoded from latent points [N, latent_dim]."""
    model.eval()
    device = model_device(model)
    z = torch.as_tensor(np.asarray(points, dtype=np.float32))
    chunks = [model.decode(z[b : b + batch_size].to(device)).float().cpu() for b in range(0, len(z), batch_size)]
    return torch.cat(chunks).numpy()
