"""The chapter's problems measured on discrete code grids (vaelab.latent.code_usage): code usage and
its entropy, exact Hamming nearest neighbours, and the hole threshold, against values worked out by
hand on tiny grids."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vaelab.latent.code_usage import (
    NO_CENTRING,
    code_usage,
    far_from_training_grids,
    flat_grids,
    hamming_nearest,
    usage_counts,
    usage_summary,
)


def test_usage_summary_counts_codes_and_their_entropy_in_bits():
    assert usage_counts(np.array([[0, 0], [2, 3]]), 5).tolist() == [2, 0, 1, 1, 0]
    # p = (1/2, 1/4, 1/4): H = 1/2·1 + 2·1/4·2 = 1.5 bits, perplexity 2^1.5
    summary = usage_summary(np.array([2, 0, 1, 1, 0]))
    assert summary["codes_used"] == 3
    assert summary["entropy_bits"] == pytest.approx(1.5)
    assert summary["perplexity"] == pytest.approx(2**1.5)
    assert usage_summary(np.array([0, 7, 0]))["entropy_bits"] == 0.0  # one code everywhere
    assert usage_summary(np.zeros(4, np.int64)) == {"codes_used": 0, "entropy_bits": 0.0, "perplexity": 0.0}


def test_code_usage_per_class_shows_a_class_squeezed_into_one_code():
    codes = np.array([[[0, 1], [2, 3]], [[0, 1], [2, 3]], [[4, 4], [4, 4]], [[4, 4], [4, 4]]])  # [4, 2, 2]
    labels = np.array([0, 0, 1, 1])
    usage = code_usage(codes, labels, 8, ("spread", "squeezed"))
    assert usage["codebook_size"] == 8 and usage["max_entropy_bits"] == pytest.approx(3.0)
    assert usage["overall"]["codes_used"] == 5
    assert usage["per_class"]["spread"] == {"codes_used": 4, "entropy_bits": 2.0, "perplexity": 4.0}
    assert usage["per_class"]["squeezed"]["codes_used"] == 1
    assert usage["smallest_class_entropy_share"] == 0.0
    assert usage["largest_class_entropy_share"] == pytest.approx(2 / 3)
    assert "per_class" not in code_usage(codes, None, 8, ("spread", "squeezed"))


def test_hamming_nearest_is_exact_and_skips_what_it_is_told_to():
    reference = flat_grids(np.array([[0, 0, 0, 0], [0, 0, 1, 1], [5, 5, 5, 5]]))
    queries = flat_grids(np.array([[0, 0, 0, 1], [5, 5, 0, 0], [9, 9, 9, 9]]))
    assert hamming_nearest(reference, queries).tolist() == [1, 2, 4]
    # each reference grid against the others: 0000↔0011 differ at 2, 5555 at 4 from both
    assert hamming_nearest(reference, reference, exclude=np.arange(3)).tolist() == [2, 2, 4]
    done: list[int] = []
    for chunk in (1, 2, 100):  # the chunking does not change the answer
        assert hamming_nearest(reference, queries, chunk=chunk, advance=done.append).tolist() == [1, 2, 4]
    assert sum(done) == 9


def test_hamming_nearest_matches_brute_force_on_random_grids():
    rng = np.random.default_rng(0)
    train, samples = rng.integers(0, 4, (50, 3, 3)), rng.integers(0, 4, (20, 3, 3))
    brute = (samples.reshape(20, 1, 9) != train.reshape(1, 50, 9)).sum(axis=2).min(axis=1)
    assert hamming_nearest(flat_grids(train), flat_grids(samples), chunk=7).tolist() == brute.tolist()
    assert flat_grids(train).dtype == torch.int32


def test_far_from_training_grids_uses_the_training_grids_own_spacing():
    train = np.array([[0, 0, 0, 0], [0, 0, 0, 1], [1, 1, 1, 1], [1, 1, 1, 0]])  # nearest others: 1 apart
    samples = np.array([[0, 0, 0, 0], [0, 0, 1, 1], [2, 2, 2, 2]])  # a copy, 1 from 0001, 4 from all
    far, threshold, distances = far_from_training_grids(train, samples, percentile=99.0)
    assert threshold == 1.0
    assert distances.tolist() == [0, 1, 4]
    assert far.tolist() == [False, False, True]
    # the threshold comes from a subset of the training grids when asked: still 1 here
    assert far_from_training_grids(train, samples, threshold_grids=2, seed=3)[1] == 1.0


def test_the_reason_for_no_centring_is_one_line():
    assert "\n" not in NO_CENTRING and "discrete codes" in NO_CENTRING
