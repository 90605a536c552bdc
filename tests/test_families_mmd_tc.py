"""The rae, wae-mmd, info-vae and beta-tcvae families: their loss terms against values worked out by
hand on tiny tensors, their models' capabilities and forward outputs, and, for each preset at tiny
limits on synthetic data, training that lowers the loss, exact resume, and every analysis through the
Python API (reconstruct, embed, generate with the default sampler and gmm, grid, diagnose, evaluate,
the explorer's state)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from model_outputs import gaussian_output, point_output, score
from vaelab.errors import ConfigError
from vaelab.evaluation import save_judge, train_judge
from vaelab.evaluation.metrics import has_likelihood
from vaelab.evaluation.run_measures import write_evaluation
from vaelab.latent import embed, generate, reconstruct
from vaelab.latent.samplers import default_sampler
from vaelab.models import PRESETS, ModelOutput, build_model
from vaelab.models.distributions import IMQ_SCALES
from vaelab.presentation import report
from vaelab.presentation.diagnostics_report import write_diagnostics
from vaelab.presentation.explorer.state import build_state
from vaelab.presentation.tables import presets_table
from vaelab.training import RunConfig, RunDir, load_run, train
from vaelab.training.objectives import (
    BetaTcVaeObjective,
    InfoVaeObjective,
    RaeObjective,
    WaeMmdObjective,
    make_objective,
)

FAMILIES = ("rae", "wae-mmd", "info-vae", "beta-tcvae")
QUIET = {"progress": False, "log": lambda s: None}
LN2 = math.log(2)


def imq(squared_distance: float, dim: int = 2) -> float:
    """The IMQ kernel summed over WAE's scales, written out: Σ_s 2ds / (2ds + r²)."""
    return sum(2 * dim * s / (2 * dim * s + squared_distance) for s in IMQ_SCALES)


# z = (0, 0), (1, 0) against prior draws (0, 1), (0, 0): squared distances within z 1, within the
# prior 1, across 1, 0, 2, 1; so MMD² = k(1) + k(1) − 2·(k(1) + k(0) + k(2) + k(1))/4.
Z = torch.tensor([[0.0, 0.0], [1.0, 0.0]])
PRIOR_Z = torch.tensor([[0.0, 1.0], [0.0, 0.0]])
MMD = 2 * imq(1) - (2 * imq(1) + imq(0) + imq(2)) / 2
LOGITS = torch.zeros(2, 1, 1, 2)  # p = 0.5: every pixel costs ln 2, so each image 2 ln 2
TARGETS = torch.tensor([[[[0.0, 1.0]]], [[[0.25, 0.75]]]])


def with_prior(output: ModelOutput, prior_z: torch.Tensor = PRIOR_Z) -> ModelOutput:
    output.prior_z = prior_z
    return output


# ---------------------------------------------------------------- loss terms, by hand


def test_rae_terms_by_hand():
    z = torch.tensor([[3.0, 4.0], [0.0, 0.0]])  # ½‖z‖² = 12.5 and 0
    output = point_output(LOGITS, z)
    output.penalty = torch.tensor(2.0)
    terms = score(RaeObjective(beta=0.1, decoder_weight=1e-4), output, TARGETS)
    assert terms["reconstruction_nats"].item() == pytest.approx(2 * LN2)
    assert terms["z_l2"].item() == pytest.approx(6.25)
    assert terms["decoder_l2"].item() == pytest.approx(2.0)
    assert terms["loss"].item() == pytest.approx(2 * LN2 + 0.1 * 6.25 + 1e-4 * 2.0)
    assert tuple(terms) == RaeObjective.terms


def test_rae_needs_the_decoder_norm_from_the_forward_pass():
    with pytest.raises(ConfigError, match="decoder's L2"):
        score(RaeObjective(), point_output(LOGITS, Z), TARGETS)


def test_rae_decoder_norm_counts_the_weights_and_not_the_biases():
    model = build_model(RunConfig.from_preset("rae").model)
    weights = 0
    with torch.no_grad():
        for parameter in model.decoder.parameters():
            parameter.fill_(0.5 if parameter.ndim > 1 else 3.0)
            weights += parameter.numel() if parameter.ndim > 1 else 0
    assert model.decoder_squared_norm().item() == pytest.approx(0.25 * weights)
    x = torch.rand(3, 1, 32, 32)
    output = model(x)
    assert output.penalty is not None and output.penalty.item() == pytest.approx(0.25 * weights)
    output.penalty.backward()  # its gradient reaches the decoder's weights (2w), not its biases
    assert torch.allclose(model.decoder.from_latent.weight.grad, torch.ones(()))
    assert model.decoder.from_latent.bias.grad is None


def test_wae_terms_by_hand():
    terms = score(WaeMmdObjective(mmd_weight=250.0), with_prior(point_output(LOGITS, Z)), TARGETS)
    assert terms["reconstruction_nats"].item() == pytest.approx(2 * LN2)
    assert terms["mmd"].item() == pytest.approx(MMD, rel=1e-5)
    assert terms["loss"].item() == pytest.approx(2 * LN2 + 250.0 * MMD, rel=1e-5)
    assert MMD < 0  # unbiased: with two points a batch's estimate can fall below 0


def test_mmd_of_one_image_is_zero_and_prior_draws_are_required():
    one = with_prior(point_output(LOGITS[:1], Z[:1]), PRIOR_Z[:1])
    assert score(WaeMmdObjective(), one, TARGETS[:1])["mmd"].item() == 0.0
    with pytest.raises(ConfigError, match="draws from its prior"):
        score(WaeMmdObjective(), point_output(LOGITS, Z), TARGETS)


def test_info_vae_terms_by_hand():
    mean = torch.tensor([[0.0, 0.0], [1.0, 0.0]])  # KL 0 and ½·1² = 0.5: mean 0.25
    output = with_prior(gaussian_output(LOGITS, Z, mean, torch.zeros(2, 2)))
    terms = score(InfoVaeObjective(alpha=0.0, lambda_=1000.0), output, TARGETS)
    assert terms["kl"].item() == pytest.approx(0.25)
    assert terms["mmd"].item() == pytest.approx(MMD, rel=1e-5)
    assert terms["neg_elbo_nats"].item() == pytest.approx(2 * LN2 + 0.25)
    assert terms["loss"].item() == pytest.approx(2 * LN2 + 0.25 + 999.0 * MMD, rel=1e-5)
    other = score(InfoVaeObjective(alpha=0.5, lambda_=2.0), output, TARGETS)  # KL × 0.5, MMD × 1.5
    assert other["loss"].item() == pytest.approx(2 * LN2 + 0.5 * 0.25 + 1.5 * MMD, rel=1e-5)
    plain = score(InfoVaeObjective(alpha=0.0, lambda_=1.0), output, TARGETS)  # the ELBO
    assert plain["loss"].item() == pytest.approx(plain["neg_elbo_nats"].item())


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({"alpha": 1.5}, "at most 1"),
        ({"alpha": "x"}, "at most 1"),
        ({"alpha": 0.0, "lambda_": 0.5}, "at least 1"),
        ({"lambda_": 0.0}, "positive"),
        ({"lambda_": float("nan")}, "positive"),
    ],
)
def test_info_vae_refuses_weights_that_reward_a_divergence(params, fragment):
    with pytest.raises(ConfigError, match=fragment):
        make_objective("info-vae", params)


def test_beta_tcvae_terms_by_hand():
    # d = 2, B = 2, N = 10: the posteriors N(z_j, I) centred on the draws z_0 = (0, 0), z_1 = (1, 1).
    # log q(z_i|x_j) per dimension is −½ log 2π, less ½ when i ≠ j; so per image
    #   mi = log 20 − log(1 + e⁻¹),  tc = log(1 + e⁻¹) − 2 log(1 + e^-½) + log 20,
    #   dwkl = 2 log(1 + e^-½) − 2 log 20 + ½‖z_i‖²,
    # and mi + tc + dwkl = ½‖z_i‖² (0 and 1): log q(z|x) − log p(z).
    z = torch.tensor([[0.0, 0.0], [1.0, 1.0]])
    output = gaussian_output(LOGITS, z, z.clone(), torch.zeros(2, 2))
    objective = BetaTcVaeObjective(alpha=1.0, beta=6.0, gamma=1.0)
    terms = score(objective, output, TARGETS, dataset_size=10)
    mi = math.log(20) - math.log(1 + math.exp(-1))
    tc = math.log(1 + math.exp(-1)) - 2 * math.log(1 + math.exp(-0.5)) + math.log(20)
    dwkl = 2 * math.log(1 + math.exp(-0.5)) - 2 * math.log(20) + 0.5
    assert terms["mi"].item() == pytest.approx(mi, rel=1e-5)
    assert terms["tc"].item() == pytest.approx(tc, rel=1e-5)
    assert terms["dwkl"].item() == pytest.approx(dwkl, rel=1e-5)
    assert terms["kl"].item() == pytest.approx(0.5)  # closed form: ½(μ² + σ² − 1 − log σ²) summed, then averaged
    assert terms["neg_elbo_nats"].item() == pytest.approx(2 * LN2 + 0.5, rel=1e-6)
    assert terms["loss"].item() == pytest.approx(2 * LN2 + mi + 6 * tc + dwkl, rel=1e-5)
    assert tuple(terms) == BetaTcVaeObjective.terms


def test_beta_tcvae_needs_the_training_set_size():
    output = gaussian_output(LOGITS, Z, Z.clone(), torch.zeros(2, 2))
    with pytest.raises(ValueError, match="dataset_size"):
        score(BetaTcVaeObjective(), output, TARGETS)


# ---------------------------------------------------------------- models, presets, flags


@pytest.mark.parametrize(
    ("family", "posterior", "prior", "sampler", "likelihood"),
    [
        ("rae", "point", False, "gmm", False),
        ("wae-mmd", "point", True, "prior", False),
        ("info-vae", "gaussian", True, "prior", True),
        ("beta-tcvae", "gaussian", True, "prior", True),
    ],
)
def test_capabilities(family, posterior, prior, sampler, likelihood):
    model = build_model(RunConfig.from_preset(family, latent_dim=3).model)
    assert model.family == model.kind == family and model.latent_dim == 3
    assert model.posterior_kind == posterior and model.has_prior == prior and not model.conditional
    assert default_sampler(model) == sampler and has_likelihood(model) == likelihood


@pytest.mark.parametrize("family", ["wae-mmd", "info-vae"])
def test_prior_draws_come_from_the_generator_or_the_global_rng(family):
    torch.manual_seed(0)
    model = build_model(RunConfig.from_preset(family).model)
    x = torch.rand(4, 1, 32, 32)
    first = model(x, generator=torch.Generator().manual_seed(5)).prior_z
    again = model(x, generator=torch.Generator().manual_seed(5)).prior_z
    assert first is not None and first.shape == (4, 2) and torch.equal(first, again)
    torch.manual_seed(1)
    a = model(x).prior_z
    torch.manual_seed(1)
    assert torch.equal(a, model(x).prior_z) and not torch.equal(a, first)


@pytest.mark.parametrize(
    ("family", "param"),
    [("rae", "beta"), ("wae-mmd", "mmd_weight"), ("info-vae", "lambda_"), ("beta-tcvae", "beta")],
)
def test_beta_flag_sets_the_main_regulariser(family, param):
    config = RunConfig.from_preset(family, beta=7.0)
    assert config.objective_params[param] == 7.0
    assert PRESETS[family].objective_params[param] != 7.0
    assert config.objective_params.keys() == PRESETS[family].objective_params.keys()


def test_presets_are_listed_with_their_parameter_counts():
    table = presets_table()
    for family in FAMILIES:
        (line,) = [row for row in table.splitlines() if row.startswith(family + " ")]
        assert "fashion-mnist" in line and "246,273" in line  # the book's decoder
        assert ("100,868" if family in ("info-vae", "beta-tcvae") else "96,770") in line
    (vq,) = [row for row in table.splitlines() if row.startswith("vq-vae ")]
    assert vq.split()[3] == "8×8×16"  # the grid of codes, not the code's dimension alone


# ---------------------------------------------------------------- training, resume, analyses


def tiny(family: str, **overrides) -> RunConfig:
    settings = {"epochs": 2, "batch_size": 20, "lr": 2e-3, "seed": 0, "device": "cpu", **overrides}
    return RunConfig.from_preset(family, **settings)


@pytest.fixture(scope="module", params=FAMILIES)
def trained(request, tmp_path_factory, train_images, test_images):
    """Each family trained for 2 epochs straight, and for 1 epoch then resumed to 2: (family, dirs)."""
    torch.set_num_threads(1)
    family = request.param
    root = tmp_path_factory.mktemp(family)
    train(tiny(family), root / "straight", train_set=train_images, test_set=test_images, **QUIET)
    train(tiny(family, epochs=1), root / "resumed", train_set=train_images, test_set=test_images, **QUIET)
    train(tiny(family), root / "resumed", resume=True, train_set=train_images, test_set=test_images, **QUIET)
    return family, root / "straight", root / "resumed"


def test_training_lowers_the_loss_and_reports_every_term(trained):
    family, straight, _ = trained
    rows = RunDir(straight).read_metrics()
    terms = set(make_objective(PRESETS[family].objective).terms)
    assert set(rows[0]["train"]) == terms == set(rows[0]["val"])
    assert rows[1]["train"]["loss"] < rows[0]["train"]["loss"]
    assert rows[1]["val"]["reconstruction_nats"] < rows[0]["val"]["reconstruction_nats"]
    if "neg_elbo_nats" in terms:
        assert rows[1]["val"]["neg_elbo_nats"] < rows[0]["val"]["neg_elbo_nats"]


def test_resume_continues_exactly(trained):
    _, straight, resumed = trained
    a, b = RunDir(straight).read_metrics(), RunDir(resumed).read_metrics()
    assert [row["epoch"] for row in a] == [row["epoch"] for row in b] == [1, 2]
    for row_a, row_b in zip(a, b, strict=True):
        assert row_a["train"] == row_b["train"] and row_a["val"] == row_b["val"]
    weights_a = load_run(straight, "cpu").model.state_dict()
    weights_b = load_run(resumed, "cpu").model.state_dict()
    for name, tensor in weights_a.items():
        assert torch.equal(tensor, weights_b[name]), name


@pytest.fixture(scope="module")
def judge(tmp_path_factory, train_images, test_images):
    torch.set_num_threads(1)
    result = train_judge(
        train_images, test_images, epochs=2, batch_size=24, seed=0, device="cpu", progress=False, log=lambda s: None
    )
    return save_judge(result.model, result.accuracy, folder=tmp_path_factory.mktemp("judge"))


def test_every_analysis_runs(trained, train_images, test_images, judge):
    family, straight, _ = trained
    run = load_run(straight, "cpu")
    result = reconstruct(run.model, test_images, 6)
    assert result.reconstructions.shape == (6, 1, 32, 32)
    embedding = embed(run.model, test_images, 40)
    assert embedding.z.shape == (40, 2) and np.all(np.isfinite(embedding.z))
    for sampler in (None, "gmm"):
        fit_to = embed(run.model, train_images).z if sampler == "gmm" else None
        generated = generate(run.model, embedding, 9, 0, sampler or run.model.default_sampler, fit_to)
        assert generated.images.shape == (9, 1, 32, 32)
        report.write_generated(run, test_images, count=9, sampler=sampler, train_set=train_images)
        saved = json.loads((run.dir.figures / "generated.json").read_text())
        assert saved["sampler"] == (sampler or run.model.default_sampler)
    report.write_reconstructions(run, test_images)
    report.write_embedding(run, test_images)
    (_, grid) = report.write_grid(run, test_images, size=5)
    with np.load(grid) as saved:
        assert str(saved["span"]) == ("embeddings" if family == "rae" else "prior")
    for sampler in (None, "gmm"):
        write_diagnostics(run, train_images, judge, sampler, num_samples=60)
    likelihood = {"importance_samples": 3, "likelihood_images": 10} if has_likelihood(run.model) else {}
    (evaluation,) = write_evaluation(
        run, train_images, test_images, judge, None, num_samples=60, progress=False, **likelihood
    )
    measured = json.loads(evaluation.read_text())["samplers"][run.model.default_sampler]
    assert ("likelihood" in measured) == has_likelihood(run.model)
    if has_likelihood(run.model):
        assert measured["likelihood"]["importance_samples"] == 3
    else:
        with pytest.raises(ConfigError, match="-k/--importance-samples"):
            write_evaluation(run, train_images, test_images, judge, None, num_samples=60, importance_samples=3)
    diagnostics = json.loads((run.dir.figures / "diagnostics.json").read_text())
    assert set(diagnostics["samplers"]) == {run.model.default_sampler, "gmm"}
    state = build_state(run, test_images, 20)
    points = state.points()
    assert points["count"] == 20
    assert state.decode_plane(0.1, -0.2).shape == (1, 32, 32)
    assert state.reconstruction(3).shape == (1, 32, 32)
    assert state.morph(0, 5, 4).images.shape[0] == 4
    assert state.facts()["kind"] == family and state.facts()["final_val"]["loss"] == pytest.approx(
        run.dir.read_metrics()[-1]["val"]["loss"]
    )
