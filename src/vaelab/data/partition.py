"""Which images are for training and which for testing, in a folder of image files.

With a partition file (CelebA's ``list_eval_partition.txt``, ``000001.jpg 0`` per line, or
Kaggle's ``list_eval_partition.csv`` with the header ``image_id,partition``), its values decide:
0 is training, 2 is testing, and 1 (CelebA's validation images) is in neither split, so the test
split is CelebA's official test set.

Without one, the split is a deterministic hold-out: an image is a test image when the SHA-256 of
its file name (its path relative to the folder, with ``/``), read as a number, is divisible by
10. About 10 % of the images are held out, always the same ones, whatever other files the
folder holds and in whatever order they are listed.
"""

from __future__ import annotations

import csv
import hashlib
import io
from pathlib import Path

import numpy as np

from vaelab.errors import ConfigError, DataError

SPLITS = ("train", "test")

#: Partition values of each split (CelebA: 0 train, 1 validation, 2 test).
PARTITION_VALUES = {"train": 0, "test": 2}

#: One image in ``HOLD_OUT_MODULUS`` is held out for testing when there is no partition file.
HOLD_OUT_MODULUS = 10

PARTITION_FILES = ("list_eval_partition.txt", "list_eval_partition.csv")


def check_split(split: str) -> None:
    """A :class:`ConfigError` unless ``split`` is ``train`` or ``test``."""
    if split not in SPLITS:
        raise ConfigError(f"unknown split {split!r}; use one of: {', '.join(SPLITS)}")


def find_partition_file(folder: Path) -> Path | None:
    """The partition file in ``folder`` (TXT before CSV), or None."""
    for name in PARTITION_FILES:
        if (folder / name).is_file():
            return folder / name
    return None


def read_partition(path: Path) -> dict[str, int]:
    """File name → partition (0, 1 or 2), from the TXT or the CSV form."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"cannot read the partition file {path} ({exc}); replace it with the original") from exc
    if path.suffix.lower() == ".csv":
        rows = list(csv.reader(io.StringIO(text)))[1:]
        numbered = [(i + 2, [c.strip() for c in row]) for i, row in enumerate(rows) if any(c.strip() for c in row)]
    else:
        numbered = [(i + 1, line.split()) for i, line in enumerate(text.splitlines()) if line.strip()]
    partition: dict[str, int] = {}
    for number, fields in numbered:
        if len(fields) != 2 or fields[1] not in ("0", "1", "2"):
            raise DataError(
                f"{path} line {number}: expected a file name and a partition 0, 1 or 2, got {' '.join(fields)[:60]!r}; "
                "the partition file is damaged: replace it with the original"
            )
        partition[fields[0]] = int(fields[1])
    return partition


def held_out(name: str) -> bool:
    """Whether image ``name`` is a test image under the hold-out rule (see the module docstring)."""
    digest = hashlib.sha256(name.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % HOLD_OUT_MODULUS == 0


def split_indices(names: list[str], split: str, partition_file: Path | None) -> np.ndarray:
    """Positions in ``names`` of the images of ``split``, in the order of ``names``."""
    check_split(split)
    if partition_file is None:
        want_test = split == "test"
        return np.array([i for i, name in enumerate(names) if held_out(name) == want_test], dtype=np.int64)
    partition = read_partition(partition_file)
    missing = [name for name in names if name not in partition]
    if missing:
        raise DataError(
            f"{len(missing)} image(s) are not listed in {partition_file}, the first {missing[0]!r}; use the "
            "partition file that belongs to these images, or delete it to use vaelab's 10 % hold-out"
        )
    wanted = PARTITION_VALUES[split]
    return np.array([i for i, name in enumerate(names) if partition[name] == wanted], dtype=np.int64)
