"""The latent-model interface: one seam that every model family implements.

A latent model maps images in [0, 1] of shape [N, C, H, W] to a *posterior* over latent points
[N, latent_dim] (:meth:`LatentModel.encode`) and latent points back to images
(:meth:`LatentModel.decode`); where its family has a prior p(z), it samples it
(:meth:`LatentModel.sample_prior`) and gives its density (:meth:`LatentModel.prior_log_density`).
Conditional families take a class label per image (``condition``, int64 [N]) in all of these.

The rest of vaelab asks a model's *capabilities* — class attributes of its family — never its name:

* :attr:`~LatentModel.posterior_kind` — ``"point"`` (a deterministic code, :class:`PointPosterior`)
  or ``"gaussian"`` (a diagonal Gaussian q(z|x), :class:`GaussianPosterior`);
* :attr:`~LatentModel.has_prior` — whether p(z) exists, so that ``--sampler prior`` and the
  likelihood bounds apply;
* :attr:`~LatentModel.default_sampler` — how ``generate``, ``diagnose`` and ``evaluate`` draw
  points unless told otherwise;
* :attr:`~LatentModel.conditional` — whether encode and decode take a class;
* :attr:`~LatentModel.continuous_codes` — whether z is a point of R^d (every family so far), so that
  the samplers of continuous points (``uniform-box``, ``gmm``, ``two-stage``) apply; a family with
  discrete codes (a VQ-VAE's codebook indices) sets it False and draws from its own prior.
  Such a family states its number of codes in :attr:`~LatentModel.codebook_size`; its z is the grid
  of chosen code vectors, flattened, so that encode, decode and reconstruction work as for any
  family. Its prior is learnt after training, over the code grids: ``has_prior`` is then a property
  of the model (True once a prior is attached), its ``default_sampler`` is ``prior`` and
  ``standard_normal_prior`` False, so ``--sampler prior`` draws codes through its ``sample_prior``;
* :attr:`~LatentModel.prior_classes` — the number of classes a class-conditional prior draws under
  (a vq-vae's PixelCNN trained on labelled images): ``sample_prior`` then takes a class per draw
  (``generate --class``); 0 for every other prior.

The training forward pass (:meth:`LatentModel.forward`) returns a :class:`ModelOutput`. Every
computation through the model's parameters happens there (DistributedDataParallel only sees what a
forward pass computes); the objectives (:mod:`vaelab.training.objectives`) then score that output
against the batch, and may read the model's capabilities but run none of its layers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, TypeAlias, TypeGuard

import torch
from torch import nn

from vaelab.models.distributions import gaussian_log_density, kl_to_standard_normal, standard_normal_log_density
from vaelab.models.spec import ModelSpec

#: Range of a Gaussian encoder's log-variance. The upper bound is a standard deviation of
#: exp(0.5·20) ≈ 2.2e4, far outside any sensible posterior (the prior's is 1), so it only stops exp()
#: from overflowing when a head's output explodes; the lower bound keeps the variance above
#: exp(−30) ≈ 9e−14, so it never underflows to 0 and the KL term never takes log 0. Outside the range
#: the clamp passes no gradient to the head.
LOG_VAR_MIN = -30.0
LOG_VAR_MAX = 20.0


@dataclass
class PointPosterior:
    """A deterministic code: q(z|x) puts all its mass on ``mean`` [N, d]."""

    mean: torch.Tensor

    def sample(self, generator: torch.Generator | None = None) -> torch.Tensor:
        """The code itself (there is nothing to draw)."""
        return self.mean

    def sample_many(self, count: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """The code repeated ``count`` times: [count, N, d]."""
        return self.mean.expand(count, *self.mean.shape)


@dataclass
class GaussianPosterior:
    """q(z|x) = N(mean, diag exp(log_var)), each [N, d] (``log_var`` already clamped)."""

    mean: torch.Tensor
    log_var: torch.Tensor

    def sample(self, generator: torch.Generator | None = None) -> torch.Tensor:
        """One reparameterised draw z = mean + exp(½·log_var)·ε per image, differentiable in both.

        ε comes from ``generator`` when given (deterministic validation and analyses), from the
        global RNG otherwise (training, whose RNG state the checkpoint saves).
        """
        eps = torch.randn(self.mean.shape, generator=generator, device=self.mean.device, dtype=self.mean.dtype)
        return self.mean + torch.exp(0.5 * self.log_var) * eps

    def sample_many(self, count: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``count`` draws per image: [count, N, d]."""
        shape = (count, *self.mean.shape)
        eps = torch.randn(shape, generator=generator, device=self.mean.device, dtype=self.mean.dtype)
        return self.mean + torch.exp(0.5 * self.log_var) * eps

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        """log q(z|x) per point, summed over dimensions (``z`` [..., N, d] → [..., N]), in nats."""
        return gaussian_log_density(z, self.mean, self.log_var).sum(dim=-1)

    def kl_to_standard_normal(self) -> torch.Tensor:
        """KL(q(z|x) ‖ N(0, I)) per image in closed form: [N], nats."""
        return kl_to_standard_normal(self.mean, self.log_var)


Posterior: TypeAlias = PointPosterior | GaussianPosterior


@dataclass
class ModelOutput:
    """What a latent model's training forward pass returns.

    Attributes:
        logits: the decoder's output before the sigmoid, the shape of the input ([k, N, C, H, W]
            when the family decodes k draws per image, as IWAE does).
        z: the latent points that were decoded ([N, d], or [k, N, d]).
        posterior: q(z|x) of the batch.
        log_prior: log p(z) of ``z`` per point, for a family whose prior has no closed-form KL
            (VampPrior); None otherwise.
        prior_z: draws from p(z), one per image, for families that compare the code distribution
            with the prior by MMD (WAE, InfoVAE); None otherwise.
        penalty: a family's own regulariser of its parameters (RAE's decoder L2); None otherwise.
        codes: the codebook indices chosen for each image, int64 [N, H, W], for a family with
            discrete codes (VQ-VAE); None otherwise.
        commitment: per image, the squared distance between the encoder's output and the code
            vectors chosen for it, summed over positions and dimensions ([N]), for a family with
            discrete codes; None otherwise.
    """

    logits: torch.Tensor
    z: torch.Tensor
    posterior: Posterior
    log_prior: torch.Tensor | None = None
    prior_z: torch.Tensor | None = None
    penalty: torch.Tensor | None = None
    codes: torch.Tensor | None = None
    commitment: torch.Tensor | None = None


class LatentModel(nn.Module):
    """The base of every model family (see the module docstring for the capabilities).

    A family subclass sets the capability class attributes and implements :meth:`encode` and
    :meth:`decode_logits`; the defaults here give a standard normal prior and a one-sample forward
    pass. ``latent_dim`` is the size of z; ``condition_dim`` the number of classes a conditional
    family is conditioned on (0 otherwise).
    """

    family: ClassVar[str]
    posterior_kind: ClassVar[str] = "point"
    #: A class attribute for every family but one whose prior is learnt after training (``vq-vae``),
    #: where it is the instance's: True once a prior is attached.
    has_prior: bool = False
    #: Whether p(z) is N(0, I), so that KL(q(z|x) ‖ p(z)) has a closed form (not the VampPrior's).
    standard_normal_prior: ClassVar[bool] = True
    default_sampler: ClassVar[str] = "uniform-box"
    conditional: ClassVar[bool] = False
    #: Whether the codes are points of R^d (not indices into a codebook).
    continuous_codes: ClassVar[bool] = True
    #: The number K of code vectors of a family with discrete codes (0 for continuous codes).
    codebook_size: int = 0
    #: For a family whose prior is learnt after training, what gives this model one while it has none
    #: (the sampler's refusal ends with it); set when a run is loaded.
    missing_prior_hint: str = "train one with `vaelab prior train RUN_DIR`"

    encoder: nn.Module
    decoder: nn.Module
    latent_dim: int
    condition_dim: int = 0
    #: The description it was built from (:func:`~vaelab.models.build_model` sets it), which rebuilds it:
    #: what ``save_pretrained`` writes as the model's ``config.json``; None for a model built by hand.
    spec: ModelSpec | None = None

    @property
    def kind(self) -> str:
        """The family's name as ``config.json`` records it (``ModelSpec.kind``)."""
        return self.family

    def encode(self, x: torch.Tensor, condition: torch.Tensor | None = None) -> Posterior:
        """q(z|x) for images ``x`` in [0, 1] (and their classes, for a conditional family)."""
        raise NotImplementedError

    def decode_logits(self, z: torch.Tensor, condition: torch.Tensor | None = None) -> torch.Tensor:
        """The decoder's logits for latent points ``z`` [N, d] (and classes, when conditional)."""
        raise NotImplementedError

    def decode(self, z: torch.Tensor, condition: torch.Tensor | None = None) -> torch.Tensor:
        """Latent points to images in [0, 1]."""
        return torch.sigmoid(self.decode_logits(z, condition))

    def sample_prior(
        self, count: int, generator: torch.Generator | None = None, labels: torch.Tensor | None = None
    ) -> torch.Tensor:
        """``count`` draws from p(z): [count, d]. N(0, I) unless the family says otherwise; a
        ValueError for a family without a prior. ``labels`` (int64 [count]), the class of each draw,
        only for a class-conditional prior (:attr:`prior_classes`; :func:`check_prior_labels`)."""
        if not self.has_prior:
            raise ValueError(f"the {self.family} family has no prior to sample")
        check_prior_labels(self, count, labels)
        device = next(self.parameters()).device
        return torch.randn((count, self.latent_dim), generator=generator, device=device)

    @property
    def prior_classes(self) -> int:
        """The number of classes a learnt prior draws under (a class-conditional prior over discrete
        codes: its ``sample_prior`` then takes ``labels``); 0 for every other prior, and for a model
        without one."""
        return 0

    def code_indices(self, z: torch.Tensor) -> torch.Tensor:
        """For a family with discrete codes, the codebook index at each position of latent points ``z``
        [N, d]: int64 [N, H, W]. A ValueError for a family whose codes are continuous."""
        raise ValueError(f"the {self.family} family's codes are points of R^d, not indices into a codebook")

    def prior_log_density(self, z: torch.Tensor) -> torch.Tensor:
        """log p(z) per point ([..., d] → [...]), nats; N(0, I) unless the family says otherwise."""
        if not self.has_prior:
            raise ValueError(f"the {self.family} family has no prior density")
        return standard_normal_log_density(z).sum(dim=-1)

    def forward(
        self, x: torch.Tensor, condition: torch.Tensor | None = None, generator: torch.Generator | None = None
    ) -> ModelOutput:
        """Encode, draw one z per image (ε from ``generator`` or the global RNG), decode to logits."""
        posterior = self.encode(x, condition)
        z = posterior.sample(generator)
        return ModelOutput(logits=self.decode_logits(z, condition), z=z, posterior=posterior)

    def facts(self) -> dict[str, object]:
        """The capabilities, as JSON-ready data (for tables and the explorer)."""
        return {
            "family": self.family,
            "posterior": self.posterior_kind,
            "has_prior": self.has_prior,
            "default_sampler": self.default_sampler,
            "conditional": self.conditional,
            "continuous_codes": self.continuous_codes,
        }


def clamp_log_var(log_var: torch.Tensor) -> torch.Tensor:
    """A Gaussian encoder's log-variance within [:data:`LOG_VAR_MIN`, :data:`LOG_VAR_MAX`]."""
    return log_var.clamp(LOG_VAR_MIN, LOG_VAR_MAX)


def has_gaussian_posterior(model: LatentModel) -> TypeGuard[LatentModel]:
    """Whether ``model`` encodes to a Gaussian q(z|x) (sampled embeddings, likelihood bounds)."""
    return model.posterior_kind == "gaussian"


def check_prior_labels(model: LatentModel, count: int, labels: torch.Tensor | None) -> None:
    """A ValueError unless ``labels`` fit ``count`` draws of ``model``'s prior: None, or for a
    class-conditional prior one class per draw (int64 [count], each below ``prior_classes``)."""
    if labels is None:
        return
    if not model.prior_classes:
        raise ValueError(f"the {model.family} model's prior takes no classes")
    if labels.shape != (count,) or labels.dtype != torch.long:
        raise ValueError(f"a class-conditional prior needs int64 labels of shape ({count},), got {tuple(labels.shape)}")
    if count and not 0 <= int(labels.min()) <= int(labels.max()) < model.prior_classes:
        raise ValueError(f"the prior's classes are 0 to {model.prior_classes - 1}")


def check_condition(model: LatentModel, condition: torch.Tensor | None) -> None:
    """A ValueError when a conditional model gets no classes, or another model gets some."""
    if model.conditional and condition is None:
        raise ValueError(f"the {model.family} family needs a class for every image")
    if not model.conditional and condition is not None:
        raise ValueError(f"the {model.family} family takes no classes")


class DrawsPriorPoints(LatentModel):
    """A mixin for families whose objective compares the batch's codes with draws from the prior
    (an MMD term: ``wae-mmd``, ``info-vae``); list it before the family's base class. Its forward pass
    is the base class's, plus ``prior_z``: one draw from p(z) per image, [N, d], from ``generator``
    (validation, analyses) or the global RNG (training, whose state a checkpoint saves)."""

    def forward(
        self, x: torch.Tensor, condition: torch.Tensor | None = None, generator: torch.Generator | None = None
    ) -> ModelOutput:
        output = super().forward(x, condition, generator)
        output.prior_z = self.sample_prior(x.shape[0], generator)
        return output
