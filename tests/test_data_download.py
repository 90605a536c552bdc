"""Atomic, verified downloads: nothing partial or unverified is ever left behind."""

from __future__ import annotations

import gzip
import hashlib
import io
import urllib.error
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from idx_fixtures import idx_bytes
from vaelab.data.download import download_file
from vaelab.errors import DataError

URL = "http://example.invalid/files/images.gz"
CONTENTS = idx_bytes(np.arange(3 * 28 * 28, dtype=np.uint64).astype(np.uint8).reshape(3, 28, 28))
PAYLOAD = gzip.compress(CONTENTS, mtime=0)
SHA = hashlib.sha256(CONTENTS).hexdigest()


class FakeResponse(io.BytesIO):
    """A response serving ``data`` in small chunks, optionally failing after ``fail_after`` bytes."""

    def __init__(
        self, data: bytes, fail_after: int | None = None, error: BaseException | None = None, length: int | None = None
    ) -> None:
        super().__init__(data)
        self.headers = {"Content-Length": str(len(data) if length is None else length)}
        self.fail_after, self.error = fail_after, error

    def read(self, size: int | None = -1) -> bytes:
        if self.fail_after is not None and self.tell() >= self.fail_after:
            raise self.error or OSError("connection reset by peer")
        return super().read(min(size or 1, 100))


def _opener(response: FakeResponse, seen: list[Any] | None = None) -> Any:
    def opener(url: str, timeout: float | None = None) -> FakeResponse:
        if seen is not None:
            seen.append((url, timeout))
        return response

    return opener


def _files(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir())


def test_download_success_writes_verified_file(tmp_path: Path) -> None:
    seen: list[Any] = []
    dest = tmp_path / "cache" / "images.gz"
    result = download_file(URL, dest, SHA, opener=_opener(FakeResponse(PAYLOAD), seen), progress=False)
    assert result == dest and dest.read_bytes() == PAYLOAD
    assert seen[0][0] == URL and seen[0][1] is not None
    assert _files(dest.parent) == ["images.gz"]


def test_download_of_raw_file_and_without_checksum(tmp_path: Path) -> None:
    download_file(URL, tmp_path / "raw", SHA, opener=_opener(FakeResponse(CONTENTS)), progress=False)
    download_file(URL, tmp_path / "any", None, opener=_opener(FakeResponse(b"hello")), progress=False)
    assert (tmp_path / "raw").read_bytes() == CONTENTS and (tmp_path / "any").read_bytes() == b"hello"


def test_download_with_progress_bar(tmp_path: Path) -> None:
    download_file(URL, tmp_path / "images.gz", SHA, opener=_opener(FakeResponse(PAYLOAD)), progress=True)
    assert (tmp_path / "images.gz").exists()


def test_download_from_file_url_with_real_urlopen(tmp_path: Path) -> None:
    source = tmp_path / "server" / "images.gz"
    source.parent.mkdir()
    source.write_bytes(PAYLOAD)
    dest = tmp_path / "cache" / "images.gz"
    download_file(source.as_uri(), dest, SHA, progress=False)
    assert dest.read_bytes() == PAYLOAD


def test_failure_mid_stream_leaves_no_file(tmp_path: Path) -> None:
    response = FakeResponse(PAYLOAD, fail_after=200)
    with pytest.raises(DataError) as exc:
        download_file(URL, tmp_path / "images.gz", SHA, opener=_opener(response), progress=False)
    message = str(exc.value)
    assert URL in message and "failed" in message and "\n" not in message
    assert "dataset-fashion-mnist" in message and "--data-dir" in message
    assert _files(tmp_path) == []


def test_interrupt_mid_stream_leaves_no_file(tmp_path: Path) -> None:
    response = FakeResponse(PAYLOAD, fail_after=200, error=KeyboardInterrupt())
    with pytest.raises(KeyboardInterrupt):
        download_file(URL, tmp_path / "images.gz", SHA, opener=_opener(response), progress=False)
    assert _files(tmp_path) == []


def test_checksum_mismatch_leaves_no_file_and_keeps_old_dest(tmp_path: Path) -> None:
    dest = tmp_path / "images.gz"
    dest.write_bytes(b"old")
    other = gzip.compress(CONTENTS[:-1] + b"\x01")
    with pytest.raises(DataError, match="SHA-256"):
        download_file(URL, dest, SHA, opener=_opener(FakeResponse(other)), progress=False)
    assert _files(tmp_path) == ["images.gz"] and dest.read_bytes() == b"old"


def test_download_that_is_not_gzip_or_short_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="not an intact file"):
        download_file(URL, tmp_path / "a.gz", SHA, opener=_opener(FakeResponse(PAYLOAD[:-30])), progress=False)
    with pytest.raises(DataError, match="cut short"):
        download_file(
            URL, tmp_path / "b.gz", None, opener=_opener(FakeResponse(PAYLOAD, length=len(PAYLOAD) + 5)), progress=False
        )
    assert _files(tmp_path) == []


def test_unreachable_server_is_a_data_error(tmp_path: Path) -> None:
    def opener(url: str, timeout: float | None = None) -> Any:
        raise urllib.error.URLError("Name or service not known")

    with pytest.raises(DataError, match="Name or service not known") as exc:
        download_file(URL, tmp_path / "images.gz", SHA, opener=opener, progress=False)
    assert URL in str(exc.value)
    assert _files(tmp_path) == []


def test_http_error_is_a_data_error(tmp_path: Path) -> None:
    def opener(url: str, timeout: float | None = None) -> Any:
        raise urllib.error.HTTPError(url, 404, "Not Found", {}, None)  # type: ignore[arg-type]

    with pytest.raises(DataError, match="HTTP 404"):
        download_file(URL, tmp_path / "images.gz", SHA, opener=opener, progress=False)
    assert _files(tmp_path) == []
