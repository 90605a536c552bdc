"""The data layer: dataset files (IDX, Fashion-MNIST), where they live, and image preprocessing.

Imports only numpy, the standard library, tqdm and :mod:`vaelab.errors`; torch is imported only
when a tensor is converted (:func:`to_unit_float`).
"""

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
from vaelab.data.image_set import ImageSet
from vaelab.data.preprocess import pad_images, to_unit_float

__all__ = [
    "CLASS_NAMES",
    "FILES",
    "OFFICIAL_URL",
    "FileReport",
    "ImageSet",
    "check_all",
    "check_file",
    "find_file",
    "load_fashion_mnist",
    "pad_images",
    "to_unit_float",
]
