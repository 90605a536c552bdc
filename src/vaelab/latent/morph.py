"""Morphing: decode points on a path between two images' latent codes.

Both endpoints are encoded to their encoder means z0 and z1, and ``steps`` points from z0 to z1
(both included) are decoded:

* ``linear`` — z0·(1 − f) + z1·f for f evenly spaced in [0, 1] (the book's);
* ``slerp`` — spherical interpolation, sin((1 − f)Ω)/sin Ω · z0 + sin(fΩ)/sin Ω · z1 with Ω the
  angle between z0 and z1: the path keeps a norm between the endpoints' instead of cutting
  through the middle, where a high-dimensional Gaussian prior has little mass (White, 2016).
  Falls back to linear when z0 and z1 are (nearly) parallel.

The first and last images are therefore the endpoints' reconstructions. A conditional model
(``cvae``) encodes each endpoint with its own class and decodes each point of the path under the
class of the nearer endpoint (f < ½: the first image's, else the last's), so a path between two
classes switches class half-way while z, the style, moves smoothly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vaelab.choices import MORPH_METHODS as METHODS
from vaelab.data.image_set import ImageSet
from vaelab.errors import ConfigError
from vaelab.latent.codec import conditions_of, decode_points, encode_images
from vaelab.models.base import LatentModel

#: Below this sin Ω the endpoints are treated as parallel and slerp falls back to linear.
PARALLEL_SIN = 1e-6


def interpolate(z0: np.ndarray, z1: np.ndarray, steps: int, method: str = "linear") -> tuple[np.ndarray, np.ndarray]:
    """``steps`` fractions f from 0 to 1 and the points on the ``method`` path [steps, d] (float32).
    The first point is exactly z0 and the last exactly z1."""
    if method not in METHODS:
        raise ConfigError(f"unknown interpolation {method!r}; use one of: {', '.join(METHODS)}")
    if steps < 2:
        raise ConfigError(f"--steps must be at least 2 (both endpoints), got {steps}")
    z0, z1 = np.asarray(z0, np.float64), np.asarray(z1, np.float64)
    fractions = np.linspace(0.0, 1.0, steps)
    f = fractions[:, None]
    if method == "slerp":
        norms = np.linalg.norm(z0) * np.linalg.norm(z1)
        cos = np.clip(z0 @ z1 / norms, -1.0, 1.0) if norms > 0 else 1.0
        omega = float(np.arccos(cos))
        if np.sin(omega) > PARALLEL_SIN:
            points = (np.sin((1 - f) * omega) * z0 + np.sin(f * omega) * z1) / np.sin(omega)
            return fractions, points.astype(np.float32)
    return fractions, (z0 * (1 - f) + z1 * f).astype(np.float32)


@dataclass
class Morph:
    """Images decoded along the path between images ``start`` and ``end`` of a set.

    ``images`` float32 [steps, C, H, W] in [0, 1] decode ``points`` [steps, d] at ``fractions``;
    ``endpoints`` are the two original images (float32 [2, C, H, W]).
    """

    start: int
    end: int
    method: str
    fractions: np.ndarray
    points: np.ndarray
    images: np.ndarray
    endpoints: np.ndarray


def check_index(index: int, images: ImageSet, flag: str) -> None:
    """A :class:`ConfigError` unless ``index`` picks an image of ``images``."""
    if not 0 <= index < len(images):
        raise ConfigError(
            f"{flag} {index} is out of range: {images.name} has {len(images):,} images (0 to {len(images) - 1:,})"
        )


def morph(model: LatentModel, images: ImageSet, start: int, end: int, steps: int = 10, method: str = "linear") -> Morph:
    """Decode ``steps`` points from image ``start``'s latent code to image ``end``'s."""
    check_index(start, images, "--from")
    check_index(end, images, "--to")
    pair = images.images[[start, end]]
    classes = conditions_of(model, images)
    pair_labels = None if classes is None else classes[[start, end]]
    z = encode_images(model, pair, labels=pair_labels)
    fractions, points = interpolate(z[0], z[1], steps, method)
    path_labels = None if pair_labels is None else np.where(fractions < 0.5, pair_labels[0], pair_labels[1])
    decoded = decode_points(model, points, labels=path_labels)
    return Morph(start, end, method, fractions.astype(np.float32), points, decoded, pair.astype(np.float32) / 255.0)
