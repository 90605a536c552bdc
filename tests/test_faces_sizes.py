"""faces-64 and faces-128 (issue 16): the field's usual CelebA VAE at 64×64 and 128×128 — parameter
counts, shapes, the loss weight, image sizes in the config, and the faces analyses (attribute,
arithmetic, morph) and the explorer at both sizes, on tiny runs of the synthetic faces."""

from __future__ import annotations

import io
import json
import math
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from cli_run import assert_one_line_error, run_cli
from face_fixtures import TINY_BATCH, TINY_TEST, TINY_TRAIN, train_tiny_faces
from vaelab.data.image_set import ImageSet
from vaelab.errors import ConfigError
from vaelab.models import build_model, count_parameters, get_preset
from vaelab.models.faces_conv import BatchNormConvDecoder, MirroredBatchNormConvDecoder
from vaelab.models.presets import faces_reconstruction_weight
from vaelab.presentation import attribute_report
from vaelab.training import RunConfig, load_run
from vaelab.training.run import Run

SIZES = {"faces-64": 64, "faces-128": 128}

#: Trainable parameters (encoder, decoder), as faces_conv's docstring and docs/faces.md state them.
PARAMETERS = {"faces-64": (2_095_104, 1_846_627), "faces-128": (4_455_936, 4_207_459)}

#: PyTorch-VAE's VanillaVAE at 64×64, z = 128 (counted by building its model from its repository): the same
#: encoder; its decoder lacks the BatchNorm after the Linear layer (2 × 2,048 parameters).
VANILLA_VAE_64 = (2_095_104, 1_842_531)


def _running_stats(module: torch.nn.Module) -> int:
    return sum(b.numel() for name, b in module.named_buffers() if name.endswith(("running_mean", "running_var")))


def _transposed_widths(model: torch.nn.Module) -> list[tuple[int, int, int]]:
    """(in, out, stride) of each transposed convolution of the decoder, in order."""
    return [
        (m.in_channels, m.out_channels, m.stride[0])
        for m in model.decoder.modules()
        if isinstance(m, torch.nn.ConvTranspose2d)
    ]


# --- the networks ---------------------------------------------------------------------------------


@pytest.mark.parametrize("preset", SIZES)
def test_parameter_counts(preset):
    model = build_model(get_preset(preset).model)
    encoder, decoder = PARAMETERS[preset]
    assert count_parameters(model.encoder) == encoder and count_parameters(model.decoder) == decoder
    widths = get_preset(preset).model.encoder_channels
    # BatchNorm after every convolution but the last, and after the decoder's Linear layer (2,048 features);
    # its running means and variances are buffers, not parameters
    assert _running_stats(model.encoder) == 2 * sum(widths)
    assert _running_stats(model.decoder) == 2 * (2048 + sum(MirroredBatchNormConvDecoder.stage_widths(widths[::-1])))


def test_faces_64_is_vanilla_vae_but_for_the_batchnorm_after_the_linear_layer():
    model = build_model(get_preset("faces-64").model)
    assert count_parameters(model.encoder) == VANILLA_VAE_64[0]
    linear_batchnorm = model.decoder.from_latent[1]
    assert isinstance(linear_batchnorm, torch.nn.BatchNorm1d) and linear_batchnorm.num_features == 2048
    assert count_parameters(model.decoder) - count_parameters(linear_batchnorm) == VANILLA_VAE_64[1]


def test_the_decoder_mirrors_the_encoders_widths():
    faces_64 = build_model(get_preset("faces-64").model)
    assert isinstance(faces_64.decoder, MirroredBatchNormConvDecoder)
    assert _transposed_widths(faces_64) == [
        (512, 256, 2),
        (256, 128, 2),
        (128, 64, 2),
        (64, 32, 2),
        (32, 32, 2),
        (32, 3, 1),
    ]
    assert _transposed_widths(build_model(get_preset("faces-128").model))[:2] == [(512, 512, 2), (512, 256, 2)]
    book = build_model(get_preset("book-faces").model)  # the book's plan: the widest width first, again
    assert type(book.decoder) is BatchNormConvDecoder
    assert _transposed_widths(book) == [(128, 128, 2)] * 4 + [(128, 3, 1)]


@pytest.mark.parametrize("preset", SIZES)
def test_shapes_and_the_sigmoid_output(preset):
    size = SIZES[preset]
    config = RunConfig.from_preset(preset)
    assert config.model.image_size == config.data_options.image_size == size  # the loader decodes at its size
    assert config.model.architecture == "faces-mirror" and config.model.feature_size == 2
    torch.manual_seed(0)
    model = build_model(config.model).eval()
    assert model.encoder.z_mean.in_features == 512 * 2 * 2 == model.decoder.from_latent[0].out_features
    with torch.no_grad():
        out = model(torch.rand(2, 3, size, size))
        decoded = model.decode(out.z)
    assert out.logits.shape == (2, 3, size, size) and out.posterior.mean.shape == (2, 128)
    assert decoded.shape == (2, 3, size, size) and decoded.min() >= 0 and decoded.max() <= 1


@pytest.mark.parametrize("preset", ["book-faces", *SIZES])
def test_the_loss_weight_keeps_book_faces_balance(preset):
    """w grows with the values per image, so the Gaussian decoder's σ² = D/(2w) is the book's 0.768."""
    spec = get_preset(preset).model
    values = spec.image_channels * spec.image_size**2
    weight = get_preset(preset).objective_params["reconstruction_weight"]
    assert weight == faces_reconstruction_weight(spec.image_size) == 2000 * values / 3072
    assert values / (2 * weight) == pytest.approx(0.768)
    assert RunConfig.from_preset(preset, beta=100).objective_params == {"reconstruction_weight": 100.0}


def test_image_size_options():
    assert RunConfig.from_preset("faces-64", image_size=96).model.image_size == 96  # 96 = 3 · 2⁵
    with pytest.raises(ConfigError, match="image_size 96 must be divisible by 64") as refused:
        RunConfig.from_preset("faces-128", image_size=96)
    assert "\n" not in str(refused.value)
    with pytest.raises(ConfigError, match="image_size 32 must be divisible by 64"):
        RunConfig.from_preset("faces-128", dataset="fashion-mnist")
    faces_on_folders = RunConfig.from_preset("faces-128", dataset="image-folder", data_dir="/photos")
    assert faces_on_folders.model.image_size == faces_on_folders.data_options.image_size == 128


def test_presets_lists_them(capsys):
    code, out, _ = run_cli(capsys, "presets")
    assert code == 0
    for preset, (encoder, decoder) in PARAMETERS.items():
        (row,) = [line for line in out.splitlines() if line.startswith(preset + " ")]
        assert f"{encoder:,}" in row and f"{decoder:,}" in row and "celeba" in row


# --- tiny runs at 64 and 128 ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def sized_runs(tmp_path_factory, celeba_dirs, image_cache_home):
    """``sized_runs(preset)``: the preset trained on first use by :func:`face_fixtures.train_tiny_faces` (one
    epoch on 48 synthetic faces, at the preset's image size), opened, with its training and test sets."""
    runs: dict[str, tuple[Run, ImageSet, ImageSet]] = {}

    def make(preset: str) -> tuple[Run, ImageSet, ImageSet]:
        if preset not in runs:
            with pytest.MonkeyPatch.context() as patch:
                patch.setenv("XDG_CACHE_HOME", str(image_cache_home))
                patch.delenv("VAELAB_DATA", raising=False)
                run_dir = train_tiny_faces(preset, tmp_path_factory.mktemp(preset) / "run", celeba_dirs["official"])
                run = load_run(run_dir, "cpu")
                runs[preset] = (run, run.train_set(limit=TINY_TRAIN), run.test_set(limit=TINY_TEST))
        return runs[preset]

    return make


def _png_size(path_or_bytes: Path | bytes) -> tuple[int, int]:
    data = path_or_bytes if isinstance(path_or_bytes, bytes) else path_or_bytes.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return Image.open(io.BytesIO(data)).size


@pytest.mark.parametrize("preset", SIZES)
def test_attribute_arithmetic_and_morph(sized_runs, preset):
    run, train_set, test_set = sized_runs(preset)
    size = SIZES[preset]
    assert train_set.image_shape == test_set.image_shape == (3, size, size)
    vector, written = attribute_report.write_attribute(run, train_set, "Smiling")
    assert [p.name for p in written] == [
        "attribute-Smiling-convergence.png",
        "attribute-Smiling.json",
        "attribute-Smiling.npz",
    ]
    assert vector.vector.shape == (128,) and np.linalg.norm(vector.vector) == pytest.approx(1.0, rel=1e-5)
    assert json.loads(written[1].read_text())["images_scanned"] == TINY_TRAIN

    figure, data = attribute_report.write_arithmetic(run, test_set, "Smiling", factors="-4:4:2", images=3)
    with np.load(data) as saved:
        assert saved["images"].shape == (3, 5, 3, size, size) and saved["originals"].shape == (3, 3, size, size)
        assert np.all(np.isfinite(saved["images"])) and saved["images"].min() >= 0 and saved["images"].max() <= 1
    width, height = _png_size(figure)
    assert width > 5 * 100 and height > 3 * 100  # about 1.2 inch (140 px) per image: readable, not a stamp

    figure, data = attribute_report.write_morph(run, test_set, 0, 5, steps=6, method="slerp")
    with np.load(data) as saved:
        assert saved["images"].shape == (6, 3, size, size) and saved["endpoints"].shape == (2, 3, size, size)
    assert _png_size(figure)[0] > 8 * 100


def _test_client_class() -> type:
    pytest.importorskip("fastapi")
    pytest.importorskip("httpx")
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*httpx2")
        from fastapi.testclient import TestClient
    return TestClient


@pytest.fixture(scope="module")
def client_class():
    return _test_client_class()


@pytest.mark.parametrize("preset", SIZES)
def test_the_explorer_serves_images_at_their_size(sized_runs, preset, client_class):
    from vaelab.presentation.explorer.app import MAX_SCALE, create_app, max_scale

    run, _, test_set = sized_runs(preset)
    size = SIZES[preset]
    largest = max_scale(size)
    assert largest == {64: 8, 128: 4}[size] and max_scale(32) == MAX_SCALE  # at most 512 pixels a side
    with client_class(create_app(run, test_set, points=TINY_TEST)) as client:
        facts = client.get("/api/run").json()
        assert facts["image_shape"] == [3, size, size] and facts["preset"] == preset
        assert facts["latent_dim"] == 128 and math.isfinite(facts["final_val"]["loss"])
        sized = {
            "/api/decode?x=0.5&y=-0.5": (size, size),
            f"/api/decode?x=0&y=0&scale={largest}": (size * largest, size * largest),
            "/api/image/3": (2 * size, size),  # the image beside its reconstruction
            "/api/morph?start=1&end=5&steps=4&method=slerp": (4 * size, size),
            "/api/samples?seed=2": (10 * size, 3 * size),  # the faces' 30 samples in rows of 10
        }
        for path, expected in sized.items():
            answer = client.get(path)
            assert answer.status_code == 200 and answer.headers["content-type"] == "image/png", (path, answer.text)
            image = Image.open(io.BytesIO(answer.content))
            assert image.size == expected and image.mode == "RGB", path
        too_large = client.get(f"/api/decode?x=0&y=0&scale={largest + 1}")
        assert too_large.status_code == 422
        assert too_large.json()["detail"].endswith(
            f"scale: Input should be less than or equal to {largest} (got {largest + 1})"
        )
        schema = client.get("/openapi.json").json()["paths"]["/api/morph"]["get"]["parameters"]
        (scale,) = [p["schema"] for p in schema if p["name"] == "scale"]
        assert (scale["minimum"], scale["maximum"]) == (1, largest)


# --- the command line -----------------------------------------------------------------------------


def test_train_faces_64_on_a_folder_of_images(capsys, tmp_path, celeba_dirs, private_cache):
    """`vaelab train --preset faces-64 --dataset image-folder`: every image of the folder at 64×64."""
    run = tmp_path / "folder-run"
    code, out, err = run_cli(
        capsys,
        "train",
        "--preset",
        "faces-64",
        "--dataset",
        "image-folder",
        "--data-dir",
        str(celeba_dirs["official"] / "img_align_celeba"),
        "--run-dir",
        str(run),
        "--epochs",
        "1",
        "--batch-size",
        str(TINY_BATCH),
        "--limit-train",
        "32",
        "--limit-test",
        "16",
        "--device",
        "cpu",
        "--no-progress",
    )
    assert code == 0, err
    assert "validation loss" in out
    config = json.loads((run / "config.json").read_text())
    assert config["dataset"] == "image-folder" and config["preset"] == "faces-64"
    assert config["model"]["image_size"] == config["data_options"]["image_size"] == 64
    assert config["objective_params"] == {"reconstruction_weight": 8000.0}


@pytest.mark.slow
def test_faces_128_commands_end_to_end(capsys, tmp_path, celeba_dirs, private_cache):
    """`vaelab train --preset faces-128` on CelebA's layout, then attribute, arithmetic and morph."""
    run = str(tmp_path / "faces-128")
    common = ("--device", "cpu")
    code, _, err = run_cli(
        capsys,
        "train",
        "--preset",
        "faces-128",
        "--run-dir",
        run,
        "--data-dir",
        str(celeba_dirs["kaggle"]),
        "--epochs",
        "1",
        "--batch-size",
        str(TINY_BATCH),
        "--limit-train",
        str(TINY_TRAIN),
        "--limit-test",
        str(TINY_TEST),
        "--no-progress",
        *common,
    )
    assert code == 0, err
    code, out, err = run_cli(capsys, "attribute", run, "--attribute", "Smiling", "--count", "40", *common)
    assert code == 0, err
    assert "of 40 training images" in out
    code, out, err = run_cli(
        capsys,
        "arithmetic",
        run,
        "--attribute",
        "Smiling",
        "--count",
        "40",
        "--factors",
        "-2,0,2",
        "--images",
        "2",
        *common,
    )
    assert code == 0, err
    with np.load(Path(run) / "figures" / "arithmetic-Smiling.npz") as data:
        assert data["images"].shape == (2, 3, 3, 128, 128)
    code, out, err = run_cli(capsys, "morph", run, "--from", "0", "--to", "4", "--steps", "3", *common)
    assert code == 0, err
    with np.load(Path(run) / "figures" / "morph-0-4-linear.npz") as data:
        assert data["images"].shape == (3, 3, 128, 128)
    code, _, err = run_cli(capsys, "train", "--run-dir", run, "--resume", "--image-size", "64")
    assert_one_line_error(code, err, 1, "cannot change --image-size")

    client_class = _test_client_class()
    from vaelab.presentation.explorer import prepare_explorer

    explorer = prepare_explorer(run, port=0, points=10, device="cpu", log=lambda line: None)  # `vaelab explore`
    try:
        with client_class(explorer.app) as client:
            answer = client.get("/api/image/0")
            assert answer.status_code == 200 and _png_size(answer.content) == (256, 128)
    finally:
        explorer.sock.close()
