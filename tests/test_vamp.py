"""The VampPrior (``vamp``): the prior's density and samples, the pseudo-inputs, the objective against
hand-computed values and its Monte Carlo KL against the closed form, the flags, training and exact resume."""

import json
import math

import numpy as np
import pytest
import torch

from cli_run import assert_one_line_error, run_cli
from model_outputs import gaussian_output, score
from vaelab.errors import ConfigError
from vaelab.evaluation.likelihood import likelihood_bounds, log_weights
from vaelab.latent.samplers import make_sampler
from vaelab.models import GaussianPosterior, ModelOutput, ModelSpec, build_model, count_parameters, get_preset
from vaelab.models.distributions import gaussian_log_density, mixture_log_density
from vaelab.models.vamp import VampPriorVAE
from vaelab.presentation.tables import presets_table
from vaelab.training import RunConfig, RunDir, prepare_config, train
from vaelab.training.objectives import bce_per_image, make_objective
from vaelab.training.objectives.vamp import VampObjective

QUIET = {"progress": False, "log": lambda s: None}


def _vamp(pseudo_inputs: int = 3, latent_dim: int = 2) -> VampPriorVAE:
    torch.manual_seed(0)
    model = build_model(ModelSpec(kind="vamp", latent_dim=latent_dim, pseudo_inputs=pseudo_inputs))
    assert isinstance(model, VampPriorVAE)
    return model


# --- the prior ------------------------------------------------------------------------------------


def test_with_one_pseudo_input_the_prior_is_the_encoders_gaussian_there():
    model = _vamp(1)
    z = torch.randn(5, 2)
    with torch.no_grad():
        component = model.encode(model.pseudo_images())
        expected = gaussian_log_density(z, component.mean, component.log_var).sum(-1)
        assert torch.allclose(model.prior_log_density(z), expected, atol=1e-5)


def test_the_prior_is_the_equal_weight_mixture_of_the_pseudo_inputs_posteriors_for_any_leading_shape():
    model = _vamp(3)
    z = torch.randn(4, 5, 2)  # e.g. k draws of N images
    with torch.no_grad():
        posteriors = [model.encode(model.pseudo_images()[i : i + 1]) for i in range(3)]
        densities = torch.stack([p.log_prob(z).exp() for p in posteriors])  # [K, 4, 5]
        expected = densities.mean(0).log()
        got = model.prior_log_density(z)
    assert got.shape == (4, 5)
    assert torch.allclose(got, expected, atol=1e-5)


def test_pseudo_inputs_are_images_in_0_1_initialised_as_the_paper_does():
    model = _vamp(500)
    raw = model.pseudo_inputs
    assert raw.shape == (500, 1, 32, 32) and model.components == 500
    assert raw.mean().item() == pytest.approx(0.05, abs=1e-3) and raw.std().item() == pytest.approx(0.01, abs=1e-3)
    with torch.no_grad():
        raw[0, 0, 0, :3] = torch.tensor([-0.5, 0.3, 1.7])
    assert model.pseudo_images()[0, 0, 0, :3].tolist() == pytest.approx([0.0, 0.3, 1.0])
    # every pseudo-input is a parameter: K × C × H × W beyond the VAE's encoder and decoder
    total = count_parameters(model)
    assert total == count_parameters(model.encoder) + count_parameters(model.decoder) + 500 * 32 * 32


def test_the_vae_part_is_the_vaes_from_the_same_seed():
    torch.manual_seed(0)
    vae = build_model(ModelSpec(kind="vae"))
    model = _vamp(3)
    vae_state = vae.state_dict()
    for name, tensor in model.state_dict().items():
        if name != "pseudo_inputs":
            assert torch.equal(tensor, vae_state[name]), name
    x = torch.rand(4, 1, 32, 32)
    a = vae(x, generator=torch.Generator().manual_seed(1))
    b = model(x, generator=torch.Generator().manual_seed(1))
    assert torch.equal(a.z, b.z) and torch.equal(a.logits, b.logits) and a.log_prior is None
    with torch.no_grad():  # log p(z) at the decoded z, under the mixture
        assert torch.allclose(b.log_prior, model.prior_log_density(b.z), atol=1e-6)


def test_the_forward_pass_trains_the_pseudo_inputs():
    model = _vamp(4)
    x = torch.rand(3, 1, 32, 32)
    score(VampObjective(), model(x), x)["loss"].backward()
    assert model.pseudo_inputs.grad is not None and model.pseudo_inputs.grad.abs().sum() > 0


def _two_far_components(model, monkeypatch):
    means = torch.tensor([[-10.0, 0.0], [10.0, 0.0]])
    log_var = torch.full((2, 2), math.log(0.01))
    monkeypatch.setattr(model, "prior_components", lambda: GaussianPosterior(means, log_var))


def test_prior_samples_pick_a_component_uniformly_then_draw_from_it(monkeypatch):
    model = _vamp(2)
    _two_far_components(model, monkeypatch)
    points = model.sample_prior(4000, torch.Generator().manual_seed(0))
    right = points[:, 0] > 0
    assert points.shape == (4000, 2)
    assert right.float().mean().item() == pytest.approx(0.5, abs=0.03)
    for side, centre in ((right, 10.0), (~right, -10.0)):
        assert points[side, 0].mean().item() == pytest.approx(centre, abs=0.02)
        assert points[side].std(0).tolist() == pytest.approx([0.1, 0.1], abs=0.01)
    assert torch.equal(points, model.sample_prior(4000, torch.Generator().manual_seed(0)))


def test_the_prior_sampler_draws_the_mixture(monkeypatch):
    model = _vamp(2)
    _two_far_components(model, monkeypatch)
    sampler = make_sampler("prior", model).fit(np.zeros((5, 2), np.float32))
    points = sampler.sample(200, seed=3)
    assert np.allclose(np.abs(points[:, 0]), 10.0, atol=0.5)  # never near N(0, I)'s centre
    assert np.array_equal(points, sampler.sample(200, seed=3))
    assert sampler.describe()["distribution"] == "the vamp prior"


# --- the objective --------------------------------------------------------------------------------


def test_objective_terms_match_hand_computed_values():
    # one 1×1×1 image x = 1 decoded to logit 0.4; 1-D q(z|x) = N(0.5, 0.25), z = 0.2, log p(z) = −1.3
    mean, var, z, log_prior, logit, beta = 0.5, 0.25, 0.2, -1.3, 0.4, 2.0
    reconstruction = math.log1p(math.exp(-logit))
    kl = -0.5 * (math.log(2 * math.pi * var) + (z - mean) ** 2 / var) - log_prior
    output = gaussian_output(
        torch.tensor([[[[logit]]]]), torch.tensor([[z]]), torch.tensor([[mean]]), torch.tensor([[math.log(var)]])
    )
    output.log_prior = torch.tensor([log_prior])
    terms = score(VampObjective(beta=beta), output, torch.ones(1, 1, 1, 1))
    assert list(terms) == list(VampObjective.terms)
    assert terms["reconstruction_nats"].item() == pytest.approx(reconstruction, rel=1e-6)
    assert terms["kl"].item() == pytest.approx(kl, rel=1e-6)
    assert terms["loss"].item() == pytest.approx(reconstruction + beta * kl, rel=1e-6)
    assert terms["neg_elbo_nats"].item() == pytest.approx(reconstruction + kl, rel=1e-6)


def test_the_monte_carlo_kl_approaches_the_closed_form_kl():
    # one pseudo-input whose posterior is N(μp, σp²): the mixture is that Gaussian, whose KL from
    # q = N(μq, σq²) has a closed form; the mean of 40,000 one-draw estimates approaches it.
    mq, lq = torch.tensor([1.0, -0.5]), torch.tensor([-1.0, 0.3])
    mp, lp = torch.tensor([0.2, 0.4]), torch.tensor([0.5, -0.2])
    exact = 0.5 * (lp - lq + (lq.exp() + (mq - mp) ** 2) / lp.exp() - 1).sum().item()
    count = 40_000
    eps = torch.randn(count, 2, generator=torch.Generator().manual_seed(0))
    z = mq + torch.exp(0.5 * lq) * eps
    output = ModelOutput(
        logits=torch.zeros(count, 1, 1, 1),
        z=z,
        posterior=GaussianPosterior(mq.expand(count, 2), lq.expand(count, 2)),
        log_prior=mixture_log_density(z, mp[None], lp[None]),
    )
    kl = score(VampObjective(), output, torch.ones(count, 1, 1, 1))["kl"].item()
    assert exact > 0.5
    assert kl == pytest.approx(exact, abs=0.03)  # the estimate's spread is about 0.007 here (seeded)


def test_the_objective_needs_the_prior_density():
    output = gaussian_output(torch.zeros(1, 1, 1, 1), torch.zeros(1, 2), torch.zeros(1, 2), torch.zeros(1, 2))
    with pytest.raises(ConfigError, match="vamp objective needs a model that gives log p"):
        score(VampObjective(), output, torch.ones(1, 1, 1, 1))
    with pytest.raises(ConfigError, match="beta"):
        make_objective("vamp", {"beta": 0})


# --- likelihood bounds ----------------------------------------------------------------------------


def test_likelihood_weights_use_the_mixture_prior(test_images):
    model = _vamp(3).eval()
    x = torch.from_numpy(test_images.images[:4]).float() / 255
    weights = log_weights(model, x, 6, torch.Generator().manual_seed(0))
    with torch.no_grad():
        posterior = model.encode(x)
        z = posterior.sample_many(6, torch.Generator().manual_seed(0))
        expected = -bce_per_image(model.decode_logits(z.flatten(0, 1)).unflatten(0, (6, 4)), x)
        expected = (expected + model.prior_log_density(z) - posterior.log_prob(z)).T
    assert torch.allclose(weights, expected, atol=1e-4)
    bounds = likelihood_bounds(model, test_images, k=4, progress=False)
    assert math.isfinite(bounds.neg_elbo) and math.isfinite(bounds.iw_nll) and bounds.k == 4


# --- the preset and --pseudo-inputs ---------------------------------------------------------------


def test_the_preset_is_book_vaes_network_and_recipe_with_500_pseudo_inputs():
    preset = get_preset("vamp")
    assert preset.model == ModelSpec(kind="vamp", latent_dim=2, pseudo_inputs=500)
    assert (preset.objective, preset.objective_params) == ("vamp", {"beta": 1.0})
    assert (preset.lr, preset.batch_size, preset.epochs, preset.dataset) == (5e-4, 100, 5, "fashion-mnist")
    row = next(line for line in presets_table().splitlines() if line.startswith("vamp "))
    assert "859,141" in row  # 100,868 + 246,273 + 500 × 1,024


def test_pseudo_inputs_and_beta_land_in_the_config_and_are_bounded():
    config = RunConfig.from_preset("vamp", pseudo_inputs=20, beta=0.5, latent_dim=8)
    assert (config.model.pseudo_inputs, config.model.latent_dim, config.objective_params) == (20, 8, {"beta": 0.5})
    saved = json.loads(config.to_json())["model"]
    assert saved["pseudo_inputs"] == 20 and "samples" not in saved
    assert RunConfig.from_dict(json.loads(config.to_json())) == config
    for bad in (0, 5001, 1.5):
        with pytest.raises(ConfigError, match="--pseudo-inputs must be an integer from 1 to 5,000"):
            RunConfig.from_preset("vamp", pseudo_inputs=bad)
    with pytest.raises(ConfigError, match="--pseudo-inputs only applies to presets with a VampPrior"):
        RunConfig.from_preset("book-vae", pseudo_inputs=10)
    with pytest.raises(ConfigError, match="pseudo-input"):
        build_model(ModelSpec(kind="vamp"))  # a vamp spec without pseudo-inputs (a hand-edited config.json)


def test_pseudo_inputs_on_the_command_line(capsys, tmp_path):
    argv = ["train", "--preset", "vamp", "--run-dir", str(tmp_path / "r"), "--pseudo-inputs"]
    code, _, err = run_cli(capsys, *argv, "5001")
    assert_one_line_error(code, err, 2, "--pseudo-inputs", "1 to 5,000")
    argv[2] = "iwae"
    code, _, err = run_cli(capsys, *argv, "9")
    assert_one_line_error(code, err, 1, "--pseudo-inputs only applies")
    assert not (tmp_path / "r").exists()


# --- training -------------------------------------------------------------------------------------


def _train(run_dir, train_images, test_images, resume=False, **overrides):
    """A new vamp run (10 pseudo-inputs) on synthetic data, or the run in ``run_dir`` resumed."""
    settings = {"epochs": 2, "batch_size": 20, "lr": 2e-3, "seed": 0, "device": "cpu", "pseudo_inputs": 10}
    settings.update(overrides)
    if resume:
        config = prepare_config(RunDir(run_dir), None, True, epochs=settings["epochs"])
    else:
        config = RunConfig.from_preset("vamp", **settings)
    return train(config, run_dir, resume=resume, train_set=train_images, test_set=test_images, **QUIET)


def test_training_lowers_the_loss_and_moves_the_pseudo_inputs(tmp_path, train_images, test_images):
    result = _train(tmp_path / "run", train_images, test_images)
    history = result.history
    assert history[-1]["train"]["loss"] < history[0]["train"]["loss"]
    assert history[-1]["val"]["loss"] < history[0]["val"]["loss"]
    for row in RunDir(tmp_path / "run").read_metrics():
        for split in ("train", "val"):
            terms = row[split]
            assert set(terms) == set(VampObjective.terms) and all(math.isfinite(v) for v in terms.values())
            assert terms["neg_elbo_nats"] == pytest.approx(terms["reconstruction_nats"] + terms["kl"], rel=1e-6)
    moved = (result.model.pseudo_inputs - _vamp(10).pseudo_inputs).abs().max().item()
    assert moved > 1e-3


def test_resume_continues_exactly(tmp_path, train_images, test_images):
    straight = _train(tmp_path / "straight", train_images, test_images)
    _train(tmp_path / "resumed", train_images, test_images, epochs=1)
    resumed = _train(tmp_path / "resumed", train_images, test_images, resume=True)
    assert [r["train"] for r in resumed.history] == [r["train"] for r in straight.history]
    assert [r["val"] for r in resumed.history] == [r["val"] for r in straight.history]
    a, b = straight.model.state_dict(), resumed.model.state_dict()
    assert all(torch.equal(a[name], b[name]) for name in a)
    with pytest.raises(ConfigError, match="this run has --pseudo-inputs 10; --resume cannot change it"):
        RunDir(tmp_path / "resumed").read_config().resumed_with(pseudo_inputs=20)
