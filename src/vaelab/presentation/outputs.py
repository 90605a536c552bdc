"""Writing analysis results (``.npz``, ``.json``) atomically beside their figures."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from vaelab.atomic import atomic_write, atomic_write_json


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
