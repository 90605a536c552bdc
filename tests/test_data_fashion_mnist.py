"""Finding, checking, downloading and loading Fashion-MNIST (tiny stand-in files; real files if installed)."""

from __future__ import annotations

import gzip
import hashlib
import io
import math
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from idx_fixtures import idx_bytes, isolate_data_locations
from vaelab.data import fashion_mnist as fm
from vaelab.data import locations
from vaelab.data.download import download_file
from vaelab.data.fashion_mnist import (
    CLASS_NAMES,
    FILES,
    OFFICIAL_URL,
    IdxFileSpec,
    SplitFiles,
    check_all,
    check_file,
    find_file,
    load_fashion_mnist,
)
from vaelab.data.selection import AtMost
from vaelab.errors import ConfigError, DataError

REAL_DIR = Path("/usr/share/datasets/fashion-mnist")
TRAIN_IMAGES, TRAIN_LABELS = "train-images-idx3-ubyte", "train-labels-idx1-ubyte"
TEST_IMAGES, TEST_LABELS = "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"
ALL_NAMES = [TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES, TEST_LABELS]

Folders = dict[str, Path]


@pytest.fixture(autouse=True)
def folders(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Folders]:
    """Every search folder inside tmp_path, and a fresh memo for each test."""
    fm.clear_cache()
    yield isolate_data_locations(monkeypatch, tmp_path)
    fm.clear_cache()


def _spec(name: str, array: np.ndarray) -> IdxFileSpec:
    data = idx_bytes(array)
    magic = int.from_bytes(data[:4], "big")
    return IdxFileSpec(name, magic, array.shape, hashlib.sha256(data).hexdigest(), len(data))


@pytest.fixture
def tiny(monkeypatch: pytest.MonkeyPatch) -> dict[str, bytes]:
    """Replace the official file specs by tiny ones (7 train, 4 test images); return their IDX bytes."""
    rng = np.random.default_rng(1)
    arrays = {
        TRAIN_IMAGES: rng.integers(1, 256, (7, 28, 28), dtype=np.uint8),
        TRAIN_LABELS: rng.integers(0, 10, 7, dtype=np.uint8),
        TEST_IMAGES: rng.integers(1, 256, (4, 28, 28), dtype=np.uint8),
        TEST_LABELS: rng.integers(0, 10, 4, dtype=np.uint8),
    }
    specs = {name: _spec(name, array) for name, array in arrays.items()}
    monkeypatch.setattr(
        fm,
        "FILES",
        {
            "train": SplitFiles(specs[TRAIN_IMAGES], specs[TRAIN_LABELS]),
            "test": SplitFiles(specs[TEST_IMAGES], specs[TEST_LABELS]),
        },
    )
    return {name: idx_bytes(array) for name, array in arrays.items()}


def _put(folder: Path, contents: dict[str, bytes], names: list[str] | None = None, compress: bool = True) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name in names or list(contents):
        data = contents[name]
        (folder / (f"{name}.gz" if compress else name)).write_bytes(gzip.compress(data, mtime=0) if compress else data)


# --- locations -------------------------------------------------------------------------------


def test_user_cache_dir_follows_xdg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert locations.user_cache_dir() == tmp_path / "xdg" / "vaelab"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/dir")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert locations.user_cache_dir() == tmp_path / "home" / ".cache" / "vaelab"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert locations.user_cache_dir() == tmp_path / "home" / ".cache" / "vaelab"


def test_search_order(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, folders: Folders) -> None:
    explicit = tmp_path / "explicit"
    explicit.mkdir()
    monkeypatch.setenv("VAELAB_DATA", str(folders["env"]))
    assert locations.search_dirs("fashion-mnist", explicit) == [
        ("--data-dir", explicit),
        ("VAELAB_DATA", folders["env"]),
        ("cache", folders["cache"]),
        ("system", folders["system"]),
    ]


def test_search_order_without_options(folders: Folders) -> None:
    assert locations.search_dirs("fashion-mnist") == [("cache", folders["cache"]), ("system", folders["system"])]


def test_same_folder_is_searched_once(monkeypatch: pytest.MonkeyPatch, folders: Folders) -> None:
    folders["system"].mkdir()
    monkeypatch.setenv("VAELAB_DATA", str(folders["system"]))
    origins = [origin for origin, _ in locations.search_dirs("fashion-mnist", str(folders["system"]))]
    assert origins == ["--data-dir", "cache"]


def test_missing_data_dir_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist") as exc:
        locations.search_dirs("fashion-mnist", tmp_path / "nope")
    assert str(tmp_path / "nope") in str(exc.value)
    (tmp_path / "file").write_bytes(b"")
    with pytest.raises(DataError, match="not a folder"):
        find_file(TRAIN_IMAGES, tmp_path / "file")


@pytest.mark.parametrize("winner", ["--data-dir", "VAELAB_DATA", "cache", "system"])
def test_find_file_takes_the_first_folder_holding_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, folders: Folders, winner: str
) -> None:
    order = {
        "--data-dir": tmp_path / "explicit",
        "VAELAB_DATA": folders["env"],
        "cache": folders["cache"],
        "system": folders["system"],
    }
    monkeypatch.setenv("VAELAB_DATA", str(folders["env"]))
    for folder in order.values():
        folder.mkdir(parents=True)
    reached = False
    for origin, folder in order.items():
        reached = reached or origin == winner
        if reached:
            (folder / f"{TRAIN_IMAGES}.gz").write_bytes(b"x")
    assert find_file(TRAIN_IMAGES, order["--data-dir"]) == (order[winner] / f"{TRAIN_IMAGES}.gz", winner)


def test_find_file_name_variants(monkeypatch: pytest.MonkeyPatch, folders: Folders) -> None:
    parent = folders["env"]
    monkeypatch.setenv("VAELAB_DATA", str(parent))
    assert find_file(TRAIN_IMAGES) is None
    nested = parent / "fashion-mnist" / f"{TRAIN_IMAGES}.gz"
    nested.parent.mkdir(parents=True)
    nested.write_bytes(b"x")
    assert find_file(TRAIN_IMAGES) == (nested, "VAELAB_DATA")
    (parent / f"{TRAIN_IMAGES}.gz").write_bytes(b"x")
    assert find_file(TRAIN_IMAGES) == (parent / f"{TRAIN_IMAGES}.gz", "VAELAB_DATA")
    (parent / TRAIN_IMAGES).write_bytes(b"x")
    assert find_file(TRAIN_IMAGES) == (parent / TRAIN_IMAGES, "VAELAB_DATA")


# --- checking --------------------------------------------------------------------------------


def test_official_specs_are_consistent() -> None:
    assert len(CLASS_NAMES) == 10 and CLASS_NAMES[0] == "T-shirt/top" and CLASS_NAMES[9] == "Ankle boot"
    for split in FILES.values():
        assert split.images.shape[0] == split.labels.shape[0]
        for spec in (split.images, split.labels):
            assert spec.size == 4 + 4 * len(spec.shape) + math.prod(spec.shape)
            assert spec.magic == 0x800 + len(spec.shape)
            assert spec.url == f"{OFFICIAL_URL}{spec.name}.gz"
    assert [spec.name for split in FILES.values() for spec in (split.images, split.labels)] == ALL_NAMES


def test_check_file_missing_lists_every_folder(folders: Folders) -> None:
    report = check_file(TEST_LABELS)
    assert report.status == "missing" and report.path is None and not report.ok
    assert str(folders["cache"]) in report.detail and str(folders["system"]) in report.detail
    assert "apt-get install dataset-fashion-mnist" in report.detail and "--data-dir" in report.detail


@pytest.mark.parametrize("compress", [True, False])
def test_check_file_ok(tiny: dict[str, bytes], folders: Folders, compress: bool) -> None:
    _put(folders["system"], tiny, compress=compress)
    report = check_file(TEST_IMAGES)
    assert report.status == "ok" and report.ok and report.origin == "system"
    assert report.size == len(tiny[TEST_IMAGES])
    assert report.sha256 == hashlib.sha256(tiny[TEST_IMAGES]).hexdigest()


def test_right_structure_wrong_checksum_is_corrupt(tiny: dict[str, bytes], folders: Folders) -> None:
    altered = dict(tiny)
    altered[TEST_IMAGES] = tiny[TEST_IMAGES][:-1] + bytes([tiny[TEST_IMAGES][-1] ^ 1])
    _put(folders["cache"], altered)
    report = check_file(TEST_IMAGES)
    assert report.status == "corrupt" and report.origin == "cache"
    assert "SHA-256" in report.detail and str(report.path) in report.detail and "corrupt" in report.detail
    assert report.size == len(tiny[TEST_IMAGES]) and report.sha256 is not None


def test_real_spec_rejects_a_lookalike_file(folders: Folders) -> None:
    labels = np.zeros(10000, dtype=np.uint8)
    _put(folders["system"], {TEST_LABELS: idx_bytes(labels)})
    report = check_file(TEST_LABELS)
    assert report.status == "corrupt" and "SHA-256" in report.detail
    assert "reinstall" in report.detail


def test_wrong_kind_of_file_is_corrupt(tiny: dict[str, bytes], folders: Folders) -> None:
    _put(folders["cache"], {TEST_IMAGES: tiny[TEST_LABELS]})
    report = check_file(TEST_IMAGES)
    assert report.status == "corrupt" and "magic number 2049" in report.detail


def test_truncated_gzip_is_corrupt(tiny: dict[str, bytes], folders: Folders) -> None:
    _put(folders["cache"], tiny)
    path = folders["cache"] / f"{TEST_IMAGES}.gz"
    path.write_bytes(path.read_bytes()[:-10])
    report = check_file(TEST_IMAGES)
    assert report.status == "corrupt" and report.size is None and str(path) in report.detail


def test_check_all_reports_the_four_files(tiny: dict[str, bytes], folders: Folders) -> None:
    _put(folders["cache"], tiny, names=[TRAIN_IMAGES, TEST_LABELS])
    reports = check_all()
    assert [report.name for report in reports] == ALL_NAMES
    assert [report.status for report in reports] == ["ok", "missing", "missing", "ok"]


def test_check_file_rejects_unknown_names() -> None:
    with pytest.raises(ValueError, match="not a Fashion-MNIST file"):
        check_file("cifar-10")


# --- loading ---------------------------------------------------------------------------------


def test_load_pads_and_types(tiny: dict[str, bytes], folders: Folders) -> None:
    _put(folders["system"], tiny)
    train = load_fashion_mnist("train", download=False)
    assert train.images.shape == (7, 1, 32, 32) and train.images.dtype == np.uint8
    assert train.labels is not None and train.labels.dtype == np.int64
    original = np.frombuffer(tiny[TRAIN_IMAGES], np.uint8, offset=16).reshape(7, 28, 28)
    np.testing.assert_array_equal(train.images[:, 0, 2:30, 2:30], original)
    assert train.images[:, :, :2].max() == 0 and train.images[:, :, :, 30:].max() == 0
    assert train.labels.tolist() == list(tiny[TRAIN_LABELS][8:])
    assert train.class_names == CLASS_NAMES and train.name == "fashion-mnist-train"
    assert len(load_fashion_mnist("test", download=False)) == 4


def test_load_from_raw_files_in_data_dir(tiny: dict[str, bytes], tmp_path: Path) -> None:
    _put(tmp_path / "mine", tiny, compress=False)
    assert len(load_fashion_mnist("test", data_dir=str(tmp_path / "mine"), download=False)) == 4


def test_limit(tiny: dict[str, bytes], folders: Folders) -> None:
    _put(folders["system"], tiny)
    full = load_fashion_mnist("train", download=False)
    three = load_fashion_mnist("train", limit=3, download=False)
    assert len(three) == 3
    np.testing.assert_array_equal(three.images, full.images[:3])
    with pytest.raises(
        ConfigError,
        match="--limit-train 8 is more than the 7 images of the fashion-mnist train split; "
        "use --limit-train 7 or fewer",
    ):
        load_fashion_mnist("train", limit=8, download=False)
    assert len(load_fashion_mnist("train", limit=7, download=False)) == 7
    assert len(load_fashion_mnist("train", limit=AtMost(1000), download=False)) == 7  # a default shrinks


@pytest.mark.parametrize("limit", [0, -1, 2.5, True])
def test_bad_limit_is_a_config_error(tiny: dict[str, bytes], limit: Any) -> None:
    with pytest.raises(ConfigError, match="limit"):
        load_fashion_mnist("train", limit=limit, download=False)


def test_bad_split_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"'validation'.*train.*test"):
        load_fashion_mnist("validation")  # type: ignore[arg-type]


def test_missing_without_download_lists_places_and_fix(tiny: dict[str, bytes], folders: Folders) -> None:
    with pytest.raises(DataError) as exc:
        load_fashion_mnist("test", download=False)
    message = str(exc.value)
    assert TEST_IMAGES in message and str(folders["cache"]) in message and str(folders["system"]) in message
    assert "sudo apt-get install dataset-fashion-mnist" in message and "--data-dir" in message
    assert "VAELAB_DATA" in message and "\n" not in message


def test_corrupt_file_stops_loading(tiny: dict[str, bytes], folders: Folders) -> None:
    altered = dict(tiny)
    altered[TEST_LABELS] = tiny[TEST_LABELS][:-1] + b"\x09"
    if altered[TEST_LABELS] == tiny[TEST_LABELS]:
        altered[TEST_LABELS] = tiny[TEST_LABELS][:-1] + b"\x08"
    _put(folders["system"], altered)
    with pytest.raises(DataError, match="corrupt") as exc:
        load_fashion_mnist("test")
    assert f"{TEST_LABELS}.gz" in str(exc.value) and "reinstall" in str(exc.value)


def test_image_and_label_counts_must_agree(monkeypatch: pytest.MonkeyPatch, folders: Folders) -> None:
    images, labels = np.zeros((3, 28, 28), np.uint8), np.zeros(2, np.uint8)
    monkeypatch.setitem(fm.FILES, "test", SplitFiles(_spec(TEST_IMAGES, images), _spec(TEST_LABELS, labels)))
    _put(folders["cache"], {TEST_IMAGES: idx_bytes(images), TEST_LABELS: idx_bytes(labels)})
    with pytest.raises(DataError, match=r"3 images.*2 labels"):
        load_fashion_mnist("test", download=False)


def test_loading_again_is_memoized(monkeypatch: pytest.MonkeyPatch, tiny: dict[str, bytes], folders: Folders) -> None:
    _put(folders["cache"], tiny)
    reads: list[Path] = []
    real_read = fm.read_idx_bytes

    def counting_read(path: Path, **kwargs: Any) -> bytes:
        reads.append(Path(path))
        return real_read(path, **kwargs)

    monkeypatch.setattr(fm, "read_idx_bytes", counting_read)
    first = load_fashion_mnist("test", download=False)
    first.images[:] = 0  # results are private copies: the memo must not change
    second = load_fashion_mnist("test", download=False)
    assert len(reads) == 2 and second.images.any()
    path = folders["cache"] / f"{TEST_IMAGES}.gz"
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    load_fashion_mnist("test", download=False)
    assert len(reads) == 3 and reads[-1].name == path.name


def _fake_server(files: dict[str, bytes], seen: list[str]) -> Callable[..., Any]:
    def opener(url: str, timeout: float | None = None) -> io.BytesIO:
        seen.append(url)
        name = url.removeprefix(OFFICIAL_URL).removesuffix(".gz")
        if name not in files:
            raise OSError("connection refused")
        return io.BytesIO(gzip.compress(files[name], mtime=0))

    return opener


def _serve(monkeypatch: pytest.MonkeyPatch, files: dict[str, bytes]) -> list[str]:
    seen: list[str] = []

    def fake_download(url: str, dest: Path, sha256: str | None, **kwargs: Any) -> Path:
        return download_file(url, dest, sha256, **kwargs, opener=_fake_server(files, seen), progress=False)

    monkeypatch.setattr(fm, "download_file", fake_download)
    return seen


def test_missing_files_are_downloaded_into_the_cache(
    monkeypatch: pytest.MonkeyPatch, tiny: dict[str, bytes], folders: Folders
) -> None:
    seen = _serve(monkeypatch, tiny)
    test = load_fashion_mnist("test")
    assert len(test) == 4
    assert seen == [f"{OFFICIAL_URL}{TEST_IMAGES}.gz", f"{OFFICIAL_URL}{TEST_LABELS}.gz"]
    assert sorted(p.name for p in folders["cache"].iterdir()) == [f"{TEST_IMAGES}.gz", f"{TEST_LABELS}.gz"]
    assert check_file(TEST_IMAGES).origin == "cache"
    load_fashion_mnist("test")
    assert len(seen) == 2


def test_failed_download_leaves_nothing(
    monkeypatch: pytest.MonkeyPatch, tiny: dict[str, bytes], folders: Folders
) -> None:
    _serve(monkeypatch, {TEST_IMAGES: tiny[TEST_IMAGES]})
    with pytest.raises(DataError, match=r"download of .*t10k-labels-idx1-ubyte\.gz failed") as exc:
        load_fashion_mnist("test")
    assert "apt-get install dataset-fashion-mnist" in str(exc.value)
    assert [p.name for p in folders["cache"].iterdir()] == [f"{TEST_IMAGES}.gz"]


def test_downloaded_file_with_wrong_checksum_is_not_kept(
    monkeypatch: pytest.MonkeyPatch, tiny: dict[str, bytes], folders: Folders
) -> None:
    _serve(monkeypatch, {TEST_IMAGES: tiny[TRAIN_IMAGES]})
    with pytest.raises(DataError, match="corrupt"):
        load_fashion_mnist("test")
    assert list(folders["cache"].iterdir()) == []


# --- the real files --------------------------------------------------------------------------


@pytest.mark.realdata
@pytest.mark.skipif(not (REAL_DIR / f"{TRAIN_IMAGES}.gz").exists(), reason="Fashion-MNIST is not installed")
def test_real_fashion_mnist() -> None:
    start = time.perf_counter()
    test = load_fashion_mnist("test", data_dir=REAL_DIR, limit=3000, download=False)
    assert test.images.shape == (3000, 1, 32, 32) and test.images.dtype == np.uint8
    assert test.labels is not None and test.labels.min() == 0 and test.labels.max() == 9
    assert test.images[:, :, :2].max() == 0 and test.images.max() == 255
    reports = check_all(data_dir=REAL_DIR)
    assert [report.status for report in reports] == ["ok"] * 4, [report.detail for report in reports]
    assert [report.origin for report in reports] == ["--data-dir"] * 4
    assert time.perf_counter() - start < 10
