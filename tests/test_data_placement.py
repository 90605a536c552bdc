"""Where a run's images wait between batches (``--data-placement``): on the device, or on the host and
read batch by batch from the memory-mapped cache file. Both placements give the same batches, the
same weights and the same metrics, and a run stopped mid-epoch in host placement resumes exactly.
"""

from __future__ import annotations

import dataclasses
import json
import threading
import time

import numpy as np
import pytest
import torch

from conftest import small_config
from fault_injection import _stop_after
from vaelab.data.batching import DeviceImages, resident_images
from vaelab.data.file_rows import FileRows
from vaelab.data.host_images import HostImages
from vaelab.data.prefetch import Prefetcher
from vaelab.errors import ConfigError
from vaelab.training import RunConfig, TrainingInterrupted, train
from vaelab.training import placement as placement_module
from vaelab.training.placement import choose_placement

TIMINGS = ("seconds", "train_seconds", "images_per_second")


def _mapped(array: np.ndarray, path) -> np.memmap:
    """``array`` written to ``path`` and mapped back read-only, as the image cache serves it."""
    array.tofile(path)
    return np.memmap(path, dtype=np.uint8, mode="r", shape=array.shape)


@pytest.fixture
def mapped_sets(tmp_path, train_images, test_images):
    """The tests' synthetic sets with their images memory-mapped from files."""
    return tuple(
        dataclasses.replace(s, images=_mapped(s.images, tmp_path / f"{split}.u8"))
        for split, s in (("train", train_images), ("test", test_images))
    )


# --- reading rows ----------------------------------------------------------------------------------


def test_file_rows_read_what_the_map_holds(tmp_path):
    data = np.random.default_rng(0).integers(0, 256, (50, 3, 4, 4), dtype=np.uint8)
    mapped = _mapped(data, tmp_path / "rows.u8")
    for view in (mapped, mapped[:30], mapped[7:41]):  # the whole map, a head, a slice from an offset
        rows = FileRows.of(view)
        assert rows is not None and rows.count == len(view)
        indices = np.array([3, 4, 5, 0, 22, 21, 9, 10, 11, 12, 2])
        out = np.empty((len(indices), 3, 4, 4), np.uint8)
        rows.read_into(indices, out)
        assert np.array_equal(out, np.asarray(view)[indices])
    assert FileRows.of(data) is None  # an array in memory
    with pytest.raises(IndexError):
        FileRows.of(mapped).read_into(np.array([50]), np.empty((1, 3, 4, 4), np.uint8))


def test_prefetcher_keeps_order_raises_errors_and_stops_when_left():
    assert list(Prefetcher(lambda i: i * i, 7, depth=2)) == [i * i for i in range(7)]

    def failing(i):
        if i == 3:
            raise OSError("disk gone")
        return i

    seen = []
    with pytest.raises(OSError, match="disk gone"):
        for item in Prefetcher(failing, 6):
            seen.append(item)
    assert seen == [0, 1, 2]
    produced = []
    for item in Prefetcher(lambda i: produced.append(i) or i, 1000, depth=2):
        if item == 2:
            break
    time.sleep(0.3)
    assert len(produced) <= 2 + 2 + 1  # the thread stopped, a few items ahead at most
    assert not any(t.name == "vaelab-prefetch" for t in threading.enumerate())


@pytest.mark.parametrize("storage", ["memory", "mapped"])
def test_host_batches_equal_device_batches(tmp_path, storage):
    data = np.random.default_rng(1).integers(0, 256, (53, 1, 8, 8), dtype=np.uint8)
    labels = np.arange(53, dtype=np.int64) % 10
    images = data if storage == "memory" else _mapped(data, tmp_path / "images.u8")
    device, host = DeviceImages(images, labels, torch.device("cpu")), HostImages(images, labels, torch.device("cpu"))
    assert (host.rows is not None) == (storage == "mapped")
    order_device = device.permutation(torch.Generator().manual_seed(5))
    order_host = host.permutation(torch.Generator().manual_seed(5))
    assert torch.equal(order_device, order_host)
    for order in (None, order_host):
        for start, min_last in ((0, 1), (2, 1), (0, 4), (3, 6)):
            expected = list(device.labelled_batches(10, order, start, min_last))
            got = list(host.labelled_batches(10, order, start, min_last))
            assert len(got) == len(expected) == host.num_batches(10, min_last) - start
            for (a, la), (b, lb) in zip(expected, got, strict=True):
                assert torch.equal(a, b) and torch.equal(la, lb)
    assert all(torch.equal(a, b) for a, b in zip(device.first(4), host.first(4), strict=True))


def test_resident_images_copies_a_map_and_shares_memory(tmp_path):
    data = np.random.default_rng(2).integers(0, 256, (9, 3, 5, 5), dtype=np.uint8)
    shared = resident_images(data, torch.device("cpu"))
    assert shared.data_ptr() == data.ctypes.data  # in memory already: no copy
    mapped = _mapped(data, tmp_path / "x.u8")
    copied = resident_images(mapped, torch.device("cpu"))
    assert torch.equal(copied, torch.from_numpy(data)) and copied.data_ptr() != data.ctypes.data


# --- choosing the placement ------------------------------------------------------------------------


def test_auto_placement_and_its_reasons(monkeypatch, tmp_path):
    cpu = torch.device("cpu")
    memory = np.zeros((10, 1, 32, 32), np.uint8)
    chosen = choose_placement("auto", [memory], cpu)
    assert chosen.where == "device" and "already in memory" in chosen.reason
    mapped = _mapped(memory, tmp_path / "m.u8")
    monkeypatch.setattr(placement_module, "available_host_memory", lambda: 100 * mapped.nbytes)
    assert choose_placement("auto", [mapped], cpu).where == "device"
    assert choose_placement("auto", [mapped], cpu, world_size=30).where == "host"  # a copy per process
    monkeypatch.setattr(placement_module, "available_host_memory", lambda: 2 * mapped.nbytes)
    chosen = choose_placement("auto", [mapped], cpu)
    assert chosen.where == "host" and "more than 25%" in chosen.reason and "auto" in chosen.reason
    assert choose_placement("device", [mapped], cpu).where == "device"
    assert choose_placement("host", [memory], cpu).where == "host"
    assert "on the host" in chosen.describe(cpu)


def test_placement_is_an_execution_setting(tmp_path):
    with pytest.raises(ConfigError, match="--data-placement must be one of auto, device, host"):
        small_config(data_placement="disk")
    saved = small_config(data_placement="host")
    resumed = saved.resumed_with(data_placement="device")  # a resume may change it
    assert resumed.data_placement == "device" and resumed.recipe() == saved.recipe()
    old = saved.to_dict()
    del old["data_placement"]  # a config.json of vaelab before the option
    assert RunConfig.from_dict(old).data_placement == "auto"


# --- training ----------------------------------------------------------------------------------------


def _train(run_dir, train_set, test_set, placement, log=None, **overrides):
    config = small_config(data_placement=placement, **overrides)
    return train(config, run_dir, train_set=train_set, test_set=test_set, progress=False, log=log or (lambda s: None))


def _same_run(a, b) -> None:
    wa, wb = a.model.state_dict(), b.model.state_dict()
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    strip = [{k: v for k, v in row.items() if k not in TIMINGS} for row in a.history]
    assert strip == [{k: v for k, v in row.items() if k not in TIMINGS} for row in b.history]


def test_both_placements_train_the_same_weights(tmp_path, train_images, test_images, mapped_sets):
    logs: list[str] = []
    device = _train(tmp_path / "device", train_images, test_images, "device")
    host = _train(tmp_path / "host", *mapped_sets, "host", log=logs.append)
    host_memory = _train(tmp_path / "host-memory", train_images, test_images, "host")
    _same_run(device, host)
    _same_run(device, host_memory)
    assert any("images kept on the host" in line and "--data-placement host" in line for line in logs)
    config = json.loads((tmp_path / "host" / "config.json").read_text())
    assert config["data_placement"] == "host"


@pytest.mark.parametrize("resumed_in", ["host", "device"])
def test_host_placement_resumes_exactly_after_a_stop_mid_epoch_in_either_placement(tmp_path, mapped_sets, resumed_in):
    never_stopped = _train(tmp_path / "whole", *mapped_sets, "device")
    with _stop_after(5), pytest.raises(TrainingInterrupted):
        _train(tmp_path / "stopped", *mapped_sets, "host")
    config = RunConfig.read(tmp_path / "stopped" / "config.json").resumed_with(data_placement=resumed_in)
    train_set, test_set = mapped_sets
    resumed = train(
        config, tmp_path / "stopped", resume=True, train_set=train_set, test_set=test_set, progress=False, log=print
    )
    _same_run(never_stopped, resumed)


def test_labels_reach_a_conditional_model_in_host_placement(tmp_path, train_images, test_images):
    configs = {
        placement: RunConfig.from_preset(
            "cvae", epochs=1, batch_size=40, seed=0, device="cpu", data_placement=placement
        )
        for placement in ("device", "host")
    }
    runs = {
        placement: train(
            config,
            tmp_path / placement,
            train_set=train_images,
            test_set=test_images,
            progress=False,
            log=lambda s: None,
        )
        for placement, config in configs.items()
    }
    _same_run(runs["device"], runs["host"])
