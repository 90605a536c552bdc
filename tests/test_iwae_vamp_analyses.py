"""Every analysis on the ``iwae`` and ``vamp`` families, through the Python API at tiny limits:
reconstruct, embed, generate (prior and gmm), grid, diagnose, evaluate (likelihood with a tiny k),
the explorer's API, and any latent size."""

import json
import math
import warnings

import numpy as np
import pytest
import torch

from vaelab.evaluation import save_judge, train_judge
from vaelab.evaluation.run_measures import write_evaluation
from vaelab.models import ModelSpec, build_model
from vaelab.presentation import report
from vaelab.presentation.diagnostics_report import write_diagnostics
from vaelab.training import RunConfig, load_run, train
from vaelab.training.batch import Batch
from vaelab.training.objectives import make_objective

FAMILIES = {"iwae": {"k": 2}, "vamp": {"pseudo_inputs": 10}}


@pytest.fixture(scope="module", params=sorted(FAMILIES))
def run(request, tmp_path_factory, train_images, test_images):
    """A run of the family trained for one short epoch on synthetic data, opened for analysis."""
    torch.set_num_threads(1)
    preset = request.param
    config = RunConfig.from_preset(preset, epochs=1, batch_size=20, lr=2e-3, seed=0, device="cpu", **FAMILIES[preset])
    run_dir = tmp_path_factory.mktemp("runs") / preset
    train(config, run_dir, train_set=train_images, test_set=test_images, progress=False, log=lambda s: None)
    return load_run(run_dir, "cpu")


@pytest.fixture(scope="module")
def judge(tmp_path_factory, train_images, test_images):
    torch.set_num_threads(1)
    result = train_judge(
        train_images, test_images, epochs=1, batch_size=24, seed=0, device="cpu", progress=False, log=lambda s: None
    )
    return save_judge(result.model, result.accuracy, folder=tmp_path_factory.mktemp("judge"))


def _png(path):
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", path


def test_reconstruct_and_embed(run, test_images):
    written = report.write_reconstructions(run, test_images, 5)
    with np.load(written[1]) as data:
        assert data["reconstructions"].shape == (5, 1, 32, 32)
        assert data["reconstructions"].min() >= 0 and data["reconstructions"].max() <= 1
    names = [p.name for p in report.write_embedding(run, test_images, 40)]
    # Φ(z) is drawn where the prior is N(0, I): iwae's, not the VampPrior's
    assert ("latent_cdf.png" in names) == (run.config.model.kind == "iwae")
    with np.load(run.dir.figure_path("embeddings.npz")) as data:
        assert data["z"].shape == (40, 2) and np.all(np.isfinite(data["z"]))
    for png in run.dir.figures.glob("*.png"):
        _png(png)


@pytest.mark.parametrize("sampler", ["prior", "gmm"])
def test_generate(run, train_images, test_images, sampler):
    figure, data, images = report.write_generated(run, test_images, 6, seed=1, sampler=sampler, train_set=train_images)
    _png(figure)
    generated = json.loads(data.read_text())
    assert generated["sampler"] == sampler
    with np.load(images) as saved:
        points = saved["points"]
        assert saved["images"].shape == (6, 1, 32, 32) and np.all(np.isfinite(points))
    if sampler == "prior" and run.config.model.kind == "iwae":
        assert generated["distribution"] == "N(0, I)"
    if sampler == "prior" and run.config.model.kind == "vamp":  # drawn from the mixture by the model
        assert generated["distribution"] == "the vamp prior"
        with torch.inference_mode():
            expected = run.model.sample_prior(6, torch.Generator().manual_seed(1))
        assert np.allclose(points, expected.numpy(), atol=1e-6)


def test_grid(run, test_images):
    figure, data = report.write_grid(run, test_images, size=4)
    _png(figure)
    with np.load(data) as saved:
        # the quantile grid of N(0, I) for iwae; the VampPrior is no N(0, I), so the embeddings' range
        assert str(saved["span"]) == ("prior" if run.config.model.kind == "iwae" else "embeddings")
        assert saved["images"].shape == (4, 4, 1, 32, 32) and np.all(np.isfinite(saved["latent_points"]))


def test_diagnose_and_evaluate_with_the_likelihood(run, train_images, test_images, judge):
    png, diagnostics = write_diagnostics(run, train_images, judge, None, num_samples=60)
    _png(png)
    assert "prior" in json.loads(diagnostics.read_text())["samplers"]
    (evaluation,) = write_evaluation(
        run,
        train_images,
        test_images,
        judge,
        None,
        num_samples=60,
        importance_samples=3,
        likelihood_images=10,
        progress=False,
    )
    result = json.loads(evaluation.read_text())["samplers"]["prior"]
    likelihood = result["likelihood"]
    assert likelihood["importance_samples"] == 3 and likelihood["images"] == 10
    assert math.isfinite(likelihood["iw_nll_nats"]) and math.isfinite(likelihood["neg_elbo_nats"])
    assert likelihood["iw_nll_nats"] <= likelihood["neg_elbo_nats"] + 5  # a bound, up to noise


def test_the_explorer_api(run, test_images):
    pytest.importorskip("fastapi")
    pytest.importorskip("httpx")
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*httpx2")
        from fastapi.testclient import TestClient
    from vaelab.presentation.explorer.app import create_app

    with TestClient(create_app(run, test_images, points=20)) as client:
        facts = client.get("/api/run").json()
        assert facts["kind"] == run.config.model.kind and facts["final_val"]["loss"] > 0
        assert client.get("/api/points").json()["count"] == 20
        images = {
            "/api/decode": {"x": 0.1, "y": -0.2},
            "/api/image/3": {},
            "/api/morph": {"start": 1, "end": 5, "steps": 3},
        }
        for path, params in images.items():
            answer = client.get(path, params=params)
            assert answer.status_code == 200 and answer.headers["content-type"] == "image/png", path


@pytest.mark.parametrize("family", sorted(FAMILIES))
@pytest.mark.parametrize("latent_dim", [3, 16])
def test_any_latent_size(family, latent_dim):
    torch.manual_seed(0)
    settings = {"samples": 2} if family == "iwae" else {"pseudo_inputs": 4}
    model = build_model(ModelSpec(kind=family, latent_dim=latent_dim, **settings))
    x = torch.rand(3, 1, 32, 32)
    terms = make_objective(family)(model, Batch(x, x), model(x))
    assert all(math.isfinite(v.item()) for v in terms.values())
    assert model.sample_prior(5).shape == (5, latent_dim)
    assert model.prior_log_density(torch.zeros(2, latent_dim)).shape == (2,)
