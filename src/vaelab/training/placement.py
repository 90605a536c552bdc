"""Choosing where a run's images wait between batches: ``--data-placement auto|device|host``.

* ``device``: the whole uint8 set copied to the training device once
  (:class:`~vaelab.data.batching.DeviceImages`), every batch one index-select there. The fastest
  when it fits; on the CPU, a set already in memory (Fashion-MNIST) is used where it is.
* ``host``: the images stay in their memory-mapped cache file, and each batch is read from it by a
  background thread (:class:`~vaelab.data.host_images.HostImages`): the page cache holds the data
  once per machine, whatever the number of torchrun processes.
* ``auto`` (the default): ``device`` when the images take at most :data:`DEVICE_SHARE` of the
  device's free memory (on the CPU, of the memory available, once per torchrun process), else
  ``host``. The run's log says which it chose and why.

Both give the same batches in the same order, so the choice never changes a run's numbers.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import torch

from vaelab.choices import DATA_PLACEMENTS as PLACEMENTS
from vaelab.data.batching import DeviceImages
from vaelab.data.host_images import HostImages

__all__ = ["PLACEMENTS", "Placement", "choose_placement"]

#: ``auto`` keeps the images on the device when they take at most this share of its free memory.
DEVICE_SHARE = 0.25


@dataclass(frozen=True)
class Placement:
    """Where the images go (``device`` or ``host``) and why; ``obvious`` for a set in memory that
    stays where it is (the run's log does not mention it)."""

    where: str
    reason: str
    obvious: bool = False

    def images(self, images: np.ndarray, labels: np.ndarray | None, device: torch.device) -> DeviceImages | HostImages:
        """``images`` batched from this placement onto ``device``."""
        kind = DeviceImages if self.where == "device" else HostImages
        return kind(images, labels, device)

    def describe(self, device: torch.device) -> str:
        where = f"on the device ({device})" if self.where == "device" else "on the host, read batch by batch"
        return f"images kept {where}: {self.reason}"


def choose_placement(requested: str, arrays: list[np.ndarray], device: torch.device, world_size: int = 1) -> Placement:
    """The placement of ``arrays`` (a run's training and validation images) for ``requested``
    (``auto``, ``device`` or ``host``) on ``device``, for one of ``world_size`` processes."""
    size = sum(int(a.nbytes) for a in arrays)
    if requested != "auto":
        return Placement(requested, f"{describe_bytes(size)}, as --data-placement {requested} asks")
    in_memory = all(a.flags.writeable and not isinstance(a, np.memmap) for a in arrays)
    if device.type == "cpu" and in_memory:
        return Placement("device", f"{describe_bytes(size)}, already in memory (--data-placement auto)", obvious=True)
    needed = size * (world_size if device.type == "cpu" else 1)
    free = free_memory(device)
    share = f"{describe_bytes(needed)} of the {describe_bytes(free)} free"
    if needed <= DEVICE_SHARE * free:
        return Placement("device", f"{share} (--data-placement auto)")
    return Placement("host", f"{share}, more than {DEVICE_SHARE:.0%} (--data-placement auto; device forces the copy)")


def free_memory(device: torch.device) -> int:
    """Bytes free on ``device``: the GPU's free memory, or the host's available memory."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free)
    return available_host_memory()


def available_host_memory() -> int:
    """``MemAvailable`` of ``/proc/meminfo`` (Linux), else the physical memory's size."""
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))


def describe_bytes(size: int) -> str:
    """E.g. ``61 MB``, ``2.4 GB``."""
    if size >= 1e9:
        return f"{size / 1e9:.1f} GB"
    return f"{size / 1e6:.0f} MB" if size >= 1e6 else f"{size / 1e3:.0f} kB"
