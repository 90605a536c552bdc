"""The chapter's problems for a model whose codes are discrete (``vq-vae``), measured on code grids.

A vq-vae's latent point is a grid of H × W indices into a codebook of K vectors. The continuous
measures of :mod:`vaelab.latent.diagnostics` lose their meaning there, and these take their place:

1. **Crowding** becomes *code usage*: how many of the K codes each class's grids use, and the
   entropy of its code histogram (bits; log₂ K when every code is used equally, 0 when one code
   fills every position). A class squeezed into a few codes has a low entropy and few codes.
   :func:`code_usage` gives it for the whole set and per class.
2. **Centring and bounds** has no counterpart: indices have no origin and no scale, and the
   distribution to sample from is not chosen but learnt (the PixelCNN prior), so there is nothing to
   centre. :data:`NO_CENTRING` says so in one line.
3. **Holes** become *novel grids*: the Hamming distance (positions whose code differs) from each
   sampled grid to its nearest training grid. :func:`far_from_training_grids` flags the samples
   farther than the ``percentile``-th percentile of the training grids' own nearest-other distances,
   and :func:`hamming_nearest` computes the distances, exactly (no approximate index), in chunks.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

#: Why problem 2 (centring and bounds) has no number for discrete codes.
NO_CENTRING = (
    "not defined for discrete codes: a code is an index into the codebook, with no origin or scale to centre or "
    "bound, and samples come from the prior learnt over the codes (see its bits per code in `vaelab evaluate`)"
)

#: Query grids compared with every reference grid at once in :func:`hamming_nearest` (memory: this
#: many × the reference grids × the positions, in bytes).
HAMMING_CHUNK = 32

#: Training grids whose nearest other training grid sets the hole threshold (a random subset: every
#: grid against every other is 60,000² comparisons on Fashion-MNIST).
THRESHOLD_GRIDS = 2000


def usage_counts(codes: np.ndarray, codebook_size: int) -> np.ndarray:
    """How often each of the ``codebook_size`` codes occurs in ``codes`` (any shape): int64 [K]."""
    return np.bincount(np.asarray(codes, np.int64).ravel(), minlength=codebook_size)


def usage_summary(counts: np.ndarray) -> dict[str, Any]:
    """Codes used (count > 0), the entropy of the code histogram in bits, and its perplexity
    (2^entropy: the number of equally used codes with the same entropy)."""
    total = counts.sum()
    if total == 0:
        return {"codes_used": 0, "entropy_bits": 0.0, "perplexity": 0.0}
    p = counts[counts > 0] / total
    entropy = float(-(p * np.log2(p)).sum())
    return {"codes_used": int(np.count_nonzero(counts)), "entropy_bits": entropy, "perplexity": float(2.0**entropy)}


def code_usage(
    codes: np.ndarray, labels: np.ndarray | None, codebook_size: int, class_names: tuple[str, ...]
) -> dict[str, Any]:
    """Code usage of grids ``codes`` [N, H, W] (or [N, H·W]): for all of them and, when ``labels`` are
    given, for each class (:func:`usage_summary`), with the smallest and largest class entropy as a
    share of log₂ K (the entropy of a codebook used evenly)."""
    overall = usage_summary(usage_counts(codes, codebook_size))
    result: dict[str, Any] = {"codebook_size": codebook_size, "max_entropy_bits": float(np.log2(codebook_size))}
    result["overall"] = overall
    if labels is None:
        return result
    per_class = {
        name: usage_summary(usage_counts(codes[labels == k], codebook_size)) for k, name in enumerate(class_names)
    }
    entropies = [c["entropy_bits"] for c in per_class.values() if c["codes_used"]]
    result["per_class"] = per_class
    if entropies:
        result["smallest_class_entropy_share"] = min(entropies) / result["max_entropy_bits"]
        result["largest_class_entropy_share"] = max(entropies) / result["max_entropy_bits"]
    return result


def flat_grids(codes: np.ndarray) -> torch.Tensor:
    """Code grids [N, H, W] (or already [N, L]) as an int32 tensor [N, L] for :func:`hamming_nearest`."""
    array = np.asarray(codes)
    return torch.from_numpy(np.ascontiguousarray(array.reshape(len(array), -1), dtype=np.int32))


@torch.inference_mode()
def hamming_nearest(
    reference: torch.Tensor,
    queries: torch.Tensor,
    exclude: np.ndarray | None = None,
    chunk: int = HAMMING_CHUNK,
    advance: Callable[[int], object] | None = None,
) -> np.ndarray:
    """For each query grid [Q, L], the number of positions at which it differs from its nearest
    reference grid [M, L]: int64 [Q]. ``exclude`` (int [Q], optional) is, for each query, the index of a
    reference grid to skip (the query itself, when the queries are reference grids). ``advance`` is
    called with the queries done after each chunk (a progress bar's ``update``)."""
    length = reference.shape[1]
    distances = np.empty(len(queries), np.int64)
    for begin in range(0, len(queries), chunk):
        part = queries[begin : begin + chunk]
        matches = (part[:, None, :] == reference[None, :, :]).sum(dim=2, dtype=torch.int32)
        if exclude is not None:
            rows = torch.arange(len(part))
            matches[rows, torch.from_numpy(exclude[begin : begin + chunk])] = -1
        distances[begin : begin + len(part)] = (length - matches.max(dim=1).values).numpy()
        if advance is not None:
            advance(len(part))
    return distances


def far_from_training_grids(
    train_codes: np.ndarray,
    sample_codes: np.ndarray,
    percentile: float = 99.0,
    threshold_grids: int = THRESHOLD_GRIDS,
    seed: int = 0,
    advance: Callable[[int], object] | None = None,
) -> tuple[np.ndarray, float, np.ndarray]:
    """Which sampled grids are farther (Hamming) from every training grid than the ``percentile``-th
    percentile of the nearest-other distances of ``threshold_grids`` training grids (all of them
    when fewer; drawn with ``seed``): (mask, that threshold in positions, each sample's distance in
    positions to its nearest training grid). Needs at least 2 training grids."""
    reference = flat_grids(train_codes)
    chosen = np.random.default_rng(seed).permutation(len(reference))[: min(threshold_grids, len(reference))]
    chosen.sort()
    own = hamming_nearest(reference, reference[torch.from_numpy(chosen)], exclude=chosen, advance=advance)
    threshold = float(np.percentile(own, percentile))
    distances = hamming_nearest(reference, flat_grids(sample_codes), advance=advance)
    return distances > threshold, threshold, distances
