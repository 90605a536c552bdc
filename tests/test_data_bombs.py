"""Gzip bombs: a small file that inflates far beyond what its IDX header declares is refused after
reading no more than the declared array, and a header declaring too much is refused before anything
is decompressed. Memory is measured with tracemalloc, and once in a fresh process as its peak resident size."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from idx_fixtures import idx_header, isolate_data_locations, write_gzip_bomb
from vaelab.data import fashion_mnist as fm
from vaelab.data.download import download_file
from vaelab.data.idx import MAX_PAYLOAD_BYTES, READ_CHUNK, read_idx_bytes
from vaelab.errors import DataError

MIB = 1 << 20
FLOOD = 256 * MIB
"""Zero bytes after the header in the bombs: what the old reader decompressed into memory at once."""
TRAIN_SHAPE = (60000, 28, 28)
TRAIN_PAYLOAD = 60000 * 28 * 28


@pytest.fixture(scope="module")
def bombs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """``small``: a 2×28×28 header then 256 MiB of zeros; ``train``: a Fashion-MNIST training-images
    header, its 47 MB of images (zeros) and 256 MiB more; ``huge``: a header declaring 4e9×28×28."""
    folder = tmp_path_factory.mktemp("bombs")
    return {
        "small": write_gzip_bomb(folder / "small.gz", idx_header((2, 28, 28)), FLOOD),
        "train": write_gzip_bomb(folder / "train-images-idx3-ubyte.gz", idx_header(TRAIN_SHAPE), TRAIN_PAYLOAD + FLOOD),
        "huge": write_gzip_bomb(folder / "huge.gz", idx_header((4_000_000_000, 28, 28)), 16 * MIB),
    }


@pytest.fixture
def folders(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[dict[str, Path]]:
    """Every data search folder inside tmp_path, with the official Fashion-MNIST specs, and a fresh memo."""
    fm.clear_cache()
    yield isolate_data_locations(monkeypatch, tmp_path)
    fm.clear_cache()


def _peak_bytes(action: Callable[[], Any]) -> tuple[int, BaseException | None]:
    """The peak of memory allocated while ``action`` ran (tracemalloc), and what it raised."""
    tracemalloc.start()
    try:
        action()
        raised = None
    except Exception as exc:
        raised = exc
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    return peak, raised


def _assert_one_line(exc: BaseException | None, *fragments: str) -> None:
    assert isinstance(exc, DataError), exc
    message = str(exc)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message, message


def test_the_bombs_really_inflate(bombs: dict[str, Path]) -> None:
    assert bombs["small"].stat().st_size < 2 * MIB  # 256 MiB of zeros, compressed
    assert bombs["train"].stat().st_size < 3 * MIB


def test_data_after_a_small_array_is_refused_reading_almost_nothing(bombs: dict[str, Path]) -> None:
    peak, raised = _peak_bytes(lambda: read_idx_bytes(bombs["small"], fix="delete it"))
    _assert_one_line(raised, str(bombs["small"]), "goes on after the 2×28×28 uint8 array", "delete it")
    assert peak < 2 * READ_CHUNK, peak


def test_a_header_declaring_too_much_is_refused_before_its_array(bombs: dict[str, Path]) -> None:
    peak, raised = _peak_bytes(lambda: read_idx_bytes(bombs["huge"]))
    _assert_one_line(raised, "declares a 4000000000×28×28 uint8 array", f"{MAX_PAYLOAD_BYTES:,}")
    assert peak < MIB, peak


def test_the_callers_header_check_comes_first(bombs: dict[str, Path]) -> None:
    seen: list[tuple[int, ...]] = []

    def check(header: Any) -> str | None:
        seen.append(header.dims)
        return "not what I expected"

    peak, raised = _peak_bytes(lambda: read_idx_bytes(bombs["small"], check_header=check))
    _assert_one_line(raised, "is corrupt (not what I expected)")
    assert seen == [(2, 28, 28)] and peak < MIB, peak


def test_fashion_mnist_bomb_costs_no_more_than_the_real_file(bombs: dict[str, Path], folders: dict[str, Path]) -> None:
    folders["system"].mkdir(parents=True)
    os.symlink(bombs["train"], folders["system"] / bombs["train"].name)
    peak, raised = _peak_bytes(lambda: fm.load_fashion_mnist("train", download=False))
    _assert_one_line(raised, "goes on after the 60000×28×28 uint8 array", "reinstall")
    assert peak < TRAIN_PAYLOAD + 4 * MIB, peak  # the images it declares, not the 256 MiB after them
    report = fm.check_file("train-images-idx3-ubyte")
    assert report.status == "corrupt" and "goes on after" in report.detail


def test_fashion_mnist_refuses_a_wrong_shape_before_decompressing(
    bombs: dict[str, Path], folders: dict[str, Path]
) -> None:
    folders["system"].mkdir(parents=True)
    os.symlink(bombs["huge"], folders["system"] / "t10k-images-idx3-ubyte.gz")
    peak, raised = _peak_bytes(lambda: fm.load_fashion_mnist("test", download=False))
    _assert_one_line(raised, "shape 4000000000×28×28 uint8, expected 10000×28×28")
    assert peak < MIB, peak


def test_a_downloaded_bomb_is_refused_and_removed(bombs: dict[str, Path], tmp_path: Path) -> None:
    payload = bombs["small"].read_bytes()

    def opener(url: str, timeout: float | None = None) -> io.BytesIO:
        return io.BytesIO(payload)

    dest = tmp_path / "cache" / "images.gz"
    peak, raised = _peak_bytes(
        lambda: download_file("http://example.invalid/images.gz", dest, "0" * 64, opener=opener, progress=False)
    )
    _assert_one_line(raised, "not an intact file", "goes on after")
    assert peak < len(payload) + 4 * MIB, peak
    assert list(dest.parent.iterdir()) == []


MEASURE = """
import json, sys
from vaelab.data.idx import read_idx_bytes

def peak_kib():  # this process's peak resident memory (ru_maxrss would include the forking parent's)
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))

before = peak_kib()
try:
    read_idx_bytes(sys.argv[1])
    outcome = "read"
except Exception as exc:
    outcome = type(exc).__name__
print(json.dumps({"outcome": outcome, "growth_kib": peak_kib() - before}))
"""


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux's /proc")
def test_peak_resident_memory_of_a_process_reading_the_bomb(bombs: dict[str, Path]) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run(
        [sys.executable, "-c", MEASURE, str(bombs["train"])],
        capture_output=True,
        text=True,
        env=env,
        check=True,
        timeout=120,
    )
    result = json.loads(done.stdout)
    assert result["outcome"] == "DataError"
    growth = result["growth_kib"] * 1024
    print(f"peak resident memory grew by {growth / MIB:.1f} MiB for a {TRAIN_PAYLOAD / MIB:.1f} MiB payload")
    assert TRAIN_PAYLOAD / 2 < growth < TRAIN_PAYLOAD + 16 * MIB, growth  # the array was read, nothing more
