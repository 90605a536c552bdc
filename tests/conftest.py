"""Shared fixtures: synthetic data, a small config, and a quickly trained run."""

from __future__ import annotations

import os
import sys
from pathlib import Path

# Figures are drawn off screen, whatever the machine's display offers (vaelab itself chooses no backend).
os.environ["MPLBACKEND"] = "Agg"

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))

from synthetic import synthetic_images
from vaelab.training import RunConfig, load_run, train

REAL_DATA = Path("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz")
NO_CUDA = "needs a CUDA device: PyTorch sees none (torch.cuda.is_available() is False)"


def pytest_collection_modifyitems(config, items):
    """Skip the tests marked ``gpu`` when there is no CUDA device, saying why."""
    if torch.cuda.is_available():
        return
    for item in items:
        if item.get_closest_marker("gpu"):
            item.add_marker(pytest.mark.skip(reason=NO_CUDA))


@pytest.fixture(autouse=True)
def _few_threads():
    """Keep tests independent of the machine's core count (results depend on thread count)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="session")
def train_images():
    return synthetic_images(240, seed=0)


@pytest.fixture(scope="session")
def test_images():
    return synthetic_images(80, seed=1)


def small_config(**overrides) -> RunConfig:
    """book-ae on synthetic data: small batches so an epoch has a dozen steps."""
    settings = {"epochs": 2, "batch_size": 20, "lr": 2e-3, "seed": 0, "device": "cpu"}
    settings.update(overrides)
    return RunConfig.from_preset("book-ae", **settings)


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory, train_images, test_images):
    """A book-ae run trained for 2 short epochs on synthetic data, opened for analysis."""
    torch.set_num_threads(1)
    run_dir = tmp_path_factory.mktemp("runs") / "ae"
    train(small_config(), run_dir, train_set=train_images, test_set=test_images, progress=False, log=lambda s: None)
    return load_run(run_dir, "cpu")


@pytest.fixture(scope="session")
def faces():
    """300 synthetic faces (JPEG bytes) and their ±1 attributes (see face_fixtures)."""
    from face_fixtures import make_faces

    return make_faces(300, seed=0)


@pytest.fixture(scope="session")
def celeba_dirs(tmp_path_factory, faces):
    """The synthetic faces written in CelebA's official and Kaggle layouts: {layout: folder}."""
    from face_fixtures import write_celeba

    root = tmp_path_factory.mktemp("celeba")
    return {layout: write_celeba(root / layout, *faces, layout=layout) for layout in ("official", "kaggle")}


@pytest.fixture(scope="session")
def image_cache_home(tmp_path_factory):
    """A cache folder (XDG_CACHE_HOME) of the tests' own, so decoded images never reach ~/.cache."""
    return tmp_path_factory.mktemp("xdg-cache")


@pytest.fixture
def private_cache(monkeypatch, image_cache_home):
    """Point XDG_CACHE_HOME at the tests' cache and keep VAELAB_DATA out of data searches."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(image_cache_home))
    monkeypatch.delenv("VAELAB_DATA", raising=False)
    return image_cache_home


@pytest.fixture(scope="session")
def cvae_run(tmp_path_factory, train_images, test_images):
    """A cvae run (conditioned on the synthetic images' 10 classes) trained like ``trained_run``, opened
    for analysis."""
    torch.set_num_threads(1)
    run_dir = tmp_path_factory.mktemp("runs") / "cvae"
    config = RunConfig.from_preset("cvae", epochs=2, batch_size=20, lr=2e-3, seed=0, device="cpu")
    train(config, run_dir, train_set=train_images, test_set=test_images, progress=False, log=lambda s: None)
    return load_run(run_dir, "cpu")
