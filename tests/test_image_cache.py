"""The decoded-image cache (:mod:`vaelab.data.image_cache`, :mod:`vaelab.data.cache_store`): a raw
uint8 file that readers memory-map, trusted only when it matches its record; a build that resumes
after a kill; a full disk that leaves nothing a later run trusts; one build for concurrent readers.

The fault cases stop a build at every one of its write points in turn (each chunk of rows, each
journal, the final truncation and fsync, the rename, the record), by an exception that unwinds as a
kill does (nothing but closing files runs) and by ``ENOSPC``; one case SIGKILLs a real process.
"""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vaelab.data import cache_store, image_cache
from vaelab.data.image_cache import cache_entry, load_images
from vaelab.data.image_dataset_check import check_image_dataset
from vaelab.data.image_files import list_images
from vaelab.data.image_folder import load_image_folder
from vaelab.data.image_options import ImageOptions
from vaelab.errors import DataError

OPTIONS = ImageOptions(image_size=8)
COUNT = 20


@pytest.fixture(autouse=True)
def _small_chunks(private_cache, monkeypatch):
    """Chunks of 4 files and a journal every 8, so that 20 files give several of each."""
    monkeypatch.setattr(image_cache, "CHUNK", 4)
    monkeypatch.setattr(image_cache, "JOURNAL_EVERY", 8)


@pytest.fixture
def folder(tmp_path):
    """20 small PNGs of distinct colours."""
    root = tmp_path / "images"
    root.mkdir()
    rng = np.random.default_rng(0)
    for i in range(COUNT):
        Image.fromarray(rng.integers(0, 256, (12, 10, 3), dtype=np.uint8)).save(root / f"{i:03d}.png")
    return root


def _load(folder: Path, warnings: list[str] | None = None, options: ImageOptions = OPTIONS):
    files = list_images(folder)
    return load_images(
        files, options, "test images", progress=False, warn=(warnings if warnings is not None else []).append
    )


def _expected(folder: Path) -> np.ndarray:
    return np.stack([image_cache.decode_image(f.path, 8) for f in list_images(folder)])


def _entry(folder: Path) -> cache_store.EntryPaths:
    return cache_entry(list_images(folder), OPTIONS)


def _entry_files(folder: Path) -> set[str]:
    entry = _entry(folder)
    return {p.name for p in entry.folder.glob(f"{entry.key}*") if p != entry.lock}


def _count_decodes(monkeypatch) -> list[Path]:
    calls: list[Path] = []
    real = image_cache.decode_image
    lock = threading.Lock()

    def counting(path, *args, **kwargs):
        with lock:
            calls.append(path)
        return real(path, *args, **kwargs)

    monkeypatch.setattr(image_cache, "decode_image", counting)
    return calls


def test_the_cache_is_a_raw_memory_mapped_file_with_a_record(folder):
    decoded = _load(folder)
    entry = _entry(folder)
    assert isinstance(decoded.images, np.memmap) and not decoded.images.flags.writeable
    assert decoded.cache_path == entry.data and not decoded.from_cache
    assert np.array_equal(decoded.images, _expected(folder))
    assert entry.data.stat().st_size == COUNT * 3 * 8 * 8  # the rows and nothing else
    record = json.loads(entry.record.read_text())
    assert record["shape"] == [COUNT, 3, 8, 8] and record["kept"] is None and record["skipped"] == []
    assert record["sha256"] == cache_store.file_sha256(entry.data)
    assert _entry_files(folder) == {entry.data.name, entry.record.name}  # no partial file or journal left
    again = _load(folder)
    assert again.from_cache and np.array_equal(again.images, decoded.images)


def _truncate(entry: cache_store.EntryPaths) -> None:
    os.truncate(entry.data, entry.data.stat().st_size - 5)


def _edit(entry: cache_store.EntryPaths) -> None:
    with open(entry.data, "r+b") as handle:
        handle.seek(100)
        handle.write(b"\x00\x01\x02")


def _other_size(entry: cache_store.EntryPaths) -> None:
    """The rows of 4×4 images under the record of 8×8 ones (the same bytes per image count differs)."""
    record = json.loads(entry.record.read_text())
    record["shape"] = [COUNT, 3, 4, 4]
    entry.record.write_text(json.dumps(record))


def _garbage_record(entry: cache_store.EntryPaths) -> None:
    entry.record.write_text("{not json")


def _missing_data(entry: cache_store.EntryPaths) -> None:
    entry.data.unlink()


@pytest.mark.parametrize(
    ("damage", "why"),
    [
        (_truncate, "truncated"),
        (_edit, "SHA-256"),
        (_other_size, "shape"),
        (_garbage_record, "unreadable"),
        (_missing_data, "missing"),
    ],
)
def test_a_cache_that_does_not_match_its_images_is_rebuilt_with_a_warning(folder, monkeypatch, damage, why):
    _load(folder)
    damage(_entry(folder))
    calls = _count_decodes(monkeypatch)
    warnings: list[str] = []
    again = _load(folder, warnings)
    assert len(calls) == COUNT and not again.from_cache
    assert len(warnings) == 1 and "does not match its images" in warnings[0] and why in warnings[0]
    assert np.array_equal(again.images, _expected(folder))
    assert _load(folder).from_cache  # the rebuilt entry is trusted


class Killed(BaseException):
    """Unwinds like a kill: no ``except Exception`` or ``except OSError`` handler runs."""


#: Every call that writes to the cache during a build, as (owner, attribute).
WRITE_POINTS = (
    (image_cache, "_reserve"),
    (image_cache._PartialFile, "append"),
    (image_cache._PartialFile, "checkpoint"),
    (image_cache._PartialFile, "finish"),
    (cache_store, "publish"),
    (cache_store, "atomic_write_text"),
)


class Faults:
    """Count the build's write calls and stop at call number ``at`` (1-based; None: never)."""

    def __init__(self, monkeypatch, at: int | None = None, mode: str | None = None) -> None:
        self.at, self.mode, self.calls = at, mode, 0
        for owner, name in WRITE_POINTS:
            monkeypatch.setattr(owner, name, self._wrap(getattr(owner, name)))

    def _wrap(self, real):
        def write(*args, **kwargs):
            self.calls += 1
            if self.calls != self.at:
                return real(*args, **kwargs)
            if self.mode == "enospc":
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            if self.mode == "kill-after":
                real(*args, **kwargs)
            raise Killed

        return write


def _write_points(folder: Path, monkeypatch) -> int:
    with monkeypatch.context() as patch:
        faults = Faults(patch)
        _load(folder)
    cache_store.discard(_entry(folder))
    return faults.calls


#: 1 reservation, 5 chunks, 2 journals (each an fsync then an atomic write), finish, publish, record:
#: the last is the commit, and only a kill after it leaves a trusted entry.
LAST_WRITE = 1 + 5 + 2 * 2 + 1 + 1 + 1


def test_a_build_has_a_write_point_of_each_kind(folder, monkeypatch):
    assert _write_points(folder, monkeypatch) == LAST_WRITE


@pytest.mark.parametrize("mode", ["kill-before", "kill-after"])
def test_a_build_killed_at_any_write_resumes_or_rebuilds_to_the_same_images(folder, monkeypatch, mode):
    expected = _expected(folder)
    for at in range(1, _write_points(folder, monkeypatch) + 1):
        with monkeypatch.context() as patch, pytest.raises(Killed):
            Faults(patch, at, mode)
            _load(folder)
        entry = _entry(folder)
        trusted = entry.record.is_file()
        assert trusted == (mode == "kill-after" and at == LAST_WRITE), f"stopped at write {at}"
        warnings: list[str] = []
        again = _load(folder, warnings)
        assert np.array_equal(again.images, expected), f"stopped at write {at}"
        assert not any("does not match" in w for w in warnings), f"stopped at write {at}: {warnings}"
        assert _entry_files(folder) == {entry.data.name, entry.record.name}
        cache_store.discard(entry)


def test_a_full_disk_at_any_write_leaves_nothing_trusted_and_decodes_into_memory(folder, monkeypatch):
    expected = _expected(folder)
    for at in range(1, _write_points(folder, monkeypatch) + 1):
        warnings: list[str] = []
        with monkeypatch.context() as patch:
            Faults(patch, at, "enospc")
            decoded = _load(folder, warnings)
        assert np.array_equal(decoded.images, expected) and decoded.cache_path is None, f"full at write {at}"
        assert len(warnings) == 1 and "cannot write the image cache" in warnings[0] and "No space left" in warnings[0]
        assert _entry_files(folder) == set(), f"full at write {at}: files left behind"
        assert not _load(folder).from_cache  # nothing was trusted: the next run builds the entry
        cache_store.discard(_entry(folder))


def test_a_build_resumes_after_sigkill_decoding_only_the_rest(folder, monkeypatch, image_cache_home):
    script = f"""
import os, signal, sys
from vaelab.data import image_cache
from vaelab.data.image_files import list_images
from vaelab.data.image_options import ImageOptions
image_cache.CHUNK, image_cache.JOURNAL_EVERY = 4, 8
real, calls = image_cache.decode_image, []
def dying(path, *a, **k):
    calls.append(path)
    if len(calls) == 14:
        os.kill(os.getpid(), signal.SIGKILL)
    return real(path, *a, **k)
image_cache.decode_image = dying
image_cache.DECODE_THREADS = 1
image_cache.load_images(list_images({str(folder)!r}), ImageOptions(image_size=8), "x", progress=False)
"""
    env = {**os.environ, "XDG_CACHE_HOME": str(image_cache_home), "PYTHONPATH": "src"}
    result = subprocess.run([sys.executable, "-c", script], env=env, cwd=Path(__file__).parents[1], check=False)
    assert result.returncode == -9
    entry = _entry(folder)
    assert entry.partial.is_file() and entry.journal.is_file() and not entry.record.is_file()
    calls = _count_decodes(monkeypatch)
    warnings: list[str] = []
    decoded = _load(folder, warnings)
    assert warnings == ["resuming the interrupted decoding of test images: 8 of 20 files done"]
    assert len(calls) == COUNT - 8  # the journal's 8 files are not decoded again
    assert np.array_equal(decoded.images, _expected(folder))
    assert json.loads(entry.record.read_text())["sha256"] == cache_store.file_sha256(entry.data)


def test_a_journal_that_does_not_fit_its_partial_file_starts_over(folder, monkeypatch):
    with monkeypatch.context() as patch, pytest.raises(Killed):
        Faults(patch, 8, "kill-after")  # after the first journal
        _load(folder)
    entry = _entry(folder)
    os.truncate(entry.partial, 10)  # the rows the journal records are gone
    expected = _expected(folder)
    calls = _count_decodes(monkeypatch)
    warnings: list[str] = []
    assert np.array_equal(_load(folder, warnings).images, expected)
    assert len(calls) == COUNT and warnings == []


def test_concurrent_readers_decode_once(folder, monkeypatch):
    expected = _expected(folder)
    calls = _count_decodes(monkeypatch)
    results: list[np.ndarray] = []
    threads = [threading.Thread(target=lambda: results.append(_load(folder).images)) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(calls) == COUNT and len(results) == 3
    assert all(np.array_equal(r, expected) for r in results)


def test_an_unreadable_file_under_fail_keeps_nothing(folder):
    (folder / "007.png").write_bytes(b"not a PNG")
    with pytest.raises(DataError, match=r"007\.png"):
        _load(folder)
    assert _entry_files(folder) == set()


def test_skipped_files_are_recorded_and_refused_later_under_fail(folder):
    (folder / "007.png").write_bytes(b"not a PNG")
    warnings: list[str] = []
    decoded = _load(folder, warnings, ImageOptions(image_size=8, on_bad_image="skip"))
    assert len(decoded.images) == COUNT - 1 and 7 not in decoded.kept.tolist()
    record = json.loads(cache_entry(list_images(folder), OPTIONS).record.read_text())
    assert record["kept"] == [i for i in range(COUNT) if i != 7] and record["skipped"][0][0] == "007.png"
    with pytest.raises(DataError, match=r"007\.png"):
        _load(folder)  # read from the cache, still refused


def test_vaelab_data_shows_the_cache_built_interrupted_or_not_yet(folder, monkeypatch):
    def cache_rows():
        checks = check_image_dataset("image-folder", folder, OPTIONS)
        return {c.item: c for c in checks if c.item.startswith("cache")}

    assert {c.status for c in cache_rows().values()} == {"todo"}
    assert all("not decoded yet" in c.detail for c in cache_rows().values())
    with monkeypatch.context() as patch, pytest.raises(Killed):
        Faults(patch, 8, "kill-after")  # after the train split's first journal
        load_image_folder("train", folder, options=OPTIONS, progress=False)
    rows = cache_rows()
    assert rows["cache train"].status == "todo" and "interrupted" in rows["cache train"].detail
    load_image_folder("train", folder, options=OPTIONS, progress=False)
    rows = cache_rows()
    assert rows["cache train"].status == "ok" and "GB" in rows["cache train"].detail
    assert rows["cache test"].status == "todo" and "not decoded yet" in rows["cache test"].detail


def test_caches_of_an_older_vaelab_are_removed_when_a_new_entry_is_built(folder):
    cache = image_cache.image_cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    (cache / "0123abcd.npz").write_bytes(b"x" * 1000)
    warnings: list[str] = []
    _load(folder, warnings)
    assert not (cache / "0123abcd.npz").exists()
    assert warnings == [f"removed 1 image cache file(s) of an older vaelab from {cache} (0.00 GB)"]
    warnings.clear()
    _load(folder, warnings)  # a cache hit removes nothing and says nothing
    assert warnings == []
