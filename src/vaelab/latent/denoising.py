"""Denoising: corrupt test images, reconstruct them, and measure PSNR before and after."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from vaelab.data.corruption import Corruption, override_corruption
from vaelab.data.image_set import ImageSet
from vaelab.data.preprocess import to_unit_float
from vaelab.latent.codec import BATCH_SIZE, conditions_of, labelled_device_batches, model_device
from vaelab.models.base import LatentModel

#: Mean squared errors are floored here so that a perfect image scores 100 dB, not infinity.
MSE_FLOOR = 1e-10


def denoising_corruption(trained: Corruption | None, kind: str | None, amount: float | None) -> Corruption:
    """The corruption the denoising analysis applies: the run's own (gaussian σ=0.3 for a run trained
    without one) changed by ``kind``/``amount`` by the rule of every override
    (:func:`~vaelab.data.corruption.override_corruption`)."""
    return override_corruption(trained or Corruption(), kind, amount)


def psnr(estimate: torch.Tensor, clean: torch.Tensor) -> torch.Tensor:
    """Peak signal-to-noise ratio of each image, in dB, for pixel values in [0, 1] (peak 1):
    10·log10(1 / MSE), with the MSE over the image's pixels. Shape [batch]."""
    mse = (estimate - clean).pow(2).flatten(1).mean(dim=1).clamp_min(MSE_FLOOR)
    return -10.0 * torch.log10(mse)


@dataclass
class Denoised:
    """PSNR of corrupted and of denoised test images, and a few examples to show.

    ``psnr_noisy``/``psnr_denoised`` are per-image PSNRs averaged over ``count`` images (dB);
    ``clean``/``noisy``/``denoised`` hold the first examples, float32 [n, C, H, W] in [0, 1].
    """

    psnr_noisy: float
    psnr_denoised: float
    count: int
    corruption: Corruption
    seed: int
    clean: np.ndarray
    noisy: np.ndarray
    denoised: np.ndarray

    @property
    def gain(self) -> float:
        """PSNR gained by denoising, in dB."""
        return self.psnr_denoised - self.psnr_noisy

    def to_dict(self) -> dict:
        return {
            "corruption": self.corruption.to_dict(),
            "seed": self.seed,
            "images": self.count,
            "psnr_noisy_db": self.psnr_noisy,
            "psnr_denoised_db": self.psnr_denoised,
            "psnr_gain_db": self.gain,
            "psnr_definition": "10*log10(1/MSE) per image, pixels in [0, 1], averaged over images",
        }


@torch.inference_mode()
def denoise(
    model: LatentModel,
    images: ImageSet,
    corruption: Corruption,
    examples: int = 10,
    seed: int = 0,
    batch_size: int = BATCH_SIZE,
) -> Denoised:
    """Corrupt every image of ``images`` (seeded), reconstruct it with ``model`` (a VAE through
    its encoder mean), and average the PSNRs against the clean images."""
    model.eval()
    device = model_device(model)
    generator = torch.Generator(device=device).manual_seed(seed)
    sums = torch.zeros(2, dtype=torch.float64, device=device)  # PSNR of noisy, of denoised
    shown: list[torch.Tensor] = []
    for batch, condition in labelled_device_batches(images.images, conditions_of(model, images), device, batch_size):
        clean = to_unit_float(batch)
        noisy = corruption(clean, generator)
        restored = model.decode(model.encode(noisy, condition).mean, condition)
        sums[0] += psnr(noisy, clean).double().sum()
        sums[1] += psnr(restored, clean).double().sum()
        if not shown:
            shown = [t[:examples].float() for t in (clean, noisy, restored)]
    clean_shown, noisy_shown, restored_shown = (t.cpu().numpy() for t in shown)
    count = len(images)
    noisy_sum, denoised_sum = sums.tolist()
    return Denoised(
        noisy_sum / count, denoised_sum / count, count, corruption, seed, clean_shown, noisy_shown, restored_shown
    )
