"""Padding uint8 images and scaling batches to [0, 1]; the ImageSet container."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vaelab.data.image_set import ImageSet
from vaelab.data.preprocess import pad_images, to_unit_float


def _images(count: int = 4, size: int = 28) -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.integers(1, 256, size=(count, size, size), dtype=np.uint8)


def test_pad_images_shape_dtype_borders_and_centre() -> None:
    images = _images()
    padded = pad_images(images)
    assert padded.shape == (4, 1, 32, 32)
    assert padded.dtype == np.uint8
    np.testing.assert_array_equal(padded[:, 0, 2:30, 2:30], images)
    border = np.ones((32, 32), dtype=bool)
    border[2:30, 2:30] = False
    assert not padded[:, 0][:, border].any()


def test_pad_images_other_sizes_and_channels() -> None:
    assert pad_images(_images(2, 5), pad=0).shape == (2, 1, 5, 5)
    assert pad_images(_images(2, 5), pad=3).shape == (2, 1, 11, 11)
    rgb = np.zeros((2, 3, 4, 6), dtype=np.uint8)
    assert pad_images(rgb, pad=1).shape == (2, 3, 6, 8)


def test_pad_images_copies_its_input() -> None:
    images = _images(1)
    padded = pad_images(images)
    padded[:] = 0
    assert images.any()


@pytest.mark.parametrize(
    ("images", "pad", "error"),
    [
        (np.zeros((2, 4, 4), np.float32), 2, TypeError),
        (np.zeros((4, 4), np.uint8), 2, ValueError),
        (np.zeros((2, 4, 4), np.uint8), -1, ValueError),
    ],
)
def test_pad_images_rejects_bad_input(images: np.ndarray, pad: int, error: type[Exception]) -> None:
    with pytest.raises(error):
        pad_images(images, pad)


def test_to_unit_float_exact_values() -> None:
    batch = torch.tensor([0, 1, 128, 255], dtype=torch.uint8)
    result = to_unit_float(batch)
    assert result.dtype == torch.float32
    assert result[0].item() == 0.0
    assert result[-1].item() == 1.0
    assert result[1].item() == pytest.approx(1 / 255)
    assert result[2].item() == pytest.approx(128 / 255)


def test_to_unit_float_range_shape_and_memory_format() -> None:
    batch = torch.randint(0, 256, (5, 1, 32, 32), dtype=torch.uint8)
    result = to_unit_float(batch)
    assert result.shape == batch.shape and result.device == batch.device
    assert result.min().item() >= 0.0 and result.max().item() <= 1.0
    assert torch.equal(batch, (result * 255).round().to(torch.uint8))
    channels_last = torch.randint(0, 256, (2, 3, 4, 4), dtype=torch.uint8).to(memory_format=torch.channels_last)
    assert to_unit_float(channels_last).is_contiguous(memory_format=torch.channels_last)


def test_to_unit_float_does_not_touch_its_input() -> None:
    batch = torch.full((3,), 255, dtype=torch.uint8)
    to_unit_float(batch)
    assert batch.tolist() == [255, 255, 255]


def test_to_unit_float_rejects_float_input() -> None:
    with pytest.raises(TypeError, match="uint8"):
        to_unit_float(torch.zeros(3))


@pytest.mark.gpu
def test_to_unit_float_stays_on_the_device() -> None:
    batch = torch.full((2, 1, 4, 4), 255, dtype=torch.uint8, device="cuda")
    result = to_unit_float(batch)
    assert result.device == batch.device and result.max().item() == 1.0


def _image_set(count: int = 5) -> ImageSet:
    images = np.zeros((count, 1, 32, 32), dtype=np.uint8)
    return ImageSet(images, np.arange(count, dtype=np.int64) % 3, ("a", "b", "c"), "toy")


def test_image_set_len_and_head() -> None:
    full = _image_set()
    assert len(full) == 5 and full.image_shape == (1, 32, 32)
    assert full.head(None) is full
    assert len(full.head(2)) == 2 and full.head(2).labels.tolist() == [0, 1]
    assert len(full.head(50)) == 5
    assert full.head(2).name == "toy"
    with pytest.raises(ValueError):
        full.head(-1)


def test_image_set_without_labels() -> None:
    unlabelled = ImageSet(np.zeros((3, 1, 2, 2), np.uint8), None, (), "plain")
    assert unlabelled.head(1).labels is None


@pytest.mark.parametrize(
    ("images", "labels", "error"),
    [
        (np.zeros((2, 32, 32), np.uint8), None, ValueError),
        (np.zeros((2, 1, 32, 32), np.float32), None, TypeError),
        (np.zeros((2, 1, 4, 4), np.uint8), np.zeros(2, np.uint8), TypeError),
        (np.zeros((2, 1, 4, 4), np.uint8), np.zeros(3, np.int64), ValueError),
        (np.zeros((2, 1, 4, 4), np.uint8), np.array([0, 7], np.int64), ValueError),
    ],
)
def test_image_set_validates(images: np.ndarray, labels: np.ndarray | None, error: type[Exception]) -> None:
    with pytest.raises(error):
        ImageSet(images, labels, ("a", "b", "c"), "bad")
