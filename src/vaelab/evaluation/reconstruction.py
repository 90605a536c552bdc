"""How well a model reconstructs held-out images (through the encoder mean for a VAE)."""

from __future__ import annotations

import torch

from vaelab.data.image_set import ImageSet
from vaelab.data.preprocess import to_unit_float
from vaelab.latent.codec import conditions_of, labelled_device_batches, model_device
from vaelab.latent.denoising import psnr
from vaelab.models.base import LatentModel
from vaelab.training.objectives import bce_per_image


@torch.inference_mode()
def reconstruction_metrics(model: LatentModel, images: ImageSet, batch_size: int = 500) -> dict[str, float]:
    """Averages over ``images`` of: binary cross-entropy per pixel (nats; the book's loss), mean
    squared error per pixel, and PSNR per image (dB, 10·log10(1/MSE), pixels in [0, 1])."""
    model.eval()
    device = model_device(model)
    sums = torch.zeros(3, dtype=torch.float64, device=device)  # BCE, MSE, PSNR
    for batch, condition in labelled_device_batches(images.images, conditions_of(model, images), device, batch_size):
        x = to_unit_float(batch)
        logits = model.decode_logits(model.encode(x, condition).mean, condition)
        restored = torch.sigmoid(logits)
        sums[0] += (bce_per_image(logits, x) / x[0].numel()).double().sum()
        sums[1] += (restored - x).pow(2).flatten(1).mean(dim=1).double().sum()
        sums[2] += psnr(restored, x).double().sum()
    bce, mse, db = sums.tolist()
    count = len(images)
    return {"bce_per_pixel": bce / count, "mse": mse / count, "psnr_db": db / count, "images": count}
