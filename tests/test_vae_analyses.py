"""The VAE's analyses: mean vs sampled embeddings, prior sampling, Φ(z) view, quantile grid."""

import json

import numpy as np
import pytest
import torch

from vaelab.errors import ConfigError
from vaelab.latent import embed
from vaelab.latent.grids import decode_quantile_grid, open_quantiles
from vaelab.latent.normal import normal_cdf, normal_quantile
from vaelab.models import build_model
from vaelab.presentation import report
from vaelab.training import Run, RunConfig, RunDir


@pytest.fixture(scope="module", params=[2, 16])
def vae_run(request, tmp_path_factory):
    torch.manual_seed(0)
    config = RunConfig.from_preset("book-vae", latent_dim=request.param, device="cpu")
    return Run(RunDir(tmp_path_factory.mktemp("vae")), config, build_model(config.model).eval(), torch.device("cpu"))


def test_normal_cdf_and_quantile_are_inverse():
    z = np.linspace(-4, 4, 17)
    assert np.allclose(normal_quantile(normal_cdf(z)), z, atol=1e-5)
    assert normal_cdf(np.array([0.0]))[0] == pytest.approx(0.5)
    assert normal_quantile(np.array([0.975]))[0] == pytest.approx(1.959964, abs=1e-5)


def test_open_quantiles_never_reach_0_or_1():
    q = open_quantiles(15)
    assert q[0] == pytest.approx(1 / 30) and q[-1] == pytest.approx(29 / 30)
    assert np.all(np.isfinite(normal_quantile(q)))


def test_quantile_grid_is_finite_and_centred(vae_run):
    grid = decode_quantile_grid(vae_run.model, vae_run.config.model.latent_dim, 15)
    points = grid.latent_points
    assert np.all(np.isfinite(points))
    assert points[:, :2].min() == pytest.approx(-1.8339, abs=1e-3)
    assert np.all(points[:, 2:] == 0)
    assert grid.images.shape == (15, 15, 1, 32, 32)
    assert grid.axis_labels == ("Φ(z[0])", "Φ(z[1])")


def test_embeddings_are_means_by_default_and_sampled_on_request(vae_run, test_images):
    mean = embed(vae_run.model, test_images)
    again = embed(vae_run.model, test_images)
    sampled = embed(vae_run.model, test_images, sampled=True, seed=1)
    assert np.array_equal(mean.z, again.z)
    assert not np.allclose(sampled.z, mean.z)
    assert np.array_equal(sampled.z, embed(vae_run.model, test_images, sampled=True, seed=1).z)


def test_sampled_embeddings_need_a_vae(trained_run, test_images):
    with pytest.raises(ConfigError, match="VAE"):
        embed(trained_run.model, test_images, sampled=True)


def test_vae_figures_and_data(vae_run, test_images):
    written = report.write_embedding(vae_run, test_images)
    names = [p.name for p in written]
    assert names == ["latent_scatter.png", "latent_histograms.png", "latent_cdf.png", "embeddings.npz"]
    report.write_generated(vae_run, test_images)
    generated = json.loads((vae_run.dir.figures / "generated.json").read_text())
    assert generated["sampler"] == "prior" and generated["distribution"] == "N(0, I)"
    report.write_grid(vae_run, test_images, size=7)
    with np.load(vae_run.dir.figures / "latent_grid.npz") as saved:
        assert str(saved["span"]) == "prior"
        assert np.all(np.isfinite(saved["latent_points"]))
    report.write_grid(vae_run, test_images, size=7, span="embeddings")
    with np.load(vae_run.dir.figures / "latent_grid.npz") as saved:
        assert str(saved["span"]) == "embeddings"
    for png in vae_run.dir.figures.glob("*.png"):
        assert png.read_bytes()[:4] == b"\x89PNG"
