"""Any folder of images as a dataset (``--dataset image-folder --data-dir FOLDER``).

Every image file in the folder and its subfolders (``.jpg``, ``.png``, ...; hidden files and
folders left out) is an item, named by its path relative to the folder. Optional files in the
folder itself:

* ``attributes.csv`` — binary attributes: a header (the file-name column, then attribute names)
  and one row per image, each value 1 (has it) or 0 / -1 (has not); every image needs a row;
* ``list_eval_partition.txt`` or ``.csv`` — the train/test split as in CelebA (0 train, 2 test);
  without it, about 10 % of the images are held out by a hash of their names
  (:mod:`vaelab.data.partition`).

The images are decoded once into a cache (:mod:`vaelab.data.image_cache`).
"""

from __future__ import annotations

from pathlib import Path

from vaelab.data.attributes import AttributeTable, read_attributes
from vaelab.data.image_cache import Warn, load_images, warn_on_stderr
from vaelab.data.image_files import IMAGE_SUFFIXES, ImageFile, list_images
from vaelab.data.image_options import ImageOptions
from vaelab.data.image_set import ImageSet
from vaelab.data.partition import check_split, find_partition_file, split_indices
from vaelab.data.selection import limited_count
from vaelab.errors import ConfigError, DataError

DATASET = "image-folder"
ATTRIBUTES_FILE = "attributes.csv"


def load_image_folder(
    split: str,
    data_dir: str | Path | None = None,
    limit: int | None = None,
    options: ImageOptions | None = None,
    *,
    progress: bool = True,
    warn: Warn = warn_on_stderr,
) -> ImageSet:
    """Split ``split`` of the images in ``data_dir`` as RGB uint8 ``[N, 3, S, S]`` (first ``limit``)."""
    check_split(split)
    if data_dir is None:
        raise ConfigError("--dataset image-folder needs --data-dir FOLDER, the folder that holds the images")
    folder = existing_folder(Path(data_dir).expanduser(), "--data-dir")
    files = list_images(folder, recursive=True)
    if not files:
        raise DataError(
            f"no images ({', '.join(IMAGE_SUFFIXES)}) in {folder} or its subfolders; pass the folder that holds them"
        )
    attributes_path = folder / ATTRIBUTES_FILE
    attributes = read_attributes(attributes_path) if attributes_path.is_file() else None
    return build_image_set(
        files,
        split,
        limit,
        options or ImageOptions(),
        name=f"{DATASET}-{split}",
        attributes=attributes,
        attributes_source=attributes_path,
        partition_file=find_partition_file(folder),
        progress=progress,
        warn=warn,
    )


def existing_folder(path: Path, what: str) -> Path:
    """``path`` if it is a folder; a DataError saying what it is otherwise."""
    if not path.exists():
        raise DataError(f"{what} {path} does not exist; pass the folder that holds the images")
    if not path.is_dir():
        raise DataError(f"{what} {path} is a file, not a folder; pass the folder that holds the images")
    return path


def build_image_set(
    files: list[ImageFile],
    split: str,
    limit: int | None,
    options: ImageOptions,
    *,
    name: str,
    attributes: AttributeTable | None,
    attributes_source: Path,
    partition_file: Path | None,
    progress: bool,
    warn: Warn,
) -> ImageSet:
    """The ImageSet of ``split`` of ``files``: split, first ``limit`` kept (see
    :func:`~vaelab.data.selection.limited_count`), decoded (cached), with each image's attribute
    row. Unreadable files follow ``options.on_bad_image``."""
    names = [f.name for f in files]
    table = attributes.rows_for(names, attributes_source) if attributes is not None else None
    chosen = split_indices(names, split, partition_file)
    if len(chosen) == 0:
        raise DataError(
            f"the {split} split of {name.rsplit('-', 1)[0]} is empty ({len(files)} images in all); "
            "add images, or give a list_eval_partition file that assigns some to it"
        )
    chosen = chosen[: limited_count(limit, len(chosen), split, name.rsplit("-", 1)[0])]
    decoded = load_images([files[i] for i in chosen], options, name, progress=progress, warn=warn)
    if len(decoded.kept) == 0:
        raise DataError(f"none of the {len(chosen)} images of {name} could be read; check the files")
    rows = chosen[decoded.kept]
    return ImageSet(
        images=decoded.images,
        labels=None,
        class_names=(),
        name=name,
        attributes=None if table is None else table.take(rows),
    )
