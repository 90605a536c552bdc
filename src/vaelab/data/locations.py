"""Where dataset files are looked for, in order, and how a file name may appear in a folder.

The order is: the ``--data-dir`` folder given on the command line, the folder in the
``VAELAB_DATA`` environment variable, the user cache (where downloads go), then the system folders
that Debian's ``dataset-*`` packages install. In each folder a file ``NAME`` is accepted as
``NAME`` or ``NAME.gz``, directly or in a subfolder named after the dataset (so ``VAELAB_DATA``
may point at a parent folder that holds several datasets).
"""

from __future__ import annotations

import os
from pathlib import Path

from vaelab.errors import DataError

DATA_ENV_VAR = "VAELAB_DATA"
"""Environment variable naming a folder searched right after ``--data-dir``."""

SYSTEM_DATA_DIRS: dict[str, list[Path]] = {
    "fashion-mnist": [Path("/usr/share/datasets/fashion-mnist")],
}
"""Per dataset, the folders where system packages install its files (searched last)."""

Origin = str
"""A label saying where a folder came from: ``--data-dir``, ``VAELAB_DATA``, ``cache``, ``system``."""


def user_cache_dir() -> Path:
    """vaelab's cache folder: ``$XDG_CACHE_HOME/vaelab``, or ``~/.cache/vaelab``.

    A relative ``XDG_CACHE_HOME`` is ignored, as the XDG specification requires.
    """
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    base = Path(xdg) if xdg and os.path.isabs(xdg) else Path.home() / ".cache"
    return base / "vaelab"


def search_dirs(dataset: str, data_dir: str | Path | None = None) -> list[tuple[Origin, Path]]:
    """The folders searched for ``dataset``'s files, first to last, each with its origin label.

    An explicit ``data_dir`` that is not an existing folder is a DataError. Folders from the other
    sources are listed whether or not they exist; a folder reached twice is listed once.
    """
    dirs: list[tuple[Origin, Path]] = []
    if data_dir is not None:
        dirs.append(("--data-dir", _existing_dir(data_dir)))
    env_dir = os.environ.get(DATA_ENV_VAR, "")
    if env_dir:
        dirs.append((DATA_ENV_VAR, Path(env_dir).expanduser()))
    dirs.append(("cache", user_cache_dir() / dataset))
    dirs.extend(("system", folder) for folder in SYSTEM_DATA_DIRS.get(dataset, []))
    return _dedupe(dirs)


def candidate_paths(directory: Path, name: str, dataset: str) -> list[Path]:
    """The paths under ``directory`` where file ``name`` of ``dataset`` is accepted, in order."""
    return [
        directory / name,
        directory / f"{name}.gz",
        directory / dataset / name,
        directory / dataset / f"{name}.gz",
    ]


def find_in_dirs(dirs: list[tuple[Origin, Path]], name: str, dataset: str) -> tuple[Path, Origin] | None:
    """The first existing file for ``name`` along ``dirs``, with its folder's origin, or None."""
    for origin, directory in dirs:
        for path in candidate_paths(directory, name, dataset):
            if path.is_file():
                return path, origin
    return None


def describe_dirs(dirs: list[tuple[Origin, Path]]) -> str:
    """The searched folders on one line, e.g. ``VAELAB_DATA /data, cache ~/.cache/vaelab/...``."""
    return ", ".join(f"{origin} {directory}" for origin, directory in dirs)


def _existing_dir(data_dir: str | Path) -> Path:
    """``data_dir`` as a Path, or a DataError if it is not an existing folder."""
    path = Path(data_dir).expanduser()
    if not path.exists():
        raise DataError(f"--data-dir {path} does not exist; pass the folder that holds the data files")
    if not path.is_dir():
        raise DataError(f"--data-dir {path} is a file, not a folder; pass the folder that holds the data files")
    return path


def _dedupe(dirs: list[tuple[Origin, Path]]) -> list[tuple[Origin, Path]]:
    """``dirs`` without later entries that resolve to a folder already listed."""
    seen: set[Path] = set()
    unique = []
    for origin, directory in dirs:
        key = directory.resolve()
        if key not in seen:
            seen.add(key)
            unique.append((origin, directory))
    return unique
