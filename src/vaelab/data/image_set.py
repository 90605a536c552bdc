"""An in-memory image dataset: uint8 images, optional labels, class names, attributes and a name."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from vaelab.data.attributes import AttributeTable


@dataclass(frozen=True, eq=False)
class ImageSet:
    """Images as uint8 ``[N, C, H, W]`` with optional int64 labels ``[N]`` (one class per image)
    and optional binary ``attributes`` (any number per image, e.g. CelebA's), one row per image.

    Images stay uint8 in memory (a quarter of float32's size); convert batches with
    :func:`vaelab.data.preprocess.to_unit_float` on the training device. Construction checks
    shapes and dtypes and raises TypeError or ValueError for arrays that break them: those are
    programming errors, not problems with a user's files.
    """

    images: np.ndarray
    labels: np.ndarray | None
    class_names: tuple[str, ...]
    name: str
    attributes: AttributeTable | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "class_names", tuple(self.class_names))
        _check_images(self.images, self.name)
        if self.labels is not None:
            _check_labels(self.labels, len(self.images), len(self.class_names), self.name)
        if self.attributes is not None and len(self.attributes) != len(self.images):
            raise ValueError(
                f"ImageSet {self.name!r}: {len(self.attributes)} attribute rows for {len(self.images)} images"
            )

    def __len__(self) -> int:
        return int(self.images.shape[0])

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """The shape ``(C, H, W)`` of one image."""
        channels, height, width = self.images.shape[1:]
        return int(channels), int(height), int(width)

    def head(self, n: int | None) -> ImageSet:
        """The first ``n`` items (all of them when ``n`` is None or at least ``len(self)``).

        The arrays are views of this set's arrays, not copies.
        """
        if n is None or n >= len(self):
            return self
        if n < 0:
            raise ValueError(f"head() needs n >= 0, got {n}")
        labels = None if self.labels is None else self.labels[:n]
        attributes = None if self.attributes is None else self.attributes.head(n)
        return dataclasses.replace(self, images=self.images[:n], labels=labels, attributes=attributes)


def _check_images(images: object, name: str) -> None:
    """Raise unless ``images`` is a uint8 array ``[N, C, H, W]``."""
    if not isinstance(images, np.ndarray):
        raise TypeError(f"ImageSet {name!r}: images must be a numpy array, got {type(images).__name__}")
    if images.dtype != np.uint8:
        raise TypeError(f"ImageSet {name!r}: images must be uint8, got {images.dtype}")
    if images.ndim != 4:
        raise ValueError(f"ImageSet {name!r}: images must be [N, C, H, W], got shape {images.shape}")


def _check_labels(labels: object, count: int, num_classes: int, name: str) -> None:
    """Raise unless ``labels`` is int64 ``[count]`` with values in ``[0, num_classes)``."""
    if not isinstance(labels, np.ndarray):
        raise TypeError(f"ImageSet {name!r}: labels must be a numpy array, got {type(labels).__name__}")
    if labels.dtype != np.int64:
        raise TypeError(f"ImageSet {name!r}: labels must be int64, got {labels.dtype}")
    if labels.shape != (count,):
        raise ValueError(f"ImageSet {name!r}: labels must have shape ({count},), got {labels.shape}")
    if num_classes and count and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(
            f"ImageSet {name!r}: labels must lie in [0, {num_classes}), got {labels.min()}..{labels.max()}"
        )
