"""The vq-vae family (issue 14, part 1): the EMA quantiser's choice, commitment, moving averages and
dead-code restarts worked out by hand on tiny tensors; the objective's terms by hand; the model's
capabilities and its refusals; and a tiny training run whose metrics carry the codebook's perplexity
and codes used, interrupted mid-epoch and resumed exactly (the every-preset suite covers the rest:
resume at an epoch's end and every analysis)."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import torch

from model_outputs import point_output, score
from vaelab.choices import SAMPLERS
from vaelab.errors import ConfigError
from vaelab.latent.samplers import check_sampler_applies
from vaelab.models import build_model
from vaelab.models.quantizer import EmaQuantizer, code_histogram, perplexity
from vaelab.models.spec import ModelSpec
from vaelab.training import RunConfig, RunDir, TrainingInterrupted, train
from vaelab.training import trainer as trainer_module
from vaelab.training.objectives import VqVaeObjective

QUIET = {"progress": False, "log": lambda s: None}
LN2 = math.log(2)


def quantizer(codebook: list[list[float]], **settings: float) -> EmaQuantizer:
    """A quantiser holding ``codebook`` [K, D], N = m = 0 (as a new one)."""
    q = EmaQuantizer(len(codebook), len(codebook[0]), **settings)
    q.codebook.copy_(torch.tensor(codebook))
    return q


def grid(*vectors: list[float]) -> torch.Tensor:
    """One image's encodings at 1 × len(vectors) positions: [1, D, 1, W]."""
    return torch.tensor(vectors).t().reshape(1, len(vectors[0]), 1, len(vectors))


# ---------------------------------------------------------------- the quantiser, by hand


def test_nearest_code_commitment_and_straight_through_by_hand():
    q = quantizer([[0.0, 0.0], [3.0, 0.0]]).eval()
    z_e = grid([1.0, 0.0], [2.5, 0.0]).requires_grad_()  # nearest: code 0 (distance² 1), code 1 (0.25)
    out = q(z_e)
    assert out.codes.tolist() == [[[0, 1]]]
    assert out.commitment.tolist() == pytest.approx([1.25])
    assert torch.equal(out.straight_through.detach(), grid([0.0, 0.0], [3.0, 0.0]))
    (out.straight_through * torch.arange(4.0).view(1, 2, 1, 2)).sum().backward()
    assert torch.equal(z_e.grad, torch.arange(4.0).view(1, 2, 1, 2))  # copied through the argmin unchanged
    z_e.grad = None
    out.commitment.sum().backward()  # d/dz_e ‖z_e − sg(e)‖² = 2 (z_e − e)
    assert torch.allclose(z_e.grad, 2 * (z_e - grid([0.0, 0.0], [3.0, 0.0])).detach())


def test_the_moving_averages_by_hand():
    q = quantizer([[0.0, 0.0], [3.0, 0.0]], decay=0.5, dead_below=0.0).train()
    q(grid([1.0, 0.0], [2.0, 0.0], [4.0, 0.0]))  # codes 0, 1, 1
    # N = 0.5·(1, 2) = (0.5, 1); m = 0.5·((1, 0), (6, 0)); e = m / Ñ with Ñ ≈ N (ε = 1e-5)
    assert q.cluster_size.tolist() == pytest.approx([0.5, 1.0])
    torch.testing.assert_close(q.code_sum, torch.tensor([[0.5, 0.0], [3.0, 0.0]]))
    torch.testing.assert_close(q.codebook, torch.tensor([[1.0, 0.0], [3.0, 0.0]]), rtol=1e-4, atol=0)
    q(grid([1.0, 2.0], [1.0, 0.0], [3.0, 0.0]))  # codes 0, 0, 1
    # N = 0.5·(0.5, 1) + 0.5·(2, 1) = (1.25, 1); m₀ = 0.5·(0.5, 0) + 0.5·(2, 2) = (1.25, 1)
    assert q.cluster_size.tolist() == pytest.approx([1.25, 1.0])
    assert q.code_sum[0].tolist() == pytest.approx([1.25, 1.0])
    total, eps = 2.25, 1e-5
    smoothed = (1.25 + eps) / (total + 2 * eps) * total
    assert q.codebook[0].tolist() == pytest.approx([1.25 / smoothed, 1.0 / smoothed])


def test_a_code_that_never_wins_is_restarted_from_an_encoding_drawn_by_the_global_generator():
    q = quantizer([[0.0], [1.0], [100.0]], decay=0.9).train()
    q.cluster_size.copy_(torch.tensor([50.0, 50.0, 0.0]))
    q.code_sum.copy_(q.codebook * q.cluster_size.unsqueeze(1))
    encodings = grid([0.1], [0.2], [0.9], [1.1])
    torch.manual_seed(3)
    q(encodings)
    torch.manual_seed(3)
    picks = torch.randint(4, (3,))  # the draw the restart made: one per code
    assert q.codebook[2].item() == pytest.approx(encodings.flatten()[picks[2]].item())
    assert q.cluster_size[2].item() == 1.0 and q.code_sum[2].item() == q.codebook[2].item()
    assert q.cluster_size[:2].tolist() == pytest.approx([45.2, 45.2])  # the live codes are only averaged
    assert q.codebook[0].item() == pytest.approx(0.03 / 45.2, rel=1e-4)  # m₀ = 0.9·(0·50) + 0.1·(0.1 + 0.2)


def test_evaluation_mode_moves_nothing_and_draws_nothing():
    q = quantizer([[0.0], [1.0], [100.0]]).eval()
    before = {name: t.clone() for name, t in q.state_dict().items()}
    state = torch.get_rng_state()
    q(grid([0.1], [0.9]))
    assert all(torch.equal(before[name], t) for name, t in q.state_dict().items())
    assert torch.equal(torch.get_rng_state(), state)


def test_perplexity_by_hand():
    histogram = code_histogram(torch.tensor([[0, 0], [0, 1]]), 4)
    assert histogram.tolist() == [3.0, 1.0, 0.0, 0.0]
    entropy = -(0.75 * math.log(0.75) + 0.25 * math.log(0.25))
    assert perplexity(histogram).item() == pytest.approx(math.exp(entropy))
    assert perplexity(torch.tensor([5.0, 5.0, 5.0, 5.0])).item() == pytest.approx(4.0)
    assert perplexity(torch.tensor([0.0, 7.0])).item() == pytest.approx(1.0)


# ---------------------------------------------------------------- the objective, by hand

LOGITS = torch.zeros(2, 1, 1, 2)  # p = 0.5: every pixel costs ln 2, so each image 2 ln 2
TARGETS = torch.tensor([[[[0.0, 1.0]]], [[[0.25, 0.75]]]])


def test_the_objectives_terms_by_hand():
    output = point_output(LOGITS, torch.zeros(2, 4))
    output.codes = torch.tensor([[[0, 0]], [[0, 1]]])  # over the batch: code 0 three times, code 1 once
    output.commitment = torch.tensor([1.0, 3.0])
    terms = score(VqVaeObjective(beta=0.25), output, TARGETS, model=SimpleNamespace(codebook_size=4))
    assert tuple(terms) == VqVaeObjective.terms
    assert terms["reconstruction_nats"].item() == pytest.approx(2 * LN2)
    assert terms["commitment"].item() == pytest.approx(2.0)
    assert terms["loss"].item() == pytest.approx(2 * LN2 + 0.25 * 2.0)
    assert terms["perplexity"].item() == pytest.approx(math.exp(-(0.75 * math.log(0.75) + 0.25 * math.log(0.25))))
    assert terms["codes_used"].item() == 2.0


def test_the_objective_refuses_a_model_without_codes_in_one_line():
    with pytest.raises(ConfigError, match="needs a model with discrete codes") as refused:
        no_codes = point_output(LOGITS, torch.zeros(2, 2))
        score(VqVaeObjective(), no_codes, TARGETS, model=SimpleNamespace(codebook_size=0))
    assert "\n" not in str(refused.value)
    with pytest.raises(ConfigError, match="beta must be a non-negative number"):
        VqVaeObjective(beta=-1.0)


# ---------------------------------------------------------------- the model on the seam

SPEC = ModelSpec(kind="vq-vae", latent_dim=3, encoder_channels=(4, 8), codebook_size=5)


def test_capabilities_shapes_and_gradients():
    torch.manual_seed(0)
    model = build_model(SPEC)
    facts = model.facts()
    assert facts["continuous_codes"] is False and facts["has_prior"] is False and facts["default_sampler"] == "prior"
    assert (model.codebook_size, model.code_shape, model.latent_dim) == (5, (3, 8, 8), 3 * 8 * 8)
    assert not any(p is model.quantizer.codebook for p in model.parameters())  # moved by EMA, not by Adam
    x = torch.rand(2, 1, 32, 32)
    output = model(x)
    assert output.logits.shape == x.shape and output.codes.shape == (2, 8, 8) and output.commitment.shape == (2,)
    output.logits.sum().backward()
    assert model.encoder.to_codes.weight.grad.abs().sum() > 0  # the straight-through gradient reaches the encoder
    model.eval()
    codes = model.encode_codes(x)
    z = model.encode(x).mean
    assert torch.equal(z, model.codes_to_points(codes)) and z.shape == (2, model.latent_dim)
    assert model.decode(z).shape == x.shape


def test_decoding_snaps_a_point_to_the_nearest_codes():
    torch.manual_seed(0)
    model = build_model(SPEC).eval()
    model.quantizer.codebook.copy_(torch.arange(15.0).view(5, 3))  # code k = (3k, 3k + 1, 3k + 2)
    codes = torch.randint(5, (2, 8, 8))
    z = model.codes_to_points(codes)
    assert torch.equal(model.snap(z), codes) and torch.equal(model.snap(z + 0.4), codes)
    assert torch.equal(model.decode_logits(z + 0.4), model.decoder(model.quantizer.lookup(codes)))


@pytest.mark.parametrize("sampler", SAMPLERS)
def test_no_sampler_applies_until_a_prior_exists(sampler):
    with pytest.raises(ConfigError, match="the vq-vae family's codes are discrete") as refused:
        check_sampler_applies(sampler, build_model(SPEC))
    assert "\n" not in str(refused.value)


def test_bad_settings_are_one_line_errors():
    with pytest.raises(ConfigError, match="at least 2 codes"):
        build_model(ModelSpec(kind="vq-vae", latent_dim=3, codebook_size=1))
    with pytest.raises(ConfigError, match="book-conv network only"):
        build_model(ModelSpec(kind="vq-vae", architecture="book-faces", latent_dim=3, codebook_size=4))
    with pytest.raises(ConfigError, match="codebook_size must be an integer"):
        ModelSpec(kind="vq-vae", codebook_size=10**6)
    config = RunConfig.from_preset("vq-vae", codebook_size=64, latent_dim=8)  # train --codebook-size, --latent-dim
    assert (config.model.codebook_size, config.model.latent_dim) == (64, 8)
    with pytest.raises(ConfigError, match="--codebook-size only applies to presets with a codebook"):
        RunConfig.from_preset("book-ae", codebook_size=64)


# ---------------------------------------------------------------- training: metrics and exact resume


def _config(epochs: int) -> RunConfig:
    return RunConfig.from_preset("vq-vae", epochs=epochs, batch_size=20, lr=2e-3, seed=0, device="cpu")


def _train(run_dir, train_images, test_images, epochs, resume=False):
    return train(_config(epochs), run_dir, resume=resume, train_set=train_images, test_set=test_images, **QUIET)


def test_training_reports_the_codebook_and_resumes_exactly_mid_epoch(tmp_path, train_images, test_images, monkeypatch):
    small = (train_images.head(60), test_images.head(20))  # 3 steps an epoch
    straight = _train(tmp_path / "straight", *small, epochs=2).history
    for row in straight:
        for part in ("train", "val"):
            assert 1.0 <= row[part]["perplexity"] <= row[part]["codes_used"] <= 256
    polls = {"n": 0}

    def stop_after_4_steps(self):
        polls["n"] += 1
        return polls["n"] >= 4  # in the second epoch

    monkeypatch.setattr(trainer_module.StopRequest, "__bool__", stop_after_4_steps)
    with pytest.raises(TrainingInterrupted):
        _train(tmp_path / "cut", *small, epochs=2)
    monkeypatch.undo()
    resumed = _train(tmp_path / "cut", *small, epochs=2, resume=True).history
    assert [r["train"] for r in resumed] == [r["train"] for r in straight]
    assert [r["val"] for r in resumed] == [r["val"] for r in straight]
    weights = [RunDir(tmp_path / d).model.read_bytes() for d in ("straight", "cut")]
    assert weights[0] == weights[1]
