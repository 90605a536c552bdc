"""Datasets by name, so that a run's ``config.json`` can say which one it trained on."""

from __future__ import annotations

from collections.abc import Callable

from vaelab.data.fashion_mnist import load_fashion_mnist
from vaelab.data.image_set import ImageSet
from vaelab.errors import ConfigError

DATASETS: dict[str, Callable[..., ImageSet]] = {
    "fashion-mnist": load_fashion_mnist,
}


def load_dataset(name: str, split: str, data_dir: str | None = None, limit: int | None = None) -> ImageSet:
    """Split ``split`` (``"train"`` or ``"test"``) of dataset ``name``, first ``limit`` images."""
    try:
        loader = DATASETS[name]
    except KeyError:
        raise ConfigError(f"unknown dataset {name!r}; expected one of {', '.join(DATASETS)}") from None
    return loader(split, data_dir=data_dir, limit=limit)
