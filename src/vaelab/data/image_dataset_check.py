"""Checking an image-file dataset (CelebA, a folder of images) without decoding it.

This is what ``vaelab data --dataset celeba`` (or ``image-folder``) prints, a row per item:

* ``images`` — the folder found, its layout and the number of image files;
* ``attributes`` — the attribute file: whether it parses, how many attributes it has, and whether
  every image has a row (CelebA needs one; a folder of images may go without);
* ``partition`` — how the images split into train and test: the ``list_eval_partition`` file
  (every image must be listed) or, without one, vaelab's 10 % hold-out;
* ``cache train`` / ``cache test`` — whether each split is already decoded at the requested size
  in the decoded-image cache; a first training run decodes a split once (minutes for CelebA).

Every problem that would stop ``vaelab train`` before it decodes anything is reported here as a
``bad`` row with the same message, so a user can fix the files first.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from vaelab.data.attributes import read_attributes
from vaelab.data.celeba import find_celeba
from vaelab.data.image_cache import cache_entry
from vaelab.data.image_files import ImageFile, list_images
from vaelab.data.image_folder import ATTRIBUTES_FILE, existing_folder
from vaelab.data.image_options import ImageOptions
from vaelab.data.partition import find_partition_file, split_indices
from vaelab.errors import ConfigError, DataError

#: What a row's status means: ``ok`` checked and fine; ``bad`` a problem that stops training;
#: ``none`` an optional file that is absent; ``todo`` work a first run will do (decoding).
STATUSES = ("ok", "bad", "none", "todo")
SPLITS = ("train", "test")


@dataclass(frozen=True)
class Check:
    """One row of a dataset check: what was checked, its status (see :data:`STATUSES`), the file
    or folder it is about (``None`` when there is none) and a one-line detail."""

    item: str
    status: str
    path: Path | None
    detail: str


def check_celeba(data_dir: str | Path | None = None, options: ImageOptions | None = None) -> list[Check]:
    """The rows (see the module docstring) for the copy of CelebA that ``vaelab train`` would use;
    a DataError when there is no copy at all or it has no attribute file."""
    files = find_celeba(data_dir)
    images = list_images(files.images)
    layout = f"{files.layout} layout"
    return check_image_files(images, files.images, layout, files.attributes, files.partition, options)


def check_image_folder(data_dir: str | Path | None, options: ImageOptions | None = None) -> list[Check]:
    """The rows for ``--dataset image-folder``: every image under ``data_dir``, its optional
    ``attributes.csv`` and partition file."""
    if data_dir is None:
        raise ConfigError("--dataset image-folder needs --data-dir FOLDER, the folder that holds the images")
    folder = existing_folder(Path(data_dir).expanduser(), "--data-dir")
    images = list_images(folder, recursive=True)
    attributes = folder / ATTRIBUTES_FILE
    return check_image_files(
        images,
        folder,
        "image folder",
        attributes if attributes.is_file() else None,
        find_partition_file(folder),
        options,
    )


def check_image_files(
    images: list[ImageFile],
    folder: Path,
    layout: str,
    attributes: Path | None,
    partition: Path | None,
    options: ImageOptions | None = None,
) -> list[Check]:
    """The rows for ``images`` (found in ``folder``) with their attribute and partition files."""
    options = options or ImageOptions()
    if not images:
        return [Check("images", "bad", folder, "no image files here; put the dataset's images in this folder")]
    names = [f.name for f in images]
    checks = [
        Check("images", "ok", folder, f"{len(images):,} image files ({layout})"),
        _attributes_check(names, attributes),
    ]
    split_check, splits = _partition_check(names, partition)
    checks.append(split_check)
    checks += [_cache_check(split, [images[i] for i in chosen], options) for split, chosen in splits.items()]
    return checks


def check_image_dataset(name: str, data_dir: str | Path | None, options: ImageOptions | None = None) -> list[Check]:
    """The rows for the image-file dataset ``name`` (``celeba`` or ``image-folder``)."""
    checks = {"celeba": check_celeba, "image-folder": check_image_folder}
    if name not in checks:
        raise ConfigError(f"no file check for dataset {name!r}; the image-file datasets are {', '.join(checks)}")
    return checks[name](data_dir, options)


def has_problems(checks: list[Check]) -> bool:
    """Whether any row is ``bad``."""
    return any(check.status == "bad" for check in checks)


def _attributes_check(names: list[str], path: Path | None) -> Check:
    if path is None:
        return Check("attributes", "none", None, f"no {ATTRIBUTES_FILE}: the images have no attributes")
    try:
        table = read_attributes(path)
        table.rows_for(names, path)
    except DataError as exc:
        return Check("attributes", "bad", path, str(exc))
    shown = ", ".join(table.names[:3]) + (", ..." if len(table.names) > 3 else "")
    return Check(
        "attributes",
        "ok",
        path,
        f"{len(table.names)} attributes ({shown}); a row for each of the {len(names):,} images",
    )


def _partition_check(names: list[str], path: Path | None) -> tuple[Check, dict[str, list[int]]]:
    try:
        splits = {split: split_indices(names, split, path).tolist() for split in SPLITS}
    except DataError as exc:
        return Check("partition", "bad", path, str(exc)), {}
    counts = " · ".join(f"{split} {len(chosen):,}" for split, chosen in splits.items())
    if path is None:
        return Check(
            "partition", "none", None, f"no list_eval_partition file: vaelab's 10 % hold-out: {counts}"
        ), splits
    unused = len(names) - sum(len(chosen) for chosen in splits.values())  # partition 1, validation
    extra = f" · in neither (validation) {unused:,}" if unused else ""
    return Check("partition", "ok", path, f"{counts}{extra}"), splits


def _cache_check(split: str, files: list[ImageFile], options: ImageOptions) -> Check:
    size = f"{options.image_size}×{options.image_size}" + (", centre-cropped" if options.center_crop else "")
    entry = cache_entry(files, options)
    if entry.record.is_file():
        gigabytes = entry.data.stat().st_size / 1e9 if entry.data.is_file() else 0.0
        return Check(
            f"cache {split}", "ok", entry.data, f"{len(files):,} images decoded at {size} ({gigabytes:.2f} GB)"
        )
    if entry.journal.is_file():
        return Check(
            f"cache {split}", "todo", entry.partial, f"decoding at {size} was interrupted; the next run resumes it"
        )
    return Check(
        f"cache {split}",
        "todo",
        None,
        f"not decoded yet at {size}: the first run decodes the {len(files):,} images once and caches them",
    )
