"""The judge's network: a small CNN on Fashion-MNIST's padded 32×32 images, and what it accepts.

Two blocks of [Conv 3×3 → BatchNorm → ReLU] × 2 → MaxPool 2 (32 then 64 channels), Flatten
(64·8·8) → Linear 128 → ReLU, which is the 128-d feature space, then Dropout 0.3 → Linear 10 (the
logits). :func:`apply_in_batches` runs a function of the network over images in batches, after
:func:`as_image_tensor` has checked them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn

from vaelab.data.preprocess import to_unit_float
from vaelab.errors import JudgeError

JUDGE_DATASET = "fashion-mnist"
"""The only dataset whose images the judge can score."""
IMAGE_SHAPE = (1, 32, 32)
NUM_CLASSES = 10
FEATURE_DIM = 128
BATCH_SIZE = 500
"""Images per forward pass when scoring."""


class JudgeNet(nn.Module):
    """The judge's CNN on 1×32×32 images in [0, 1]: ``features`` [N, 128], ``forward`` logits [N, 10]."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(
            _conv_block(1, 32),
            _conv_block(32, 32),
            nn.MaxPool2d(2),
            _conv_block(32, 64),
            _conv_block(64, 64),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(64 * 8 * 8, FEATURE_DIM),
            nn.ReLU(inplace=True),
        )
        self.head = nn.Sequential(nn.Dropout(0.3), nn.Linear(FEATURE_DIM, NUM_CLASSES))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The 128-d feature vectors (after the ReLU of the penultimate layer) of images [N, 1, 32, 32]."""
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits [N, 10]."""
        return self.head(self.body(x))


def _conv_block(in_channels: int, out_channels: int) -> nn.Sequential:
    """Conv 3×3 "same" (no bias: BatchNorm follows) → BatchNorm → ReLU."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


def check_judge_applies(dataset: str) -> None:
    """A JudgeError unless runs on ``dataset`` can be scored by the judge (Fashion-MNIST only)."""
    if dataset != JUDGE_DATASET:
        raise JudgeError(
            f"diagnose and evaluate score images with the judge, a Fashion-MNIST classifier, so they measure "
            f"Fashion-MNIST runs only; this run trained on {dataset} (its analyses: vaelab reconstruct, embed, "
            "generate, grid, attribute, arithmetic, morph)"
        )


@torch.no_grad()
def apply_in_batches(
    model: JudgeNet, fn: Callable[[torch.Tensor], torch.Tensor], images: Any, batch_size: int, width: int
) -> np.ndarray:
    """``fn`` (a function of ``model``, in eval mode) of ``images`` in batches: float32 [N, ``width``].

    Images are floats in [0, 1] (numpy or torch) or uint8 (scaled by 1/255, as for training), [N, 1, 32, 32].
    """
    images = as_image_tensor(images)
    model.eval()
    device = next(model.parameters()).device
    chunks = []
    for begin in range(0, len(images), batch_size):
        batch = images[begin : begin + batch_size].to(device)
        x = to_unit_float(batch) if batch.dtype == torch.uint8 else batch.to(torch.float32)
        chunks.append(fn(x).float().cpu())
    return torch.cat(chunks).numpy() if chunks else np.zeros((0, width), np.float32)


def as_image_tensor(images: Any) -> torch.Tensor:
    """``images`` as a torch tensor [N, 1, 32, 32]; ValueError for another shape or floats outside [0, 1]."""
    tensor = images if torch.is_tensor(images) else torch.from_numpy(np.require(images, requirements=["C", "W"]))
    if tensor.ndim != 4 or tuple(tensor.shape[1:]) != IMAGE_SHAPE:
        raise ValueError(f"the judge needs images [N, 1, 32, 32], got shape {tuple(tensor.shape)}")
    if tensor.dtype != torch.uint8:
        if not tensor.is_floating_point():
            raise ValueError(f"the judge needs float images in [0, 1] or uint8 images, got {tensor.dtype}")
        if len(tensor) and (tensor.min().item() < -1e-4 or tensor.max().item() > 1 + 1e-4):
            raise ValueError(
                f"the judge needs float images in [0, 1], got values in "
                f"[{tensor.min().item():.3g}, {tensor.max().item():.3g}] (divide 0–255 images by 255)"
            )
    return tensor
