"""A codebook's use and its code vectors in a plane, for a family with discrete codes (``vq-vae``).

An image's code is a grid of H × W indices into K code vectors of D numbers. Over a set of images,
:func:`codebook_usage` counts how many grid positions chose each code, how many codes were chosen at
all, and the *perplexity* exp(H(p)) of the frequencies p_k (the number of equally used codes that would
give the same entropy: from 1 to K; :func:`vaelab.models.quantizer.perplexity`, the same number the
training reports per batch). :func:`codebook_view` adds the code vectors themselves shown in the plane
of their first two principal components (the K vectors are the points, not the images' grids).

A family with continuous codes has no codebook: both refuse it in one line (:class:`ConfigError`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from vaelab.data.image_set import ImageSet
from vaelab.errors import ConfigError
from vaelab.latent.code_usage import usage_counts
from vaelab.latent.projection import Projection, fit_projection
from vaelab.models.base import LatentModel
from vaelab.models.quantizer import perplexity
from vaelab.models.vq_vae import VectorQuantisedAutoencoder, discrete_family
from vaelab.training.prior import encode_code_grids

CODE_VECTORS = "the code vectors"
"""What the points of the codebook's plane are, as its axis labels say (``PC1 of the code vectors (…)``)."""


@dataclass(frozen=True)
class CodebookUsage:
    """How often each code of a codebook was chosen over a set of images.

    Attributes:
        counts: int64 [K]: the grid positions, over all the images, whose code is k.
        images: how many images were encoded.
        grid: (H, W), an image's grid of codes (so ``counts.sum()`` is images × H × W).
    """

    counts: np.ndarray
    images: int
    grid: tuple[int, int]

    @property
    def size(self) -> int:
        """K, the number of codes."""
        return len(self.counts)

    @property
    def positions(self) -> int:
        """Grid positions counted: images × H × W."""
        return int(self.counts.sum())

    @property
    def used(self) -> int:
        """Codes chosen at least once."""
        return int(np.count_nonzero(self.counts))

    @property
    def perplexity(self) -> float:
        """exp(H(p)) of the codes' frequencies, in codes (1 to K; 0 positions give 1)."""
        return float(perplexity(torch.from_numpy(self.counts).double()))


@dataclass(frozen=True)
class CodebookView:
    """The code vectors [K, D] (``vectors``), their use (``usage``), and the plane they are shown in:
    ``projection`` (PCA of the K vectors; the identity when D = 2) and ``plane`` [K, 2]."""

    vectors: np.ndarray
    usage: CodebookUsage
    projection: Projection
    plane: np.ndarray

    def axis_labels(self) -> tuple[str, str]:
        """What the plane's axes are (``PC1 of the code vectors (12% of variance)``, …)."""
        return self.projection.axis_labels(CODE_VECTORS)


def codebook_model(model: LatentModel) -> VectorQuantisedAutoencoder:
    """``model`` as a family with a codebook; a one-line :class:`ConfigError` for one whose codes are
    continuous (it has no codebook)."""
    discrete = discrete_family(model)
    if discrete is None:
        raise ConfigError(
            f"the {model.family} model's codes are continuous points, not indices into a codebook: it has no "
            "codebook to count or show (only a family with discrete codes, such as vq-vae, has one)"
        )
    return discrete


def code_grids(model: LatentModel, images: ImageSet) -> np.ndarray:
    """The codebook indices of ``images``: int64 [N, H, W] (what ``model.encode_codes`` gives, in batches)."""
    return encode_code_grids(codebook_model(model), images).cpu().numpy()


def codebook_usage(model: LatentModel, images: ImageSet) -> CodebookUsage:
    """How often ``model`` chooses each of its codes over ``images`` (see :class:`CodebookUsage`)."""
    discrete = codebook_model(model)
    grids = code_grids(discrete, images)
    counts = usage_counts(grids, discrete.codebook_size)
    return CodebookUsage(counts, len(images), discrete.grid)


def codebook_view(model: LatentModel, images: ImageSet) -> CodebookView:
    """``model``'s code vectors, their use over ``images`` and their PCA plane (see :class:`CodebookView`)."""
    discrete = codebook_model(model)
    usage = codebook_usage(discrete, images)
    vectors = discrete.quantizer.codebook.detach().float().cpu().numpy()
    projection = fit_projection(vectors)
    return CodebookView(vectors, usage, projection, projection.project(vectors))
