"""Helpers for tests: build IDX files from numpy arrays, and keep data searches off the machine."""

from __future__ import annotations

import gzip as gzip_module
import struct
from pathlib import Path

import numpy as np
import pytest

IDX_TYPE_CODES: dict[str, int] = {
    "uint8": 0x08,
    "int8": 0x09,
    "int16": 0x0B,
    "int32": 0x0C,
    "float32": 0x0D,
    "float64": 0x0E,
}


def idx_bytes(array: np.ndarray) -> bytes:
    """The IDX encoding of ``array`` (uint8, or another IDX type, stored big-endian)."""
    array = np.asarray(array)
    code = IDX_TYPE_CODES[array.dtype.name]
    header = struct.pack(f">BBBB{array.ndim}I", 0, 0, code, array.ndim, *array.shape)
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes(order="C")


def write_idx(path: str | Path, array: np.ndarray, gzip: bool = False) -> Path:
    """Write ``array`` as an IDX file at ``path``, gzip-compressed if ``gzip``; return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = idx_bytes(array)
    path.write_bytes(gzip_module.compress(data, mtime=0) if gzip else data)
    return path


def idx_header(shape: tuple[int, ...], code: int = IDX_TYPE_CODES["uint8"]) -> bytes:
    """The IDX header of an array of ``shape`` (uint8 unless ``code`` says otherwise)."""
    return struct.pack(f">BBBB{len(shape)}I", 0, 0, code, len(shape), *shape)


def write_gzip_bomb(path: str | Path, header: bytes, zeros: int, chunk: int = 1 << 20) -> Path:
    """Write ``header`` followed by ``zeros`` zero bytes as a gzip file at ``path``, compressing as
    it goes (a few hundred MB of zeros become about 1 MB in well under a second, using ``chunk``
    bytes of memory); return the path."""
    import zlib

    path = Path(path)
    block = bytes(chunk)
    compressor = zlib.compressobj(1, zlib.DEFLATED, 16 + zlib.MAX_WBITS)  # a gzip container
    with open(path, "wb") as out:
        out.write(compressor.compress(header))
        for start in range(0, zeros, chunk):
            out.write(compressor.compress(block[: min(chunk, zeros - start)]))
        out.write(compressor.flush())
    return path


def isolate_data_locations(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, Path]:
    """Point every data search folder into ``tmp_path`` so that tests never see the machine's files.

    Returns the (not yet created) folders: ``env`` (not set in VAELAB_DATA until a test does so),
    ``cache`` (the dataset's folder in the user cache) and ``system``.
    """
    from vaelab.data import locations

    folders = {
        "env": tmp_path / "env",
        "cache": tmp_path / "xdg" / "vaelab" / "fashion-mnist",
        "system": tmp_path / "system",
    }
    monkeypatch.delenv(locations.DATA_ENV_VAR, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setitem(locations.SYSTEM_DATA_DIRS, "fashion-mnist", [folders["system"]])
    return folders


def install_fake_fashion_mnist(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, n_train: int = 60, n_test: int = 20
) -> Path:
    """Isolate the data search folders and put a small stand-in Fashion-MNIST (random images,
    gzip IDX files) in the "system" folder, with the official file specs replaced by the stand-in's
    (so verification, including SHA-256, runs for real). Returns that folder."""
    import gzip
    import hashlib

    import numpy as np

    from vaelab.data import fashion_mnist as fm

    folders = isolate_data_locations(monkeypatch, tmp_path)
    folder = folders["system"]
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    splits = {}
    for split, count, prefix in (("train", n_train, "train"), ("test", n_test, "t10k")):
        arrays = {
            f"{prefix}-images-idx3-ubyte": rng.integers(0, 256, (count, 28, 28), dtype=np.uint8),
            f"{prefix}-labels-idx1-ubyte": (np.arange(count) % 10).astype(np.uint8),
        }
        specs = []
        for name, array in arrays.items():
            data = idx_bytes(array)
            (folder / f"{name}.gz").write_bytes(gzip.compress(data, mtime=0))
            magic = int.from_bytes(data[:4], "big")
            specs.append(fm.IdxFileSpec(name, magic, array.shape, hashlib.sha256(data).hexdigest(), len(data)))
        splits[split] = fm.SplitFiles(*specs)
    monkeypatch.setattr(fm, "FILES", splits)
    fm.clear_cache()
    return folder
