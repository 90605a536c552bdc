import json

import numpy as np
import pytest
import torch
from matplotlib.image import imread

from vaelab.errors import ConfigError
from vaelab.latent import decode_grid, embed, fit_projection, generate, reconstruct, uniform_box
from vaelab.latent.samplers import default_sampler, make_sampler
from vaelab.models import build_model
from vaelab.presentation import report
from vaelab.training import Run, RunConfig, RunDir


def _png(path):
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    image = imread(path)
    assert image.shape[0] > 100 and image.shape[1] > 100
    assert image.std() > 0.01, "blank figure"
    return image


def test_uniform_box_is_seeded_and_inside_the_box():
    low, high = np.array([-1.0, 2.0]), np.array([3.0, 5.0])
    a = uniform_box(low, high, 500, seed=3)
    assert a.shape == (500, 2)
    assert (a >= low).all() and (a <= high).all()
    assert np.array_equal(a, uniform_box(low, high, 500, seed=3))
    assert not np.array_equal(a, uniform_box(low, high, 500, seed=4))


def test_reconstruct_returns_originals_and_reconstructions(trained_run, test_images):
    result = reconstruct(trained_run.model, test_images, 10)
    assert result.originals.shape == result.reconstructions.shape == (10, 1, 32, 32)
    assert np.allclose(result.originals, test_images.images[:10] / 255.0)
    assert result.reconstructions.min() >= 0 and result.reconstructions.max() <= 1
    assert list(result.labels) == list(test_images.labels[:10])


def test_embed_and_grid_span_the_embeddings(trained_run, test_images):
    embedding = embed(trained_run.model, test_images, 50)
    assert embedding.z.shape == (50, 2)
    grid = decode_grid(trained_run.model, embedding, 5)
    low, high = embedding.bounds()
    assert grid.images.shape == (5, 5, 1, 32, 32)
    assert grid.xs[0] == pytest.approx(low[0]) and grid.xs[-1] == pytest.approx(high[0])
    assert grid.ys[0] == pytest.approx(high[1]) and grid.ys[-1] == pytest.approx(low[1])


def test_generated_points_lie_in_the_bounding_box(trained_run, test_images):
    embedding = embed(trained_run.model, test_images)
    generated = generate(trained_run.model, embedding, 18, seed=0)
    low, high = embedding.bounds()
    assert generated.points.shape == (18, 2) and generated.images.shape == (18, 1, 32, 32)
    assert (generated.points >= low).all() and (generated.points <= high).all()


def test_grid_size_must_be_at_least_two(trained_run, test_images):
    with pytest.raises(ConfigError, match="--size"):
        decode_grid(trained_run.model, embed(trained_run.model, test_images), 1)


def test_projection_is_the_identity_in_2d_and_pca_above():
    rng = np.random.default_rng(0)
    z2 = rng.normal(size=(100, 2))
    identity = fit_projection(z2)
    assert identity.method == "identity" and np.allclose(identity.project(z2), z2, atol=1e-6)
    assert identity.axis_labels() == ("z[0]", "z[1]")
    # points on a tilted plane of a 16-D space: PCA finds the plane and lifting undoes projecting
    basis = np.linalg.qr(rng.normal(size=(16, 2)))[0].T
    z16 = 3.0 + rng.normal(size=(200, 2)) * [5.0, 1.0] @ basis
    pca = fit_projection(z16)
    assert pca.method == "pca" and pca.explained.sum() == pytest.approx(1.0, abs=1e-6)
    assert np.allclose(pca.lift(pca.project(z16)), z16, atol=1e-4)
    assert "PC1" in pca.axis_labels()[0]


@pytest.fixture(scope="module", params=[2, 16])
def any_dim_run(request, tmp_path_factory):
    """An untrained book-ae of latent size 2 or 16, opened as a run (analyses need no training)."""
    torch.manual_seed(0)
    config = RunConfig.from_preset("book-ae", latent_dim=request.param, device="cpu")
    run_dir = RunDir(tmp_path_factory.mktemp(f"dim{request.param}"))
    return Run(run_dir, config, build_model(config.model).eval(), torch.device("cpu"))


def test_every_analysis_for_latent_dims_2_and_16(any_dim_run, test_images):
    dim = any_dim_run.config.model.latent_dim
    for png in (
        report.write_reconstructions(any_dim_run, test_images)[0],
        report.write_embedding(any_dim_run, test_images)[0],
        report.write_generated(any_dim_run, test_images)[0],
        report.write_grid(any_dim_run, test_images, size=6)[0],
    ):
        _png(png)
    with np.load(any_dim_run.dir.figures / "embeddings.npz") as saved:
        assert saved["z"].shape == (len(test_images), dim)
    with np.load(any_dim_run.dir.figures / "latent_grid.npz") as saved:
        assert saved["latent_points"].shape == (36, dim)
        assert saved["images"].shape == (6, 6, 1, 32, 32)
    content = json.loads((any_dim_run.dir.figures / "generated.json").read_text())
    assert np.array(content["points"]).shape == (18, dim)


def test_write_reconstructions(trained_run, test_images):
    png, data = report.write_reconstructions(trained_run, test_images)
    _png(png)
    with np.load(data) as saved:
        assert saved["originals"].shape == saved["reconstructions"].shape == (10, 1, 32, 32)


def test_write_embedding(trained_run, test_images):
    *pngs, data = report.write_embedding(trained_run, test_images)
    assert [p.name for p in pngs] == ["latent_scatter.png", "latent_histograms.png"]  # no CDF figure for an AE
    for png in pngs:
        _png(png)
    with np.load(data) as saved:
        assert saved["z"].shape == (len(test_images), 2)
        assert list(saved["labels"]) == list(test_images.labels)
        assert tuple(saved["class_names"]) == test_images.class_names


def test_write_generated(trained_run, test_images):
    png, summary, data = report.write_generated(trained_run, test_images, count=18, seed=2)
    _png(png)
    content = json.loads(summary.read_text())
    assert len(content["points"]) == 18 and content["sampler"] == "uniform-box" and content["seed"] == 2
    with np.load(data) as saved:
        assert saved["images"].shape == (18, 1, 32, 32)
        assert np.allclose(saved["points"], content["points"])


def test_write_grid(trained_run, test_images):
    png, data = report.write_grid(trained_run, test_images, size=15)
    _png(png)
    with np.load(data) as saved:
        assert saved["images"].shape == (15, 15, 1, 32, 32)


def test_prior_sampler_draws_standard_normal_points():
    sampler = make_sampler("prior").fit(np.zeros((5, 16), np.float32))
    points = sampler.sample(20000, seed=1)
    assert points.shape == (20000, 16)
    assert np.abs(points.mean(axis=0)).max() < 0.05
    assert np.abs(points.std(axis=0) - 1).max() < 0.05
    assert np.array_equal(points, sampler.sample(20000, seed=1))


def test_unknown_sampler_is_a_config_error():
    with pytest.raises(ConfigError, match="uniform-box"):
        make_sampler("gan")


def test_default_sampler_is_the_books():
    from vaelab.models import ModelSpec, build_model

    assert default_sampler(build_model(ModelSpec(kind="ae"))) == "uniform-box"
    assert default_sampler(build_model(ModelSpec(kind="vae"))) == "prior"


def test_tsne_view_of_a_16d_space(tmp_path, test_images):
    torch.manual_seed(0)
    config = RunConfig.from_preset("book-ae", latent_dim=16, device="cpu")
    run = Run(RunDir(tmp_path), config, build_model(config.model).eval(), torch.device("cpu"))
    embedding = embed(run.model, test_images).with_tsne(seed=0)
    assert embedding.plane.shape == (len(test_images), 2)
    assert embedding.axis_labels() == ("t-SNE 1", "t-SNE 2")
    assert embedding.projection.method == "pca"  # samples and grids still use the invertible plane
    _png(report.write_embedding(run, test_images, view="tsne")[0])
    with pytest.raises(ConfigError, match="tsne"):
        report.write_embedding(run, test_images, view="umap")


def test_tsne_leaves_a_2d_space_as_it_is(trained_run, test_images):
    embedding = embed(trained_run.model, test_images)
    assert embedding.with_tsne() is embedding


def test_gmm_sampler_recovers_the_modes_of_a_mixture():
    rng = np.random.default_rng(0)
    centres = np.array([[-6.0, 0.0], [0.0, 6.0], [6.0, 0.0]])
    z = np.concatenate([c + 0.3 * rng.standard_normal((400, 2)) for c in centres])
    sampler = make_sampler("gmm")
    sampler.components = 3
    points = sampler.fit(z).sample(3000, seed=1)
    nearest = np.argmin(((points[:, None, :] - centres[None]) ** 2).sum(-1), axis=1)
    shares = np.bincount(nearest, minlength=3) / len(points)
    assert np.allclose(shares, 1 / 3, atol=0.04)
    assert (points - centres[nearest]).std() == pytest.approx(0.3, rel=0.1)
    found = np.array(sorted(sampler.describe()["means"]))
    assert np.allclose(found, sorted(centres.tolist()), atol=0.1)


def test_generate_with_gmm_fits_the_training_set(trained_run, train_images, test_images):
    _, summary, _ = report.write_generated(trained_run, test_images, sampler="gmm", train_set=train_images)
    content = json.loads(summary.read_text())
    assert content["sampler"] == "gmm" and content["components"] == 10 and len(content["weights"]) == 10


def test_reconstruction_metrics_agree_with_validation(trained_run, test_images):
    from vaelab.evaluation.reconstruction import reconstruction_metrics

    metrics = reconstruction_metrics(trained_run.model, test_images)
    last = trained_run.dir.read_metrics()[-1]["val"]
    assert metrics["bce_per_pixel"] == pytest.approx(last["loss"], rel=1e-5)
    assert metrics["images"] == len(test_images)
    # predicting 0.5 for every pixel of these mostly black images gives MSE ≈ 0.2, PSNR ≈ 7 dB
    assert 0 < metrics["mse"] < 0.1 and metrics["psnr_db"] > 10
