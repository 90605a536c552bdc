"""CelebA (aligned and cropped faces) from the official release or its Kaggle copy.

vaelab does not download CelebA (its licence asks users to fetch it themselves). Point
``--data-dir`` (or ``VAELAB_DATA``) at the folder that holds it, in either layout:

* official (Google Drive / the CelebA site)::

      DIR/img_align_celeba/000001.jpg ... 202599.jpg
      DIR/list_attr_celeba.txt            # count line, names line, "000001.jpg -1 1 ..." lines
      DIR/list_eval_partition.txt         # optional: "000001.jpg 0" lines

* Kaggle (``jessicali9530/celeba-dataset``)::

      DIR/img_align_celeba/img_align_celeba/000001.jpg ...
      DIR/list_attr_celeba.csv            # image_id,5_o_Clock_Shadow,... with 1 / -1
      DIR/list_eval_partition.csv         # optional: image_id,partition

The Google Drive folder's own structure, ``Img/img_align_celeba/``, ``Anno/list_attr_celeba.txt``
and ``Eval/list_eval_partition.txt`` (after unzipping ``Img/img_align_celeba.zip``), is accepted
too. ``DIR`` may also be a parent folder with a ``celeba/`` subfolder. Both layouts give the same
images and the same :class:`~vaelab.data.attributes.AttributeTable`. The split follows the
partition file when there is one (0 train, 2 test; the 19,867 validation images are in neither),
otherwise vaelab's 10 % hold-out (:mod:`vaelab.data.partition`). Images are decoded once into a
cache (:mod:`vaelab.data.image_cache`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from vaelab.data.attributes import read_attributes
from vaelab.data.image_cache import Warn, warn_on_stderr
from vaelab.data.image_files import list_images
from vaelab.data.image_folder import build_image_set
from vaelab.data.image_options import ImageOptions
from vaelab.data.image_set import ImageSet
from vaelab.data.locations import describe_dirs, search_dirs
from vaelab.data.partition import check_split, find_partition_file
from vaelab.errors import DataError

DATASET = "celeba"
IMAGES_DIR = "img_align_celeba"
ATTRIBUTE_FILES = ("list_attr_celeba.txt", "list_attr_celeba.csv")
#: Subfolders of the official Google Drive folder.
DRIVE_FOLDERS = {"images": "Img", "attributes": "Anno", "partition": "Eval"}

GET_CELEBA = (
    "download CelebA's img_align_celeba and list_attr_celeba.txt (official) or the Kaggle copy yourself, "
    'and pass the folder that holds them as --data-dir (see the README, "Faces: CelebA")'
)


@dataclass(frozen=True)
class CelebaFiles:
    """Where one copy of CelebA is: its folder, the images, the attribute and partition files."""

    root: Path
    images: Path
    attributes: Path
    partition: Path | None

    @property
    def layout(self) -> str:
        """``official`` (flat image folder) or ``kaggle`` (nested image folder)."""
        return "kaggle" if self.images.parent.name == IMAGES_DIR else "official"


def find_celeba(data_dir: str | Path | None = None) -> CelebaFiles:
    """The first copy of CelebA along the search folders (``--data-dir``, ``VAELAB_DATA``, the
    user cache), each also with a ``celeba/`` subfolder; a DataError saying what is missing."""
    dirs = search_dirs(DATASET, data_dir)
    for _, directory in dirs:
        for root in (directory, directory / DATASET):
            images = _images_folder(root)
            if images is not None:
                return CelebaFiles(root, images, _attribute_file(root, images), _partition_file(root))
    raise DataError(
        f"CelebA not found (looked for {IMAGES_DIR}/ beside list_attr_celeba.txt or .csv, also in a celeba/ "
        f"subfolder, in: {describe_dirs(dirs)}); {GET_CELEBA}"
    )


def _images_folder(root: Path) -> Path | None:
    """``[Img/]img_align_celeba/img_align_celeba`` (Kaggle) or ``[Img/]img_align_celeba`` under
    ``root``, if there."""
    for parent in (root, root / DRIVE_FOLDERS["images"]):
        flat = parent / IMAGES_DIR
        if flat.is_dir():
            nested = flat / IMAGES_DIR
            return nested if nested.is_dir() else flat
    return None


def _attribute_file(root: Path, images: Path) -> Path:
    """The attribute file in ``root`` or ``root/Anno``, TXT first; a DataError when there is none."""
    candidates = [folder / name for folder in (root, root / DRIVE_FOLDERS["attributes"]) for name in ATTRIBUTE_FILES]
    for path in candidates:
        if path.is_file():
            return path
    raise DataError(
        f"found CelebA images in {images} but no attribute file (looked for list_attr_celeba.txt and .csv in "
        f"{root} and {root / DRIVE_FOLDERS['attributes']}); put CelebA's list_attr_celeba.txt (official) or "
        "list_attr_celeba.csv (Kaggle) there"
    )


def _partition_file(root: Path) -> Path | None:
    return find_partition_file(root) or find_partition_file(root / DRIVE_FOLDERS["partition"])


def load_celeba(
    split: str,
    data_dir: str | Path | None = None,
    limit: int | None = None,
    options: ImageOptions | None = None,
    *,
    progress: bool = True,
    warn: Warn = warn_on_stderr,
) -> ImageSet:
    """Split ``split`` of CelebA as RGB uint8 ``[N, 3, S, S]`` with its 40 attributes (first ``limit``)."""
    check_split(split)
    files = find_celeba(data_dir)
    images = list_images(files.images)
    if not images:
        raise DataError(f"{files.images} holds no images; {GET_CELEBA}")
    return build_image_set(
        images,
        split,
        limit,
        options or ImageOptions(),
        name=f"{DATASET}-{split}",
        attributes=read_attributes(files.attributes),
        attributes_source=files.attributes,
        partition_file=files.partition,
        progress=progress,
        warn=warn,
    )
