"""The Python API holds counts, sizes and seeds to the bounds the command line's flags state
(vaelab.limits), with one line naming the flag, so a notebook cannot ask for what `vaelab` refuses."""

from __future__ import annotations

import pytest

from vaelab.errors import ConfigError
from vaelab.evaluation.run_measures import diagnose_run, write_evaluation
from vaelab.latent.arithmetic import check_factors
from vaelab.limits import (
    MAX_ARITHMETIC_IMAGES,
    MAX_EMBEDDED_POINTS,
    MAX_GENERATED,
    MAX_GRID_SIZE,
    MAX_IMPORTANCE_SAMPLES,
    MAX_METRIC_SAMPLES,
    MAX_MORPH_STEPS,
    MAX_RECONSTRUCTIONS,
    MAX_SEED,
    check_range,
)
from vaelab.presentation import attribute_report, report


def _calls(run, images):
    return [
        (
            lambda: report.write_reconstructions(run, images, count=MAX_RECONSTRUCTIONS + 1),
            "--count",
            MAX_RECONSTRUCTIONS,
        ),
        (lambda: report.write_reconstructions(run, images, count=0), "--count", MAX_RECONSTRUCTIONS),
        (lambda: report.write_embedding(run, images, count=MAX_EMBEDDED_POINTS + 1), "--count", MAX_EMBEDDED_POINTS),
        (lambda: report.write_embedding(run, images, seed=MAX_SEED + 1), "--seed", MAX_SEED),
        (lambda: report.write_generated(run, images, count=MAX_GENERATED + 1), "--count", MAX_GENERATED),
        (lambda: report.write_generated(run, images, seed=-1), "--seed", MAX_SEED),
        (lambda: report.write_grid(run, images, size=MAX_GRID_SIZE + 1), "--size", MAX_GRID_SIZE),
        (lambda: report.write_grid(run, images, size=1), "--size", MAX_GRID_SIZE),
        (lambda: report.write_denoising(run, images, seed=2**70), "--seed", MAX_SEED),
        (
            lambda: attribute_report.write_morph(run, images, 0, 1, steps=MAX_MORPH_STEPS + 1),
            "--steps",
            MAX_MORPH_STEPS,
        ),
        (
            lambda: attribute_report.write_arithmetic(run, images, "shape-1", images=MAX_ARITHMETIC_IMAGES + 1),
            "--images",
            MAX_ARITHMETIC_IMAGES,
        ),
        (
            lambda: diagnose_run(run, images, sampler="prior", num_samples=MAX_METRIC_SAMPLES + 1),
            "--num-samples",
            MAX_METRIC_SAMPLES,
        ),
        (
            lambda: write_evaluation(
                run, images, images, sampler="prior", importance_samples=MAX_IMPORTANCE_SAMPLES + 1
            ),
            "-k/--importance-samples",
            MAX_IMPORTANCE_SAMPLES,
        ),
    ]


def test_every_bounded_api_argument_is_refused_beyond_its_flags_bound(trained_run, test_images, monkeypatch):
    monkeypatch.setattr("vaelab.evaluation.run_measures.check_judge_applies", lambda dataset: None)
    for call, flag, high in _calls(trained_run, test_images):
        with pytest.raises(ConfigError) as refused:
            call()
        message = str(refused.value)
        assert message.startswith(f"{flag} must be an integer from") and f"to {high:,}, got" in message, message


@pytest.mark.parametrize("factors", [(), (float("nan"),), (2000.0,), tuple(range(200)), ("a",), (True,)])
def test_factors_given_as_numbers_meet_the_rules_of_factors_given_as_text(factors):
    with pytest.raises(ConfigError, match="--factors"):
        check_factors(factors)


def test_check_range_lets_a_default_through_and_refuses_non_integers():
    check_range("--count", None, 1, 5)
    for value in (0, 6, 2.0, True, "3"):
        with pytest.raises(ConfigError, match="--count must be an integer from 1 to 5"):
            check_range("--count", value, 1, 5)
