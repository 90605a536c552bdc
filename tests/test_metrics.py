"""The metrics computed in the judge's feature space and on its probabilities: the Fréchet distance,
precision and recall with k-NN manifolds, class distribution, coverage and KL from uniform."""

import math

import numpy as np
import pytest
import scipy.linalg
import torch

from vaelab.evaluation import (
    class_coverage,
    class_distribution,
    frechet_distance,
    frechet_distance_from_stats,
    gaussian_stats,
    kl_from_uniform,
    knn_radii,
    precision_recall,
)


def random_spd(rng, d):
    a = rng.normal(size=(d, d))
    return a @ a.T / d + 0.1 * np.eye(d)


# ----------------------------------------------------------------------------------- Fréchet distance


def test_identical_feature_sets_are_at_distance_zero():
    x = np.random.default_rng(0).normal(size=(500, 16)).astype(np.float32)
    assert frechet_distance(x, x) == pytest.approx(0, abs=1e-8)
    assert frechet_distance(x, x.copy()[::-1]) == pytest.approx(0, abs=1e-8)  # order does not matter


def test_two_sampled_gaussians_give_the_closed_form_distance():
    # N(0, I) against N(m, s²I) in d dimensions: |m|² + d(1 − s)²
    rng = np.random.default_rng(0)
    d, n, s = 8, 20000, 1.5
    m = np.full(d, 0.5)
    a = rng.normal(size=(n, d))
    b = m + s * rng.normal(size=(n, d))
    assert frechet_distance(a, b) == pytest.approx(m @ m + d * (1 - s) ** 2, abs=0.15)


def test_the_exact_formula_on_given_gaussians():
    # one dimension: (μa − μb)² + (σa − σb)²
    assert frechet_distance_from_stats(np.array([1.0]), np.array([[4.0]]), np.array([-2.0]), np.array([[9.0]])) == (
        pytest.approx(9 + 1)
    )
    # diagonal covariances: |Δμ|² + Σ (√a_i − √b_i)²
    va, vb = np.array([1.0, 4.0, 0.25]), np.array([9.0, 1.0, 0.25])
    mu_a, mu_b = np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0, 0.0])
    expected = 1 + 4 + np.sum((np.sqrt(va) - np.sqrt(vb)) ** 2)
    assert frechet_distance_from_stats(mu_a, np.diag(va), mu_b, np.diag(vb)) == pytest.approx(expected)
    # a singular covariance: N(0, A) against a point mass at 0 is Tr(A)
    rng = np.random.default_rng(1)
    sigma = random_spd(rng, 5)
    point_mass = frechet_distance_from_stats(np.zeros(5), sigma, np.zeros(5), np.zeros((5, 5)))
    assert point_mass == pytest.approx(np.trace(sigma))


def test_general_covariances_match_the_textbook_matrix_square_root():
    rng = np.random.default_rng(2)
    for d in (2, 7, 30):
        mu_a, mu_b = rng.normal(size=d), rng.normal(size=d)
        sigma_a, sigma_b = random_spd(rng, d), random_spd(rng, d)
        root = scipy.linalg.sqrtm(sigma_a @ sigma_b).real
        expected = np.sum((mu_a - mu_b) ** 2) + np.trace(sigma_a + sigma_b - 2 * root)
        assert frechet_distance_from_stats(mu_a, sigma_a, mu_b, sigma_b) == pytest.approx(expected, rel=1e-8)
        assert frechet_distance_from_stats(mu_b, sigma_b, mu_a, sigma_a) == pytest.approx(expected, rel=1e-8)


def test_gaussian_stats_are_the_mean_and_unbiased_covariance():
    x = np.random.default_rng(3).normal(size=(50, 4))
    mu, sigma = gaussian_stats(x)
    np.testing.assert_allclose(mu, x.mean(0))
    np.testing.assert_allclose(sigma, np.cov(x.T, ddof=1))
    assert gaussian_stats(x[:, :1])[1].shape == (1, 1)


def test_frechet_distance_refuses_bad_inputs():
    x = np.zeros((10, 3))
    with pytest.raises(ValueError, match="dimension"):
        frechet_distance(x, np.zeros((10, 4)))
    with pytest.raises(ValueError, match="N >= 2"):
        frechet_distance(x, np.zeros((1, 3)))
    with pytest.raises(ValueError, match="NaN"):
        frechet_distance(x, np.full((10, 3), np.nan))


# ----------------------------------------------------------------------------------- precision / recall


def clusters(rng, centres, per_cluster):
    return np.concatenate([c + rng.normal(size=(per_cluster, len(c))) for c in centres])


def test_identical_sets_have_full_precision_and_recall():
    x = np.random.default_rng(0).normal(size=(300, 8))
    assert precision_recall(x, x) == (1.0, 1.0)


def test_disjoint_far_apart_sets_have_none():
    rng = np.random.default_rng(1)
    real, fake = rng.normal(size=(200, 8)), 1000 + rng.normal(size=(150, 8))
    assert precision_recall(real, fake) == (0.0, 0.0)


def test_a_model_that_covers_half_of_the_modes():
    # ten well separated modes; the generated set draws from five of them only
    rng = np.random.default_rng(2)
    centres = rng.normal(size=(10, 2)) * 50
    real = clusters(rng, centres, 200)
    fake = clusters(rng, centres[:5], 400)
    precision, recall = precision_recall(real, fake, k=3)
    assert precision >= 0.95
    assert 0.45 <= recall <= 0.5


def test_knn_radii_on_a_line():
    points = torch.tensor([[0.0], [1.0], [3.0], [7.0]], dtype=torch.float64)
    assert knn_radii(points, k=1).tolist() == [1, 1, 2, 4]
    assert knn_radii(points, k=2).tolist() == [3, 2, 3, 6]
    assert knn_radii(points, k=2, chunk=3).tolist() == [3, 2, 3, 6]


def test_chunking_does_not_change_the_result():
    rng = np.random.default_rng(3)
    real, fake = rng.normal(size=(120, 5)), 0.5 + rng.normal(size=(90, 5))
    assert precision_recall(real, fake, k=5, chunk=7) == precision_recall(real, fake, k=5)


def test_precision_recall_refuses_bad_inputs():
    x = np.zeros((5, 3))
    with pytest.raises(ValueError, match="k must"):
        precision_recall(x, x, k=5)
    with pytest.raises(ValueError, match="dimension"):
        precision_recall(x, np.zeros((5, 2)))
    with pytest.raises(ValueError, match="NaN"):
        precision_recall(x, np.full((5, 3), np.inf))


# ----------------------------------------------------------------------------------- coverage


def one_hot(labels, k=10):
    return np.eye(k)[np.asarray(labels)]


def test_class_distribution_counts_the_most_probable_class():
    probabilities = np.array([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.4, 0.35, 0.25], [0.2, 0.2, 0.6]])
    distribution = class_distribution(probabilities)
    assert distribution.counts.tolist() == [2, 1, 1]
    np.testing.assert_allclose(distribution.shares, [0.5, 0.25, 0.25])
    assert distribution.num_images == 4 and distribution.num_classes == 3


def test_balanced_classes_are_fully_covered():
    result = class_coverage(one_hot(np.arange(1000) % 10))
    assert result.coverage == 1.0
    assert result.covered == tuple(range(10))
    assert result.kl_from_uniform == pytest.approx(0, abs=1e-12)
    assert result.min_share == pytest.approx(0.02)


def test_half_of_the_classes():
    result = class_coverage(one_hot(np.arange(100) % 5))
    assert result.coverage == 0.5
    assert result.covered == (0, 1, 2, 3, 4)
    assert result.kl_from_uniform == pytest.approx(math.log(2))


def test_one_class_only():
    result = class_coverage(one_hot([3] * 50))
    assert result.coverage == 0.1
    assert result.kl_from_uniform == pytest.approx(math.log(10))


def test_the_two_percent_bar():
    # class 9 gets exactly 2 % (covered), class 8 gets 1.9 % (not), the rest share the remainder
    labels = [9] * 20 + [8] * 19 + [k for k in range(8) for _ in range(120)] + [0]
    result = class_coverage(one_hot(labels))
    assert len(labels) == 1000
    assert 9 in result.covered and 8 not in result.covered
    assert result.coverage == 0.9
    assert class_coverage(one_hot(labels), min_share=0.019).coverage == 1.0


def test_kl_from_uniform_matches_its_definition():
    shares = np.array([0.5, 0.3, 0.2, 0.0])
    expected = sum(p * math.log(p / 0.25) for p in shares if p > 0)
    assert kl_from_uniform(shares) == pytest.approx(expected)


def test_coverage_as_json():
    names = [f"c{k}" for k in range(10)]
    summary = class_coverage(one_hot([0, 0, 1, 2]), class_names=names).to_dict()
    assert summary["covered_classes"] == 3 and summary["num_classes"] == 10 and summary["num_images"] == 4
    assert summary["per_class"]["c0"] == {"count": 2, "share": 0.5, "covered": True}
    assert summary["per_class"]["c9"] == {"count": 0, "share": 0.0, "covered": False}


def test_coverage_refuses_bad_inputs():
    with pytest.raises(ValueError, match="sum to 1"):
        class_coverage(np.full((3, 10), 0.5))
    with pytest.raises(ValueError, match="non-negative"):
        class_coverage(np.array([[1.5, -0.5]]))
    with pytest.raises(ValueError, match=r"\[N, K\]"):
        class_distribution(np.zeros(10))
    with pytest.raises(ValueError, match="min_share"):
        class_coverage(one_hot([1]), min_share=0)
