"""Reading the loss sums during an epoch without making the host wait for the GPU.

The loss sums live on the device. On a GPU, :class:`SumsReader` starts a non-blocking copy of
them into pinned host memory at each read and returns the copy made at the *previous* read, which
finished long ago: the progress bar, the NaN check and TensorBoard's points lag by one interval,
and the GPU's queue never drains. On the CPU there is nothing to wait for and the current sums
are returned. The end of an epoch always reads the exact sums.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class SumsCopy:
    """The sums as they stood after the caller's step ``step``: one value per loss term (Σ term ×
    images) over ``images`` images."""

    step: int
    images: int
    values: tuple[float, ...]


class SumsReader:
    """Copies of ``sums`` (a device tensor that a training step adds to), read every few steps."""

    def __init__(self, sums: torch.Tensor) -> None:
        self.sums = sums
        on_gpu = sums.device.type == "cuda"
        self.host = torch.zeros(sums.shape, dtype=sums.dtype, pin_memory=on_gpu)
        self.event = torch.cuda.Event() if on_gpu else None
        self.pending: tuple[int, int] | None = None  # (step, images) of the copy in flight

    def read(self, step: int, images: int) -> SumsCopy | None:
        """The sums now, after step ``step`` over ``images`` images — on a GPU, the copy of the
        previous call instead (``None`` at the first call)."""
        if self.event is None:
            return SumsCopy(step, images, tuple(self.sums.tolist()))
        previous = self.drain()
        self.host.copy_(self.sums, non_blocking=True)
        self.event.record()
        self.pending = (step, images)
        return previous

    def drain(self) -> SumsCopy | None:
        """The copy still in flight on a GPU (waiting for it, and only once); None on the CPU."""
        if self.event is None or self.pending is None:
            return None
        self.event.synchronize()
        (step, images), self.pending = self.pending, None
        return SumsCopy(step, images, tuple(self.host.tolist()))


class RunningLoss:
    """Running mean of the first term of ``sums`` (Σ loss × images), read every few steps."""

    def __init__(self, sums: torch.Tensor) -> None:
        self.sums = sums
        self.reader = SumsReader(sums)

    def read(self, images: int) -> float | None:
        """The mean loss over ``images`` (those the sums hold now) — on a GPU, over the images of
        the previous call instead (``None`` at the first call of an epoch)."""
        copy = self.reader.read(0, images)
        return copy.values[0] / copy.images if copy is not None and copy.images else None
