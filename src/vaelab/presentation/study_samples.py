"""The study's samples: a strip of a run's first samples per sampler, kept in the run's ``figures/``,
and one figure per family that shows its strips, a row per setting and sampler.

A strip is a PNG of the first :data:`STRIP_COUNT` decoded samples side by side (the pixels themselves:
white is 1), written as the study measures the run (``figures/study-samples-<sampler>.png``), so that
the family figures can be drawn again without drawing the samples again. It is read back guarded
(:func:`~vaelab.presentation.report_figures.read_png`: a regular PNG file within a size cap) and
checked to be one row of images of the run's size before its pixels are decoded.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure
from PIL import Image

from vaelab.presentation.images import display_array, save_png, tile
from vaelab.presentation.report_figures import read_png
from vaelab.reading import FileProblem

#: Samples in a strip.
STRIP_COUNT = 10


def strip_name(sampler: str) -> str:
    """The strip's file name in a run's ``figures/``."""
    return f"study-samples-{sampler}.png"


def save_sample_strip(path: Path, images: np.ndarray) -> Path:
    """The first :data:`STRIP_COUNT` of ``images`` [N, C, H, W] in [0, 1], side by side, as a PNG."""
    return save_png(tile(images[:STRIP_COUNT], STRIP_COUNT), path)


def read_sample_strip(path: Path, channels: int, size: int) -> np.ndarray:
    """The images [n, C, H, W] in [0, 1] of a strip of ``channels``-channel ``size`` × ``size`` images; a
    :class:`~vaelab.reading.FileProblem` when the file is not such a strip, FileNotFoundError when it is
    missing."""
    data = read_png(path)
    try:
        with Image.open(io.BytesIO(data)) as picture:
            width, height = picture.size
            mode = "L" if channels == 1 else "RGB"
            if picture.mode != mode or height != size or width % size or not 0 < width // size <= STRIP_COUNT:
                raise FileProblem(f"is not a strip of {size}×{size} {mode} samples ({picture.mode}, {width}×{height})")
            pixels = np.asarray(picture.convert(mode), dtype=np.float32) / 255.0
    except (OSError, ValueError) as exc:
        raise FileProblem(f"cannot be read as a PNG image ({exc})") from None
    if channels == 1:
        pixels = pixels[:, :, None]
    count = width // size
    return pixels.reshape(size, count, size, channels).transpose(1, 3, 0, 2)


def plot_family_samples(title: str, strips: Sequence[tuple[str, np.ndarray]]) -> Figure:
    """One row per ``(label, images)`` of ``strips``, the images side by side, the label on the left."""
    rows = max(len(strips), 1)
    figure, axes = plt.subplots(rows, 1, figsize=(9.5, 0.95 * rows + 0.6), squeeze=False)
    for ax, (label, images) in zip(axes[:, 0], strips, strict=False):
        strip = tile(images, STRIP_COUNT)
        channels = strip.shape[0]
        ax.imshow(display_array(strip), cmap="gray_r" if channels == 1 else None, vmin=0, vmax=1)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_ylabel(label, rotation=0, ha="right", va="center", fontsize=9)
    for ax in axes[len(strips) :, 0]:
        ax.axis("off")
    figure.suptitle(title, fontsize=11)
    figure.tight_layout()
    return figure
