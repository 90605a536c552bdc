"""Attribute vectors, latent arithmetic and morphing: known answers, a small book-faces VAE
trained on the synthetic faces, and the commands end to end (faces and Fashion-MNIST classes)."""

import json
from dataclasses import replace

import numpy as np
import pytest
import torch
from torch import nn

from face_fixtures import mouth_score
from idx_fixtures import install_fake_fashion_mnist
from test_cli import assert_one_line_error, run_cli
from vaelab.data import ImageOptions, ImageSet, load_celeba
from vaelab.data.attributes import AttributeTable
from vaelab.errors import ConfigError
from vaelab.latent import add_vector, attribute_vector, interpolate, morph, parse_factors
from vaelab.latent.attributes import attribute_groups
from vaelab.latent.codec import decode_points, encode_images
from vaelab.models.base import LatentModel, PointPosterior
from vaelab.presentation import attribute_report
from vaelab.training import RunConfig, load_run, train

# --- known answers -------------------------------------------------------------------------------


def test_parse_factors():
    assert parse_factors("-4:4") == (-4.0, -3.0, -2.0, -1.0, 0.0, 1.0, 2.0, 3.0, 4.0)
    assert parse_factors("0:1:0.25") == (0.0, 0.25, 0.5, 0.75, 1.0)
    assert parse_factors("-2, 0,2.5") == (-2.0, 0.0, 2.5)
    for bad in ("4:-4", "1:2:0", "a:b", "", "1:2:3:4"):
        with pytest.raises(ConfigError, match="--factors"):
            parse_factors(bad)


def test_linear_interpolation_includes_both_endpoints():
    z0, z1 = np.array([1.0, 2.0, 3.0]), np.array([3.0, 2.0, -1.0])
    fractions, points = interpolate(z0, z1, 5, "linear")
    assert fractions.tolist() == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert np.array_equal(points[0], z0.astype(np.float32)) and np.array_equal(points[-1], z1.astype(np.float32))
    assert np.allclose(points[2], [2.0, 2.0, 1.0])


def test_slerp_follows_the_great_circle():
    z0, z1 = np.array([2.0, 0.0]), np.array([0.0, 2.0])
    _, points = interpolate(z0, z1, 3, "slerp")
    assert np.array_equal(points[0], [2.0, 0.0]) and np.array_equal(points[-1], [0.0, 2.0])
    assert np.allclose(points[1], [np.sqrt(2), np.sqrt(2)])  # norm 2 kept, 45°
    _, parallel = interpolate(np.array([1.0, 1.0]), np.array([2.0, 2.0]), 3, "slerp")
    assert np.allclose(parallel[1], [1.5, 1.5])  # falls back to linear
    with pytest.raises(ConfigError, match="at least 2"):
        interpolate(z0, z1, 1)
    with pytest.raises(ConfigError, match="unknown interpolation"):
        interpolate(z0, z1, 3, "cubic")


class HalvesEncoder(LatentModel):
    """A known encoder: z = (mean of the top half, mean of the bottom half) of the image."""

    family = "halves"

    def __init__(self) -> None:
        super().__init__()
        self.latent_dim = 2
        self.unused = nn.Parameter(torch.zeros(1))

    def encode(self, x: torch.Tensor, condition: torch.Tensor | None = None) -> PointPosterior:
        half = x.shape[-2] // 2
        top, bottom = x[..., :half, :].mean(dim=(1, 2, 3)), x[..., half:, :].mean(dim=(1, 2, 3))
        return PointPosterior(torch.stack([top, bottom], dim=1))


def _class_images() -> ImageSet:
    """Class 0: top half white; class 1: bottom half white; class 2: all black."""
    labels = np.array([0, 1, 2, 0, 1, 2, 0, 1], dtype=np.int64)
    images = np.zeros((len(labels), 1, 4, 4), np.uint8)
    images[labels == 0, :, :2] = 255
    images[labels == 1, :, 2:] = 255
    return ImageSet(images, labels, ("Top", "Bottom", "Dark"), "toy")


def test_attribute_vector_between_classes_on_a_known_encoder():
    images = _class_images()
    vector = attribute_vector(HalvesEncoder(), images, "Top", against="Bottom")
    assert np.allclose(vector.difference, [1.0, -1.0])  # (1, 0) − (0, 1)
    assert np.allclose(vector.vector, [2**-0.5, -(2**-0.5)]) and vector.norm == pytest.approx(2**0.5)
    assert (vector.count_with, vector.count_without, vector.images_scanned) == (3, 3, 8)
    # against every other class: (1, 0) − mean of three (0, 1) and two (0, 0)
    others = attribute_vector(HalvesEncoder(), images, "Top")
    assert np.allclose(others.difference, [1.0, -0.6]) and others.against == "every other class"
    c = vector.convergence
    assert c.images[-1] == 8 and c.distance[-1] == 0 and c.cosine[-1] == pytest.approx(1.0)
    assert np.isnan(c.distance[0])  # one image scanned: the comparison group is still empty
    assert attribute_vector(HalvesEncoder(), images, "Top", "Bottom", count=2).images_scanned == 2


def test_attribute_vector_errors():
    images = _class_images()
    with pytest.raises(ConfigError, match="did you mean Top"):
        attribute_vector(HalvesEncoder(), images, "Topp")
    with pytest.raises(ConfigError, match="must differ"):
        attribute_vector(HalvesEncoder(), images, "Top", "Top")
    with pytest.raises(ConfigError, match="none of the first 1 images"):
        attribute_vector(HalvesEncoder(), images, "Top", "Bottom", count=1)
    unlabelled = ImageSet(images.images, None, (), "folder")
    with pytest.raises(ConfigError, match="neither attributes nor classes"):
        attribute_vector(HalvesEncoder(), unlabelled, "Top")


def test_attribute_against_another_attribute():
    table = AttributeTable(
        ("a", "b", "c", "d"), ("Blond_Hair", "Black_Hair"), np.array([[1, 0], [0, 1], [0, 0], [1, 1]], dtype=bool)
    )
    images = ImageSet(np.zeros((4, 3, 2, 2), np.uint8), None, (), "faces", attributes=table)
    groups = attribute_groups(images, "Blond_Hair", "Black_Hair")
    assert groups.has.tolist() == [True, False, False, False]
    assert groups.comparison.tolist() == [False, True, False, False]
    assert attribute_groups(images, "Blond_Hair").comparison.tolist() == [False, True, True, False]


# --- a small book-faces VAE on the synthetic faces -----------------------------------------------


@pytest.fixture(scope="module")
def faces_run(tmp_path_factory, celeba_dirs, image_cache_home):
    """book-faces (64 channels, 16×16, z = 16) trained for 8 short epochs on the synthetic faces."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_CACHE_HOME", str(image_cache_home))
        torch.set_num_threads(1)
        options = ImageOptions(16)
        train_set = load_celeba("train", celeba_dirs["official"], options=options, progress=False)
        test_set = load_celeba("test", celeba_dirs["official"], options=options, progress=False)
        config = RunConfig.from_preset(
            "book-faces",
            image_size=16,
            latent_dim=16,
            epochs=8,
            batch_size=24,
            lr=2e-3,
            device="cpu",
            data_dir=str(celeba_dirs["official"]),
        )
        config = replace(config, model=replace(config.model, encoder_channels=(64, 64, 64, 64)))
        run_dir = tmp_path_factory.mktemp("faces") / "run"
        train(config, run_dir, train_set=train_set, test_set=test_set, progress=False, log=lambda s: None)
        yield load_run(run_dir, "cpu"), train_set, test_set


def test_adding_the_smile_vector_draws_a_mouth(faces_run):
    run, train_set, test_set = faces_run
    vector = attribute_vector(run.model, train_set, "Smiling")
    groups = attribute_groups(test_set, "Smiling")
    closed = add_vector(run.model, test_set.images[groups.comparison], vector.vector, (0.0, 3.0))
    before, after = (mouth_score(closed.images[:, k]) for k in range(2))
    assert after.mean() > before.mean() + 0.1
    assert np.mean(after > before + 0.05) >= 0.9
    smiling = add_vector(run.model, test_set.images[groups.has], vector.vector, (0.0, -3.0))
    before, after = (mouth_score(smiling.images[:, k]) for k in range(2))
    assert after.mean() < before.mean() - 0.1


def test_the_reconstructions_tell_smiles_apart(faces_run):
    run, _, test_set = faces_run
    groups = attribute_groups(test_set, "Smiling")
    score = mouth_score(decode_points(run.model, encode_images(run.model, test_set.images)))
    assert score[groups.has].mean() > score[groups.comparison].mean() + 0.05


@pytest.mark.parametrize("method", ["linear", "slerp"])
def test_morph_endpoints_are_the_endpoints_reconstructions(faces_run, method):
    run, _, test_set = faces_run
    result = morph(run.model, test_set, 3, 11, steps=7, method=method)
    reconstructions = decode_points(run.model, encode_images(run.model, test_set.images[[3, 11]]))
    assert result.images.shape == (7, 3, 16, 16)
    assert np.allclose(result.images[0], reconstructions[0], atol=1e-5)
    assert np.allclose(result.images[-1], reconstructions[1], atol=1e-5)
    assert not np.allclose(result.images[0], result.images[-1], atol=1e-2)
    with pytest.raises(ConfigError, match="--to 45 is out of range"):
        morph(run.model, test_set, 0, 45)


def test_saved_vector_is_reused_until_the_weights_change(faces_run, monkeypatch):
    run, train_set, test_set = faces_run
    vector, paths = attribute_report.write_attribute(run, train_set, "Smiling")
    assert [p.name for p in paths] == [
        "attribute-Smiling-convergence.png",
        "attribute-Smiling.json",
        "attribute-Smiling.npz",
    ]
    record = json.loads(paths[1].read_text())
    assert record["count_with"] + record["count_without"] == 240 == record["images_scanned"]
    assert record["norm_before_normalising"] == pytest.approx(vector.norm)
    saved = attribute_report.saved_attribute_vector(run, "Smiling")
    assert np.array_equal(saved.vector, vector.vector) and saved.count_with == vector.count_with
    assert attribute_report.saved_attribute_vector(run, "Smiling", "Male") is None

    def no_recompute(*args, **kwargs):
        raise AssertionError("the saved vector should have been used")

    monkeypatch.setattr(attribute_report, "attribute_vector", no_recompute)
    written = attribute_report.write_arithmetic(run, test_set, "Smiling", factors="-1:1", images=2)
    assert [p.name for p in written] == ["arithmetic-Smiling.png", "arithmetic-Smiling.npz"]
    with np.load(written[1]) as data:
        assert data["images"].shape == (2, 3, 3, 16, 16) and data["factors"].tolist() == [-1.0, 0.0, 1.0]
    run.dir.model.write_bytes(run.dir.model.read_bytes())  # same weights: still valid
    assert attribute_report.saved_attribute_vector(run, "Smiling") is not None
    with torch.no_grad():
        run.model.encoder.z_mean.bias.add_(1.0)
    run.dir.save_weights(run.model, run.config, epoch=run.config.epochs)
    assert attribute_report.saved_attribute_vector(run, "Smiling") is None


# --- the commands --------------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["attribute", "arithmetic", "morph"])
def test_new_commands_have_help(capsys, command):
    code, out, _ = run_cli(capsys, command, "--help")
    assert code == 0 and f"usage: vaelab {command}" in out


@pytest.mark.slow
def test_faces_commands_end_to_end(capsys, tmp_path, celeba_dirs, private_cache):
    run = str(tmp_path / "faces")
    code, out, err = run_cli(
        capsys,
        "train",
        "--preset",
        "book-faces",
        "--run-dir",
        run,
        "--data-dir",
        str(celeba_dirs["kaggle"]),
        "--image-size",
        "16",
        "--latent-dim",
        "8",
        "--epochs",
        "1",
        "--batch-size",
        "60",
        "--limit-train",
        "120",
        "--limit-test",
        "20",
        "--device",
        "cpu",
        "--no-progress",
    )
    assert code == 0, err
    config = json.loads((tmp_path / "faces" / "config.json").read_text())
    assert config["dataset"] == "celeba" and config["model"]["image_channels"] == 3
    assert config["data_options"] == {"image_size": 16, "center_crop": False, "on_bad_image": "fail"}
    for command, figure in [
        ("reconstruct", "reconstructions.png"),
        ("embed", "latent_histograms.png"),
        ("generate", "generated.png"),
        ("grid", "latent_grid.png"),
    ]:
        code, out, err = run_cli(capsys, command, run, "--device", "cpu")
        assert code == 0, err
        assert f"wrote {tmp_path / 'faces' / 'figures' / figure}" in out
    assert len(json.loads((tmp_path / "faces" / "figures" / "generated.json").read_text())["points"]) == 30
    code, out, err = run_cli(capsys, "attribute", run, "--attribute", "Smiling", "--count", "100", "--device", "cpu")
    assert code == 0, err
    assert "Smiling − not Smiling" in out and "of 100 training images" in out
    code, out, err = run_cli(
        capsys,
        "arithmetic",
        run,
        "--attribute",
        "Smiling",
        "--count",
        "100",
        "--factors",
        "-2:2",
        "--images",
        "3",
        "--device",
        "cpu",
    )
    assert code == 0, err
    assert "arithmetic-Smiling.png" in out and "attribute-Smiling.json" not in out  # the saved vector
    code, out, err = run_cli(capsys, "morph", run, "--from", "0", "--to", "5", "--steps", "4", "--method", "slerp")
    assert code == 0, err
    with np.load(tmp_path / "faces" / "figures" / "morph-0-5-slerp.npz") as data:
        assert data["images"].shape == (4, 3, 16, 16)

    code, _, err = run_cli(capsys, "morph", run, "--from", "0", "--to", "45")
    assert_one_line_error(code, err, 1, "--to 45 is out of range", "45 images")
    code, _, err = run_cli(capsys, "arithmetic", run, "--attribute", "Smilng")
    assert_one_line_error(code, err, 1, "did you mean Smiling")
    code, _, err = run_cli(capsys, "diagnose", run)
    assert_one_line_error(code, err, 1, "Fashion-MNIST runs only")
    code, _, err = run_cli(capsys, "train", "--run-dir", run, "--resume", "--image-size", "32")
    assert_one_line_error(code, err, 1, "cannot change --image-size")


def test_image_options_errors_on_the_command_line(capsys, tmp_path, private_cache):
    code, _, err = run_cli(
        capsys, "train", "--preset", "book-ae", "--run-dir", str(tmp_path / "r"), "--image-size", "64"
    )
    assert_one_line_error(code, err, 1, "--image-size: only for datasets read from image files")
    code, _, err = run_cli(
        capsys, "train", "--preset", "book-faces", "--dataset", "image-folder", "--run-dir", str(tmp_path / "r")
    )
    assert_one_line_error(code, err, 1, "needs --data-dir")
    code, _, err = run_cli(
        capsys, "train", "--preset", "book-faces", "--run-dir", str(tmp_path / "r"), "--on-bad-image", "ignore"
    )
    assert_one_line_error(code, err, 2, "--on-bad-image")
    code, _, err = run_cli(capsys, "arithmetic", str(tmp_path / "r"), "--attribute", "Smiling", "--factors", "4:-4")
    assert_one_line_error(code, err, 2, "--factors")


def test_fashion_mnist_classes_sneaker_against_sandal(capsys, monkeypatch, tmp_path):
    install_fake_fashion_mnist(monkeypatch, tmp_path, n_train=60, n_test=20)
    run = str(tmp_path / "vae")
    code, _, err = run_cli(
        capsys,
        "train",
        "--preset",
        "book-vae",
        "--run-dir",
        run,
        "--epochs",
        "1",
        "--batch-size",
        "30",
        "--device",
        "cpu",
        "--no-progress",
    )
    assert code == 0, err
    code, out, err = run_cli(
        capsys, "attribute", run, "--attribute", "Sneaker", "--against", "Sandal", "--device", "cpu"
    )
    assert code == 0, err
    assert "Sneaker − Sandal: 6 and 6 of 60 training images" in out
    opened = load_run(run, "cpu")
    written = attribute_report.write_attribute_tour(opened, opened.test_set(), "Sneaker", "Sandal")
    names = [p.name for p in written]
    assert "arithmetic-Sneaker-vs-Sandal.png" in names and "morph-5-7-linear.png" in names
    with np.load(tmp_path / "vae" / "figures" / "arithmetic-Sneaker-vs-Sandal.npz") as data:
        assert data["originals"].shape == (2, 1, 32, 32)  # the two test sandals (labels 5 and 15)
    code, _, err = run_cli(capsys, "attribute", run, "--attribute", "sneaker")
    assert_one_line_error(code, err, 1, "unknown class 'sneaker'; did you mean Sneaker")
