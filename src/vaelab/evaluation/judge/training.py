"""Training the judge: its own short loop (Adam, cosine decay, random shifts), and ``vaelab judge train``.

The judge is not a latent model, so it does not go through :mod:`vaelab.training`'s trainer: one
loop here trains it on labelled images kept on the device as uint8, reports the test accuracy
after each epoch, and :func:`train_and_save_judge` caches the result (:mod:`.storage`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from vaelab.data.batching import DeviceImages
from vaelab.data.fashion_mnist import load_fashion_mnist
from vaelab.data.image_set import ImageSet
from vaelab.data.preprocess import to_unit_float
from vaelab.errors import JudgeError, TrainingDivergedError
from vaelab.evaluation.judge.network import BATCH_SIZE, IMAGE_SHAPE, NUM_CLASSES, JudgeNet
from vaelab.evaluation.judge.storage import Judge, default_judge_dir, save_judge
from vaelab.folders import check_folder_possible
from vaelab.progress import progress_bar
from vaelab.training.device import resolve_device


@dataclass
class JudgeResult:
    """What :func:`train_judge` returns: the model (eval mode), its final test accuracy, per-epoch rows."""

    model: JudgeNet
    accuracy: float
    history: list[dict[str, Any]]


def train_judge(
    train: ImageSet,
    test: ImageSet,
    *,
    epochs: int = 8,
    batch_size: int = 128,
    lr: float = 1e-3,
    seed: int = 0,
    shift: int = 2,
    device: str = "auto",
    progress: bool = True,
    log: Callable[[str], None] = print,
) -> JudgeResult:
    """Train a judge on the labelled images of ``train``, reporting accuracy on ``test`` after each epoch.

    Adam with learning rate ``lr``, decayed along a cosine to 0 over all steps; cross-entropy.
    Each training batch is shifted by a random whole number of pixels in [−``shift``, ``shift``]
    along each axis (zeros shifted in; 0 turns this off). There are no flips: every shoe in
    Fashion-MNIST points the same way. The data stays on ``device`` as uint8. The same seed, data,
    device and thread count give the same model.
    """
    _check_labelled(train, "train")
    _check_labelled(test, "test")
    if epochs < 1 or batch_size < 1 or shift < 0:
        raise ValueError(
            f"train_judge needs epochs >= 1, batch_size >= 1, shift >= 0; got {epochs}, {batch_size}, {shift}"
        )
    target = resolve_device(device)
    torch.manual_seed(seed)
    model = JudgeNet().to(target)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    train_data = DeviceImages(train.images, train.labels, target)
    test_data = DeviceImages(test.images, test.labels, target)
    total_steps = epochs * train_data.num_batches(batch_size)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: 0.5 * (1 + math.cos(math.pi * min(step, total_steps) / total_steps))
    )
    shuffle = torch.Generator().manual_seed(seed)
    shifts = torch.Generator().manual_seed(seed + 1)
    augment = (lambda x: random_shift(x, shift, shifts)) if shift else None
    history: list[dict[str, Any]] = []
    for epoch in range(1, epochs + 1):
        started = time.perf_counter()
        order = train_data.permutation(shuffle)
        bar = progress_bar(
            total=train_data.num_batches(batch_size),
            desc=f"judge epoch {epoch}/{epochs}",
            unit="batch",
            enabled=progress,
        )
        with bar:
            train_loss, train_accuracy = _train_epoch(
                model, optimizer, scheduler, train_data, order, batch_size, augment, bar
            )
        train_seconds = time.perf_counter() - started
        if not math.isfinite(train_loss):
            raise TrainingDivergedError(
                f"the judge's training loss became {train_loss} in epoch {epoch}; "
                "try a lower learning rate or another --seed"
            )
        row = {
            "epoch": epoch,
            "train_loss": train_loss,
            "train_accuracy": train_accuracy,
            "test_accuracy": accuracy(model, test_data, batch=max(batch_size, BATCH_SIZE)),
            "seconds": round(time.perf_counter() - started, 3),
            "images_per_second": round(len(train_data) / train_seconds, 1),
        }
        history.append(row)
        log(
            f"judge epoch {epoch}/{epochs}: train loss {train_loss:.4f}, train accuracy "
            f"{row['train_accuracy']:.2%}, test accuracy {row['test_accuracy']:.2%} "
            f"({row['seconds']:.1f} s, {row['images_per_second']:.0f} images/s)"
        )
    model.eval()
    return JudgeResult(model, history[-1]["test_accuracy"], history)


def _train_epoch(
    model: JudgeNet,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    data: DeviceImages,
    order: torch.Tensor,
    batch_size: int,
    augment: Callable[[torch.Tensor], torch.Tensor] | None,
    bar: tqdm,
) -> tuple[float, float]:
    """One pass over ``data`` in ``order`` (each batch through ``augment``, if any): the mean training loss
    and the training accuracy. ``bar`` advances by one per batch."""
    model.train()
    loss_sum = torch.zeros((), dtype=torch.float64, device=data.device)
    correct = torch.zeros((), dtype=torch.int64, device=data.device)
    labels = data.required_labels()
    for begin in range(0, len(data), batch_size):
        index = order[begin : begin + batch_size]
        x = to_unit_float(data.images.index_select(0, index))
        y = labels.index_select(0, index)
        if augment is not None:
            x = augment(x)
        logits = model(x)
        loss = F.cross_entropy(logits, y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
        loss_sum += loss.detach().double() * len(y)
        correct += (logits.detach().argmax(1) == y).sum()
        bar.update(1)
    return loss_sum.item() / len(data), correct.item() / len(data)


def random_shift(x: torch.Tensor, shift: int, generator: torch.Generator) -> torch.Tensor:
    """Each image of ``x`` [N, C, H, W] moved by its own random offsets in [−shift, shift] (zeros fill in).

    The offsets are drawn on the CPU from ``generator``, so they do not depend on the device.
    """
    count, _, height, width = x.shape
    offsets = torch.randint(0, 2 * shift + 1, (count, 2), generator=generator).to(x.device)
    padded = F.pad(x, (shift, shift, shift, shift))
    rows = offsets[:, 0, None] + torch.arange(height, device=x.device)
    cols = offsets[:, 1, None] + torch.arange(width, device=x.device)
    picked = padded[torch.arange(count, device=x.device)[:, None, None], :, rows[:, :, None], cols[:, None, :]]
    return picked.permute(0, 3, 1, 2).contiguous()  # advanced indexing put the channel axis last


@torch.no_grad()
def accuracy(model: nn.Module, data: DeviceImages, batch: int = BATCH_SIZE) -> float:
    """The share of ``data``'s images whose most probable class is their label (eval mode)."""
    was_training = model.training
    model.eval()
    correct = torch.zeros((), dtype=torch.int64, device=data.device)
    labels = data.required_labels()
    for begin in range(0, len(data), batch):
        x = to_unit_float(data.images[begin : begin + batch])
        correct += (model(x).argmax(1) == labels[begin : begin + batch]).sum()
    model.train(was_training)
    return correct.item() / len(data)


def _check_labelled(images: ImageSet, split: str) -> None:
    if images.labels is None or images.image_shape != IMAGE_SHAPE or len(images.class_names) != NUM_CLASSES:
        raise ValueError(
            f"the judge's {split} set must be labelled images [N, 1, 32, 32] of {NUM_CLASSES} classes; "
            f"{images.name!r} has shape {images.image_shape}, {len(images.class_names)} classes"
            f"{', no labels' if images.labels is None else ''}"
        )
    if len(images) == 0:
        raise ValueError(f"the judge's {split} set {images.name!r} is empty")


def train_and_save_judge(
    *,
    epochs: int = 8,
    seed: int = 0,
    batch_size: int = 128,
    lr: float = 1e-3,
    shift: int = 2,
    device: str = "auto",
    data_dir: str | Path | None = None,
    progress: bool = True,
    log: Callable[[str], None] = print,
    folder: str | Path | None = None,
) -> Judge:
    """Train the judge on the 60,000 Fashion-MNIST training images, test it on the 10,000 test
    images, and cache it (what ``vaelab judge train`` does). A cache folder that cannot be written
    is refused before training, not after."""
    folder = Path(folder) if folder is not None else default_judge_dir()
    check_folder_possible(folder, JudgeError, "set XDG_CACHE_HOME to a writable folder")
    train = load_fashion_mnist("train", data_dir)
    test = load_fashion_mnist("test", data_dir)
    result = train_judge(
        train,
        test,
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        seed=seed,
        shift=shift,
        device=device,
        progress=progress,
        log=log,
    )
    meta = {
        "epochs": epochs,
        "seed": seed,
        "batch_size": batch_size,
        "lr": lr,
        "shift": shift,
        "train_images": len(train),
        "test_images": len(test),
        "test_accuracy_per_epoch": [row["test_accuracy"] for row in result.history],
    }
    return save_judge(result.model, result.accuracy, meta, folder)
