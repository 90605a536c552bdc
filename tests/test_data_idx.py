"""IDX parsing and reading raw or gzip files."""

from __future__ import annotations

import contextlib
import gzip
from pathlib import Path

import numpy as np
import pytest

from idx_fixtures import idx_bytes, write_idx
from vaelab.data import idx as idx_module
from vaelab.data.idx import parse_idx, parse_idx_header, read_idx_bytes
from vaelab.errors import DataError


def _images(count: int = 3) -> np.ndarray:
    return np.arange(count * 4 * 5, dtype=np.uint8).reshape(count, 4, 5)


def _assert_one_line_naming(exc: pytest.ExceptionInfo[DataError], name: str) -> None:
    message = str(exc.value)
    assert name in message
    assert "\n" not in message


@pytest.mark.parametrize("compress", [False, True])
def test_round_trip_raw_and_gzip(tmp_path: Path, compress: bool) -> None:
    array = _images()
    path = write_idx(tmp_path / "images", array, gzip=compress)
    parsed = parse_idx(read_idx_bytes(path), str(path))
    assert parsed.dtype == np.uint8
    np.testing.assert_array_equal(parsed, array)


@pytest.mark.parametrize("compress", [False, True])
@pytest.mark.parametrize("damaged", [False, True])
def test_the_file_is_closed_after_reading(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, compress: bool, damaged: bool
) -> None:
    # A GzipFile does not close the file object it is given: before the fix a gzip file's handle stayed open.
    path = write_idx(tmp_path / "images", _images(), gzip=compress)
    if damaged:
        path.write_bytes(path.read_bytes()[:-3])
    handles = []
    with contextlib.ExitStack() as kept:  # closes them after the check, should the reader not have

        def recording_open(*args, **kwargs):
            handles.append(kept.enter_context(open(*args, **kwargs)))
            return handles[-1]

        monkeypatch.setattr(idx_module, "open", recording_open, raising=False)
        if damaged:
            with pytest.raises(DataError):
                read_idx_bytes(path)
        else:
            read_idx_bytes(path)
        assert len(handles) == 1 and handles[0].closed


def test_gzip_is_detected_by_magic_bytes_not_by_name(tmp_path: Path) -> None:
    array = _images()
    compressed_without_suffix = write_idx(tmp_path / "a-ubyte", array, gzip=True)
    raw_with_gz_suffix = write_idx(tmp_path / "b-ubyte.gz", array, gzip=False)
    for path in (compressed_without_suffix, raw_with_gz_suffix):
        np.testing.assert_array_equal(parse_idx(read_idx_bytes(path), str(path)), array)


def test_labels_and_wider_types_round_trip() -> None:
    labels = np.array([9, 0, 3], dtype=np.uint8)
    assert parse_idx(idx_bytes(labels), "labels").tolist() == [9, 0, 3]
    wide = np.array([[-1, 70000], [3, 4]], dtype=np.int32)
    parsed = parse_idx(idx_bytes(wide), "wide")
    assert parsed.dtype == np.int32 and parsed.dtype.isnative
    np.testing.assert_array_equal(parsed, wide)


def test_header_reports_magic_and_dims() -> None:
    header = parse_idx_header(idx_bytes(np.zeros((2, 28, 28), np.uint8)), "x")
    assert header.magic == 2051
    assert header.dims == (2, 28, 28)


def test_truncated_payload_names_source() -> None:
    with pytest.raises(DataError, match="truncated") as exc:
        parse_idx(idx_bytes(_images())[:-1], "cut-file")
    _assert_one_line_naming(exc, "cut-file")


def test_trailing_bytes_name_source() -> None:
    with pytest.raises(DataError, match="trailing") as exc:
        parse_idx(idx_bytes(_images()) + b"\x00\x00", "long-file")
    _assert_one_line_naming(exc, "long-file")


def test_truncated_header_names_source() -> None:
    with pytest.raises(DataError, match="header") as exc:
        parse_idx(idx_bytes(_images())[:9], "short-header")
    _assert_one_line_naming(exc, "short-header")


def test_wrong_magic_is_not_idx() -> None:
    data = b"\x01\x02" + idx_bytes(_images())[2:]
    with pytest.raises(DataError, match="not an IDX file") as exc:
        parse_idx(data, "bad-magic")
    _assert_one_line_naming(exc, "bad-magic")


def test_unsupported_dtype_code_is_rejected() -> None:
    data = bytearray(idx_bytes(_images()))
    data[2] = 0x07
    with pytest.raises(DataError, match="0x07") as exc:
        parse_idx(bytes(data), "odd-type")
    _assert_one_line_naming(exc, "odd-type")


def test_still_compressed_bytes_are_explained() -> None:
    with pytest.raises(DataError, match="gzip"):
        parse_idx(gzip.compress(idx_bytes(_images())), "packed")


def test_empty_file_names_file(tmp_path: Path) -> None:
    path = tmp_path / "empty-ubyte"
    path.write_bytes(b"")
    with pytest.raises(DataError, match="empty") as exc:
        parse_idx(read_idx_bytes(path), str(path))
    _assert_one_line_naming(exc, str(path))


def test_truncated_gzip_names_file_and_fix(tmp_path: Path) -> None:
    path = write_idx(tmp_path / "images.gz", _images(50), gzip=True)
    path.write_bytes(path.read_bytes()[:-20])
    with pytest.raises(DataError, match="corrupt or truncated gzip") as exc:
        read_idx_bytes(path, fix="delete it")
    _assert_one_line_naming(exc, str(path))
    assert str(exc.value).endswith("delete it")


def test_gzip_with_damaged_data_is_corrupt(tmp_path: Path) -> None:
    path = write_idx(tmp_path / "images.gz", _images(50), gzip=True)
    data = bytearray(path.read_bytes())
    data[-6] ^= 0xFF  # inside the CRC-32 trailer
    path.write_bytes(bytes(data))
    with pytest.raises(DataError, match="corrupt") as exc:
        read_idx_bytes(path)
    _assert_one_line_naming(exc, str(path))


def test_missing_file_names_file(tmp_path: Path) -> None:
    path = tmp_path / "nowhere"
    with pytest.raises(DataError, match="does not exist") as exc:
        read_idx_bytes(path)
    _assert_one_line_naming(exc, str(path))
