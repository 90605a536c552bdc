"""Synthetic face-like images written in CelebA's layouts, and a detector of their mouth.

Each image is a skin-coloured oval on a random background with two eyes and hair; the
``Smiling`` column decides the mouth: a wide dark-red mouth when 1, a faint thin line when -1.
``Eyeglasses`` draws dark frames round the eyes and ``Blond_Hair`` makes the hair yellow;
``Male`` and ``Young`` are random and change nothing visible.
"""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

NAMES = ("Blond_Hair", "Eyeglasses", "Male", "Smiling", "Young")
WIDTH, HEIGHT = 40, 48  # CelebA's aligned images are 178 × 218: about the same aspect ratio

#: Fractions of the image (left, top, right, bottom) where the mouth is, and a cheek-level
#: reference strip of plain skin just above it.
MOUTH_BOX = (0.33, 0.64, 0.67, 0.74)
SKIN_BOX = (0.33, 0.50, 0.67, 0.58)


def face_image(rng: np.random.Generator, attributes: dict[str, bool]) -> Image.Image:
    """One synthetic face with the given attributes."""
    background = tuple(int(v) for v in rng.integers(30, 220, 3))
    image = Image.new("RGB", (WIDTH, HEIGHT), background)
    draw = ImageDraw.Draw(image)
    dx, dy = (int(v) for v in rng.integers(-1, 2, 2))
    skin = tuple(int(v) for v in np.clip(np.array([225, 185, 155]) + rng.integers(-15, 16, 3), 0, 255))
    hair = (235, 205, 80) if attributes["Blond_Hair"] else (70, 45, 30)
    draw.ellipse((6 + dx, 2 + dy, 34 + dx, 26 + dy), fill=hair)
    draw.ellipse((7 + dx, 7 + dy, 33 + dx, 45 + dy), fill=skin)
    for x in (14, 26):
        draw.ellipse((x - 2 + dx, 19 + dy, x + 2 + dx, 22 + dy), fill=(40, 30, 30))
        if attributes["Eyeglasses"]:
            draw.rectangle((x - 4 + dx, 17 + dy, x + 4 + dx, 24 + dy), outline=(10, 10, 10))
    if attributes["Smiling"]:
        draw.ellipse((12 + dx, 30 + dy, 28 + dx, 37 + dy), fill=(120, 20, 30))
    else:
        draw.line((16 + dx, 33 + dy, 24 + dx, 33 + dy), fill=(200, 140, 120))
    return image


def make_faces(count: int = 300, seed: int = 0) -> tuple[list[bytes], np.ndarray]:
    """``count`` JPEG files (bytes) and their attributes as ±1 int8 ``[count, len(NAMES)]``."""
    rng = np.random.default_rng(seed)
    values = np.where(rng.random((count, len(NAMES))) < 0.5, 1, -1).astype(np.int8)
    jpegs = []
    for row in values:
        buffer = io.BytesIO()
        face_image(rng, {name: v == 1 for name, v in zip(NAMES, row, strict=True)}).save(
            buffer, format="JPEG", quality=92
        )
        jpegs.append(buffer.getvalue())
    return jpegs, values


def image_names(count: int) -> list[str]:
    return [f"{i:06d}.jpg" for i in range(1, count + 1)]


def partition_of(count: int) -> list[int]:
    """CelebA-like partition: the first 80 % train (0), the next 5 % validation (1), the rest test (2)."""
    train, valid = int(count * 0.8), int(count * 0.05)
    return [0] * train + [1] * valid + [2] * (count - train - valid)


def write_celeba(
    root: Path, jpegs: list[bytes], values: np.ndarray, layout: str = "official", partition: bool = True
) -> Path:
    """Write the faces under ``root`` in the official (TXT files, flat image folder) or the Kaggle
    (CSV files, nested image folder) layout; returns ``root``."""
    names = image_names(len(jpegs))
    images = root / "img_align_celeba"
    if layout == "kaggle":
        images = images / "img_align_celeba"
    images.mkdir(parents=True)
    for name, data in zip(names, jpegs, strict=True):
        (images / name).write_bytes(data)
    parts = partition_of(len(names))
    if layout == "official":
        lines = [str(len(names)), " ".join(NAMES)]
        lines += [name + "".join(f" {v:2d}" for v in row) for name, row in zip(names, values, strict=True)]
        (root / "list_attr_celeba.txt").write_text("\n".join(lines) + "\n")
        if partition:
            (root / "list_eval_partition.txt").write_text(
                "".join(f"{n} {p}\n" for n, p in zip(names, parts, strict=True))
            )
    else:
        lines = [",".join(("image_id", *NAMES))]
        lines += [name + "".join(f",{v}" for v in row) for name, row in zip(names, values, strict=True)]
        (root / "list_attr_celeba.csv").write_text("\n".join(lines) + "\n")
        if partition:
            (root / "list_eval_partition.csv").write_text(
                "image_id,partition\n" + "".join(f"{n},{p}\n" for n, p in zip(names, parts, strict=True))
            )
    return root


#: A tiny run of a faces preset (:func:`train_tiny_faces`): training and test images, batch, one epoch.
TINY_TRAIN, TINY_TEST, TINY_BATCH = 48, 24, 16


def train_tiny_faces(preset: str, run_dir: Path, celeba_dir: Path) -> Path:
    """Train ``preset`` (a CelebA preset, at its own image size and learning rate) for one epoch on the first
    :data:`TINY_TRAIN` faces of ``celeba_dir`` in batches of :data:`TINY_BATCH`, validating on
    :data:`TINY_TEST`; the run reads CelebA's layout itself, as ``vaelab train`` does. Returns ``run_dir``.
    (Decoded images go to ``$XDG_CACHE_HOME``: point it at the tests' cache first.)"""
    import torch

    from vaelab.training import RunConfig, train

    torch.set_num_threads(1)
    config = RunConfig.from_preset(
        preset,
        epochs=1,
        batch_size=TINY_BATCH,
        seed=0,
        device="cpu",
        data_dir=str(celeba_dir),
        limit_train=TINY_TRAIN,
        limit_test=TINY_TEST,
    )
    train(config, run_dir, progress=False, log=lambda line: None)
    return run_dir


def copy_tree(source: Path, dest: Path) -> Path:
    shutil.copytree(source, dest)
    return dest


def _box(images: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray:
    size_y, size_x = images.shape[-2:]
    left, top, right, bottom = box
    rows = slice(round(top * size_y), max(round(bottom * size_y), round(top * size_y) + 1))
    cols = slice(round(left * size_x), max(round(right * size_x), round(left * size_x) + 1))
    return images[..., rows, cols].mean(axis=(-1, -2, -3))


def mouth_score(images: np.ndarray) -> np.ndarray:
    """How much darker the mouth region is than the skin above it, per image (float images
    [N, 3, H, W] in [0, 1], or uint8). About 0 for a closed mouth, large for a smile."""
    images = np.asarray(images, dtype=np.float64)
    if images.max() > 1.5:
        images = images / 255.0
    return _box(images, SKIN_BOX) - _box(images, MOUTH_BOX)
