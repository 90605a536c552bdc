"""One training batch as the objectives see it."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class Batch:
    """The images of one step, in [0, 1], and what a family may need beside them.

    Attributes:
        inputs: what the model encodes: the images, corrupted for a denoising run.
        targets: the clean images the reconstruction is scored against.
        labels: the images' classes (int64 [N]), for a conditional family; None otherwise.
        dataset_size: the number of training images (β-TCVAE's minibatch-weighted sampling needs it).
    """

    inputs: torch.Tensor
    targets: torch.Tensor
    labels: torch.Tensor | None = None
    dataset_size: int = 0

    def __len__(self) -> int:
        return self.inputs.shape[0]
