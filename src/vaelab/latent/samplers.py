"""Samplers: ways of choosing latent points to decode, as one pluggable family.

A sampler is fitted to embeddings (training or test images encoded) and then draws points:

* ``uniform-box`` — uniform in the embeddings' bounding box (what the book does for its plain
  autoencoder: there is no distribution to sample from, so it guesses a box);
* ``prior`` — the model's prior p(z): N(0, I) for most families (what a VAE is trained to match),
  the VampPrior's mixture for ``vamp`` (drawn by the model itself);
* ``gmm`` — a Gaussian mixture (10 full-covariance components by default) fitted, after
  training, to the embeddings of the training set: an "ex-post" density that follows where the
  data actually went, for any model.
* ``two-stage`` — a second, small VAE fitted, after training, to the embeddings of the training set;
  samples decode u ~ N(0, I) through its decoder (Dai & Wipf, 2019; :mod:`vaelab.latent.two_stage`).

Each sampler class says what it needs of a model as class attributes, and the rest of vaelab asks
those and the model's capabilities (:func:`check_sampler_applies`), never a family's name:
``fits_training_set`` (fitted after training to the training set's embeddings, rather than to the
embeddings being shown) and ``continuous_only`` (draws points of a continuous latent space, so it
cannot draw the codes of a family with discrete ones, :attr:`~vaelab.models.base.LatentModel.continuous_codes`).
A conditional model's sampler is fitted to the embeddings of every class (each image encoded with its
class) and its points are decoded under the classes :mod:`vaelab.latent.conditions` chooses.
"""

from __future__ import annotations

from typing import Any, ClassVar, Protocol

import numpy as np
import torch

from vaelab.errors import ConfigError
from vaelab.latent.two_stage import TwoStageSampler, TwoStageSettings, check_two_stage_size
from vaelab.models.base import LatentModel


class Sampler(Protocol):
    """Fitted to latent points, draws new ones."""

    name: str
    fits_training_set: ClassVar[bool]
    continuous_only: ClassVar[bool]

    def fit(self, z: np.ndarray) -> Sampler: ...

    def sample(self, count: int, seed: int = 0) -> np.ndarray: ...

    def describe(self) -> dict[str, Any]: ...


def uniform_box(low: np.ndarray, high: np.ndarray, count: int, seed: int = 0) -> np.ndarray:
    """``count`` points drawn uniformly in the box [low, high]."""
    rng = np.random.default_rng(seed)
    low, high = np.asarray(low, np.float32), np.asarray(high, np.float32)
    return (low + (high - low) * rng.random((count, low.shape[0]))).astype(np.float32)


class UniformBoxSampler:
    """Uniform in the bounding box of the points it was fitted to."""

    name = "uniform-box"
    fits_training_set: ClassVar[bool] = False
    continuous_only: ClassVar[bool] = True

    def fit(self, z: np.ndarray) -> UniformBoxSampler:
        self.low, self.high = z.min(axis=0), z.max(axis=0)
        return self

    def sample(self, count: int, seed: int = 0) -> np.ndarray:
        return uniform_box(self.low, self.high, count, seed)

    def describe(self) -> dict[str, Any]:
        return {"sampler": self.name, "box_low": self.low.tolist(), "box_high": self.high.tolist()}


class PriorSampler:
    """The model's prior p(z): N(0, I) drawn with numpy (seeded), or the model's own
    :meth:`~vaelab.models.base.LatentModel.sample_prior` for a prior that is not standard normal;
    a class-conditional prior draws every point under class ``condition`` when one is given (else
    as the model chooses: class k mod classes for point k)."""

    name = "prior"
    fits_training_set: ClassVar[bool] = False
    #: A family with discrete codes and a prior draws them from that prior (its ``sample_prior``).
    continuous_only: ClassVar[bool] = False

    def __init__(self, model: LatentModel | None = None, condition: int | None = None) -> None:
        self.model = model
        self.condition = condition

    def fit(self, z: np.ndarray) -> PriorSampler:
        self.dim = z.shape[1]
        return self

    def sample(self, count: int, seed: int = 0) -> np.ndarray:
        if self.model is None or not self.model.has_prior or self.model.standard_normal_prior:
            return np.random.default_rng(seed).standard_normal((count, self.dim)).astype(np.float32)
        return _model_prior_sample(self.model, count, seed, self.condition)

    def describe(self) -> dict[str, Any]:
        model = self.model
        if model is None or not model.has_prior or model.standard_normal_prior:
            distribution = "N(0, I)"
        else:
            distribution = f"the {model.family} prior"
        return {"sampler": self.name, "distribution": distribution, "dim": self.dim}


@torch.inference_mode()
def _model_prior_sample(model: LatentModel, count: int, seed: int, condition: int | None = None) -> np.ndarray:
    device = next(model.parameters()).device
    generator = torch.Generator(device=device).manual_seed(seed)
    labels = None if condition is None else torch.full((count,), condition, dtype=torch.long, device=device)
    was_training = model.training
    model.eval()
    points = model.sample_prior(count, generator, labels).float().cpu().numpy()
    model.train(was_training)
    return points


class GmmSampler:
    """A Gaussian mixture fitted to the embeddings (scikit-learn, EM, k-means initialisation), in one
    BLAS thread: the fit's matrices are small, and on a busy 2-core machine two threads made a fit of
    12,000 16-D points 3 times slower (1.45 s against 0.42 s); one thread also gives the same mixture
    whatever the machine's thread count."""

    name = "gmm"
    fits_training_set: ClassVar[bool] = True
    continuous_only: ClassVar[bool] = True

    def __init__(self, components: int = 10, seed: int = 0) -> None:
        self.components = components
        self.seed = seed

    def fit(self, z: np.ndarray) -> GmmSampler:
        from sklearn.mixture import GaussianMixture
        from threadpoolctl import threadpool_limits

        _check_mixture_size(self.components, len(z))
        mixture = GaussianMixture(self.components, covariance_type="full", random_state=self.seed, reg_covar=1e-5)
        with threadpool_limits(1):
            self.mixture = mixture.fit(np.asarray(z, np.float64))
        return self

    def sample(self, count: int, seed: int = 0) -> np.ndarray:
        rng = np.random.default_rng(seed)
        mixture = self.mixture
        component = rng.choice(self.components, size=count, p=mixture.weights_ / mixture.weights_.sum())
        noise = rng.standard_normal((count, mixture.means_.shape[1]))
        chol = np.linalg.cholesky(mixture.covariances_)
        points = mixture.means_[component] + np.einsum("nij,nj->ni", chol[component], noise)
        return points.astype(np.float32)

    def describe(self) -> dict[str, Any]:
        return {
            "sampler": self.name,
            "components": self.components,
            "fit_seed": self.seed,
            "weights": self.mixture.weights_.tolist(),
            "means": self.mixture.means_.tolist(),
        }


def _check_mixture_size(components: int, count: int) -> None:
    if count < components:
        raise ConfigError(
            f"the gmm sampler's {components}-component mixture needs at least {components} training "
            f"embeddings, got {count}; use --limit-train {components} or more"
        )


def check_fit_size(name: str | None, count: int) -> None:
    """A :class:`ConfigError` now, before any encoding, when sampler ``name`` (``None``: a default
    one, which needs no minimum) is unknown or cannot be fitted to ``count`` training embeddings."""
    if name is not None:
        check_sampler(name)
    if name == GmmSampler.name:
        _check_mixture_size(GmmSampler().components, count)
    if name == TwoStageSampler.name:
        check_two_stage_size(count)


#: The samplers by name (:data:`vaelab.choices.SAMPLERS` lists the same names, for the command line).
SAMPLERS: dict[str, type[Sampler]] = {
    sampler.name: sampler for sampler in (UniformBoxSampler, PriorSampler, GmmSampler, TwoStageSampler)
}


def check_sampler(name: str) -> None:
    """A :class:`ConfigError` unless ``name`` is one of :data:`SAMPLERS`."""
    if name not in SAMPLERS:
        raise ConfigError(f"unknown sampler {name!r}; choose one of: {', '.join(SAMPLERS)}")


def make_sampler(
    name: str,
    model: LatentModel | None = None,
    progress: bool = True,
    prior_class: int | None = None,
    *,
    fit_seed: int | None = None,
    two_stage: TwoStageSettings | None = None,
) -> Sampler:
    """A new, unfitted sampler called ``name`` (``prior`` draws ``model``'s prior, N(0, I) for a family
    without one, under class ``prior_class`` for a class-conditional prior; ``two-stage`` fits with
    ``two_stage`` settings, by default its own, showing a progress bar when ``progress``). ``fit_seed``
    seeds the fit of a sampler fitted by a random procedure (``gmm``'s EM initialisation, ``two-stage``'s
    second VAE); None leaves each its own default (0)."""
    check_sampler(name)
    if name == PriorSampler.name:
        return PriorSampler(model, prior_class)
    if name == TwoStageSampler.name:
        return TwoStageSampler(two_stage, progress=progress, seed=fit_seed)
    if name == GmmSampler.name:
        return GmmSampler() if fit_seed is None else GmmSampler(seed=fit_seed)
    sampler: Sampler = SAMPLERS[name]()
    return sampler


def check_sampler_applies(name: str, model: LatentModel) -> None:
    """A :class:`ConfigError` unless sampler ``name`` exists and can draw for ``model``: a sampler of
    continuous points needs a family with continuous codes, and ``prior`` a family that has a prior
    or continuous codes (it draws N(0, I) for a family without a prior: the reference the book's VAE
    is trained to match). A family with discrete codes whose prior is learnt after training
    (``vq-vae``) has no sampler until that prior exists."""
    check_sampler(name)
    if model.continuous_codes:
        return
    if SAMPLERS[name].continuous_only:
        fix = (
            "use --sampler prior, which draws its codes from its prior"
            if model.has_prior
            else "none of them applies until the run has a prior over its codes"
        )
        raise ConfigError(
            f"the {name} sampler draws points of a continuous latent space, and the {model.family} family's "
            f"codes are discrete; {fix}"
        )
    if not model.has_prior:
        raise ConfigError(
            f"the {name} sampler draws from the model's prior, and the {model.family} family's codes are discrete, "
            f"their prior learnt after training; this run has no prior it can use, and no sampler applies until it "
            f"has one: {model.missing_prior_hint}"
        )


def sampler_fits_training_set(name: str) -> bool:
    """Whether sampler ``name`` is fitted to training-set embeddings (the ex-post ones) rather
    than to the embeddings being shown."""
    check_sampler(name)
    return SAMPLERS[name].fits_training_set


def default_sampler(model: LatentModel) -> str:
    """The sampler ``model``'s family draws with unless told otherwise (the book's choice for its two
    families: the bounding box for the plain autoencoder, the prior for the VAE; ``rae`` the ex-post
    ``gmm``)."""
    return model.default_sampler
