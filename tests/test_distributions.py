"""The families' densities and divergences against values worked out by hand on tiny tensors."""

from __future__ import annotations

import math

import pytest
import torch

from vaelab.models.distributions import (
    gaussian_log_density,
    imq_kernel,
    kl_to_standard_normal,
    log_mean_exp,
    mixture_log_density,
    mmd_imq,
    standard_normal_log_density,
    total_correlation_terms,
)

T = torch.tensor


def test_gaussian_log_density_by_hand():
    # N(1; mean 0, σ² = e) : −½(log 2π + 1 + 1/e)
    value = gaussian_log_density(T([1.0]), T([0.0]), T([1.0]))
    assert value.item() == pytest.approx(-0.5 * (math.log(2 * math.pi) + 1 + math.exp(-1)))
    assert standard_normal_log_density(T([2.0])).item() == pytest.approx(-0.5 * (math.log(2 * math.pi) + 4))


def test_kl_to_standard_normal_by_hand():
    # μ = (1, 0), log σ² = (0, log 2): ½[(1 + 1 − 1 − 0) + (0 + 2 − 1 − log 2)] = ½(2 − log 2)
    kl = kl_to_standard_normal(T([[1.0, 0.0]]), T([[0.0, math.log(2.0)]]))
    assert kl.item() == pytest.approx(0.5 * (2 - math.log(2)))
    assert kl_to_standard_normal(torch.zeros(3, 4), torch.zeros(3, 4)).abs().max() == 0


def test_mixture_of_one_component_is_that_gaussian_and_of_two_is_their_average():
    z = T([[0.5, -1.0]])
    one = mixture_log_density(z, T([[0.0, 0.0]]), T([[0.0, 0.0]]))
    assert one.item() == pytest.approx(standard_normal_log_density(z).sum().item())
    means, log_vars = T([[0.0, 0.0], [1.0, 1.0]]), T([[0.0, 0.0], [0.0, 0.0]])
    by_hand = math.log(
        0.5 * sum(math.exp(gaussian_log_density(z, means[k], log_vars[k]).sum().item()) for k in range(2))
    )
    assert mixture_log_density(z, means, log_vars).item() == pytest.approx(by_hand)


def test_log_mean_exp_by_hand_and_stably():
    assert log_mean_exp(T([0.0, math.log(3.0)])).item() == pytest.approx(math.log(2.0))
    assert log_mean_exp(T([1000.0, 1000.0])).item() == pytest.approx(1000.0)


def test_imq_kernel_by_hand():
    # d = 1: C_s = 2s; points 0 and 1 (‖·‖² = 1): Σ_s 2s/(2s + 1) for one scale s = 1 → 2/3
    assert imq_kernel(T([[0.0]]), T([[1.0]]), scales=(1.0,)).item() == pytest.approx(2 / 3)
    assert imq_kernel(T([[0.0]]), T([[0.0]]), scales=(0.5, 2.0)).item() == pytest.approx(2.0)


def test_mmd_by_hand_and_zero_for_one_sample_against_itself():
    # two points each, d = 1, one scale: z = {0, 1}, p = {0, 1} → within terms k(0,1) = 2/3 each,
    # across mean = (1 + 2/3 + 2/3 + 1) / 4 = 5/6: MMD² = 2/3 + 2/3 − 2·5/6 = −1/3 (unbiased: can be < 0)
    z = T([[0.0], [1.0]])
    assert mmd_imq(z, z.clone(), scales=(1.0,)).item() == pytest.approx(2 / 3 + 2 / 3 - 2 * 5 / 6)
    far = mmd_imq(torch.zeros(8, 2), torch.full((8, 2), 10.0))
    near = mmd_imq(
        torch.randn(64, 2, generator=torch.Generator().manual_seed(0)),
        torch.randn(64, 2, generator=torch.Generator().manual_seed(1)),
    )
    assert far > 1.0 and abs(near) < 0.1
    with pytest.raises(ValueError, match="same size"):
        mmd_imq(torch.zeros(3, 2), torch.zeros(4, 2))


def test_total_correlation_terms_sum_to_the_one_sample_kl_and_match_a_loop():
    generator = torch.Generator().manual_seed(0)
    mean, log_var = torch.randn(4, 3, generator=generator), torch.randn(4, 3, generator=generator) * 0.3
    z = mean + torch.exp(0.5 * log_var) * torch.randn(4, 3, generator=generator)
    mi, tc, dwkl = total_correlation_terms(z, mean, log_var, dataset_size=100)
    one_sample_kl = (gaussian_log_density(z, mean, log_var) - standard_normal_log_density(z)).sum(-1)
    torch.testing.assert_close(mi + tc + dwkl, one_sample_kl)
    # log q(z_i) and Σ_d log q(z_i,d) by explicit loops (minibatch-weighted sampling, N = 100)
    for i in range(4):
        joint = [gaussian_log_density(z[i], mean[j], log_var[j]).sum().item() for j in range(4)]
        log_q = math.log(sum(math.exp(t) for t in joint)) - math.log(4 * 100)
        log_dims = sum(
            math.log(sum(math.exp(gaussian_log_density(z[i, d], mean[j, d], log_var[j, d]).item()) for j in range(4)))
            - math.log(4 * 100)
            for d in range(3)
        )
        log_q_given_x = gaussian_log_density(z[i], mean[i], log_var[i]).sum().item()
        assert mi[i].item() == pytest.approx(log_q_given_x - log_q, rel=1e-5)
        assert tc[i].item() == pytest.approx(log_q - log_dims, rel=1e-5, abs=1e-5)
