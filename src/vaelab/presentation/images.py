"""Drawing images and saving figures."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from vaelab.atomic import atomic_write  # noqa: E402

DPI = 120


def display_array(image: np.ndarray) -> np.ndarray:
    """[C, H, W] in [0, 1] → [H, W] (one channel) or [H, W, C] for imshow."""
    image = np.clip(image, 0.0, 1.0)
    return image[0] if image.shape[0] == 1 else np.transpose(image, (1, 2, 0))


def show_image(ax: Axes, image: np.ndarray, title: str | None = None, fontsize: float = 8) -> None:
    """Draw one image without ticks; grayscale images in black on white as in the book."""
    ax.imshow(display_array(image), cmap="gray_r" if image.shape[0] == 1 else None, vmin=0, vmax=1)
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=fontsize)


def mosaic(images: np.ndarray) -> np.ndarray:
    """Tile images [rows, cols, C, H, W] into one [C, rows·H, cols·W] image."""
    rows, cols, channels, height, width = images.shape
    return images.transpose(2, 0, 3, 1, 4).reshape(channels, rows * height, cols * width)


def save_figure(fig: Figure, path: Path) -> Path:
    """Save ``fig`` as a PNG atomically and close it."""
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=DPI, bbox_inches="tight"))
    plt.close(fig)
    return path
