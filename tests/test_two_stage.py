"""The ``two-stage`` sampler (Dai & Wipf, 2019): the second VAE's loss terms by hand, a fit that
recovers a known 2-D density, determinism, refusals, the standardisation, a discrete-code family
refused, and generate / diagnose / evaluate / compare and the command line with ``--sampler two-stage``
(at tiny settings, so the file stays fast)."""

from __future__ import annotations

import dataclasses
import json
import math
import shutil
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from cli_run import assert_one_line_error, run_cli
from idx_fixtures import install_fake_fashion_mnist
from vaelab.errors import ConfigError
from vaelab.evaluation import save_judge, train_judge
from vaelab.evaluation.run_measures import diagnose_run, write_evaluation
from vaelab.evaluation.sampling import draw_samples
from vaelab.latent import two_stage
from vaelab.latent.codec import encode_images
from vaelab.latent.samplers import (
    check_fit_size,
    check_sampler_applies,
    make_sampler,
    sampler_fits_training_set,
)
from vaelab.latent.two_stage import (
    MIN_EMBEDDINGS,
    SecondStageVae,
    TwoStageSampler,
    TwoStageSettings,
    second_stage_terms,
)
from vaelab.models import build_model
from vaelab.models.base import GaussianPosterior, LatentModel
from vaelab.models.presets import PRESETS
from vaelab.presentation import report
from vaelab.presentation.compare import collect_rows
from vaelab.presentation.diagnostics_report import write_diagnostics
from vaelab.training import RunConfig, load_run

#: Big enough to recover two far-apart modes in a second or two.
SMALL = TwoStageSettings(width=64, depth=3, steps=1500, batch_size=128, lr=3e-3)
#: Just enough to exercise the code paths.
TINY = TwoStageSettings(width=16, depth=1, steps=30, batch_size=64)
LN_2PI = math.log(2 * math.pi)


@pytest.fixture
def tiny_default(monkeypatch):
    """``make_sampler("two-stage")`` (and so generate, diagnose, evaluate) fits with :data:`TINY`."""
    monkeypatch.setattr(two_stage, "DEFAULT_SETTINGS", TINY)


@pytest.fixture
def run_copy(tmp_path, trained_run):
    """A copy of the session's book-ae run without the results other tests wrote into it, so
    results files written here stay here and are the only ones."""
    copy = shutil.copytree(trained_run.dir.path, tmp_path / "run")
    shutil.rmtree(copy / "figures", ignore_errors=True)
    return load_run(copy, "cpu")


@pytest.fixture(scope="module")
def judge(tmp_path_factory, train_images, test_images):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        result = train_judge(
            train_images, test_images, epochs=1, batch_size=24, seed=0, device="cpu", progress=False, log=lambda s: None
        )
    finally:
        torch.set_num_threads(threads)
    return save_judge(result.model, result.accuracy, folder=tmp_path_factory.mktemp("judge"))


def _two_modes(per_mode: int = 300, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Points of two round Gaussians (σ = 0.5) centred at (−5, 0) and (5, 0), and the centres."""
    rng = np.random.default_rng(seed)
    centres = np.array([[-5.0, 0.0], [5.0, 0.0]])
    return np.concatenate([c + 0.5 * rng.standard_normal((per_mode, 2)) for c in centres]), centres


def _fit(z: np.ndarray, settings: TwoStageSettings = TINY) -> TwoStageSampler:
    return TwoStageSampler(settings, progress=False).fit(z)


# ---------------------------------------------------------------- the second VAE's loss, by hand


def test_loss_terms_by_hand():
    x = torch.tensor([[1.0, 2.0], [0.0, -1.0]])
    x_hat = torch.tensor([[0.5, 1.0], [0.0, 0.0]])
    log_gamma = torch.tensor(math.log(0.5))
    posterior = GaussianPosterior(
        torch.tensor([[0.3, -0.2], [0.0, 0.0]]), torch.tensor([[0.0, math.log(0.25)], [0.0, 0.0]])
    )
    reconstruction, kl = second_stage_terms(x, x_hat, log_gamma, posterior)
    # −log N(x; x̂, γ²) = ½ log 2π + log γ + (x − x̂)²/(2γ²), γ = 0.5, summed over the 2 dimensions
    per_dim = 0.5 * LN_2PI + math.log(0.5)
    first = 2 * per_dim + (0.5**2 + 1.0**2) / (2 * 0.25)
    second = 2 * per_dim + (0.0 + 1.0**2) / (2 * 0.25)
    assert reconstruction.item() == pytest.approx((first + second) / 2, rel=1e-6)
    # KL = ½ Σ (μ² + σ² − 1 − log σ²); the second point's posterior is N(0, I): 0
    first_kl = 0.5 * ((0.09 + 1 - 1 - 0) + (0.04 + 0.25 - 1 - math.log(0.25)))
    assert kl.item() == pytest.approx(first_kl / 2, rel=1e-6)


def test_the_network_decodes_one_reparameterised_draw():
    torch.manual_seed(0)
    network = SecondStageVae(dim=3, width=8, depth=2, gamma_init=0.1)
    assert network.log_gamma.item() == pytest.approx(math.log(0.1))
    x = torch.randn(5, 3)
    reconstruction, kl = network.loss_terms(x, torch.Generator().manual_seed(7))
    posterior = network.encode(x)
    u = posterior.mean + torch.exp(0.5 * posterior.log_var) * torch.randn(
        5, 3, generator=torch.Generator().manual_seed(7)
    )
    expected = second_stage_terms(x, network.decoder(u), network.log_gamma, posterior)
    assert reconstruction.item() == pytest.approx(expected[0].item(), rel=1e-6)
    assert kl.item() == pytest.approx(expected[1].item(), rel=1e-6)


# ---------------------------------------------------------------- the fit


def test_the_fit_lowers_its_loss_and_recovers_two_far_apart_modes():
    z, centres = _two_modes()
    sampler = _fit(z, SMALL)
    initial = _fit(z, dataclasses.replace(SMALL, steps=1)).describe()["final_loss"]  # the same first step
    described = sampler.describe()
    assert described["final_loss"] < initial - 10
    # in nats of z, the bound cannot beat the data's own entropy (≈ 2.1 nats here) by more than noise
    true_density = sum(np.exp(-((z - c) ** 2).sum(1) / (2 * 0.25)) / (2 * math.pi * 0.25) for c in centres) / 2
    assert described["final_neg_elbo_nats"] > -np.log(true_density).mean() - 0.2
    points = sampler.sample(2000, seed=1)
    distance = np.linalg.norm(points[:, None] - centres[None], axis=-1)
    assert (distance.min(axis=1) < 1.5).mean() > 0.75  # near a mode (3 σ)
    assert (np.abs(points[:, 0]) < 2.5).mean() < 0.2  # seldom in the gap (data there: none)
    assert 0.35 < (points[:, 0] < 0).mean() < 0.65  # both modes, about equally
    assert described["gamma"] < 0.3


def test_gamma_started_at_one_collapses_which_is_why_it_starts_at_a_tenth():
    z, _ = _two_modes()
    collapsed = _fit(z, dataclasses.replace(SMALL, steps=300, gamma_init=1.0))
    points = collapsed.sample(1000, seed=1)
    assert (np.abs(points[:, 0]) < 2.5).mean() > 0.9  # every sample in the gap, at the centre
    assert collapsed.describe()["final_kl_nats"] < 0.1  # u carries nothing
    assert TwoStageSettings().gamma_init == 0.1


def test_the_standardisation_is_undone():
    rng = np.random.default_rng(3)
    z = np.stack([100 + 30 * rng.standard_normal(1000), -50 + 0.01 * rng.standard_normal(1000)], axis=1)
    sampler = _fit(z, TwoStageSettings(width=32, depth=2, steps=600, batch_size=128, lr=3e-3))
    described = sampler.describe()
    assert np.allclose(described["standardise_mean"], z.mean(axis=0)) and np.allclose(
        described["standardise_std"], z.std(axis=0)
    )
    points = sampler.sample(4000, seed=2)
    assert points.dtype == np.float32 and points.shape == (4000, 2)
    # left standardised, the points would sit near 0 with a spread near 1: 3 and 5,000 σ off, 30 and 0.01 times
    assert np.all(np.abs(points.mean(axis=0) - z.mean(axis=0)) < 0.2 * z.std(axis=0))
    assert np.all(np.abs(points.std(axis=0) / z.std(axis=0) - 1) < 0.25)


def test_a_constant_dimension_is_kept_constant():
    rng = np.random.default_rng(0)
    z = np.stack([rng.standard_normal(200), np.full(200, 7.0)], axis=1)
    points = _fit(z).sample(100, seed=0)
    assert np.all(np.isfinite(points)) and np.allclose(points[:, 1], 7.0)


def test_determinism():
    z, _ = _two_modes(100)
    first, again = _fit(z), _fit(z)
    assert np.array_equal(first.sample(50, seed=4), again.sample(50, seed=4))
    assert first.describe() == again.describe()
    assert not np.array_equal(first.sample(50, seed=4), first.sample(50, seed=5))
    other_fit = _fit(z, dataclasses.replace(TINY, seed=1))
    assert not np.array_equal(first.sample(50, seed=4), other_fit.sample(50, seed=4))
    state = torch.random.get_rng_state()
    _fit(z)
    assert torch.equal(state, torch.random.get_rng_state())  # the global RNG is left as it was


def test_the_fit_does_not_depend_on_the_thread_count():
    z, _ = _two_modes(100)
    one = _fit(z).sample(50, seed=4)
    torch.set_num_threads(2)  # the autouse fixture restores it
    assert np.array_equal(_fit(z).sample(50, seed=4), one)
    assert torch.get_num_threads() == 2  # restored after the fit's own thread count


def test_describe_records_the_fit():
    z, _ = _two_modes(100)
    described = _fit(z).describe()
    json.dumps(described)
    assert described["sampler"] == "two-stage" and described["latent_dim"] == 2
    assert described["hidden_layers"] == [16] and described["steps"] == 30 and described["fit_seed"] == 0
    assert described["gamma_init"] == 0.1 and described["gamma"] > 0
    total = described["final_reconstruction_nats"] + described["final_kl_nats"]
    assert described["final_loss"] == pytest.approx(total)
    shift = float(np.log(np.asarray(described["standardise_std"])).sum())
    assert described["final_neg_elbo_nats"] == pytest.approx(total + shift)


# ---------------------------------------------------------------- refusals


def test_too_few_embeddings_are_refused_in_one_line():
    z = np.zeros((MIN_EMBEDDINGS - 1, 2))
    for refuse in (lambda: _fit(z), lambda: check_fit_size("two-stage", MIN_EMBEDDINGS - 1)):
        with pytest.raises(ConfigError) as refused:
            refuse()
        message = str(refused.value)
        assert "\n" not in message and f"at least {MIN_EMBEDDINGS}" in message and "--limit-train 50" in message
    check_fit_size("two-stage", MIN_EMBEDDINGS)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_embeddings_are_refused(bad):
    z, _ = _two_modes(50)
    z[3, 1] = bad
    with pytest.raises(ConfigError, match="non-finite embeddings") as refused:
        _fit(z)
    assert "\n" not in str(refused.value)


def test_other_shapes_and_bad_settings_are_refused():
    with pytest.raises(ConfigError, match=r"shape \[n, d\], got \[100\]"):
        _fit(np.zeros(100))
    with pytest.raises(ConfigError, match="steps must be at least 1"):
        TwoStageSettings(steps=0)
    with pytest.raises(ConfigError, match="must be positive"):
        TwoStageSettings(gamma_init=0.0)


def test_a_diverging_fit_is_a_one_line_error():
    from vaelab.errors import TrainingDivergedError

    z, _ = _two_modes(50)
    with pytest.raises(TrainingDivergedError, match=r"diverged.*--sampler gmm"):
        _fit(z, dataclasses.replace(TINY, lr=1e30, steps=50))


# ---------------------------------------------------------------- families: continuous codes


def test_every_family_with_continuous_codes_takes_the_sampler_and_vq_vae_refuses_it():
    seen = set()
    for name in PRESETS:
        model = build_model(RunConfig.from_preset(name).model)
        assert model.continuous_codes == model.facts()["continuous_codes"] == (model.family != "vq-vae")
        if model.continuous_codes:
            check_sampler_applies("two-stage", model)
        else:
            with pytest.raises(ConfigError, match="codes are discrete"):
                check_sampler_applies("two-stage", model)
        seen.add(model.family)
    assert seen >= {"ae", "vae", "cvae", "iwae", "vamp", "rae", "wae-mmd", "info-vae", "beta-tcvae", "vq-vae"}


class _Discrete(LatentModel):
    """A stand-in for a family with discrete codes (a VQ-VAE's), with or without a prior."""

    family = "vq-vae"
    continuous_codes = False

    def __init__(self, has_prior: bool) -> None:
        super().__init__()
        self.has_prior = has_prior  # type: ignore[misc]


@pytest.mark.parametrize("sampler", ["two-stage", "gmm", "uniform-box"])
def test_a_family_with_discrete_codes_is_refused_in_one_line(sampler):
    with pytest.raises(ConfigError) as refused:
        check_sampler_applies(sampler, _Discrete(has_prior=True))
    message = str(refused.value)
    assert "\n" not in message
    assert message == (
        f"the {sampler} sampler draws points of a continuous latent space, and the vq-vae family's codes are "
        "discrete; use --sampler prior, which draws its codes from its prior"
    )
    check_sampler_applies("prior", _Discrete(has_prior=True))
    with pytest.raises(ConfigError, match="no prior it can use, and no sampler applies until it has one"):
        check_sampler_applies("prior", _Discrete(has_prior=False))


def test_generate_diagnose_and_evaluate_refuse_a_discrete_family_first():
    run = SimpleNamespace(
        model=_Discrete(has_prior=True), config=SimpleNamespace(dataset="fashion-mnist"), weights=None
    )
    for call in (
        lambda: report.write_generated(run, None, sampler="two-stage"),
        lambda: diagnose_run(run, sampler="two-stage"),
        lambda: write_evaluation(run, sampler="two-stage"),
    ):
        with pytest.raises(ConfigError, match="vq-vae family's codes are discrete"):
            call()


def test_the_sampler_is_fitted_to_the_training_set_with_a_progress_bar(capsys, monkeypatch):
    assert sampler_fits_training_set("two-stage") and sampler_fits_training_set("gmm")
    assert not sampler_fits_training_set("uniform-box") and not sampler_fits_training_set("prior")
    monkeypatch.setattr(two_stage, "DEFAULT_SETTINGS", TINY)
    z, _ = _two_modes(50)
    capsys.readouterr()
    make_sampler("two-stage", progress=False).fit(z)
    assert capsys.readouterr().err == ""
    make_sampler("two-stage").fit(z)
    assert "two-stage fit" in capsys.readouterr().err


# ---------------------------------------------------------------- generate, diagnose, evaluate, compare


def test_generate_records_the_fit_and_is_deterministic(tiny_default, run_copy, train_images, test_images):
    def points(seed):
        _, data, images = report.write_generated(
            run_copy, test_images, 6, seed=seed, sampler="two-stage", train_set=train_images, progress=False
        )
        with np.load(images) as saved:
            assert saved["images"].shape == (6, 1, 32, 32)
            return json.loads(data.read_text()), saved["points"]

    generated, first = points(1)
    assert generated["sampler"] == "two-stage" and generated["seed"] == 1 and generated["steps"] == TINY.steps
    assert generated["gamma"] > 0 and math.isfinite(generated["final_loss"]) and generated["points"] == first.tolist()
    train_z = encode_images(run_copy.model, train_images.images)
    assert np.allclose(generated["standardise_mean"], train_z.mean(axis=0), atol=1e-5)  # fitted to the training set
    assert np.array_equal(points(1)[1], first) and not np.array_equal(points(2)[1], first)


def test_generate_refuses_a_small_training_set_before_encoding(tiny_default, run_copy, test_images, train_images):
    with pytest.raises(ConfigError, match="needs at least 50 training embeddings, got 49"):
        report.write_generated(run_copy, test_images, sampler="two-stage", train_set=train_images.head(49))


def test_a_cvae_is_fitted_to_every_class_and_decoded_under_each(
    tiny_default, tmp_path, cvae_run, train_images, test_images
):
    samples = draw_samples(cvae_run.model, train_images, "two-stage", 20, seed=0, progress=False)
    with_classes = encode_images(cvae_run.model, train_images.images, labels=train_images.labels)
    assert np.array_equal(samples.train_z, with_classes)  # each image encoded with its class
    assert np.allclose(samples.sampler["standardise_mean"], with_classes.mean(axis=0))
    assert samples.labels is not None and samples.labels.tolist() == [k % 10 for k in range(20)]
    assert samples.images.shape == (20, 1, 32, 32) and np.all(np.isfinite(samples.points))
    run = load_run(shutil.copytree(cvae_run.dir.path, tmp_path / "cvae"), "cpu")
    _, data, _ = report.write_generated(run, test_images, 4, sampler="two-stage", train_set=train_images, condition=3)
    generated = json.loads(data.read_text())
    assert generated["sampler"] == "two-stage" and generated["classes"] == [3, 3, 3, 3]


def test_diagnose_evaluate_and_compare(tiny_default, run_copy, train_images, test_images, judge):
    png, diagnostics = write_diagnostics(
        run_copy, train_images, judge, "two-stage", num_samples=60, seed=0, progress=False
    )
    assert png.name == "diagnostics-two-stage.png" and png.read_bytes()[:4] == b"\x89PNG"
    diagnosed = json.loads(diagnostics.read_text())["samplers"]["two-stage"]
    assert diagnosed["sampler"]["sampler"] == "two-stage" and diagnosed["sampler"]["gamma"] > 0
    assert 0 <= diagnosed["p3_holes"]["hole_fraction"] <= 1
    (evaluation,) = write_evaluation(
        run_copy, train_images, test_images, judge, "two-stage", num_samples=60, progress=False
    )
    evaluated = json.loads(evaluation.read_text())["samplers"]["two-stage"]
    assert evaluated["sampler"]["final_loss"] == diagnosed["sampler"]["final_loss"]  # the same fit
    assert 0 <= evaluated["precision"] <= 1 and evaluated["frechet_distance_judge"] >= 0
    rows = collect_rows([run_copy.dir.path])
    assert [row["sampler"] for row in rows] == ["two-stage"]
    assert rows[0]["weights"] == "epoch 2" and rows[0]["precision"] == evaluated["precision"]


# ---------------------------------------------------------------- the command line


def test_the_command_line_takes_two_stage(capsys, monkeypatch, tmp_path, tiny_default, run_copy):
    install_fake_fashion_mnist(monkeypatch, tmp_path / "data")
    code, out, err = run_cli(
        capsys,
        "generate",
        str(run_copy.dir),
        "--device",
        "cpu",
        "--sampler",
        "two-stage",
        "--count",
        "4",
        "--no-progress",
    )
    assert code == 0 and err == "" and "generated.json" in out
    assert json.loads(run_copy.dir.figure_path("generated.json").read_text())["sampler"] == "two-stage"
    for command in ("diagnose", "evaluate"):  # refused before the judge is looked for
        code, _, err = run_cli(
            capsys, command, str(run_copy.dir), "--device", "cpu", "--sampler", "two-stage", "--limit-train", "49"
        )
        assert_one_line_error(code, err, 1, "two-stage", "got 49", "--limit-train 50")
    code, out, _ = run_cli(capsys, "generate", "--help")
    assert code == 0 and "two-stage" in " ".join(out.split())
    assert "gmm for rae; prior for every other family" in " ".join(out.split())
