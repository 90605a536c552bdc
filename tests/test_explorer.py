"""The web explorer (`vaelab explore`): its API answers against the model's own numbers, for a
2-D and a 16-D (PCA plane) latent space and for a vq-vae's discrete codes (its prior's samples, its
codebook's use and plane), its errors, its page, and the command line."""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import io
import json
import os
import re
import shutil
import socket
import threading
import urllib.request
import warnings
from collections import Counter
from typing import get_args

import numpy as np
import pytest
import torch

pytest.importorskip("fastapi")
pytest.importorskip("httpx")  # FastAPI's TestClient

with warnings.catch_warnings():  # Starlette ≥ 1.x prefers httpx2 to httpx; both work
    warnings.filterwarnings("ignore", message=".*httpx2")
    from fastapi.testclient import TestClient
from PIL import Image

from cli_run import assert_one_line_error, run_cli
from conftest import small_config
from idx_fixtures import install_fake_fashion_mnist, isolate_data_locations
from vaelab.data.image_set import ImageSet
from vaelab.errors import ConfigError, RunDirError
from vaelab.latent import decode_points, embed, encode_images, generate
from vaelab.latent.morph import METHODS
from vaelab.latent.samplers import default_sampler
from vaelab.limits import MAX_GENERATED, MAX_SEED
from vaelab.models import build_model
from vaelab.presentation.explorer import prepare_explorer, server
from vaelab.presentation.explorer.app import (
    MAX_SCALE,
    READERS,
    STATIC_DIR,
    WORKERS,
    MorphMethod,
    app_for_state,
    create_app,
)
from vaelab.presentation.explorer.state import COORDINATE_LIMIT, MAX_STEPS, MIN_STEPS, build_state
from vaelab.presentation.explorer.workers import AnswerWorkers, FileReads, ReadTimedOut, release_free_memory
from vaelab.reading import FileProblem
from vaelab.safetensors_io import tensors_digest
from vaelab.training import RunConfig, RunDir, load_run, prepare_config, train
from vaelab.training.run import Run
from vaelab.training.run_dir import weights_of
from vq_runs import make_vq_runs

POINTS = 50


def untrained_run(tmp_path_factory, preset: str, latent_dim: int) -> Run:
    """A freshly initialised model opened as a run (no metrics yet): the explorer needs no training."""
    torch.manual_seed(0)
    config = RunConfig.from_preset(preset, latent_dim=latent_dim, device="cpu")
    folder = RunDir(tmp_path_factory.mktemp(f"{preset}-{latent_dim}"))
    return Run(folder, config, build_model(config.model).eval(), torch.device("cpu"))


def trained_16d_run(tmp_path_factory, train_images, test_images) -> Run:
    """book-ae with a 16-D latent space, trained like conftest's ``trained_run`` (shown in its PCA plane)."""
    run_dir = tmp_path_factory.mktemp("runs") / "ae16"
    train(
        small_config(latent_dim=16),
        run_dir,
        train_set=train_images,
        test_set=test_images,
        progress=False,
        log=lambda s: None,
    )
    return load_run(run_dir, "cpu")


@pytest.fixture(scope="module", params=["ae-2d", "ae-16d", "vae-2d"])
def explored(request, tmp_path_factory, trained_run, train_images, test_images):
    """(run, TestClient) for a trained 2-D autoencoder, a trained 16-D one (shown in its PCA plane)
    and an untrained 2-D VAE, each exploring the first POINTS test images."""
    torch.set_num_threads(1)
    run = {
        "ae-2d": lambda: trained_run,
        "ae-16d": lambda: trained_16d_run(tmp_path_factory, train_images, test_images),
        "vae-2d": lambda: untrained_run(tmp_path_factory, "book-vae", 2),
    }[request.param]()
    with TestClient(create_app(run, test_images, points=POINTS)) as client:
        yield run, client


@pytest.fixture(scope="module")
def client(trained_run, test_images):
    torch.set_num_threads(1)
    with TestClient(create_app(trained_run, test_images, points=POINTS)) as client:
        yield client


def expected_plane(run: Run, images: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The latent points z of ``images``, and the plane's origin and two axes [2, d] computed here
    from scratch: z's own axes in 2-D, the top two principal directions of z otherwise."""
    z = encode_images(run.model, images).astype(np.float64)
    if z.shape[1] == 2:
        return z, np.zeros(2), np.eye(2)
    mean = z.mean(axis=0)
    _, _, vt = np.linalg.svd(z - mean, full_matrices=False)
    return z, mean, vt[:2]


def png_pixels(response) -> np.ndarray:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/png"
    return np.asarray(Image.open(io.BytesIO(response.content)))


def as_uint8(image: np.ndarray) -> np.ndarray:
    """A one-channel float image [1, H, W] in [0, 1] as the 0…255 values a PNG holds."""
    return np.rint(np.clip(image[0], 0, 1) * 255).astype(int)


def test_points_are_the_embeddings_in_the_plane(explored, test_images):
    run, client = explored
    answer = client.get("/api/points").json()
    z, origin, axes = expected_plane(run, test_images.images[:POINTS])
    expected = (z - origin) @ axes.T
    assert answer["count"] == POINTS and answer["indices"] == list(range(POINTS))
    got = np.column_stack([answer["x"], answer["y"]])
    assert np.allclose(got, expected, rtol=1e-5, atol=1e-6 * np.abs(expected).max()), np.abs(got - expected).max()
    assert answer["labels"] == test_images.labels[:POINTS].tolist()
    assert answer["class_names"] == list(test_images.class_names)
    (x0, x1), (y0, y1) = answer["bounds"]["x"], answer["bounds"]["y"]
    assert x0 < got[:, 0].min() and got[:, 0].max() < x1 and y0 < got[:, 1].min() and got[:, 1].max() < y1
    pca = run.config.model.latent_dim > 2
    assert ("PC1" in answer["axis_labels"][0]) == pca and (answer["axis_labels"][1] == "z[1]") != pca


def test_decode_is_the_decoder_at_that_point(explored, test_images):
    run, client = explored
    z, origin, axes = expected_plane(run, test_images.images[:POINTS])
    plane = (z - origin) @ axes.T
    x, y = 0.3 * plane[0] + 0.7 * plane[1] + 0.05  # between two embeddings, off both
    pixels = png_pixels(client.get("/api/decode", params={"x": x, "y": y}))
    assert pixels.shape == (32, 32)  # the model's image size, one channel
    latent = origin + x * axes[0] + y * axes[1]
    expected = as_uint8(decode_points(run.model, latent[None].astype(np.float32))[0])
    assert np.abs(pixels.astype(int) - expected).max() <= 1
    if run.dir.read_metrics():  # a trained model draws a real image, not a near-constant one anything would match
        assert np.ptp(expected) > 40

    big = png_pixels(client.get("/api/decode", params={"x": x, "y": y, "scale": 3}))
    assert big.shape == (96, 96) and np.array_equal(big[::3, ::3], pixels) and np.array_equal(big[2::3, 1::3], pixels)


def test_image_is_the_test_image_beside_its_reconstruction(client, trained_run, test_images):
    pixels = png_pixels(client.get("/api/image/7"))
    assert pixels.shape == (32, 64)
    assert np.array_equal(pixels[:, :32], test_images.images[7, 0])
    reconstruction = decode_points(trained_run.model, encode_images(trained_run.model, test_images.images[7:8]))
    assert np.abs(pixels[:, 32:].astype(int) - as_uint8(reconstruction[0])).max() <= 1


def test_morph_decodes_the_straight_path(client, trained_run, test_images):
    pixels = png_pixels(client.get("/api/morph", params={"start": 3, "end": 11, "steps": 5}))
    assert pixels.shape == (32, 5 * 32)
    z0, z1 = encode_images(trained_run.model, test_images.images[[3, 11]])
    for k, f in enumerate(np.linspace(0, 1, 5)):
        expected = as_uint8(decode_points(trained_run.model, (z0 * (1 - f) + z1 * f)[None])[0])
        assert np.abs(pixels[:, 32 * k : 32 * (k + 1)].astype(int) - expected).max() <= 1, f
    slerp = png_pixels(client.get("/api/morph", params={"start": 3, "end": 11, "steps": 5, "method": "slerp"}))
    assert np.abs(slerp[:, :32].astype(int) - pixels[:, :32]).max() <= 1  # same ends, another path
    assert not np.array_equal(slerp[:, 64:96], pixels[:, 64:96])


def test_run_facts(explored):
    run, client = explored
    facts = client.get("/api/run").json()
    assert facts["preset"] == run.config.preset and facts["kind"] == run.config.model.kind
    assert facts["latent_dim"] == run.config.model.latent_dim and facts["image_shape"] == [1, 32, 32]
    assert facts["points"] == POINTS and facts["dataset"] == "fashion-mnist"
    assert facts["projection"]["method"] == ("pca" if run.config.model.latent_dim > 2 else "identity")
    assert facts["weights_sha256"] == tensors_digest(weights_of(run.model))  # the weights in memory
    assert facts["weights_changed"] is False and facts["note"] is None
    rows = run.dir.read_metrics()
    if rows:
        assert facts["epochs_trained"] == 2 == facts["epochs_configured"] == facts["weights_on_disk_epoch"]
        assert facts["final_val"] == rows[-1]["val"] and facts["final_val"]["loss"] > 0
    else:  # a model built in memory: no weights file, no metrics, so its epoch is unknown
        assert facts["epochs_trained"] is None and facts["final_val"] is None
        assert facts["weights_on_disk_epoch"] is None


def test_a_dataset_without_labels(trained_run, test_images):
    unlabelled = ImageSet(test_images.images, None, (), "pictures")
    with TestClient(create_app(trained_run, unlabelled, points=10)) as client:
        answer = client.get("/api/points").json()
        assert answer["count"] == 10 and answer["labels"] is None and answer["class_names"] == []
        assert png_pixels(client.get("/api/image/9")).shape == (32, 64)


def cells(pixels: np.ndarray, count: int, columns: int, size: int = 32) -> list[np.ndarray]:
    """The first ``count`` images of a grid PNG, ``columns`` to a row, left to right and top to bottom."""
    return [
        pixels[size * (k // columns) : size * (k // columns + 1), size * (k % columns) : size * (k % columns + 1)]
        for k in range(count)
    ]


def test_samples_are_the_run_s_own_sampler_s_seeded_draws(explored, test_images):
    run, client = explored
    answer = client.get("/api/samples", params={"count": 5, "seed": 7})
    pixels = png_pixels(answer)
    assert pixels.shape == (32, 5 * 32)  # fewer than a row of 6: one row
    embedding = embed(run.model, test_images.head(POINTS), None)
    expected = generate(run.model, embedding, 5, 7, default_sampler(run.model), progress=False).images
    for k, cell in enumerate(cells(pixels, 5, 5)):
        assert np.abs(cell.astype(int) - as_uint8(expected[k])).max() <= 1, k
    assert client.get("/api/samples", params={"count": 5, "seed": 7}).content == answer.content
    assert client.get("/api/samples", params={"count": 5, "seed": 8}).content != answer.content
    facts = client.get("/api/run").json()
    assert facts["sampler"] == default_sampler(run.model) and facts["has_prior"] == run.model.has_prior
    assert facts["sampler_note"] is None
    assert (facts["discrete_codes"], facts["codebook_size"], facts["code_shape"]) == (False, None, None)


def test_samples_fill_rows_of_the_book_s_grid(client):
    pixels = png_pixels(client.get("/api/samples", params={"seed": 1}))  # the book's 18 in 6 columns by default
    assert pixels.shape == (3 * 32, 6 * 32)
    seven = png_pixels(client.get("/api/samples", params={"count": 7, "scale": 2}))
    assert seven.shape == (2 * 64, 6 * 64) and not seven[64:, 64:].any()  # the second row's 5 empty cells


def test_a_conditional_model_s_samples_go_through_its_classes(cvae_run, test_images):
    with TestClient(create_app(cvae_run, test_images, points=POINTS)) as client:
        pixels = png_pixels(client.get("/api/samples", params={"count": 12, "seed": 2}))
    embedding = embed(cvae_run.model, test_images.head(POINTS), None)
    expected = generate(cvae_run.model, embedding, 12, 2, default_sampler(cvae_run.model), progress=False)
    assert expected.labels.tolist() == [k % 10 for k in range(12)]
    for k, cell in enumerate(cells(pixels, 12, 6)):
        assert np.abs(cell.astype(int) - as_uint8(expected.images[k])).max() <= 1, k


def test_a_sampler_that_cannot_fit_the_embedded_images_says_to_embed_more(tmp_path_factory, test_images):
    run = untrained_run(tmp_path_factory, "rae", 2)  # its default sampler: a 10-component gmm
    with TestClient(create_app(run, test_images, points=5)) as client:
        assert client.get("/api/run").json()["sampler"] == "gmm"
        assert_one_line_answer(
            client.get("/api/samples"), 409, "needs at least 10", "its 5 embedded test images", "larger --points"
        )


def test_the_codebook_of_continuous_codes_is_a_one_line_404(client):
    assert_one_line_answer(client.get("/api/codebook"), 404, "the ae model's codes are continuous", "no codebook")


# ---- a model with discrete codes (vq-vae): its prior's samples, its codebook --------------------------

"""A PixelCNN small enough to train in a second (as tests/test_vq_prior.py)."""


@pytest.fixture(scope="module")
def vq_runs(tmp_path_factory, train_images, test_images) -> dict[str, Run]:
    """A vq-vae run trained for 1 short epoch on 60 synthetic images (``bare``, no prior), and a copy
    with a small PixelCNN prior trained for 1 epoch (``prior``), each loaded as ``explore`` loads it."""
    folders = make_vq_runs(tmp_path_factory.mktemp("vq"), train_images, test_images)
    return {name: load_run(path, "cpu") for name, path in folders.items()}


@pytest.fixture(scope="module")
def vq_clients(vq_runs, test_images):
    """A TestClient of each of ``vq_runs``, exploring the first POINTS test images."""
    torch.set_num_threads(1)
    with (
        TestClient(create_app(vq_runs["bare"], test_images, points=POINTS)) as bare,
        TestClient(create_app(vq_runs["prior"], test_images, points=POINTS)) as prior,
    ):
        yield {"bare": bare, "prior": prior}


def test_a_vq_run_s_facts_say_which_panels_apply(vq_runs, vq_clients):
    for name, has_prior in (("bare", False), ("prior", True)):
        facts = vq_clients[name].get("/api/run").json()
        assert facts["kind"] == "vq-vae" and facts["discrete_codes"] is True
        assert facts["codebook_size"] == 256 and facts["code_shape"] == [16, 8, 8]
        assert facts["latent_dim"] == 16 and facts["projection"]["method"] == "pca"  # of the 1,024-number grids
        assert facts["has_prior"] is has_prior and facts["sampler"] == ("prior" if has_prior else None)
        if has_prior:
            assert facts["sampler_note"] is None
        else:  # the line of the 409 that /api/samples answers, for the page to show without asking for samples
            assert facts["sampler_note"] == vq_clients[name].get("/api/samples").json()["detail"]
            assert "vaelab prior train" in facts["sampler_note"]


def test_codebook_use_counts_the_codes_of_the_embedded_images(vq_runs, vq_clients, test_images):
    model = vq_runs["prior"].model
    answer = vq_clients["prior"].get("/api/codebook").json()
    with torch.no_grad():
        codes = model.encode_codes(torch.from_numpy(test_images.images[:POINTS]).float() / 255.0).numpy()
    counts = np.bincount(codes.ravel(), minlength=256)
    assert answer["counts"] == counts.tolist() and answer["codebook_size"] == 256
    assert (answer["images"], answer["positions"], answer["grid"], answer["code_dim"]) == (
        POINTS,
        POINTS * 64,
        [8, 8],
        16,
    )
    assert answer["used"] == np.count_nonzero(counts)
    p = counts[counts > 0] / counts.sum()
    assert answer["perplexity"] == pytest.approx(np.exp(-(p * np.log(p)).sum()), rel=1e-9)
    assert 1 < answer["perplexity"] <= answer["used"] < 256  # a short training uses some codes, unequally
    vectors = model.quantizer.codebook.numpy().astype(np.float64)  # the K code vectors, in their PCA plane
    centred = vectors - vectors.mean(axis=0)
    _, singular, vt = np.linalg.svd(centred, full_matrices=False)
    expected = centred @ vt[:2].T
    got = np.column_stack([answer["x"], answer["y"]])
    assert np.allclose(got, expected, atol=1e-5 * np.abs(expected).max()), np.abs(got - expected).max()
    share = singular[:2] ** 2 / (singular**2).sum()
    assert np.allclose(answer["explained_variance"], share)
    assert answer["axis_labels"][0] == f"PC1 of the code vectors ({100 * share[0]:.0f}% of variance)"
    (x0, x1), (y0, y1) = answer["bounds"]["x"], answer["bounds"]["y"]
    assert x0 < got[:, 0].min() and got[:, 0].max() < x1 and y0 < got[:, 1].min() and got[:, 1].max() < y1
    assert vq_clients["bare"].get("/api/codebook").json() == answer  # the same VQ-VAE: the prior changes nothing


def test_prior_samples_are_the_pixelcnn_s_seeded_draws(vq_runs, vq_clients):
    model, client = vq_runs["prior"].model, vq_clients["prior"]
    answer = client.get("/api/samples", params={"count": 4, "seed": 3})
    pixels = png_pixels(answer)
    assert pixels.shape == (32, 4 * 32)
    with torch.inference_mode():
        points = model.sample_prior(4, torch.Generator().manual_seed(3)).numpy()
    expected = decode_points(model, points)
    for k, cell in enumerate(cells(pixels, 4, 4)):
        assert np.abs(cell.astype(int) - as_uint8(expected[k])).max() <= 1, k
    assert client.get("/api/samples", params={"count": 4, "seed": 3}).content == answer.content
    assert client.get("/api/samples", params={"count": 4, "seed": 4}).content != answer.content


def test_without_a_prior_samples_are_a_one_line_409_saying_what_to_run(vq_runs, vq_clients):
    answer = vq_clients["bare"].get("/api/samples", params={"seed": 1})
    assert_one_line_answer(
        answer, 409, f"train one with `vaelab prior train {vq_runs['bare'].dir.path}`, then restart the explorer"
    )
    assert png_pixels(vq_clients["bare"].get("/api/image/3")).shape == (32, 64)  # the rest of the explorer works


@pytest.mark.parametrize(
    "url, status, fragment",
    [
        (f"/api/image/{POINTS}", 404, f"not among the {POINTS} embedded"),
        ("/api/image/-1", 422, "index: Input should be greater than or equal to 0"),
        ("/api/image/first", 422, "index"),
        ("/api/morph?start=0&end=1&steps=1", 422, "steps"),
        ("/api/morph?start=0&end=1&steps=33", 422, "steps"),
        ("/api/morph?start=0&end=500", 422, "test image 500"),
        ("/api/morph?start=0", 422, "end: Field required"),
        ("/api/morph?start=0&end=1&method=cubic", 422, "method: Input should be 'linear' or 'slerp' (got 'cubic')"),
        ("/api/morph?start=-3&end=1", 422, "start: Input should be greater than or equal to 0"),
        ("/api/decode?x=nan&y=0", 422, "x: Input should be a finite plain decimal number"),
        ("/api/decode?x=0&y=inf", 422, "y: Input should be a finite plain decimal number"),
        ("/api/decode?x=0&y=1e999", 422, "y: Input should be a finite plain decimal number (ASCII digits"),
        ("/api/decode?x=-1e300&y=0", 422, "x: Input should be greater than or equal to -1000000"),
        ("/api/decode?x=0&y=1000000.5", 422, "y: Input should be less than or equal to 1000000"),
        ("/api/decode?x=zero&y=0", 422, "x: Input should be a finite plain decimal number"),
        ("/api/decode?x=0", 422, "y: Field required"),
        ("/api/decode?x=0&y=0&scale=0", 422, "scale"),
        ("/api/decode?x=0&y=0&scale=17", 422, "scale: Input should be less than or equal to 16 (got 17)"),
        # numbers only in the plain ASCII forms of the command line (vaelab.numbers), as the schema's types say
        ("/api/decode?x=1_0&y=0", 422, "x: Input should be a finite plain decimal number (ASCII digits"),
        ("/api/decode?x=0&y=%201", 422, "y: Input should be a finite plain decimal number"),
        ("/api/decode?x=0&y=1%20", 422, "(got '1 ')"),
        ("/api/decode?x=%EF%BC%91&y=0", 422, "x: Input should be a finite plain decimal number"),  # fullwidth 1
        ("/api/decode?x=0x10&y=0", 422, "x: Input should be a finite plain decimal number"),
        ("/api/decode?x=0&y=0&scale=1_0", 422, "e.g. 12) (got '1_0')"),
        ("/api/decode?x=0&y=0&scale=2.0", 422, "scale: Input should be a plain integer"),
        ("/api/image/1_0", 422, "index: Input should be a plain integer"),
        (
            "/api/image/%201",
            422,
            "index: Input should be a plain integer (ASCII digits and an optional sign, e.g. 12) (got ' 1')",
        ),
        ("/api/image/%D9%A1", 422, "index: Input should be a plain integer"),  # Arabic-Indic 1
        ("/api/morph?start=0&end=1&steps=1_0", 422, "steps: Input should be a plain integer"),
        ("/api/morph?start=%091&end=1", 422, "start: Input should be a plain integer"),  # a tab
        ("/api/morph?start=0&end=1%0A", 422, "end: Input should be a plain integer"),
        ("/api/samples?count=0", 422, "count: Input should be greater than or equal to 1 (got 0)"),
        (
            f"/api/samples?count={MAX_GENERATED + 1}",
            422,
            f"count: Input should be less than or equal to {MAX_GENERATED}",
        ),
        ("/api/samples?seed=-1", 422, "seed: Input should be greater than or equal to 0"),
        (f"/api/samples?seed={MAX_SEED + 1}", 422, f"seed: Input should be less than or equal to {MAX_SEED}"),
        ("/api/samples?seed=1_0", 422, "seed: Input should be a plain integer"),
        ("/api/samples?count=2.0", 422, "count: Input should be a plain integer"),
    ],
)
def test_bad_requests_are_4xx_with_one_line(client, url, status, fragment):
    response = client.get(url)  # a server error would raise here (TestClient re-raises it)
    assert response.status_code == status, response.text
    detail = response.json()["detail"]
    assert isinstance(detail, str) and "\n" not in detail and fragment in detail, detail


# ---- run files damaged or removed while serving ---------------------------------------------------


@pytest.fixture
def copied_run(tmp_path, trained_run) -> Run:
    """A copy of the trained run, free to damage."""
    folder = tmp_path / "copy"
    shutil.copytree(trained_run.dir.path, folder)
    return load_run(folder, "cpu")


def assert_one_line_answer(response, status: int, *fragments: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    detail = response.json()["detail"]
    assert isinstance(detail, str) and "\n" not in detail and "Traceback" not in detail, detail
    for fragment in fragments:
        assert fragment.lower() in detail.lower(), detail  # "utf-8 codec" or "UTF-8 text"


@pytest.mark.parametrize(
    "damage, fragments",
    [
        (lambda path: path.write_text("{not json\n"), ["metrics.jsonl", "not valid JSON"]),
        (lambda path: path.write_text('{"epoch": 1, "val": []}\n'), ["line 1 is not a metrics row"]),
        (
            lambda path: path.write_text('{"epoch": 1, "val": {"loss": "high"}}\n'),
            ["line 1 is not a metrics row", "finite numbers"],
        ),
        (
            lambda path: path.write_text('{"epoch": 1, "val": {"loss": NaN}}\n'),
            ["line 1 is not a metrics row", "finite numbers"],
        ),
        (lambda path: path.write_bytes(b"\xff\xfe\x00"), ["metrics.jsonl", "UTF-8"]),
        (lambda path: path.unlink(), ["metrics.jsonl was removed while the explorer was running"]),
        (lambda path: shutil.rmtree(path.parent), ["metrics.jsonl was removed"]),
        (lambda path: (path.unlink(), path.mkdir()), ["metrics.jsonl is a folder"]),
        # read as a whole, /dev/zero took the server to 6.6 GB in 9 s; refused before it is opened
        (lambda path: (path.unlink(), path.symlink_to("/dev/zero")), ["metrics.jsonl is not a regular file"]),
        # json's parser raised RecursionError, which was a plain-text 500
        (lambda path: path.write_text("[" * 100_000 + "\n"), ["metrics.jsonl", "nested too deeply"]),
    ],
    ids=[
        "not-json",
        "not-a-row",
        "loss-text",
        "loss-nan",
        "not-utf8",
        "removed",
        "run-removed",
        "a-folder",
        "dev-zero",
        "nested",
    ],
)
def test_a_run_file_damaged_while_serving_is_503_with_one_line(copied_run, test_images, damage, fragments):
    with TestClient(create_app(copied_run, test_images, points=POINTS)) as client:
        assert client.get("/api/run").status_code == 200
        damage(copied_run.dir.metrics)
        assert_one_line_answer(client.get("/api/run"), 503, *fragments, "restore it")
        assert client.get("/api/decode", params={"x": 0, "y": 0}).status_code == 200  # the rest still works
        assert client.get("/api/points").status_code == 200


def test_an_os_error_while_serving_is_503_with_one_line(monkeypatch, copied_run, test_images):
    """Not only vaelab's own errors: any OSError that escapes while serving is one line too."""

    def unreadable(self):
        raise PermissionError(13, "Permission denied", str(self.metrics))

    with TestClient(create_app(copied_run, test_images, points=POINTS)) as client:
        monkeypatch.setattr(RunDir, "read_metrics", unreadable)
        assert_one_line_answer(client.get("/api/run"), 503, "could not use", "metrics.jsonl: Permission denied")


@pytest.mark.parametrize(
    "problem, fragment",
    [
        (FileProblem("is not a regular file (a pipe, a device or a socket is in its place)"), "is not a regular file"),
        (RecursionError("maximum recursion depth exceeded"), "nested too deeply"),
        (RunDirError("model.safetensors is corrupt"), "model.safetensors is corrupt"),
        (OSError(5, "Input/output error", "model.safetensors"), "model.safetensors: Input/output error"),
    ],
    ids=["file-problem", "recursion", "run-dir-error", "os-error"],
)
def test_every_file_failure_while_serving_is_a_one_line_503(monkeypatch, copied_run, test_images, problem, fragment):
    """Whatever a read of the run's files raises while serving, the answer is one line, never a 500."""

    def failing(self):
        raise problem

    with TestClient(create_app(copied_run, test_images, points=POINTS)) as client:
        monkeypatch.setattr(RunDir, "weights_record", failing)
        assert_one_line_answer(client.get("/api/run"), 503, fragment)
        assert client.get("/api/decode", params={"x": 0, "y": 0}).status_code == 200


def release_fifo(path) -> None:
    """Let a reader blocked in opening the FIFO ``path`` go (it reads an empty file)."""
    with contextlib.suppress(OSError):  # nobody is reading it
        os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))


def test_a_fifo_in_place_of_metrics_is_refused_without_blocking(copied_run, test_images):
    """Opening a FIFO blocks until a writer comes: it used to hold both answer workers, and decoding."""
    metrics = copied_run.dir.metrics
    app = app_for_state(build_state(copied_run, test_images, POINTS), read_timeout=5)
    metrics.unlink()
    os.mkfifo(metrics)
    try:

        async def both():
            async with httpx_client(app) as http:
                return await asyncio.wait_for(
                    asyncio.gather(http.get("/api/run"), http.get("/api/run"), http.get("/api/decode?x=0&y=0")), 4
                )

        first, second, decoded = asyncio.run(both())
        for answer in (first, second):
            assert_one_line_answer(answer, 503, "metrics.jsonl is not a regular file")
        assert png_pixels(decoded).shape == (32, 32)
    finally:
        release_fifo(metrics)
        app.state.file_reads.shutdown()


def httpx_client(app):
    """An async client that calls ``app`` in-process, so that requests can be in flight together."""
    httpx = pytest.importorskip("httpx")
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://explorer")


def test_a_blocked_read_never_starves_decoding(monkeypatch, copied_run, test_images):
    """Reads of the run's files that never return (a stalled drive) hold only the reading threads:
    decoding still answers at once, and /api/run answers 503 when its time is up."""
    app = app_for_state(build_state(copied_run, test_images, POINTS), read_timeout=1)
    release = threading.Event()
    blocked = []

    def stuck_read(self):
        blocked.append(threading.current_thread().name)
        release.wait(30)
        return []

    monkeypatch.setattr(RunDir, "read_metrics", stuck_read)

    async def scenario():
        async with httpx_client(app) as http:
            facts = [asyncio.ensure_future(http.get("/api/run")) for _ in range(READERS + 2)]
            await asyncio.sleep(0.2)  # every reading thread is stuck by now
            decoded = await asyncio.wait_for(http.get("/api/decode", params={"x": 0, "y": 0}), 5)
            strip = await asyncio.wait_for(http.get("/api/morph", params={"start": 0, "end": 1}), 5)
            return decoded, strip, await asyncio.gather(*facts)

    try:
        decoded, strip, facts = asyncio.run(scenario())
    finally:
        release.set()
    assert png_pixels(decoded).shape == (32, 32) and png_pixels(strip).shape == (32, 320)
    for answer in facts:
        assert_one_line_answer(answer, 503, "took more than 1 s", "the rest of the explorer works")
    assert len(blocked) == READERS and all(name.startswith("vaelab-explorer-read") for name in blocked)
    app.state.file_reads.shutdown()


def test_file_reads_time_out_and_cancel_what_has_not_started():
    reads = FileReads(1, timeout=0.3)
    release, ran = threading.Event(), []

    async def scenario():
        stuck = asyncio.ensure_future(reads.run(lambda: release.wait(10)))
        waiting = asyncio.ensure_future(reads.run(lambda: ran.append("late")))
        outcomes = await asyncio.gather(stuck, waiting, return_exceptions=True)
        release.set()
        await asyncio.sleep(0.05)
        return outcomes, await reads.run(lambda: 42)

    outcomes, later = asyncio.run(scenario())
    assert all(isinstance(outcome, ReadTimedOut) and "more than 0.3 s" in str(outcome) for outcome in outcomes)
    assert ran == [] and later == 42 and reads.threads == 1  # the cancelled read never ran; the thread came back
    with pytest.raises(ZeroDivisionError):
        asyncio.run(reads.run(lambda: 1 / 0))
    reads.shutdown()
    with pytest.raises(ValueError, match="at least one thread"):
        FileReads(0, 1.0)


# ---- the facts are those of the weights served ----------------------------------------------------


def facts_of(client) -> dict:
    answer = client.get("/api/run")
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_the_facts_are_the_weights_served_while_training_resumes(tmp_path, train_images, test_images):
    """`vaelab train --resume` while exploring: the page keeps describing the weights it decodes with."""
    run_dir = RunDir(tmp_path / "run")
    quiet = {"train_set": train_images, "test_set": test_images, "progress": False, "log": lambda s: None}
    train(small_config(epochs=1), run_dir, **quiet)
    run = load_run(run_dir.path, "cpu")
    with TestClient(create_app(run, test_images, points=POINTS)) as client:
        before = facts_of(client)
        assert before["epochs_trained"] == 1 and before["weights_changed"] is False and before["note"] is None
        first_val = run_dir.read_metrics()[0]["val"]
        assert before["final_val"] == first_val
        image = client.get("/api/decode", params={"x": 0.1, "y": -0.2}).content

        train(prepare_config(run_dir, None, True, epochs=2), run_dir, resume=True, **quiet)
        assert [row["epoch"] for row in run_dir.read_metrics()] == [1, 2] and run_dir.weights_record().epoch == 2

        after = facts_of(client)
        assert after["epochs_trained"] == 1 and after["final_val"] == first_val  # epoch 1's row, not the last
        assert after["weights_sha256"] == before["weights_sha256"]
        assert after["weights_changed"] is True and after["weights_on_disk_epoch"] == 2
        assert after["note"] == "the run has newer weights on disk (epoch 2); restart the explorer to see them"
        assert client.get("/api/decode", params={"x": 0.1, "y": -0.2}).content == image  # still epoch 1's
    with TestClient(create_app(load_run(run_dir.path, "cpu"), test_images, points=POINTS)) as client:
        restarted = facts_of(client)
        assert restarted["epochs_trained"] == 2 and restarted["weights_changed"] is False
        assert restarted["final_val"] == run_dir.read_metrics()[1]["val"]


def test_the_epoch_comes_from_the_weights_when_metrics_are_missing_at_start(copied_run, test_images):
    metrics = copied_run.dir.metrics
    text = metrics.read_text()
    metrics.unlink()
    with TestClient(create_app(copied_run, test_images, points=POINTS)) as client:
        facts = facts_of(client)  # no metrics at start-up: not a 503, and not "0 epochs"
        assert facts["epochs_trained"] == 2 and facts["final_val"] is None and facts["weights_changed"] is False
        metrics.write_text(text)
        assert facts_of(client)["final_val"] == copied_run.dir.read_metrics()[1]["val"]
        metrics.write_text(text.splitlines(keepends=True)[0])  # epoch 2's row is gone: no other epoch's stands in
        assert facts_of(client)["epochs_trained"] == 2 and facts_of(client)["final_val"] is None


def test_weights_removed_or_replaced_on_disk(copied_run, test_images):
    model = copied_run.dir.model
    with TestClient(create_app(copied_run, test_images, points=POINTS)) as client:
        model.unlink()
        facts = facts_of(client)
        assert facts["epochs_trained"] == 2 and facts["weights_changed"] is True
        assert facts["weights_on_disk_epoch"] is None and "model.safetensors was removed" in facts["note"]
        other = build_model(copied_run.config.model)
        copied_run.dir.save_weights(other, copied_run.config, 1)  # a run trained again from the start
        facts = facts_of(client)
        assert facts["weights_changed"] is True and facts["weights_on_disk_epoch"] == 1
        assert facts["note"] == "the run has other weights on disk (epoch 1); restart the explorer to see them"


def test_weights_without_a_record_fall_back_on_the_metrics(tmp_path, trained_run, test_images):
    """A weights file written before vaelab 0.6 records no epoch: the last metrics row at start-up tells it,
    and a change of the file is seen from the file itself."""
    from safetensors.torch import save_file

    folder = RunDir(shutil.copytree(trained_run.dir.path, tmp_path / "old"))
    save_file(weights_of(trained_run.model), str(folder.model))  # no metadata: no weights record
    assert folder.weights_record() is None
    run = Run(folder, trained_run.config, trained_run.model, torch.device("cpu"))
    with TestClient(create_app(run, test_images, points=POINTS)) as client:
        facts = facts_of(client)
        assert facts["epochs_trained"] == 2 and facts["final_val"] == folder.read_metrics()[1]["val"]
        assert facts["weights_changed"] is False and facts["weights_on_disk_epoch"] is None
        stat = folder.model.stat()
        os.utime(folder.model, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))  # rewritten since start-up
        facts = facts_of(client)
        assert facts["weights_changed"] is True and "model.safetensors changed on disk" in facts["note"]
    folder.metrics.unlink()
    with TestClient(create_app(run, test_images, points=POINTS)) as client:
        assert facts_of(client)["epochs_trained"] is None  # nothing tells the epoch: unknown, not 0


def test_a_model_with_non_finite_codes_is_refused_at_start(copied_run, test_images):
    with torch.no_grad():
        next(copied_run.model.parameters()).fill_(float("nan"))
    with pytest.raises(
        RunDirError, match=r"latent points that are not finite numbers \(NaN or infinity\): its weights"
    ):
        create_app(copied_run, test_images, points=POINTS)


def test_page_is_served_with_local_assets_only(client):
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assets = re.findall(r'(?:src|href)="([^"]*)"', page.text)
    assert {"/static/explorer.js", "/static/explorer.css"} <= set(assets)
    for asset in assets:
        assert asset.startswith("/") and not asset.startswith("//"), asset
        assert client.get(asset).status_code == 200, asset
    for path in STATIC_DIR.iterdir():
        text = path.read_text()
        assert not re.search(r"https?://|//cdn|@import", text), path.name
    script = (STATIC_DIR / "explorer.js").read_text()
    assert set(re.findall(r"`?(/api/[a-z]+)", script)) == {
        "/api/run",
        "/api/points",
        "/api/decode",
        "/api/image",
        "/api/morph",
        "/api/samples",
        "/api/codebook",
    }


def test_static_files_are_package_data():
    tomllib = pytest.importorskip("tomllib")
    from pathlib import Path

    pyproject = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())
    patterns = pyproject["tool"]["setuptools"]["package-data"]["vaelab.presentation.explorer"]
    extra = pyproject["project"]["optional-dependencies"]["explore"]
    assert {"fastapi", "uvicorn"} <= {re.split(r"[<>=\[]", requirement)[0] for requirement in extra}
    for path in STATIC_DIR.iterdir():
        assert any(path.relative_to(STATIC_DIR.parent).match(p) for p in patterns), path.name


API_PATHS = {
    "/api/run",
    "/api/points",
    "/api/decode",
    "/api/image/{index}",
    "/api/morph",
    "/api/samples",
    "/api/codebook",
}


def test_api_is_described_in_openapi(client):
    paths = client.get("/openapi.json").json()["paths"]
    assert set(paths) == API_PATHS
    assert client.get("/docs").status_code == 200


def parameter_schemas(operation: dict) -> dict[str, dict]:
    return {parameter["name"]: parameter["schema"] for parameter in operation.get("parameters", [])}


def test_openapi_declares_one_line_errors_and_every_bound(client):
    document = client.get("/openapi.json").json()
    assert set(document["components"]["schemas"]) >= {"ErrorDetail", "RunFacts", "PlanePoints", "CodebookUse"}
    assert "HTTPValidationError" not in document["components"]["schemas"]  # FastAPI's list, never answered
    facts = document["components"]["schemas"]["RunFacts"]
    assert {"epochs_trained", "final_val", "weights_sha256", "weights_changed", "weights_on_disk_epoch", "note"} <= set(
        facts["required"]
    )
    assert facts["properties"]["weights_changed"]["type"] == "boolean"
    assert {"type": "null"} in facts["properties"]["epochs_trained"]["anyOf"]  # unknown for an old weights file
    error = document["components"]["schemas"]["ErrorDetail"]
    assert error["required"] == ["detail"] and error["properties"]["detail"]["type"] == "string"
    documented = {path: set(item["get"]["responses"]) for path, item in document["paths"].items()}
    assert documented == {
        "/api/run": {"200", "503"},
        "/api/points": {"200"},
        "/api/decode": {"200", "422"},
        "/api/image/{index}": {"200", "404", "422"},
        "/api/morph": {"200", "422"},
        "/api/samples": {"200", "409", "422"},
        "/api/codebook": {"200", "404"},
    }
    for item in document["paths"].values():
        for status, answer in item["get"]["responses"].items():
            if status != "200":
                assert answer["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ErrorDetail"}
    decode = parameter_schemas(document["paths"]["/api/decode"]["get"])
    assert decode["x"]["minimum"] == -COORDINATE_LIMIT and decode["y"]["maximum"] == COORDINATE_LIMIT
    image = parameter_schemas(document["paths"]["/api/image/{index}"]["get"])
    assert (image["index"]["minimum"], image["index"]["maximum"]) == (0, POINTS - 1)
    assert (image["scale"]["minimum"], image["scale"]["maximum"]) == (1, MAX_SCALE)
    morph = parameter_schemas(document["paths"]["/api/morph"]["get"])
    assert (morph["start"]["minimum"], morph["end"]["maximum"]) == (0, POINTS - 1)
    assert (morph["steps"]["minimum"], morph["steps"]["maximum"]) == (MIN_STEPS, MAX_STEPS)
    assert tuple(morph["method"]["enum"]) == METHODS == get_args(MorphMethod)
    samples = parameter_schemas(document["paths"]["/api/samples"]["get"])
    assert (samples["count"]["minimum"], samples["count"]["maximum"], samples["count"]["default"]) == (
        1,
        MAX_GENERATED,
        18,
    )
    assert (samples["seed"]["minimum"], samples["seed"]["maximum"], samples["seed"]["default"]) == (0, MAX_SEED, 0)
    assert {"discrete_codes", "codebook_size", "code_shape", "has_prior", "sampler"} <= set(facts["required"])
    codebook = document["components"]["schemas"]["CodebookUse"]
    assert {"counts", "used", "perplexity", "x", "y", "axis_labels"} <= set(codebook["required"])


@pytest.mark.parametrize(
    "url",
    [
        "/api/decode?x=-.5&y=1e-3",
        "/api/decode?x=5.&y=-2E%2B0&scale=%2B2",
        "/api/image/007",
        "/api/morph?start=0&end=%2B1",
        "/api/samples?count=%2B3&seed=007",
    ],
)
def test_every_plain_number_form_is_accepted(client, url):
    assert client.get(url).status_code == 200


def test_the_bounds_themselves_are_accepted(client):
    limit = COORDINATE_LIMIT
    assert client.get("/api/decode", params={"x": -limit, "y": limit, "scale": MAX_SCALE}).status_code == 200
    assert client.get(f"/api/image/{POINTS - 1}").status_code == 200
    assert client.get("/api/morph", params={"start": 0, "end": POINTS - 1, "steps": MAX_STEPS}).status_code == 200
    assert client.get("/api/samples", params={"count": MAX_GENERATED, "seed": MAX_SEED}).status_code == 200


# ---- property-based: every answer conforms to the OpenAPI document ---------------------------------

SCHEMA_EXAMPLES = 30
"""Requests generated per operation and generation mode (valid, then invalid inputs)."""


needs_schemathesis = pytest.mark.skipif(
    importlib.util.find_spec("schemathesis") is None, reason="schemathesis is not installed (pip install -e '.[dev]')"
)


def schema_checks(*extra):
    """schemathesis's checks that each answer's status is documented for its route, and that its
    content type and JSON body are the documented ones; then ``extra`` (names in schemathesis.checks
    or functions)."""
    from schemathesis import checks
    from schemathesis.specs.openapi.checks import (
        content_type_conformance,
        response_schema_conformance,
        status_code_conformance,
    )

    more = [getattr(checks, name) if isinstance(name, str) else name for name in extra]
    return [status_code_conformance, content_type_conformance, response_schema_conformance, *more]


def not_a_500(ctx, response, case) -> None:
    """What a run damaged under the server may still never answer: an internal error."""
    assert response.status_code != 500, f"{case.operation.label}: {response.text}"


def schema_statuses(app, checks) -> Counter:
    """Drive every operation of ``app``'s own OpenAPI document in-process (ASGI, no network) with
    schemathesis's generated requests, valid and invalid, each answer validated by ``checks``;
    the count of (path, status) answered."""
    import schemathesis
    from hypothesis import HealthCheck, Phase, given, settings
    from schemathesis import GenerationMode

    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    statuses: Counter = Counter()

    def drive(operation, mode) -> None:
        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=SCHEMA_EXAMPLES,
            deadline=None,
            database=None,
            derandomize=True,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        def answers_conform(case):
            response = case.call()
            statuses[operation.path, response.status_code] += 1
            case.validate_response(response, checks=checks)

        answers_conform()

    for result in schema.get_all_operations():
        operation = result.ok()
        modes = [GenerationMode.POSITIVE] + [GenerationMode.NEGATIVE] * any(operation.iter_parameters())
        for mode in modes:  # no invalid request exists for an operation without parameters
            drive(operation, mode)
    return statuses


@pytest.mark.slow
@needs_schemathesis
def test_every_answer_conforms_to_the_openapi_document(trained_run, test_images):
    app = create_app(trained_run, test_images, points=POINTS)
    statuses = schema_statuses(app, schema_checks("not_a_server_error"))
    # valid requests were answered; book-ae's codes are continuous, so it has no codebook
    assert {path for path, status in statuses if status == 200} == API_PATHS - {"/api/codebook"}
    assert {status for path, status in statuses if path == "/api/codebook"} == {404}
    # which error statuses the generated requests meet depends on hypothesis's examples; each is documented
    assert {200, 422} <= {status for _, status in statuses} <= {200, 404, 422}


@needs_schemathesis
def test_answers_conform_with_run_files_damaged_under_the_server(copied_run, test_images):
    app = create_app(copied_run, test_images, points=POINTS)
    copied_run.dir.metrics.write_text('{"epoch": 1, "val": {"loss": [0.1]}}\n')
    copied_run.dir.config.write_text("{")  # read at start-up only: the model and its facts are loaded
    statuses = schema_statuses(app, schema_checks(not_a_500))
    assert {status for path, status in statuses if path == "/api/run"} == {503}
    assert {path for path, status in statuses if status == 200} == API_PATHS - {"/api/run", "/api/codebook"}


@pytest.mark.slow
@needs_schemathesis
@pytest.mark.parametrize("name", ["bare", "prior"])
def test_a_vq_run_s_answers_conform_to_the_openapi_document(vq_runs, test_images, name):
    app = create_app(vq_runs[name], test_images, points=POINTS)
    statuses = schema_statuses(app, schema_checks("not_a_server_error"))
    assert {status for path, status in statuses if path == "/api/codebook"} == {200}
    drawn = {status for path, status in statuses if path == "/api/samples"}
    assert drawn == ({200, 422} if name == "prior" else {409, 422})  # without a prior nothing is drawn


# ---- bounded work: a few threads build the answers, whatever the number of requests ----------------


def test_answer_workers_bound_concurrency_and_release_memory_after_a_burst():
    workers = AnswerWorkers(2)
    running, most, threads, lock = [0], [0], set(), threading.Lock()

    def job(value):
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
            threads.add(threading.current_thread().name)
        threading.Event().wait(0.01)
        with lock:
            running[0] -= 1
        return value * 2

    async def burst():
        return await asyncio.gather(*(workers.run(lambda v=v: job(v)) for v in range(12)))

    async def one_at_a_time():
        return [await workers.run(lambda v=v: job(v)) for v in range(5)]

    try:
        assert asyncio.run(one_at_a_time()) == [0, 2, 4, 6, 8] and workers.releases == 0  # nobody waited
        assert asyncio.run(burst()) == [2 * v for v in range(12)]
        assert most[0] == 2 and len(threads) == 2 and workers.releases == 1
        with pytest.raises(ZeroDivisionError):
            asyncio.run(workers.run(lambda: 1 / 0))
    finally:
        workers.shutdown()
    with pytest.raises(ValueError, match="at least one thread"):
        AnswerWorkers(0)


@pytest.mark.skipif(not hasattr(os, "confstr") or not os.confstr("CS_GNU_LIBC_VERSION"), reason="glibc only")
def test_free_memory_is_released_on_glibc():
    assert release_free_memory()


def test_concurrent_requests_use_the_app_s_few_threads(monkeypatch, client):
    """Fifty requests at once are answered by WORKERS threads of the app's own, not by one thread each."""
    httpx = pytest.importorskip("httpx")
    state, app = client.app.state.explorer, client.app
    decode, threads = type(state).decode_plane, set()

    def recording_decode(self, x, y, *condition):
        threads.add(threading.current_thread().name)
        threading.Event().wait(0.005)  # long enough for the requests to overlap
        return decode(self, x, y, *condition)

    monkeypatch.setattr(type(state), "decode_plane", recording_decode)

    async def fifty():
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://explorer") as http:
            return await asyncio.gather(
                *(http.get("/api/decode", params={"x": k / 50, "y": 0, "scale": 4}) for k in range(50))
            )

    releases = app.state.workers.releases
    assert {answer.status_code for answer in asyncio.run(fifty())} == {200}
    assert 1 <= len(threads) <= WORKERS and all(name.startswith("vaelab-explorer") for name in threads), threads
    assert app.state.workers.releases == releases + 1


# ---- the server and the command line ------------------------------------------------------------


def test_explore_has_help_for_every_flag(capsys):
    code, out, _ = run_cli(capsys, "explore", "--help")
    assert code == 0 and "usage: vaelab explore" in out
    for flag in ("--host", "--port", "--points", "--data-dir", "--device", "--open"):
        assert re.search(rf"{flag}\b[^\n]*\n?\s+\S", out), flag


def test_explore_a_folder_that_is_not_a_run(capsys, tmp_path):
    code, _, err = run_cli(capsys, "explore", str(tmp_path))
    assert_one_line_error(code, err, 1, "vaelab explore: error:", "not a vaelab run directory")


@pytest.mark.parametrize("flags, fragment", [(["--port", "70000"], "--port"), (["--points", "0"], "--points")])
def test_explore_bad_flags(capsys, tmp_path, flags, fragment):
    code, _, err = run_cli(capsys, "explore", str(tmp_path), *flags)
    assert_one_line_error(code, err, 2, fragment)


def test_explore_points_beyond_the_test_set_are_refused_before_binding(monkeypatch, tmp_path, trained_run):
    install_fake_fashion_mnist(monkeypatch, tmp_path)  # 20 test images
    bound = []
    monkeypatch.setattr(server, "listen", lambda *args: bound.append(args))
    with pytest.raises(ConfigError, match="--points 21 is more than the 20 test images; use --points 20 or fewer"):
        prepare_explorer(trained_run.dir.path, port=0, points=21, device="cpu", log=lambda line: None)
    assert bound == []


def test_explore_without_fastapi_says_how_to_install(capsys, monkeypatch, trained_run):
    monkeypatch.setattr(server, "installed", lambda package: package != "fastapi")
    code, _, err = run_cli(capsys, "explore", str(trained_run.dir))
    assert_one_line_error(code, err, 1, "needs fastapi", "pip install 'vaelab[explore]'")


def test_explore_without_the_test_data(capsys, monkeypatch, tmp_path, trained_run):
    from vaelab.data import fashion_mnist as fm
    from vaelab.errors import DataError

    isolate_data_locations(monkeypatch, tmp_path)

    def offline(url, dest, *args, **kwargs):
        raise DataError(f"could not download {url}: network unreachable")

    monkeypatch.setattr(fm, "download_file", offline)
    fm.clear_cache()
    code, _, err = run_cli(capsys, "explore", str(trained_run.dir), "--device", "cpu")
    assert_one_line_error(code, err, 1, "t10k-images-idx3-ubyte")


def test_explore_on_a_port_in_use(capsys, monkeypatch, tmp_path, trained_run):
    install_fake_fashion_mnist(monkeypatch, tmp_path)
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        code, _, err = run_cli(capsys, "explore", str(trained_run.dir), "--port", str(port), "--device", "cpu")
    assert_one_line_error(code, err, 1, f"port {port}", "already in use", "--port")


def test_server_answers_over_http_and_stops(monkeypatch, tmp_path, trained_run):
    install_fake_fashion_mnist(monkeypatch, tmp_path)  # 20 test images
    messages = []
    explorer = prepare_explorer(trained_run.dir.path, port=0, device="cpu", log=messages.append)  # 5000 shrinks
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/", explorer.url) and "embedding 20 test images" in messages[0]
    thread = threading.Thread(target=explorer.run, daemon=True)
    thread.start()
    try:
        for _ in range(100):  # wait until uvicorn has started
            if explorer.server is not None and explorer.server.started:
                break
            threading.Event().wait(0.05)
        with urllib.request.urlopen(explorer.url + "api/points", timeout=10) as response:
            assert json.load(response)["count"] == 20
        with urllib.request.urlopen(explorer.url, timeout=10) as response:
            assert b"/static/explorer.js" in response.read()
    finally:
        explorer.stop()
        thread.join(timeout=10)
    assert not thread.is_alive()
