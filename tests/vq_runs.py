"""A tiny vq-vae run, with and without a PixelCNN prior, for the tests of what a run with discrete codes
shows (the explorer's API and its page)."""

from __future__ import annotations

import shutil
from pathlib import Path

import torch

from vaelab.data.image_set import ImageSet
from vaelab.training import RunConfig, load_run, train
from vaelab.training.prior import prepare_prior_config, train_prior

#: The prior's settings: a tiny PixelCNN.
VQ_PRIOR = {"channels": 8, "layers": 2, "kernel": 3, "batch_size": 20}


def make_vq_runs(folder: Path, train_images: ImageSet, test_images: ImageSet) -> dict[str, Path]:
    """A vq-vae run trained for 1 short epoch on 60 synthetic images (``bare``, no prior), and a copy
    with a small PixelCNN prior trained for 1 epoch (``prior``), in ``folder``: their folders."""
    torch.set_num_threads(1)
    data = {"train_set": train_images.head(60), "test_set": test_images.head(20)}
    config = RunConfig.from_preset("vq-vae", epochs=1, batch_size=20, lr=2e-3, seed=0, device="cpu")
    train(config, folder / "bare", progress=False, log=lambda s: None, **data)
    shutil.copytree(folder / "bare", folder / "prior")
    run = load_run(folder / "prior", "cpu")
    train_prior(run, prepare_prior_config(run, False, 1, **VQ_PRIOR), log=lambda s: None, **data)
    return {"bare": folder / "bare", "prior": folder / "prior"}
