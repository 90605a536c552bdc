"""Drawing images and saving figures, and images as PNG bytes.

No module of vaelab chooses matplotlib's backend: a notebook shows the figures of the ``plot_*``
functions inline, and the command line draws off screen (:func:`vaelab.cli.app.draw_off_screen`).
"""

from __future__ import annotations

import io
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from PIL import Image

from vaelab.atomic import atomic_write

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


def tile(images: np.ndarray, columns: int) -> np.ndarray:
    """Images [N, C, H, W] in rows of ``columns`` (fewer when N is smaller), left to right and top to
    bottom, as one [C, rows·H, columns·W] image (:func:`mosaic`); the last row's empty cells are 0."""
    count, channels, height, width = images.shape
    if count < 1 or columns < 1:
        raise ValueError(f"tile() needs at least one image and one column, got {count} and {columns}")
    columns = min(columns, count)
    rows = -(-count // columns)
    cells = np.zeros((rows * columns, channels, height, width), images.dtype)
    cells[:count] = images
    return mosaic(cells.reshape(rows, columns, channels, height, width))


def to_uint8(image: np.ndarray) -> np.ndarray:
    """[C, H, W] in [0, 1] → uint8 [H, W] (one channel) or [H, W, C], rounded to the nearest of 0…255.

    Values outside [0, 1] are clipped. The pixels are the image's own intensities (white = 1), not
    the black-on-white rendering of :func:`show_image`.
    """
    return np.rint(display_array(np.asarray(image, np.float32)) * 255.0).astype(np.uint8)


def png_bytes(image: np.ndarray, scale: int = 1) -> bytes:
    """An image [C, H, W] in [0, 1] encoded as PNG (grey or RGB), each pixel repeated as a
    ``scale`` × ``scale`` block (nearest neighbour, so pixels stay sharp)."""
    if scale < 1:
        raise ValueError(f"png_bytes() needs scale >= 1, got {scale}")
    picture = Image.fromarray(to_uint8(image))
    if scale > 1:
        picture = picture.resize((picture.width * scale, picture.height * scale), Image.Resampling.NEAREST)
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return buffer.getvalue()


def save_png(image: np.ndarray, path: Path, scale: int = 1) -> Path:
    """Write an image [C, H, W] in [0, 1] as a PNG (:func:`png_bytes`) atomically; returns ``path``."""
    data = png_bytes(image, scale)
    atomic_write(path, lambda tmp: tmp.write_bytes(data))
    return path


def save_figure(fig: Figure, path: Path) -> Path:
    """Save ``fig`` as a PNG atomically and close it."""
    data = figure_png(fig)
    atomic_write(path, lambda tmp: tmp.write_bytes(data))
    return path


def figure_png(fig: Figure) -> bytes:
    """``fig`` as PNG bytes (as :func:`save_figure` writes it), and close it."""
    buffer = io.BytesIO()
    try:
        fig.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight")
    finally:
        plt.close(fig)
    return buffer.getvalue()
