"""Reading the running loss during an epoch without making the host wait for the GPU.

The loss sums live on the device. On a GPU, :class:`RunningLoss` starts a non-blocking copy of
them into pinned host memory at each check and returns the value copied at the *previous* check,
which finished long ago: the progress bar and the NaN check lag by one interval, and the GPU's
queue never drains. On the CPU there is nothing to wait for and the current value is returned.
The end of an epoch always reads the exact sums.
"""

from __future__ import annotations

import torch


class RunningLoss:
    """Running mean of the first term of ``sums`` (Σ loss × images), read every few steps."""

    def __init__(self, sums: torch.Tensor) -> None:
        self.sums = sums
        on_gpu = sums.device.type == "cuda"
        self.host = torch.zeros(sums.shape, dtype=sums.dtype, pin_memory=on_gpu)
        self.event = torch.cuda.Event() if on_gpu else None
        self.copied_images = 0

    def read(self, images: int) -> float | None:
        """The mean loss over ``images`` (those the sums hold now) — on a GPU, over the images of
        the previous call instead (``None`` at the first call of an epoch)."""
        if self.event is None:
            return self.sums[0].item() / images if images else None
        value = None
        if self.copied_images:
            self.event.synchronize()
            value = self.host[0].item() / self.copied_images
        self.host.copy_(self.sums, non_blocking=True)
        self.event.record()
        self.copied_images = images
        return value
