"""The importance-weighted autoencoder (``iwae``): the bound against hand-computed values, k = 1 against
beta-vae, the model's k draws, the --k flag, training and exact resume."""

import json
import math

import pytest
import torch

from cli_run import assert_one_line_error, run_cli
from model_outputs import gaussian_output, score
from vaelab.errors import ConfigError
from vaelab.models import ModelSpec, build_model, get_preset
from vaelab.models.iwae import ImportanceWeightedAutoencoder
from vaelab.training import RunConfig, RunDir, prepare_config, train
from vaelab.training.objectives import BetaVaeObjective, make_objective
from vaelab.training.objectives.iwae import IwaeObjective

QUIET = {"progress": False, "log": lambda s: None}


def _log_normal(z, mean, var):
    return -0.5 * (math.log(2 * math.pi * var) + (z - mean) ** 2 / var)


def _log_sigmoid(x):
    return -math.log1p(math.exp(-x))


# --- the bound, by hand ---------------------------------------------------------------------------


def test_iw_bound_for_two_draws_matches_hand_computed_values():
    # one 1×1×1 image x = 1, a 1-D latent space; q(z|x) = N(0.5, 0.25); two draws z = 0.2 and 1.1
    # decoded to logits 2.0 and −1.0, so log p(x|zᵢ) = log σ(logitᵢ).
    mean, var = 0.5, 0.25
    zs, logits = (0.2, 1.1), (2.0, -1.0)
    log_w = [_log_sigmoid(logits[i]) + _log_normal(zs[i], 0, 1) - _log_normal(zs[i], mean, var) for i in (0, 1)]
    bound = -math.log((math.exp(log_w[0]) + math.exp(log_w[1])) / 2)
    reconstruction = -(_log_sigmoid(logits[0]) + _log_sigmoid(logits[1])) / 2
    kl = 0.5 * (mean**2 + var - 1 - math.log(var))

    output = gaussian_output(
        torch.tensor(logits).view(2, 1, 1, 1, 1),
        torch.tensor(zs).view(2, 1, 1),
        torch.tensor([[mean]]),
        torch.tensor([[math.log(var)]]),
    )
    terms = score(IwaeObjective(), output, torch.ones(1, 1, 1, 1))
    assert list(terms) == list(IwaeObjective.terms)
    assert terms["loss"].item() == pytest.approx(bound, rel=1e-6)
    assert terms["iw_bound_nats"].item() == pytest.approx(bound, rel=1e-6)
    assert terms["reconstruction_nats"].item() == pytest.approx(reconstruction, rel=1e-6)
    assert terms["kl"].item() == pytest.approx(kl, rel=1e-6)
    assert terms["neg_elbo_nats"].item() == pytest.approx(reconstruction + kl, rel=1e-6)


def test_the_bound_is_never_above_the_draws_own_negative_elbos_and_averages_over_images():
    # log mean w ≥ mean log w for any draws (Jensen), so the batch's bound is at most the mean of the
    # one-draw negative ELBOs with the KL at the draw; images are averaged, draws are not.
    torch.manual_seed(0)
    k, n, d = 4, 3, 2
    mean, log_var = torch.randn(n, d), torch.randn(n, d) * 0.3
    z = mean + torch.exp(0.5 * log_var) * torch.randn(k, n, d)
    logits, target = torch.randn(k, n, 1, 2, 2) * 2, torch.rand(n, 1, 2, 2)
    terms = score(IwaeObjective(), gaussian_output(logits, z, mean, log_var), target)
    bce = torch.nn.functional.binary_cross_entropy_with_logits(logits, target.expand_as(logits), reduction="none")
    log_p = -bce.flatten(2).sum(-1) - 0.5 * (math.log(2 * math.pi) + z**2).sum(-1)
    log_q = (-0.5 * (math.log(2 * math.pi) + log_var + (z - mean) ** 2 / log_var.exp())).sum(-1)
    log_w = log_p - log_q  # [k, n]
    per_image = -(torch.logsumexp(log_w, 0) - math.log(k))
    assert terms["loss"].item() == pytest.approx(per_image.mean().item(), rel=1e-6)
    assert terms["loss"].item() <= (-log_w).mean().item()


def test_a_one_draw_output_of_shape_n_by_d_is_k_1():
    mean, log_var = torch.zeros(2, 2), torch.zeros(2, 2)
    z, logits, target = torch.randn(2, 2), torch.randn(2, 1, 2, 2), torch.rand(2, 1, 2, 2)
    flat = score(IwaeObjective(), gaussian_output(logits, z, mean, log_var), target)
    stacked = score(IwaeObjective(), gaussian_output(logits[None], z[None], mean, log_var), target)
    assert flat == stacked


# --- the model ------------------------------------------------------------------------------------


def _pair(k: int, latent_dim: int = 2):
    """(vae, iwae) built from the same seed: the same weights."""
    torch.manual_seed(0)
    vae = build_model(ModelSpec(kind="vae", latent_dim=latent_dim))
    torch.manual_seed(0)
    iwae = build_model(ModelSpec(kind="iwae", latent_dim=latent_dim, samples=k))
    return vae, iwae


def test_the_model_decodes_k_draws_per_image():
    _, model = _pair(5)
    assert isinstance(model, ImportanceWeightedAutoencoder) and model.facts()["family"] == "iwae"
    assert model.has_prior and model.standard_normal_prior and model.default_sampler == "prior"
    x = torch.rand(3, 1, 32, 32)
    output = model(x, generator=torch.Generator().manual_seed(0))
    assert output.z.shape == (5, 3, 2) and output.logits.shape == (5, 3, 1, 32, 32)
    assert not torch.allclose(output.z[0], output.z[1])  # k different draws
    with torch.no_grad():  # each draw's logits are its own z decoded
        assert torch.allclose(output.logits[2], model.decode_logits(output.z[2]), atol=1e-5)
    again = model(x, generator=torch.Generator().manual_seed(0))
    assert torch.equal(output.z, again.z)


def test_k_1_draws_what_the_vae_draws_so_its_elbo_is_beta_vaes():
    vae, iwae = _pair(1)
    iwae_state = iwae.state_dict()
    assert all(torch.equal(tensor, iwae_state[name]) for name, tensor in vae.state_dict().items())
    x = torch.rand(8, 1, 32, 32)
    with torch.no_grad():
        a = score(BetaVaeObjective(1.0), vae(x, generator=torch.Generator().manual_seed(3)), x)
        b = score(IwaeObjective(), iwae(x, generator=torch.Generator().manual_seed(3)), x)
    # the same draws: the reconstruction, the closed-form KL and so the negative ELBO are the same numbers
    for name in ("reconstruction_nats", "kl", "neg_elbo_nats"):
        assert b[name].item() == pytest.approx(a[name].item(), rel=1e-6), name
    # the bound estimates the KL at the draw instead: another number (the same in expectation, below)
    assert b["loss"].item() != a["loss"].item()


def test_k_1_loss_is_beta_vaes_in_expectation():
    # 40,000 draws from q(z|x) = N((1.5, −0.5), diag(e^−1, e^0.5)), far from the prior, each scored as
    # an image of one pixel: the mean of −log w₁ approaches cross-entropy + the closed-form KL.
    count = 40_000
    mean = torch.tensor([[1.5, -0.5]]).expand(count, 2)
    log_var = torch.tensor([[-1.0, 0.5]]).expand(count, 2)
    z = mean + torch.exp(0.5 * log_var) * torch.randn(count, 2, generator=torch.Generator().manual_seed(0))
    logits, target = torch.full((count, 1, 1, 1), 0.3), torch.ones(count, 1, 1, 1)
    output = gaussian_output(logits, z, mean, log_var)
    vae_loss = score(BetaVaeObjective(1.0), output, target)["loss"].item()
    iwae_loss = score(IwaeObjective(), output, target)["loss"].item()
    kl = 0.5 * (1.5**2 + 0.5**2 + math.exp(-1.0) + math.exp(0.5) - 2 + 1.0 - 0.5)
    assert vae_loss == pytest.approx(-_log_sigmoid(0.3) + kl, rel=1e-6)
    assert iwae_loss == pytest.approx(vae_loss, abs=0.02)  # the MC error's spread is about 0.006 here (seeded)


def test_more_draws_tighten_the_bound():
    # the same weights, more draws per image: the expected bound falls (L_1 ≥ L_5 ≥ L_50 as losses).
    # The decoder's first layer is scaled up so that the images depend on z (at initialisation they
    # hardly do, and all the bounds would be one number).
    x = torch.rand(2, 1, 32, 32).repeat(20, 1, 1, 1)
    losses = []
    for k in (1, 5, 50):
        _, model = _pair(k)
        first = next(m for m in model.decoder.modules() if isinstance(m, torch.nn.Linear))
        with torch.no_grad():
            first.weight.mul_(30.0)
            output = model(x, generator=torch.Generator().manual_seed(0))
        losses.append(score(IwaeObjective(), output, x)["loss"].item())
    assert losses[0] > losses[1] > losses[2]


def test_gradients_reach_the_encoder_through_every_draw():
    _, model = _pair(3)
    x = torch.rand(2, 1, 32, 32)
    score(IwaeObjective(), model(x), x)["loss"].backward()
    assert model.encoder.z_mean.weight.grad.abs().sum() > 0 and model.encoder.z_log_var.weight.grad.abs().sum() > 0


# --- the preset and --k ---------------------------------------------------------------------------


def test_the_preset_is_book_vaes_network_and_recipe_with_k_5():
    preset = get_preset("iwae")
    assert preset.model == ModelSpec(kind="iwae", latent_dim=2, samples=5)
    assert (preset.objective, preset.objective_params) == ("iwae", {})
    assert (preset.lr, preset.batch_size, preset.epochs, preset.dataset) == (5e-4, 100, 5, "fashion-mnist")
    assert make_objective("iwae").terms[0] == "loss"


def test_k_lands_in_the_model_spec_and_is_bounded():
    config = RunConfig.from_preset("iwae", k=12, latent_dim=8)
    assert (config.model.samples, config.model.latent_dim) == (12, 8)
    saved = json.loads(config.to_json())["model"]
    assert saved["samples"] == 12 and "pseudo_inputs" not in saved
    assert RunConfig.from_dict(json.loads(config.to_json())) == config
    for bad in (0, -1, 1001, 2.5, True):
        with pytest.raises(ConfigError, match="--k must be an integer from 1 to 1,000"):
            RunConfig.from_preset("iwae", k=bad)
    with pytest.raises(ConfigError, match="--k only applies to presets that draw several z per image"):
        RunConfig.from_preset("beta-vae", k=5)
    with pytest.raises(ConfigError, match="--beta does not apply to this preset"):
        RunConfig.from_preset("iwae", beta=2.0)


def test_runs_of_other_families_keep_their_config_json():
    for name in ("book-ae", "book-vae", "beta-vae", "book-dae", "book-faces"):
        saved = RunConfig.from_preset(name).to_dict()["model"]
        assert "samples" not in saved and "pseudo_inputs" not in saved, name


def test_k_on_the_command_line(capsys, tmp_path):
    code, _, err = run_cli(capsys, "train", "--preset", "iwae", "--run-dir", str(tmp_path / "r"), "--k", "0")
    assert_one_line_error(code, err, 2, "--k", "1 to 1,000")
    code, _, err = run_cli(capsys, "train", "--preset", "book-vae", "--run-dir", str(tmp_path / "r"), "--k", "3")
    assert_one_line_error(code, err, 1, "--k only applies")
    assert not (tmp_path / "r").exists()
    code, out, _ = run_cli(capsys, "train", "--help")
    assert "iwae only" in out and "1 to 1,000" in " ".join(out.split())


# --- training -------------------------------------------------------------------------------------


def _train(run_dir, train_images, test_images, resume=False, **overrides):
    """A new iwae run (k = 3) on synthetic data, or the run in ``run_dir`` resumed as `train --resume` does."""
    settings = {"epochs": 2, "batch_size": 20, "lr": 2e-3, "seed": 0, "device": "cpu", "k": 3, **overrides}
    if resume:
        config = prepare_config(RunDir(run_dir), None, True, epochs=settings["epochs"])
    else:
        config = RunConfig.from_preset("iwae", **settings)
    return train(config, run_dir, resume=resume, train_set=train_images, test_set=test_images, **QUIET)


def test_training_lowers_the_bound_and_logs_every_term(tmp_path, train_images, test_images):
    history = _train(tmp_path / "run", train_images, test_images).history
    assert history[-1]["train"]["loss"] < history[0]["train"]["loss"]
    assert history[-1]["val"]["loss"] < history[0]["val"]["loss"]
    for row in RunDir(tmp_path / "run").read_metrics():
        for split in ("train", "val"):
            terms = row[split]
            assert set(terms) == set(IwaeObjective.terms) and all(math.isfinite(v) for v in terms.values())
            assert terms["loss"] == terms["iw_bound_nats"] <= terms["neg_elbo_nats"] + 1e-3
    assert json.loads((tmp_path / "run" / "config.json").read_text())["model"]["samples"] == 3


def test_resume_continues_exactly(tmp_path, train_images, test_images):
    straight = _train(tmp_path / "straight", train_images, test_images)
    _train(tmp_path / "resumed", train_images, test_images, epochs=1)
    resumed = _train(tmp_path / "resumed", train_images, test_images, resume=True)
    assert [r["train"] for r in resumed.history] == [r["train"] for r in straight.history]
    assert [r["val"] for r in resumed.history] == [r["val"] for r in straight.history]
    a, b = straight.model.state_dict(), resumed.model.state_dict()
    assert all(torch.equal(a[name], b[name]) for name in a)
    with pytest.raises(ConfigError, match="this run has --k 3; --resume cannot change it"):
        RunDir(tmp_path / "resumed").read_config().resumed_with(k=4)
