"""Writing analysis results (``.npz``, ``.json``) atomically beside their figures."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from vaelab.atomic import atomic_write, atomic_write_json
from vaelab.errors import WriteError


def save_npz(path: Path, **arrays: np.ndarray) -> Path:
    """Write ``arrays`` to a compressed ``.npz`` file."""

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as handle:
            # numpy's stub lets **arrays fill the allow_pickle flag; every key here names an array
            np.savez_compressed(handle, **arrays)  # type: ignore[arg-type]

    atomic_write(path, write)
    return path


def save_json(path: Path, data: Any) -> Path:
    """Write ``data`` as indented JSON."""
    return atomic_write_json(path, data)


def remove_data_file(*paths: Path) -> None:
    """Remove ``paths`` (if there), the data files of a figure and data pair about to be written again:
    the figure is written next and the data last, so a data file present always belongs to a write that
    finished (a full disk between the two leaves no data beside a figure of another result). A
    :class:`~vaelab.errors.WriteError` when one cannot be removed."""
    for path in paths:
        try:
            path.unlink(missing_ok=True)
        except OSError as exc:
            raise WriteError.of(path, exc) from None
