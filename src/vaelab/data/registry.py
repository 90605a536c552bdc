"""Datasets by name, so that a run's ``config.json`` can say which one it trained on."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from vaelab.data.attributes import unknown_name_message
from vaelab.data.celeba import load_celeba
from vaelab.data.fashion_mnist import load_fashion_mnist
from vaelab.data.image_folder import load_image_folder
from vaelab.data.image_options import ImageOptions
from vaelab.data.image_set import ImageSet
from vaelab.errors import ConfigError


@dataclass(frozen=True)
class DatasetInfo:
    """A dataset's loader and the shape of its images.

    Attributes:
        name: its name in ``config.json`` and on the command line.
        channels: image channels (1 grey, 3 RGB).
        image_files: whether it is decoded from image files, and so takes
            :class:`~vaelab.data.image_options.ImageOptions` (size, crop, bad-image policy).
        fixed_size: the image size of a dataset that does not take options (Fashion-MNIST: 32), and
            only of such a dataset.
        description: one line for help texts.
        classes: the number of classes every image is labelled with (0: the images have no classes),
            what a conditional family (``cvae``) is conditioned on.
    """

    name: str
    loader: Callable[..., ImageSet]
    channels: int
    image_files: bool
    fixed_size: int | None
    description: str
    classes: int = 0

    def __post_init__(self) -> None:
        if self.image_files != (self.fixed_size is None):
            raise ValueError(f"dataset {self.name}: a fixed image size is for datasets not read from image files")


DATASETS: dict[str, DatasetInfo] = {
    info.name: info
    for info in (
        DatasetInfo(
            "fashion-mnist",
            load_fashion_mnist,
            1,
            False,
            32,
            "Fashion-MNIST, 28×28 grey padded to 32×32, 10 classes",
            classes=10,
        ),
        DatasetInfo(
            "celeba",
            load_celeba,
            3,
            True,
            None,
            "CelebA aligned faces, RGB, 40 binary attributes (bring your own copy: --data-dir)",
        ),
        DatasetInfo(
            "image-folder",
            load_image_folder,
            3,
            True,
            None,
            "any folder of images (--data-dir), RGB, optional attributes.csv",
        ),
    )
}


def dataset_info(name: str) -> DatasetInfo:
    """The dataset called ``name``; a :class:`ConfigError` listing the known ones otherwise."""
    try:
        return DATASETS[name]
    except KeyError:
        raise ConfigError(unknown_name_message("dataset", name, tuple(DATASETS))) from None


def load_dataset(
    name: str,
    split: str,
    data_dir: str | Path | None = None,
    limit: int | None = None,
    options: ImageOptions | None = None,
) -> ImageSet:
    """Split ``split`` (``"train"`` or ``"test"``) of dataset ``name``, first ``limit`` images.

    A plain int ``limit`` is a count the user asked for (``--limit-train``, ``--limit-test``): one
    larger than the split is a :class:`ConfigError` naming the split's size. An
    :class:`~vaelab.data.selection.AtMost` limit (a default count) shrinks to the split instead.

    ``options`` (size, crop, bad-image policy) apply to the datasets read from image files and
    default to :class:`ImageOptions`'s defaults (32 × 32, no crop, fail on a bad image).
    """
    info = dataset_info(name)
    if not info.image_files:
        return info.loader(split, data_dir=data_dir, limit=limit)
    return info.loader(split, data_dir=data_dir, limit=limit, options=options or ImageOptions())
