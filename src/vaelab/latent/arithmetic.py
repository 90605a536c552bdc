"""Latent arithmetic: move images along an attribute vector and decode them.

Each image x is encoded to its encoder mean z, and z + f·v is decoded for every factor f, where
v is a unit attribute vector (:mod:`vaelab.latent.attributes`). With f = 0 the result is the
plain reconstruction; positive factors add the attribute, negative ones take it away. Because v
has unit length, a factor is a distance in latent space (for a VAE, in units of the prior's
standard deviation).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from vaelab.errors import ConfigError
from vaelab.latent.codec import decode_points, encode_images
from vaelab.limits import MAX_ABS_FACTOR, MAX_FACTORS
from vaelab.models.base import LatentModel
from vaelab.numbers import DECIMAL

#: The book's factors: −4 … 4 in steps of 1.
DEFAULT_FACTORS = "-4:4"


def parse_factors(text: str) -> tuple[float, ...]:
    """Factors from ``"A:B"`` (A to B in steps of 1), ``"A:B:STEP"`` or a list ``"a,b,c"``.

    Each number is a plain ASCII decimal (:data:`vaelab.numbers.DECIMAL`: no digit separators,
    other scripts' digits, nan or inf); ASCII spaces may surround a list's commas, nothing else.
    A :class:`ConfigError` (its message starts with ``--factors '<text>'``) for anything else, for
    an empty range or a zero step, for more than :data:`~vaelab.limits.MAX_FACTORS` factors and for
    a factor or bound beyond ±:data:`~vaelab.limits.MAX_ABS_FACTOR`.
    """
    if re.fullmatch(rf"{DECIMAL}(?: *, *{DECIMAL})*", text):
        factors = tuple(float(part) for part in text.split(","))
        _check_magnitudes(text, factors)
        _check_count(text, len(factors))
        return factors
    match = re.fullmatch(rf"({DECIMAL}):({DECIMAL})(?::({DECIMAL}))?", text)
    if not match:
        raise _factors_error(text, "is not START:STOP, START:STOP:STEP or a list like -2,0,2")
    start, stop = float(match[1]), float(match[2])
    step = float(match[3]) if match[3] else 1.0
    _check_magnitudes(text, (start, stop))
    if not (0 < step < float("inf")) or stop < start:
        raise _factors_error(text, "needs START ≤ STOP and a positive, finite STEP")
    spans = (stop - start) / step  # huge, or inf, for a step too small to count with
    if not spans <= 1e6:
        raise _factors_error(text, f"gives more than {MAX_FACTORS} factors; use a larger STEP")
    count = int(np.floor(spans + 1e-9)) + 1
    _check_count(text, count)
    return tuple(float(start + i * step) for i in range(count))


def check_factors(factors: tuple[float, ...]) -> tuple[float, ...]:
    """``factors`` given as numbers (not text), held to :func:`parse_factors`'s rules: 1 to
    :data:`~vaelab.limits.MAX_FACTORS` finite numbers within ±:data:`~vaelab.limits.MAX_ABS_FACTOR`."""
    text = ",".join(f"{f:g}" if isinstance(f, (int, float)) else repr(f) for f in factors)
    if not factors or not all(isinstance(f, (int, float)) and not isinstance(f, bool) for f in factors):
        raise _factors_error(text, "must be one or more numbers")
    _check_magnitudes(text, tuple(float(f) for f in factors))
    _check_count(text, len(factors))
    return tuple(float(f) for f in factors)


def _factors_error(text: str, problem: str) -> ConfigError:
    return ConfigError(f"--factors {text!r} {problem}")


def _check_magnitudes(text: str, values: tuple[float, ...]) -> None:
    if not all(abs(v) <= MAX_ABS_FACTOR for v in values):  # also false for inf and nan
        bound = f"{MAX_ABS_FACTOR:g}"
        raise _factors_error(text, f"goes beyond ±{bound}; use factors from -{bound} to {bound}")


def _check_count(text: str, count: int) -> None:
    if count > MAX_FACTORS:
        raise _factors_error(text, f"gives {count:,} factors; use at most {MAX_FACTORS}")


@dataclass
class Arithmetic:
    """``images[i, k]`` decodes z_i + ``factors[k]``·``vector`` (float32 [n, K, C, H, W] in [0, 1]);
    ``originals`` are the images themselves (float32 [n, C, H, W])."""

    originals: np.ndarray
    factors: np.ndarray
    vector: np.ndarray
    latent: np.ndarray
    images: np.ndarray


def add_vector(
    model: LatentModel,
    images: np.ndarray,
    vector: np.ndarray,
    factors: tuple[float, ...],
    labels: np.ndarray | None = None,
) -> Arithmetic:
    """Decode z + f·``vector`` for each uint8 image [n, C, H, W] and each factor f. A conditional
    model takes each image's class in ``labels`` (:func:`~vaelab.latent.codec.conditions_of`): the
    image is encoded and every point of its row decoded under it, so the vector moves the style
    that z holds, never the class."""
    vector = np.asarray(vector, dtype=np.float32)
    if vector.shape != (model.latent_dim,):
        raise ConfigError(
            f"the attribute vector has {vector.shape[0]} dimensions but the model's latent space {model.latent_dim}"
        )
    factors_array = np.asarray(factors, dtype=np.float32)
    z = encode_images(model, images, labels=labels)
    points = z[:, None, :] + factors_array[None, :, None] * vector[None, None, :]
    row_labels = None if labels is None else np.repeat(np.asarray(labels, np.int64), len(factors_array))
    decoded = decode_points(model, points.reshape(-1, z.shape[1]), labels=row_labels)
    originals = images.astype(np.float32) / 255.0
    return Arithmetic(
        originals, factors_array, vector, points, decoded.reshape(len(images), len(factors), *decoded.shape[1:])
    )
