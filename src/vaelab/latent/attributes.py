"""Attribute vectors: the direction in latent space from images without a feature to images with it.

The vector of attribute A is the mean encoder mean μ(x) of the images that have A minus the mean
over the images that do not (the book's "smile vector"), computed over the first ``count``
images of a set:

* with binary attributes (CelebA's 40, an image folder's ``attributes.csv``), "without" is every
  image lacking A, or with ``against=B`` the images that have B but not A (e.g. Blond_Hair
  against Black_Hair);
* with classes (Fashion-MNIST), A is a class name and "without" is every other class, or with
  ``against=B`` the images of class B (e.g. Sneaker against Sandal).

It is returned normalised to unit length (the book's code leaves it un-normalised, so its
factors −4…4 mean different distances for different attributes); the difference's norm before
normalising is kept. How settled the estimate is shows in its convergence: at growing numbers
of scanned images, the distance from the difference so far to the final difference, and their
cosine similarity.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from vaelab.data.attributes import unknown_name_message
from vaelab.data.image_set import ImageSet
from vaelab.errors import ConfigError
from vaelab.latent.codec import conditions_of, encode_images
from vaelab.models.base import LatentModel

#: Images scanned when no count is given.
DEFAULT_COUNT = 20000

#: Points on the convergence curve (geometrically spaced numbers of scanned images).
CONVERGENCE_POINTS = 60


@dataclass(frozen=True)
class AttributeGroups:
    """Which images count as having the attribute and which as the comparison group."""

    attribute: str
    against: str
    """What the attribute is compared with, e.g. ``not Smiling`` or ``Sandal``."""
    has: np.ndarray
    comparison: np.ndarray


@dataclass
class Convergence:
    """The estimate as more images are scanned: at ``images[k]`` scanned images, of which
    ``with_count[k]`` have the attribute and ``without_count[k]`` are in the comparison group,
    the difference of means is ``distance[k]`` from the final one, at cosine ``cosine[k]``."""

    images: np.ndarray
    with_count: np.ndarray
    without_count: np.ndarray
    distance: np.ndarray
    cosine: np.ndarray


@dataclass
class AttributeVector:
    """A unit attribute vector, the difference it came from, and how it was estimated."""

    attribute: str
    against: str
    vector: np.ndarray
    difference: np.ndarray
    count_with: int
    count_without: int
    images_scanned: int
    source: str
    convergence: Convergence

    @property
    def norm(self) -> float:
        """‖mean(with) − mean(without)‖, before normalising."""
        return float(np.linalg.norm(self.difference))

    def describe(self) -> str:
        """E.g. ``Smiling − not Smiling``."""
        return f"{self.attribute} − {self.against}"

    def metadata(self) -> dict[str, Any]:
        """JSON-ready facts about the vector (the arrays are saved separately)."""
        return {
            "attribute": self.attribute,
            "against": self.against,
            "images_scanned": self.images_scanned,
            "count_with": self.count_with,
            "count_without": self.count_without,
            "norm_before_normalising": self.norm,
            "latent_dim": int(self.vector.shape[0]),
            "source": self.source,
            "definition": "mean encoder mean of images with the attribute minus that of the comparison group, "
            "divided by its norm",
            "distance_to_final_at_half_the_images": _at_half(self.convergence),
        }


def attribute_groups(images: ImageSet, attribute: str, against: str | None = None) -> AttributeGroups:
    """The masks of images with ``attribute`` and of the comparison group (see the module docstring)."""
    if images.attributes is not None:
        table = images.attributes
        has = table.column(attribute)
        if against is None:
            return AttributeGroups(attribute, f"not {attribute}", has, ~has)
        other = table.column(against)
        return AttributeGroups(attribute, against, has & ~other, other & ~has)
    if images.labels is not None:
        names = images.class_names
        index = _class_index(names, attribute)
        has = images.labels == index
        if against is None:
            return AttributeGroups(attribute, "every other class", has, ~has)
        other = images.labels == _class_index(names, against)
        return AttributeGroups(attribute, against, has, other)
    raise ConfigError(
        f"{images.name} has neither attributes nor classes; an attribute vector needs labelled images "
        "(CelebA's attribute file, an image folder's attributes.csv, or Fashion-MNIST's classes)"
    )


def _class_index(names: tuple[str, ...], name: str) -> int:
    try:
        return names.index(name)
    except ValueError:
        raise ConfigError(unknown_name_message("class", name, names)) from None


def attribute_vector(
    model: LatentModel,
    images: ImageSet,
    attribute: str,
    against: str | None = None,
    count: int | None = DEFAULT_COUNT,
) -> AttributeVector:
    """The unit attribute vector of ``attribute`` over the first ``count`` images (all when None),
    from the encoder means of ``model`` (a conditional model's, each image encoded with its class), with
    its convergence."""
    if against is not None and against == attribute:
        raise ConfigError(f"--against must differ from --attribute (both {attribute!r})")
    subset = images.head(count)
    groups = attribute_groups(subset, attribute, against)
    for mask, what in ((groups.has, attribute), (groups.comparison, groups.against)):
        if not mask.any():
            raise ConfigError(
                f"none of the first {len(subset):,} images of {images.name} is in the group {what!r}; "
                "pass a larger --count, or another attribute"
            )
    z = encode_images(model, subset.images, labels=conditions_of(model, subset)).astype(np.float64)
    convergence = _convergence(z, groups.has, groups.comparison)
    difference = z[groups.has].mean(axis=0) - z[groups.comparison].mean(axis=0)
    norm = np.linalg.norm(difference)
    if not np.isfinite(norm):
        raise ConfigError(
            f"the model encodes some of the first {len(subset):,} images of {images.name} as NaN or infinity, "
            f"so {attribute} gives no direction; check those images, or train the run again"
        )
    if norm == 0:
        raise ConfigError(f"the two groups have the same mean latent point; {attribute} gives no direction")
    return AttributeVector(
        attribute=attribute,
        against=groups.against,
        vector=(difference / norm).astype(np.float32),
        difference=difference.astype(np.float32),
        count_with=int(groups.has.sum()),
        count_without=int(groups.comparison.sum()),
        images_scanned=len(subset),
        source=images.name,
        convergence=convergence,
    )


def convergence_checkpoints(total: int, points: int = CONVERGENCE_POINTS) -> np.ndarray:
    """Geometrically spaced numbers of images from 1 to ``total`` (both included, no repeats)."""
    return np.unique(np.geomspace(1, total, num=min(points, total)).round().astype(np.int64))


def _convergence(z: np.ndarray, has: np.ndarray, comparison: np.ndarray) -> Convergence:
    """Running means of both groups at each checkpoint, compared with the final difference."""
    checkpoints = convergence_checkpoints(len(z))
    sums = np.zeros((2, z.shape[1]))
    counts = np.zeros(2, dtype=np.int64)
    steps: list[np.ndarray] = []
    with_counts, without_counts = [], []
    start = 0
    for end in checkpoints:
        block_has, block_other = has[start:end], comparison[start:end]
        sums[0] += z[start:end][block_has].sum(axis=0)
        sums[1] += z[start:end][block_other].sum(axis=0)
        counts += (int(block_has.sum()), int(block_other.sum()))
        start = end
        with_counts.append(counts[0])
        without_counts.append(counts[1])
        if counts.min() > 0:
            steps.append(sums[0] / counts[0] - sums[1] / counts[1])
        else:
            steps.append(np.full(z.shape[1], np.nan))
    differences = np.array(steps)
    final = differences[-1]
    distance = np.linalg.norm(differences - final, axis=1)
    norms = np.linalg.norm(differences, axis=1) * np.linalg.norm(final)
    with np.errstate(invalid="ignore", divide="ignore"):
        cosine = differences @ final / norms
    return Convergence(checkpoints, np.array(with_counts), np.array(without_counts), distance, cosine)


def _at_half(convergence: Convergence) -> float | None:
    """The distance to the final difference at about half the images (a one-number summary)."""
    half = convergence.images[-1] / 2
    index = int(np.argmin(np.abs(convergence.images - half)))
    value = convergence.distance[index]
    return None if np.isnan(value) else float(value)
