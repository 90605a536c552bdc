"""Atomic writes: all or nothing, and the permissions a plain write would give."""

import os
import stat
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

from vaelab.atomic import atomic_write, atomic_write_text
from vaelab.presentation.outputs import save_json, save_npz


@contextmanager
def umask(mask: int):
    previous = os.umask(mask)
    try:
        yield
    finally:
        os.umask(previous)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize("mask, expected", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_a_new_file_gets_0666_less_the_umask(tmp_path, mask, expected):
    with umask(mask):
        atomic_write_text(tmp_path / "config.json", "{}\n")
        save_npz(tmp_path / "figures" / "data.npz", a=np.arange(3))
        save_json(tmp_path / "figures" / "result.json", {"a": 1})
    for name in ("config.json", "figures/data.npz", "figures/result.json"):
        assert mode(tmp_path / name) == expected, name


def test_a_replaced_file_keeps_its_permissions(tmp_path):
    path = tmp_path / "metrics.jsonl"
    path.write_text("old\n")
    path.chmod(0o640)
    with umask(0o022):
        atomic_write_text(path, "new\n")
    assert path.read_text() == "new\n" and mode(path) == 0o640


def test_a_writer_that_fails_leaves_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "model.safetensors"
    path.write_text("old")

    def fail(tmp: Path) -> None:
        tmp.write_text("half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic_write(path, fail)
    assert path.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.safetensors"]


def test_a_trained_runs_files_are_readable_by_others(tmp_path, train_images, test_images):
    from conftest import small_config
    from vaelab.training import train

    with umask(0o022):
        train(
            small_config(epochs=1),
            tmp_path / "run",
            train_set=train_images,
            test_set=test_images,
            progress=False,
            log=lambda s: None,
        )
    names = ("config.json", "model.safetensors", "metrics.jsonl", "checkpoint.safetensors")
    assert {name: mode(tmp_path / "run" / name) for name in names} == dict.fromkeys(names, 420)
