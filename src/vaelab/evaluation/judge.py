"""The judge: a Fashion-MNIST classifier that scores generated images.

Metrics of generated images (the Fréchet distance, precision and recall, class coverage) need a
fixed function that maps an image to class probabilities and to a feature vector. vaelab trains
its own small CNN once (``vaelab judge train``) on the padded 32×32 images and caches it in the
user cache (``$XDG_CACHE_HOME/vaelab/judge`` or ``~/.cache/vaelab/judge``):

* ``fashion-mnist-judge.safetensors`` — the weights, with the training record (accuracy, epochs,
  seed, creation time, vaelab version) as JSON in the file's metadata;
* ``fashion-mnist-judge.json`` — the same record plus the file's ``hash``: the first 16 hex digits
  of the SHA-256 of the weights file's bytes.

Loading checks the hash, so a changed or damaged file is refused; every metric records the judge's
hash and accuracy (:func:`judge_summary`), so numbers computed with different judges are never
compared by mistake.

The network: two blocks of [Conv 3×3 → BatchNorm → ReLU] × 2 → MaxPool 2 (32 then 64 channels),
Flatten (64·8·8) → Linear 128 → ReLU, which is the 128-d feature space, then Dropout 0.3 →
Linear 10 (the logits).
"""

from __future__ import annotations

import json
import math
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from safetensors import SafetensorError
from safetensors.torch import load as load_safetensors_bytes
from safetensors.torch import save_file
from torch import nn

from vaelab import __version__
from vaelab.atomic import atomic_write, atomic_write_text
from vaelab.data.batching import DeviceImages
from vaelab.data.fashion_mnist import CLASS_NAMES, load_fashion_mnist
from vaelab.data.image_set import ImageSet
from vaelab.data.locations import user_cache_dir
from vaelab.data.preprocess import to_unit_float
from vaelab.errors import JudgeError, TrainingDivergedError
from vaelab.hashing import file_hash, short_hash
from vaelab.progress import progress_bar
from vaelab.training.device import resolve_device

JUDGE_NAME = "fashion-mnist-judge"
JUDGE_DATASET = "fashion-mnist"
"""The only dataset whose images the judge can score."""
WEIGHTS_FILE = f"{JUDGE_NAME}.safetensors"
RECORD_FILE = f"{JUDGE_NAME}.json"
FORMAT = "vaelab-judge-1"
IMAGE_SHAPE = (1, 32, 32)
NUM_CLASSES = 10
FEATURE_DIM = 128
BATCH_SIZE = 500
TRAIN_MINUTES_CPU = 12
"""Wall time of ``vaelab judge train`` (8 epochs on 60,000 images) on a 2-core CPU, rounded up
from the 11 min 17 s measured on the build machine; quoted in the "no judge" message."""


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


@dataclass
class JudgeResult:
    """What :func:`train_judge` returns: the model (eval mode), its final test accuracy, per-epoch rows."""

    model: JudgeNet
    accuracy: float
    history: list[dict[str, Any]]


@dataclass
class Judge:
    """A trained judge loaded for scoring: the model in eval mode, its accuracy, hash and file.

    ``record`` is the training record (accuracy, epochs, seed, created, vaelab version, ...).
    """

    model: JudgeNet
    accuracy: float
    hash: str
    path: Path
    record: dict[str, Any] = field(default_factory=dict)

    @property
    def record_path(self) -> Path:
        """The sidecar JSON beside the weights (the record and the hash)."""
        return self.path.with_name(RECORD_FILE)

    @property
    def device(self) -> torch.device:
        """Where the model computes."""
        return next(self.model.parameters()).device

    def predict_proba(self, images: np.ndarray | torch.Tensor, batch_size: int = BATCH_SIZE) -> np.ndarray:
        """Class probabilities [N, 10] (float32) of images [N, 1, 32, 32].

        Images are floats in [0, 1] (numpy or torch) or uint8 (scaled by 1/255, as for training).
        """
        return self._apply(lambda x: torch.softmax(self.model(x), dim=1), images, batch_size, NUM_CLASSES)

    def features(self, images: np.ndarray | torch.Tensor, batch_size: int = BATCH_SIZE) -> np.ndarray:
        """The judge's 128-d feature vectors [N, 128] (float32) of images, as :meth:`predict_proba`."""
        return self._apply(self.model.features, images, batch_size, FEATURE_DIM)

    @torch.no_grad()
    def _apply(
        self, fn: Callable[[torch.Tensor], torch.Tensor], images: Any, batch_size: int, width: int
    ) -> np.ndarray:
        images = _as_image_tensor(images)
        self.model.eval()
        device = self.device
        chunks = []
        for begin in range(0, len(images), batch_size):
            batch = images[begin : begin + batch_size].to(device)
            x = to_unit_float(batch) if batch.dtype == torch.uint8 else batch.to(torch.float32)
            chunks.append(fn(x).float().cpu())
        return torch.cat(chunks).numpy() if chunks else np.zeros((0, width), np.float32)


def _as_image_tensor(images: Any) -> torch.Tensor:
    """``images`` as a torch tensor [N, 1, 32, 32]; ValueError for another shape or floats outside [0, 1]."""
    tensor = images if torch.is_tensor(images) else torch.from_numpy(np.ascontiguousarray(images))
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


# --------------------------------------------------------------------------------------------- training


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
    steps = train_data.num_batches(batch_size)
    total_steps = epochs * steps
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: 0.5 * (1 + math.cos(math.pi * min(step, total_steps) / total_steps))
    )
    shuffle = torch.Generator().manual_seed(seed)
    shifts = torch.Generator().manual_seed(seed + 1)
    history: list[dict[str, Any]] = []
    for epoch in range(1, epochs + 1):
        model.train()
        order = train_data.permutation(shuffle)
        loss_sum = torch.zeros((), dtype=torch.float64, device=target)
        correct = torch.zeros((), dtype=torch.int64, device=target)
        started = time.perf_counter()
        bar = progress_bar(total=steps, desc=f"judge epoch {epoch}/{epochs}", unit="batch", enabled=progress)
        with bar:
            for begin in range(0, len(train_data), batch_size):
                index = order[begin : begin + batch_size]
                x = to_unit_float(train_data.images.index_select(0, index))
                y = train_data.labels.index_select(0, index)
                if shift:
                    x = random_shift(x, shift, shifts)
                logits = model(x)
                loss = F.cross_entropy(logits, y)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                scheduler.step()
                loss_sum += loss.detach().double() * len(y)
                correct += (logits.detach().argmax(1) == y).sum()
                bar.update(1)
        train_seconds = time.perf_counter() - started
        train_loss = loss_sum.item() / len(train_data)
        if not math.isfinite(train_loss):
            raise TrainingDivergedError(
                f"the judge's training loss became {train_loss} in epoch {epoch}; "
                "try a lower learning rate or another --seed"
            )
        test_accuracy = accuracy(model, test_data, batch=max(batch_size, BATCH_SIZE))
        row = {
            "epoch": epoch,
            "train_loss": train_loss,
            "train_accuracy": correct.item() / len(train_data),
            "test_accuracy": test_accuracy,
            "seconds": round(time.perf_counter() - started, 3),
            "images_per_second": round(len(train_data) / train_seconds, 1),
        }
        history.append(row)
        log(
            f"judge epoch {epoch}/{epochs}: train loss {train_loss:.4f}, train accuracy "
            f"{row['train_accuracy']:.2%}, test accuracy {test_accuracy:.2%} "
            f"({row['seconds']:.1f} s, {row['images_per_second']:.0f} images/s)"
        )
    model.eval()
    return JudgeResult(model, history[-1]["test_accuracy"], history)


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
    for begin in range(0, len(data), batch):
        x = to_unit_float(data.images[begin : begin + batch])
        correct += (model(x).argmax(1) == data.labels[begin : begin + batch]).sum()
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


# --------------------------------------------------------------------------------------------- the cache


def default_judge_dir() -> Path:
    """Where the judge is cached: ``user_cache_dir() / "judge"``."""
    return user_cache_dir() / "judge"


def save_judge(
    model: JudgeNet, accuracy: float, meta: dict[str, Any] | None = None, folder: str | Path | None = None
) -> Judge:
    """Write the judge's weights and record into ``folder`` (default :func:`default_judge_dir`).

    ``meta`` (e.g. epochs, seed, data sizes) joins the record, which is stored as JSON in the
    safetensors metadata and, with the weights file's hash, in the sidecar ``fashion-mnist-judge.json``.
    Both files are written atomically; an existing judge is replaced. Returns the saved judge.
    """
    folder = Path(folder) if folder is not None else default_judge_dir()
    record: dict[str, Any] = {
        "format": FORMAT,
        "accuracy": float(accuracy),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "vaelab_version": __version__,
        **(meta or {}),
    }
    tensors = {key: value.detach().to("cpu").contiguous().clone() for key, value in model.state_dict().items()}
    weights = folder / WEIGHTS_FILE
    metadata = {"format": FORMAT, "record": json.dumps(record)}
    atomic_write(weights, lambda tmp: save_file(tensors, str(tmp), metadata=metadata))
    digest = file_hash(weights)
    sidecar = {**record, "hash": digest, "weights": WEIGHTS_FILE, "classes": list(CLASS_NAMES)}
    atomic_write_text(folder / RECORD_FILE, json.dumps(sidecar, indent=2) + "\n")
    return Judge(model.eval(), float(accuracy), digest, weights, sidecar)


def check_judge_applies(dataset: str) -> None:
    """A JudgeError unless runs on ``dataset`` can be scored by the judge (Fashion-MNIST only)."""
    if dataset != JUDGE_DATASET:
        raise JudgeError(
            f"diagnose and evaluate score images with the judge, a Fashion-MNIST classifier, so they measure "
            f"Fashion-MNIST runs only; this run trained on {dataset} (its analyses: vaelab reconstruct, embed, "
            "generate, grid, attribute, arithmetic, morph)"
        )


def load_judge(device: str = "cpu", folder: str | Path | None = None) -> Judge:
    """The cached judge on ``device``, in eval mode, after checking its file against the recorded hash.

    A JudgeError (one line) when there is no judge, the record is missing or unreadable, the
    weights file differs from its recorded hash, or it is not a vaelab judge.
    """
    folder = Path(folder) if folder is not None else default_judge_dir()
    weights, record_path = folder / WEIGHTS_FILE, folder / RECORD_FILE
    retrain = "retrain it with `vaelab judge train`"
    if not weights.is_file():
        raise JudgeError(
            f"no judge classifier in {folder}; train it once with `vaelab judge train` "
            f"(about {TRAIN_MINUTES_CPU} minutes on CPU)"
        )
    if not record_path.is_file():
        raise JudgeError(f"{weights} has no {RECORD_FILE} beside it, which records its hash; {retrain}")
    try:
        sidecar = json.loads(record_path.read_text(encoding="utf-8"))
        expected = sidecar["hash"]
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as exc:
        raise JudgeError(f"{record_path} is unreadable ({type(exc).__name__}: {exc}); {retrain}") from None
    data = weights.read_bytes()
    digest = short_hash(data)
    if digest != expected:
        raise JudgeError(
            f"{weights} has hash {digest} but {record_path} records {expected}: the file was changed or "
            f"damaged; {retrain}"
        )
    tensors, metadata = _parse_safetensors(data, weights, retrain)
    try:
        record = json.loads(metadata["record"]) if metadata.get("format") == FORMAT else None
    except (KeyError, ValueError):
        record = None
    accuracy = record.get("accuracy") if isinstance(record, dict) else None
    if isinstance(accuracy, bool) or not isinstance(accuracy, (int, float)):
        raise JudgeError(f"{weights} is not a vaelab judge ({FORMAT}); {retrain}")
    if sidecar.get("accuracy") != record["accuracy"]:
        raise JudgeError(
            f"{record_path} records accuracy {sidecar.get('accuracy')} but {weights} was saved with "
            f"{record['accuracy']}; {retrain}"
        )
    model = JudgeNet()
    try:
        model.load_state_dict(tensors)
    except RuntimeError:
        raise JudgeError(f"the weights in {weights} do not fit this vaelab's judge network; {retrain}") from None
    model = model.to(resolve_device(device)).eval()
    return Judge(model, float(record["accuracy"]), digest, weights, {**record, "hash": digest})


def _parse_safetensors(data: bytes, path: Path, fix: str) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Tensors and metadata of safetensors ``data`` (the bytes already hashed, so none are re-read)."""
    try:
        tensors = load_safetensors_bytes(data)
        (header_size,) = struct.unpack("<Q", data[:8])
        header = json.loads(data[8 : 8 + header_size])
    except (SafetensorError, struct.error, ValueError, UnicodeDecodeError) as exc:
        raise JudgeError(f"{path} is corrupt or truncated ({type(exc).__name__}); {fix}") from None
    return tensors, header.get("__metadata__") or {}


def judge_summary(judge: Judge) -> dict[str, Any]:
    """What every metric records about the judge it used: ``hash``, ``accuracy``, ``path``."""
    return {"hash": judge.hash, "accuracy": judge.accuracy, "path": str(judge.path)}


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
    images, and cache it (what ``vaelab judge train`` does)."""
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
