"""Fashion-MNIST: finding, verifying, downloading and loading its four IDX files.

Files are looked for along :func:`vaelab.data.locations.search_dirs` (``--data-dir``,
``VAELAB_DATA``, the user cache, ``/usr/share/datasets/fashion-mnist`` from the Debian package
``dataset-fashion-mnist``), raw or gzip-compressed. Every file is checked against the official
release before use (IDX magic number, dimensions, decompressed size and SHA-256 of the
decompressed bytes); there is no way to skip the check. The magic number and dimensions are checked
as soon as a file's header is read, before its images are decompressed, and no more than the
official size is ever decompressed, so a damaged or malicious file costs no more memory than the
real one. Missing files are downloaded into the user
cache unless ``download=False``.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from vaelab.data.download import download_file
from vaelab.data.idx import Buffer, IdxHeader, parse_idx, parse_idx_header, read_idx_bytes
from vaelab.data.image_set import ImageSet
from vaelab.data.locations import Origin, describe_dirs, find_in_dirs, search_dirs, user_cache_dir
from vaelab.data.preprocess import pad_images
from vaelab.data.selection import limited_count
from vaelab.errors import ConfigError, DataError

DATASET = "fashion-mnist"
DEBIAN_PACKAGE = "dataset-fashion-mnist"
OFFICIAL_URL = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
"""Base URL of the official release; file ``NAME`` is at ``OFFICIAL_URL + NAME + ".gz"``."""

CLASS_NAMES: tuple[str, ...] = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
PAD = 2
"""Pixels of zero padding on each side: 28×28 images are loaded as 32×32."""

IMAGES_MAGIC = 2051
LABELS_MAGIC = 2049

Split = Literal["train", "test"]
Status = Literal["ok", "missing", "corrupt"]


@dataclass(frozen=True)
class IdxFileSpec:
    """What one official file must be: its name, IDX magic number, shape and decompressed contents."""

    name: str
    magic: int
    shape: tuple[int, ...]
    sha256: str
    size: int
    """Size in bytes after decompression."""

    @property
    def url(self) -> str:
        """Where the official gzip-compressed file is downloaded from."""
        return f"{OFFICIAL_URL}{self.name}.gz"


@dataclass(frozen=True)
class SplitFiles:
    """The images file and the labels file of one split."""

    images: IdxFileSpec
    labels: IdxFileSpec


FILES: dict[str, SplitFiles] = {
    "train": SplitFiles(
        images=IdxFileSpec(
            "train-images-idx3-ubyte",
            IMAGES_MAGIC,
            (60000, 28, 28),
            "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
            47040016,
        ),
        labels=IdxFileSpec(
            "train-labels-idx1-ubyte",
            LABELS_MAGIC,
            (60000,),
            "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
            60008,
        ),
    ),
    "test": SplitFiles(
        images=IdxFileSpec(
            "t10k-images-idx3-ubyte",
            IMAGES_MAGIC,
            (10000, 28, 28),
            "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
            7840016,
        ),
        labels=IdxFileSpec(
            "t10k-labels-idx1-ubyte",
            LABELS_MAGIC,
            (10000,),
            "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
            10008,
        ),
    ),
}
"""The official files of each split (decompressed sizes and SHA-256 of the decompressed bytes)."""

INSTALL_HINT = (
    f"install the dataset with `sudo apt-get install {DEBIAN_PACKAGE}`, or put the four files in a folder "
    "and pass --data-dir DIR (or set VAELAB_DATA=DIR)"
)


@dataclass
class FileReport:
    """The state of one Fashion-MNIST file, as shown by ``vaelab data``.

    ``size`` and ``sha256`` describe the decompressed contents; they are None when the file is
    missing or cannot be read or decompressed.
    """

    name: str
    path: Path | None
    origin: str | None
    status: Status
    detail: str
    size: int | None
    sha256: str | None

    @property
    def ok(self) -> bool:
        """Whether the file is present and intact."""
        return self.status == "ok"


def find_file(name: str, data_dir: str | Path | None = None) -> tuple[Path, str] | None:
    """The first copy of file ``name`` along the search folders, with its origin, or None."""
    return find_in_dirs(search_dirs(DATASET, data_dir), name, DATASET)


def check_file(name: str, data_dir: str | Path | None = None) -> FileReport:
    """Locate file ``name`` and verify it completely against the official release."""
    spec = _spec_named(name)
    dirs = search_dirs(DATASET, data_dir)
    hit = find_in_dirs(dirs, name, DATASET)
    if hit is None:
        return FileReport(name, None, None, "missing", _not_found_message(spec, dirs), None, None)
    path, origin = hit
    try:
        data = _read(spec, path, origin)
    except DataError as exc:
        return FileReport(name, path, origin, "corrupt", str(exc), None, None)
    digest = hashlib.sha256(data).hexdigest()
    try:
        header = _verify(spec, data, digest, path, origin)
    except DataError as exc:
        return FileReport(name, path, origin, "corrupt", str(exc), len(data), digest)
    return FileReport(name, path, origin, "ok", f"{header.describe()}, SHA-256 verified", len(data), digest)


def check_all(data_dir: str | Path | None = None) -> list[FileReport]:
    """Reports for the four files: train images, train labels, test images, test labels."""
    return [check_file(spec.name, data_dir) for files in FILES.values() for spec in (files.images, files.labels)]


def load_fashion_mnist(
    split: Split,
    data_dir: str | Path | None = None,
    limit: int | None = None,
    download: bool = True,
) -> ImageSet:
    """Split ``split`` as an ImageSet of uint8 images ``[N, 1, 32, 32]`` and int64 labels.

    Files are found along the search folders, downloaded into the user cache if missing everywhere
    (unless ``download`` is False), and verified before use. ``limit`` keeps the first ``limit``
    images: a plain int larger than the split is a ConfigError naming the split's size, an
    :class:`~vaelab.data.selection.AtMost` keeps all of them instead. Parsed files are memoized
    per path and modification time, so loading again in the same process costs only the padding.
    """
    files = _split_files(split)
    _check_limit(limit)
    dirs = search_dirs(DATASET, data_dir)
    images = _load_verified(files.images, dirs, download)
    labels = _load_verified(files.labels, dirs, download)
    if len(images) != len(labels):
        raise DataError(
            f"{files.images.name} holds {len(images)} images but {files.labels.name} holds "
            f"{len(labels)} labels; replace them with files from the same release"
        )
    count = limited_count(limit, len(images), split, DATASET)
    return ImageSet(
        images=pad_images(images[:count], pad=PAD),
        labels=labels[:count].astype(np.int64),
        class_names=CLASS_NAMES,
        name=f"{DATASET}-{split}",
    )


def clear_cache() -> None:
    """Forget the memoized parsed files (they are reloaded and re-verified on next use)."""
    _parse_verified.cache_clear()


def _spec_named(name: str) -> IdxFileSpec:
    """The spec of file ``name``; ValueError for a name that is not one of the four files."""
    for files in FILES.values():
        for spec in (files.images, files.labels):
            if spec.name == name:
                return spec
    known = ", ".join(spec.name for files in FILES.values() for spec in (files.images, files.labels))
    raise ValueError(f"{name!r} is not a Fashion-MNIST file; expected one of {known}")


def _split_files(split: str) -> SplitFiles:
    """The files of ``split``, or a ConfigError naming the valid splits."""
    if split not in FILES:
        raise ConfigError(f"unknown Fashion-MNIST split {split!r}; use one of: {', '.join(FILES)}")
    return FILES[split]


def _check_limit(limit: int | None) -> None:
    """Raise a ConfigError unless ``limit`` is None or a positive integer."""
    if limit is None:
        return
    if isinstance(limit, bool) or not isinstance(limit, (int, np.integer)) or limit < 1:
        raise ConfigError(f"the image limit must be a positive whole number, got {limit!r}; pass 1 or more")


def _load_verified(spec: IdxFileSpec, dirs: list[tuple[Origin, Path]], download: bool) -> np.ndarray:
    """The verified array of file ``spec``, found along ``dirs`` or downloaded (read-only, memoized)."""
    hit = find_in_dirs(dirs, spec.name, DATASET)
    if hit is None:
        if not download:
            raise DataError(_not_found_message(spec, dirs))
        hit = _download(spec), "cache"
    path, origin = hit
    stat = path.stat()
    return _parse_verified(spec, path.resolve(), origin, stat.st_ino, stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=8)
def _parse_verified(spec: IdxFileSpec, path: Path, origin: Origin, inode: int, mtime_ns: int, size: int) -> np.ndarray:
    """Read, verify and parse ``path``; memoized on the file's identity (inode, mtime, size)."""
    data = _read(spec, path, origin)
    _verify(spec, data, hashlib.sha256(data).hexdigest(), path, origin)
    return parse_idx(data, str(path), fix=_fix_for(origin))


def _read(spec: IdxFileSpec, path: Path, origin: Origin) -> Buffer:
    """The decompressed contents of ``path``, refused as soon as its header differs from ``spec``'s."""
    return read_idx_bytes(path, fix=_fix_for(origin), check_header=functools.partial(_header_mismatch, spec))


def _download(spec: IdxFileSpec) -> Path:
    """Download the official copy of ``spec`` into the user cache and return its path."""
    dest = user_cache_dir() / DATASET / f"{spec.name}.gz"
    fix = f"check the network connection and try again, or {INSTALL_HINT}"
    return download_file(
        spec.url, dest, spec.sha256, fix_hint=fix, check_header=functools.partial(_header_mismatch, spec)
    )


def _verify(spec: IdxFileSpec, data: Buffer, digest: str, path: Path, origin: Origin) -> IdxHeader:
    """Raise a DataError naming ``path`` unless ``data`` is exactly the official file ``spec``."""
    fix = _fix_for(origin)
    header = parse_idx_header(data, str(path), fix=fix)
    problem = _mismatch(spec, header, len(data), digest)
    if problem:
        raise DataError(f"{path} is corrupt ({problem}); {fix}")
    return header


def _header_mismatch(spec: IdxFileSpec, header: IdxHeader) -> str | None:
    """How the header differs from ``spec``'s (magic number, then shape), or None."""
    if header.magic != spec.magic:
        return f"IDX magic number {header.magic}, expected {spec.magic} for {spec.name}"
    if header.dims != spec.shape:
        return f"shape {header.describe()}, expected {'×'.join(map(str, spec.shape))}"
    return None


def _mismatch(spec: IdxFileSpec, header: IdxHeader, size: int, digest: str) -> str | None:
    """How the file differs from ``spec``, checked from the cheapest to the most thorough, or None."""
    problem = _header_mismatch(spec, header)
    if problem:
        return problem
    if size != spec.size:
        return f"{size} bytes after decompression, expected {spec.size}: truncated or with extra data"
    if digest != spec.sha256:
        return f"SHA-256 of the decompressed contents is {digest}, expected {spec.sha256}"
    return None


def _fix_for(origin: Origin) -> str:
    """How to repair a bad file, depending on where it was found."""
    if origin == "system":
        return f"reinstall it with `sudo apt-get install --reinstall {DEBIAN_PACKAGE}`"
    return f"delete it so that vaelab downloads a fresh copy, or install `{DEBIAN_PACKAGE}` with apt-get"


def _not_found_message(spec: IdxFileSpec, dirs: list[tuple[Origin, Path]]) -> str:
    """The one-line error for a file found nowhere, listing every folder searched."""
    return (
        f"Fashion-MNIST file {spec.name} not found (looked for {spec.name}[.gz], also in a "
        f"{DATASET}/ subfolder, in: {describe_dirs(dirs)}); {INSTALL_HINT}"
    )


def download_missing(data_dir: str | Path | None = None) -> list[Path]:
    """Download, into the user cache, each of the four files found nowhere along the search
    folders; returns the paths written (empty when every file was already present)."""
    dirs = search_dirs(DATASET, data_dir)
    return [
        _download(spec)
        for files in FILES.values()
        for spec in (files.images, files.labels)
        if find_in_dirs(dirs, spec.name, DATASET) is None
    ]
