"""Two-dimensional views of latent spaces of any size.

A 2-D latent space is shown as it is. A larger one is shown in the plane of its first two
principal components (PCA of the embeddings), which keeps the most variance of any plane and,
unlike t-SNE, can be mapped back: a point of the plane is ``mean + p @ components``, so a grid
drawn in the plane can be decoded.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vaelab.errors import ConfigError
from vaelab.limits import MIN_LATENT_DIM


@dataclass(frozen=True)
class Projection:
    """A linear map from the latent space to a plane and back.

    Attributes:
        mean: the centre [d] (zeros for the identity view of a 2-D space).
        components: orthonormal rows [2, d] spanning the plane.
        explained: fraction of the embeddings' variance along each row.
        method: ``"identity"`` (2-D latent space) or ``"pca"``.
    """

    mean: np.ndarray
    components: np.ndarray
    explained: np.ndarray
    method: str

    def project(self, z: np.ndarray) -> np.ndarray:
        """Latent points [N, d] → plane coordinates [N, 2]."""
        return ((np.asarray(z, np.float64) - self.mean) @ self.components.T).astype(np.float32)

    def lift(self, p: np.ndarray) -> np.ndarray:
        """Plane coordinates [N, 2] → latent points [N, d] in the plane."""
        return (self.mean + np.asarray(p, np.float64) @ self.components).astype(np.float32)

    def axis_labels(self, of: str = "z") -> tuple[str, str]:
        """Axis titles that say what the axes are, for points called ``of`` (``z``, or e.g. ``the code
        vectors``: ``PC1 of the code vectors (…)``, and a 2-D space's ``dimension 0 of the code vectors``)."""
        if self.method == "identity":
            return ("z[0]", "z[1]") if of == "z" else (f"dimension 0 of {of}", f"dimension 1 of {of}")
        first, second = (f"PC{i + 1} of {of} ({100 * e:.0f}% of variance)" for i, e in enumerate(self.explained))
        return first, second


def tsne_plane(z: np.ndarray, seed: int = 0) -> np.ndarray:
    """A t-SNE map of ``z`` [N, d] to [N, 2] (scikit-learn; PCA-initialised, seeded).

    t-SNE keeps neighbourhoods, not distances or densities, and cannot be mapped back, so it is
    offered for looking at the scatter only; samples and grids use the PCA plane.
    """
    try:
        from sklearn.manifold import TSNE
    except ImportError:  # pragma: no cover - scikit-learn is a dependency
        raise ConfigError("t-SNE needs scikit-learn: pip install scikit-learn") from None
    perplexity = float(min(30.0, max(2.0, (len(z) - 1) / 3)))
    tsne = TSNE(n_components=2, init="pca", random_state=seed, perplexity=perplexity)
    return tsne.fit_transform(np.asarray(z, np.float32)).astype(np.float32)


def check_shown_in_plane(latent_dim: int) -> None:
    """A :class:`ConfigError` when a latent space of ``latent_dim`` dimensions cannot be shown in
    a plane (a 1-D run, trained before vaelab refused them): call it before costly work."""
    if latent_dim < MIN_LATENT_DIM:
        raise ConfigError(
            f"this run's latent space has {latent_dim} dimension{'s' if latent_dim != 1 else ''}; figures of the "
            f"latent space need at least {MIN_LATENT_DIM}: train a new run with --latent-dim 2 or more"
        )


def fit_projection(z: np.ndarray) -> Projection:
    """The identity for a 2-D latent space, else the PCA plane of the points ``z`` [N, d]
    (a :class:`ConfigError` for a 1-D space, see :func:`check_shown_in_plane`)."""
    z = np.asarray(z, np.float64)
    d = z.shape[1]
    check_shown_in_plane(d)
    if d == 2:
        return Projection(np.zeros(2), np.eye(2), np.ones(2), "identity")
    mean = z.mean(axis=0)
    _, singular, vt = np.linalg.svd(z - mean, full_matrices=False)
    variance = singular**2
    explained = variance[:2] / variance.sum() if variance.sum() > 0 else np.zeros(2)
    return Projection(mean, vt[:2], explained, "pca")
