"""Opening a finished (or partly trained) run for analysis."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from vaelab.data.image_set import ImageSet
from vaelab.data.registry import load_dataset
from vaelab.models import build_model
from vaelab.models.base import LatentModel
from vaelab.training.config import RunConfig
from vaelab.training.device import resolve_device
from vaelab.training.prior_dir import attach_saved_prior
from vaelab.training.run_dir import RunDir, WeightsRecord


@dataclass
class Run:
    """A trained model with its configuration and run directory, in eval mode.

    ``weights`` is the record (epoch, SHA-256) of the weights loaded, checked when they were read
    (None for a weights file written before vaelab 0.6): what the analyses record beside results, so
    that results are never taken for another epoch's.
    """

    dir: RunDir
    config: RunConfig
    model: LatentModel
    device: torch.device
    weights: WeightsRecord | None = None

    def test_set(self, data_dir: str | None = None, limit: int | None = None) -> ImageSet:
        """The test split of the run's dataset (``data_dir`` overrides the one trained with)."""
        return load_dataset(
            self.config.dataset, "test", data_dir or self.config.data_dir, limit, self.config.data_options
        )

    def train_set(self, data_dir: str | None = None, limit: int | None = None) -> ImageSet:
        """The training split of the run's dataset."""
        return load_dataset(
            self.config.dataset, "train", data_dir or self.config.data_dir, limit, self.config.data_options
        )


def load_run(path: str | Path, device: str = "auto") -> Run:
    """Rebuild a run's model from ``config.json`` and load ``model.safetensors`` (and, for a VQ-VAE,
    the prior learnt over its codes, when one fits: :func:`~vaelab.training.prior_dir.attach_saved_prior`)."""
    run_dir = RunDir(path)
    config = run_dir.read_config()
    model = build_model(config.model)
    weights = run_dir.load_weights(model)
    target = resolve_device(device)
    model = model.to(target).eval()
    attach_saved_prior(model, run_dir.path, weights)
    return Run(run_dir, config, model, target, weights)
