"""The variational autoencoder: model, objectives, sampling, validation, --beta, training."""

import json
import math

import pytest
import torch

from idx_fixtures import install_fake_fashion_mnist
from model_outputs import gaussian_output, score
from test_cli import assert_one_line_error, run_cli
from vaelab.data.batching import DeviceImages
from vaelab.errors import ConfigError
from vaelab.models import ModelOutput, VariationalAutoencoder, build_model, count_parameters, get_preset
from vaelab.training import RunConfig, RunDir, prepare_config, train
from vaelab.training.objectives import (
    BetaVaeObjective,
    VaeBookObjective,
    kl_to_standard_normal,
    make_objective,
)
from vaelab.training.validation import mean_terms

QUIET = {"progress": False, "log": lambda s: None}
VAE_TERMS = {
    "book-vae": {"loss", "reconstruction", "kl", "neg_elbo_nats"},
    "beta-vae": {"loss", "reconstruction_nats", "kl", "neg_elbo_nats"},
}


def vae_config(preset="book-vae", **overrides) -> RunConfig:
    """A VAE preset on synthetic data: small batches so an epoch has a dozen steps."""
    settings = {"epochs": 2, "batch_size": 20, "lr": 2e-3, "seed": 0, "device": "cpu"}
    settings.update(overrides)
    return RunConfig.from_preset(preset, **settings)


def _train(run_dir, train_images, test_images, resume=False, preset="book-vae", **overrides):
    config = vae_config(preset, **overrides)
    return train(config, run_dir, resume=resume, train_set=train_images, test_set=test_images, **QUIET)


def _book_vae() -> VariationalAutoencoder:
    torch.manual_seed(0)
    return build_model(get_preset("book-vae").model)


# --- model -------------------------------------------------------------------------------------


def test_book_vae_parameter_counts_match_the_book():
    model = _book_vae()
    assert isinstance(model, VariationalAutoencoder) and model.kind == "vae" and model.latent_dim == 2
    assert count_parameters(model.encoder) == 100_868
    assert count_parameters(model.decoder) == 246_273
    assert count_parameters(build_model(get_preset("beta-vae").model).encoder) == 100_868


def test_vae_shapes_and_deterministic_encode():
    model = _book_vae()
    x = torch.rand(4, 1, 32, 32)
    out = model(x)
    assert isinstance(out, ModelOutput)
    assert out.z.shape == out.posterior.mean.shape == out.posterior.log_var.shape == (4, 2)
    assert out.logits.shape == (4, 1, 32, 32)
    posterior = model.encode(x)
    assert torch.equal(model.encode(x).mean, posterior.mean)
    assert torch.equal(out.posterior.mean, posterior.mean) and torch.equal(out.posterior.log_var, posterior.log_var)
    assert not torch.equal(posterior.sample(), posterior.sample())
    images = model.decode(out.z)
    assert images.min() >= 0 and images.max() <= 1


def test_forward_with_a_generator_is_reproducible():
    model = _book_vae()
    x = torch.rand(3, 1, 32, 32)
    a = model(x, generator=torch.Generator().manual_seed(7))
    b = model(x, generator=torch.Generator().manual_seed(7))
    assert torch.equal(a.z, b.z) and torch.equal(a.logits, b.logits)


def test_gradients_flow_through_the_sampling():
    model = _book_vae()
    x = torch.rand(5, 1, 32, 32)
    for objective in (VaeBookObjective(), BetaVaeObjective()):
        model.zero_grad(set_to_none=True)
        score(objective, model(x), x)["loss"].backward()
        for head in (model.encoder.z_mean, model.encoder.z_log_var):
            assert head.weight.grad is not None and head.weight.grad.abs().sum() > 0


def test_gradient_of_the_draw_reaches_log_var_through_epsilon():
    # without the KL term, the only path to the log-variance head is z = mean + exp(0.5·lv)·ε
    model = _book_vae()
    x = torch.rand(5, 1, 32, 32)
    out = model(x)
    torch.nn.functional.binary_cross_entropy_with_logits(out.logits, x).backward()
    assert model.encoder.z_log_var.weight.grad.abs().sum() > 0


@pytest.mark.parametrize("head_output", [1e4, -1e4])
def test_log_var_is_clamped_so_huge_head_outputs_give_a_finite_loss(head_output):
    model = _book_vae()
    with torch.no_grad():
        model.encoder.z_log_var.bias.fill_(head_output)
        model.encoder.z_mean.bias.fill_(1e3)
    x = torch.rand(4, 1, 32, 32)
    out = model(x)
    assert out.posterior.log_var.min() >= -30 and out.posterior.log_var.max() <= 20
    for objective in (VaeBookObjective(), BetaVaeObjective()):
        terms = score(objective, out, x)
        assert all(torch.isfinite(value) for value in terms.values()), terms


# --- objectives --------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_closed_form_kl_matches_a_monte_carlo_estimate(seed):
    generator = torch.Generator().manual_seed(seed)
    mean = torch.rand(1, 3, generator=generator, dtype=torch.float64) * 3 - 1.5
    log_var = torch.rand(1, 3, generator=generator, dtype=torch.float64) * 2.5 - 1.5
    closed = kl_to_standard_normal(mean, log_var).item()
    std = torch.exp(0.5 * log_var)
    z = mean + std * torch.randn(200_000, 3, generator=generator, dtype=torch.float64)
    log_q = (-0.5 * ((z - mean) / std) ** 2 - torch.log(std) - 0.5 * math.log(2 * math.pi)).sum(1)
    log_p = (-0.5 * z**2 - 0.5 * math.log(2 * math.pi)).sum(1)
    estimate = (log_q - log_p).mean().item()
    assert closed > 0.5
    assert estimate == pytest.approx(closed, rel=0.02)


def test_kl_is_zero_for_the_prior_itself():
    assert torch.equal(kl_to_standard_normal(torch.zeros(3, 4), torch.zeros(3, 4)), torch.zeros(3))


def _tiny_output():
    """Two 1×1×2 "images" with logits 0 (each pixel costs ln 2) and a 2-D posterior each.

    KL per image: 0.5·(1 + 1 − 1 − 0) = 0.5 and 0.5·(2 − 1 − ln 2) = 0.5·(1 − ln 2);
    batch mean 0.5 − 0.25·ln 2.
    """
    target = torch.tensor([[[[0.0, 1.0]]], [[[0.25, 0.75]]]])
    output = gaussian_output(
        torch.zeros(2, 1, 1, 2),
        torch.zeros(2, 2),
        torch.tensor([[1.0, 0.0], [0.0, 0.0]]),
        torch.tensor([[0.0, 0.0], [0.0, math.log(2)]]),
    )
    return output, target


def test_book_objective_matches_its_documented_formula():
    output, target = _tiny_output()
    kl, ln2 = 0.5 - 0.25 * math.log(2), math.log(2)
    terms = score(VaeBookObjective(reconstruction_weight=500.0), output, target)
    assert list(terms) == list(VaeBookObjective.terms)
    assert terms["reconstruction"].item() == pytest.approx(ln2, rel=1e-6)  # per pixel
    assert terms["kl"].item() == pytest.approx(kl, rel=1e-6)
    assert terms["loss"].item() == pytest.approx(500 * ln2 + kl, rel=1e-6)
    assert terms["neg_elbo_nats"].item() == pytest.approx(2 * ln2 + kl, rel=1e-6)  # P = 2 pixels
    assert terms["neg_elbo_nats"].item() == pytest.approx(2 * terms["reconstruction"].item() + kl, rel=1e-6)


def test_beta_objective_matches_its_documented_formula():
    output, target = _tiny_output()
    kl, ln2 = 0.5 - 0.25 * math.log(2), math.log(2)
    terms = score(BetaVaeObjective(beta=3.0), output, target)
    assert list(terms) == list(BetaVaeObjective.terms)
    assert terms["reconstruction_nats"].item() == pytest.approx(2 * ln2, rel=1e-6)  # per image
    assert terms["kl"].item() == pytest.approx(kl, rel=1e-6)
    assert terms["loss"].item() == pytest.approx(2 * ln2 + 3 * kl, rel=1e-6)
    assert terms["neg_elbo_nats"].item() == pytest.approx(2 * ln2 + kl, rel=1e-6)


def test_book_loss_is_a_scaled_beta_vae_loss():
    torch.manual_seed(0)
    target = torch.rand(4, 1, 32, 32)
    output = gaussian_output(torch.randn(4, 1, 32, 32) * 2, torch.zeros(4, 2), torch.randn(4, 2), torch.randn(4, 2))
    pixels, weight = 1024, 500.0
    book = score(VaeBookObjective(reconstruction_weight=weight), output, target)
    beta = score(BetaVaeObjective(beta=pixels / weight), output, target)
    assert pixels / weight == pytest.approx(2.048)
    assert book["loss"].item() == pytest.approx(weight / pixels * beta["loss"].item(), rel=1e-5)
    assert book["neg_elbo_nats"].item() == pytest.approx(beta["neg_elbo_nats"].item(), rel=1e-6)


@pytest.mark.parametrize(
    "name, params",
    [
        ("vae-book", {"reconstruction_weight": 0}),
        ("vae-book", {"reconstruction_weight": -500}),
        ("beta-vae", {"beta": 0.0}),
        ("beta-vae", {"beta": float("nan")}),
        ("beta-vae", {"beta": "big"}),
        ("beta-vae", {"gamma": 1.0}),
    ],
)
def test_bad_objective_parameters_are_refused(name, params):
    with pytest.raises(ConfigError):
        make_objective(name, params)


# --- presets and --beta ------------------------------------------------------------------------


def test_vae_presets_carry_the_book_recipe():
    book, beta = get_preset("book-vae"), get_preset("beta-vae")
    assert book.objective == "vae-book" and book.objective_params == {"reconstruction_weight": 500.0}
    assert beta.objective == "beta-vae" and beta.objective_params == {"beta": 1.0}
    for preset in (book, beta):
        assert preset.model.kind == "vae" and preset.model.latent_dim == 2 and preset.dataset == "fashion-mnist"
        assert (preset.lr, preset.batch_size, preset.epochs) == (5e-4, 100, 5)


def test_beta_override_sets_each_presets_own_weight():
    assert RunConfig.from_preset("book-vae", beta=100).objective_params == {"reconstruction_weight": 100.0}
    assert RunConfig.from_preset("beta-vae", beta=4).objective_params == {"beta": 4.0}
    assert RunConfig.from_preset("book-vae").objective_params == {"reconstruction_weight": 500.0}
    with pytest.raises(ConfigError, match="--beta does not apply to this preset"):
        RunConfig.from_preset("book-ae", beta=2.0)
    with pytest.raises(ConfigError, match="--beta"):
        RunConfig.from_preset("beta-vae", beta=-1.0)


def test_beta_on_book_ae_is_a_one_line_cli_error(capsys, tmp_path):
    code, _, err = run_cli(capsys, "train", "--preset", "book-ae", "--run-dir", str(tmp_path / "r"), "--beta", "2")
    assert_one_line_error(code, err, 1, "--beta does not apply to this preset")
    assert not (tmp_path / "r").exists()


def test_beta_on_book_vae_lands_in_config_json(capsys, monkeypatch, tmp_path):
    install_fake_fashion_mnist(monkeypatch, tmp_path)
    run = tmp_path / "run"
    code, _, err = run_cli(
        capsys,
        "train",
        "--preset",
        "book-vae",
        "--run-dir",
        str(run),
        "--beta",
        "250",
        "--epochs",
        "1",
        "--batch-size",
        "20",
        "--device",
        "cpu",
        "--no-progress",
    )
    assert code == 0, err
    config = json.loads((run / "config.json").read_text())
    assert config["objective"] == "vae-book"
    assert config["objective_params"] == {"reconstruction_weight": 250.0}
    code, _, err = run_cli(capsys, "train", "--run-dir", str(run), "--resume", "--beta", "500", "--no-progress")
    assert_one_line_error(code, err, 1, "--beta", "cannot change")


# --- training and validation -------------------------------------------------------------------


@pytest.mark.parametrize("preset", ["book-vae", "beta-vae"])
def test_vae_training_lowers_the_loss_and_logs_every_term(tmp_path, train_images, test_images, preset):
    history = _train(tmp_path / "run", train_images, test_images, preset=preset).history
    assert [row["epoch"] for row in history] == [1, 2]
    assert history[-1]["train"]["loss"] < history[0]["train"]["loss"]
    assert history[-1]["val"]["loss"] < history[0]["val"]["loss"]
    rows = RunDir(tmp_path / "run").read_metrics()
    for row in rows:
        assert set(row["train"]) == VAE_TERMS[preset] == set(row["val"])
        assert all(math.isfinite(v) for v in [*row["train"].values(), *row["val"].values()])
    if preset == "book-vae":
        val = rows[-1]["val"]
        assert val["neg_elbo_nats"] == pytest.approx(1024 * val["reconstruction"] + val["kl"], rel=1e-6)


def test_vae_resume_continues_exactly(tmp_path, train_images, test_images):
    straight = _train(tmp_path / "straight", train_images, test_images, epochs=2).history
    _train(tmp_path / "resumed", train_images, test_images, epochs=1)
    resumed = _train(tmp_path / "resumed", train_images, test_images, resume=True, epochs=2).history
    assert [r["train"] for r in resumed] == [r["train"] for r in straight]
    assert [r["val"] for r in resumed] == [r["val"] for r in straight]


def test_vae_validation_is_deterministic_and_leaves_the_global_rng_alone(test_images):
    model = _book_vae()
    config = vae_config()
    objective = make_objective(config.objective, config.objective_params)
    data = DeviceImages(test_images.images, None, torch.device("cpu"))
    first = mean_terms(model, objective, data, 20)
    torch.manual_seed(123)  # another global RNG state must not matter
    state = torch.get_rng_state()
    second = mean_terms(model, objective, data, 20)
    assert first == second
    assert torch.equal(torch.get_rng_state(), state)  # validation draws nothing from it


def test_prepare_config_passes_beta_for_a_new_vae_run(tmp_path):
    config = prepare_config(RunDir(tmp_path / "run"), "beta-vae", resume=False, beta=2.048)
    assert config.objective_params == {"beta": 2.048}
