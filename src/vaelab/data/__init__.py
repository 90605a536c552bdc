"""The data layer: dataset files (IDX, Fashion-MNIST, CelebA, folders of images), where they live,
their attributes and splits, the decoded-image cache, and image preprocessing.

Imports only numpy, Pillow, the standard library and vaelab's shared helpers (:mod:`vaelab.errors`,
:mod:`vaelab.atomic`, :mod:`vaelab.progress`); torch is
imported only when a tensor is converted (:func:`to_unit_float`).
"""

from vaelab.data.attributes import AttributeTable
from vaelab.data.celeba import find_celeba, load_celeba
from vaelab.data.fashion_mnist import (
    CLASS_NAMES,
    FILES,
    OFFICIAL_URL,
    FileReport,
    check_all,
    check_file,
    find_file,
    load_fashion_mnist,
)
from vaelab.data.image_folder import load_image_folder
from vaelab.data.image_options import ImageOptions
from vaelab.data.image_set import ImageSet
from vaelab.data.preprocess import pad_images, to_unit_float

__all__ = [
    "CLASS_NAMES",
    "FILES",
    "OFFICIAL_URL",
    "AttributeTable",
    "FileReport",
    "ImageOptions",
    "ImageSet",
    "check_all",
    "check_file",
    "find_celeba",
    "find_file",
    "load_celeba",
    "load_fashion_mnist",
    "load_image_folder",
    "pad_images",
    "to_unit_float",
]
