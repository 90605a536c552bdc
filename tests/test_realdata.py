"""End to end on the real Fashion-MNIST (a few thousand images); skipped when it is not installed."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from matplotlib.image import imread

from vaelab.data.fashion_mnist import load_fashion_mnist

REAL = Path("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz")
pytestmark = [
    pytest.mark.realdata,
    pytest.mark.skipif(
        not REAL.exists(), reason="Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)"
    ),
]


def vaelab(*argv):
    return subprocess.run([sys.executable, "-m", "vaelab", *argv], capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_book_ae_on_real_fashion_mnist(tmp_path):
    run = tmp_path / "ae"
    result = vaelab(
        "train",
        "--preset",
        "book-ae",
        "--run-dir",
        str(run),
        "--limit-train",
        "4000",
        "--limit-test",
        "1000",
        "--epochs",
        "2",
        "--batch-size",
        "50",
        "--no-progress",
    )
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert len(rows) == 2
    # An untrained decoder outputs 0.5 everywhere: ln 2 = 0.693 nats per pixel; predicting the
    # mean training image for every test image scores 0.376. 160 steps must beat both.
    assert rows[-1]["val"]["loss"] < rows[0]["val"]["loss"]
    assert rows[-1]["val"]["loss"] < 0.37
    for command, figure in [
        ("reconstruct", "reconstructions.png"),
        ("embed", "latent_scatter.png"),
        ("generate", "generated.png"),
        ("grid", "latent_grid.png"),
    ]:
        result = vaelab(command, str(run))
        assert result.returncode == 0, result.stderr
        image = imread(run / "figures" / figure)
        assert image.shape[0] > 200 and image.std() > 0.01


def test_real_test_split_is_the_book_data():
    test = load_fashion_mnist("test", limit=3000)
    assert test.images.shape == (3000, 1, 32, 32)
    assert test.images[:, :, :2].max() == 0 and test.images[:, :, :, -2:].max() == 0
    assert set(test.labels.tolist()) == set(range(10))
    assert test.class_names[9] == "Ankle boot"
