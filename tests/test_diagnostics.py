"""The latent-space diagnostics on constructed cases with known answers."""

import numpy as np
import pytest

from vaelab.latent.diagnostics import centring_and_bounds, hole_fraction, region_shares


def test_standard_normal_embeddings_have_p2_near_zero():
    z = np.random.default_rng(0).standard_normal((20000, 2))
    p2 = centring_and_bounds(z)
    assert p2["mean_in_sd_norm"] < 0.03
    assert p2["cov_minus_identity_fro"] < 0.05
    assert p2["kl_gaussian_to_standard"] < 0.002
    assert p2["beyond_3sd"] == pytest.approx(0.0054, abs=0.002)


def test_shifted_and_stretched_embeddings_are_flagged():
    z = 5 + 3 * np.random.default_rng(0).standard_normal((20000, 2))
    p2 = centring_and_bounds(z)
    assert p2["mean_in_sd"] == pytest.approx([5 / 3, 5 / 3], abs=0.05)
    # KL(N(5, 9 I) || N(0, I)) in 2-D = 0.5 (tr Σ + μᵀμ - d - ln det Σ) = 0.5 (18 + 50 - 2 - ln 81)
    assert p2["kl_gaussian_to_standard"] == pytest.approx(0.5 * (18 + 50 - 2 - np.log(81)), rel=0.02)
    assert p2["beyond_3sd"] > 0.5


def test_a_latent_set_with_a_hole_has_a_positive_hole_fraction():
    rng = np.random.default_rng(0)
    ring = rng.uniform(0, 2 * np.pi, 5000)
    radius = rng.uniform(2, 3, 5000)
    train = np.stack([radius * np.cos(ring), radius * np.sin(ring)], axis=1)
    inside = rng.uniform(-1, 1, (500, 2))  # the hole in the middle of the ring
    on_ring = train[:500] + 0.01
    assert hole_fraction(train, inside)["hole_fraction"] == 1.0
    assert hole_fraction(train, on_ring)["hole_fraction"] < 0.05


def test_region_shares_reveal_a_squeezed_class():
    rng = np.random.default_rng(0)
    big = rng.uniform(-10, 10, (1000, 2))
    small = rng.normal(0, 0.05, (1000, 2))  # squeezed into the middle of the other class
    z = np.concatenate([big, small])
    labels = np.repeat([0, 1], 1000)
    shares = region_shares(z, labels, 2, samples=20000)
    assert shares["data_share"] == [0.5, 0.5]
    assert shares["region_share"][1] < 0.02
    assert shares["smallest_region_ratio"] < 0.05
