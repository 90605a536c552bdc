"""Figure: corrupted test images, their denoised versions, and the clean originals."""

from __future__ import annotations

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from vaelab.latent.denoising import Denoised
from vaelab.presentation.images import show_image


def plot_denoising(result: Denoised, title: str = "Denoising") -> Figure:
    """Three rows (noisy, denoised, clean), with the test-set PSNRs in the title."""
    count = len(result.clean)
    fig, axes = plt.subplots(3, count, figsize=(1.2 * count + 1.2, 4.4), squeeze=False)
    for row, (images, name) in enumerate(
        [(result.noisy, "noisy"), (result.denoised, "denoised"), (result.clean, "clean")]
    ):
        for i in range(count):
            show_image(axes[row, i], images[i])
        axes[row, 0].set_ylabel(name, fontsize=9)
    fig.suptitle(
        f"{title}: {result.corruption.describe()}; PSNR over {result.count:,} test images "
        f"{result.psnr_noisy:.2f} dB → {result.psnr_denoised:.2f} dB ({result.gain:+.2f} dB)",
        fontsize=10,
    )
    return fig
