"""The VAE with a VampPrior (``vamp``; Tomczak and Welling, 2018).

The VAE's network (:mod:`vaelab.models.vae`) with a learnt prior instead of N(0, I): the
"variational mixture of posteriors"

    p(z) = (1/K) Σ_k q(z | u_k),

an equal-weight mixture of the encoder's own Gaussian posteriors at K *pseudo-inputs* u_k, images
that are learnt with the rest of the model. Where a standard normal prior pulls every posterior
towards one point (over-regularising: the chapter's crowded classes), this prior is the shape the
encoder gives the data, so it can follow the clusters while staying a proper density to sample.

**The pseudo-inputs.** u_k = hardtanh(P_k) = min(max(P_k, 0), 1), with P a parameter of K images
of the input's shape ([K, C, H, W]), initialised N(0.05, 0.01²) per pixel. This is the paper's
parameterisation: its pseudo-inputs are a linear map without bias of the K-dimensional identity
followed by hardtanh to [0, 1], and column k of that map, W e_k, is exactly one such image — so P
stores the columns and skips multiplying by the identity. Adam moves each pixel of P by about the
learning rate per step, so a pseudo-input can reach any image in [0, 1] within an epoch. A pixel
pushed outside [0, 1] gets no gradient through hardtanh and stays at 0 or 1; for Fashion-MNIST's
black background that is where it is going anyway. (A sigmoid would keep every gradient alive, but
Adam moves its logits by the learning rate too, so a pixel would need thousands of steps to
travel from grey to black.) The u_k are K × C × H × W extra parameters: 512,000 for 500
pseudo-inputs of 32×32 — five times the encoder's.

**Where they are encoded.** In :meth:`VampPriorVAE.forward`, which encodes the K pseudo-inputs next
to the batch and returns log p(z) of the drawn z as ``ModelOutput.log_prior``, so that the
pseudo-inputs get their gradients inside the pass that DistributedDataParallel watches (an
objective runs no layer of the model). :meth:`~VampPriorVAE.prior_log_density` and
:meth:`~VampPriorVAE.sample_prior` encode them again when asked (analyses, likelihood bounds).
The KL term has no closed form for a mixture; the objective estimates it by Monte Carlo
(:mod:`vaelab.training.objectives.vamp`).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from vaelab.errors import ConfigError
from vaelab.models.base import GaussianPosterior, LatentModel, ModelOutput, check_prior_labels
from vaelab.models.conv_encoder import GaussianEncoder
from vaelab.models.distributions import mixture_log_density
from vaelab.models.spec import ModelSpec
from vaelab.models.vae import VariationalAutoencoder

#: The mean and standard deviation of the pseudo-inputs' pixels at initialisation (the paper's).
PSEUDO_INPUT_INIT = (0.05, 0.01)


class VampPriorVAE(VariationalAutoencoder):
    """A VAE whose prior is the mixture of its posteriors at K learnt pseudo-inputs (see the module
    docstring). ``image_shape`` is (C, H, W) of the images it encodes."""

    family = "vamp"
    standard_normal_prior = False

    def __init__(
        self, encoder: nn.Module, decoder: nn.Module, latent_dim: int, pseudo_inputs: int, image_shape: tuple[int, ...]
    ) -> None:
        super().__init__(encoder, decoder, latent_dim)
        if isinstance(pseudo_inputs, bool) or not isinstance(pseudo_inputs, int) or pseudo_inputs < 1:
            raise ConfigError(f"--pseudo-inputs must be a positive integer, got {pseudo_inputs!r}")
        mean, std = PSEUDO_INPUT_INIT
        #: P, the pseudo-inputs before hardtanh: [K, C, H, W].
        self.pseudo_inputs = nn.Parameter(torch.empty(pseudo_inputs, *image_shape).normal_(mean, std))

    @property
    def components(self) -> int:
        """K, the number of pseudo-inputs (and of the prior's mixture components)."""
        return self.pseudo_inputs.shape[0]

    def pseudo_images(self) -> torch.Tensor:
        """The pseudo-inputs u = hardtanh(P) in [0, 1]: [K, C, H, W]."""
        return F.hardtanh(self.pseudo_inputs, 0.0, 1.0)

    def prior_components(self) -> GaussianPosterior:
        """The prior's K components q(z | u_k): means and log-variances [K, d]."""
        return self.encode(self.pseudo_images())

    def forward(
        self, x: torch.Tensor, condition: torch.Tensor | None = None, generator: torch.Generator | None = None
    ) -> ModelOutput:
        """The VAE's pass (one z per image), plus log p(z) of each z under the VampPrior, its
        components encoded in this same pass."""
        output = super().forward(x, condition, generator)
        prior = self.prior_components()
        # in float32 even under bf16 autocast: a log-sum-exp of K densities needs the precision
        output.log_prior = mixture_log_density(output.z.float(), prior.mean.float(), prior.log_var.float())
        return output

    def prior_log_density(self, z: torch.Tensor) -> torch.Tensor:
        """log p(z) = log (1/K) Σ_k q(z | u_k) per point ([..., d] → [...]), nats."""
        prior = self.prior_components()
        flat = z.reshape(-1, z.shape[-1])
        return mixture_log_density(flat, prior.mean, prior.log_var).reshape(z.shape[:-1])

    def sample_prior(
        self, count: int, generator: torch.Generator | None = None, labels: torch.Tensor | None = None
    ) -> torch.Tensor:
        """``count`` draws from the mixture: a component k uniformly, then z ~ q(z | u_k): [count, d]
        (it takes no classes: ``labels`` must be None)."""
        check_prior_labels(self, count, labels)
        prior = self.prior_components()
        mean, log_var = prior.mean, prior.log_var
        device = mean.device
        chosen = torch.randint(self.components, (count,), generator=generator, device=device)
        eps = torch.randn((count, self.latent_dim), generator=generator, device=device, dtype=mean.dtype)
        return mean[chosen] + torch.exp(0.5 * log_var[chosen]) * eps


def build_vamp(spec: ModelSpec, features: nn.Module, decoder: Callable[[ModelSpec], nn.Module]) -> LatentModel:
    """The ``vamp`` family on the spec's network, with ``spec.pseudo_inputs`` pseudo-inputs of the
    spec's image shape."""
    if spec.pseudo_inputs < 1:
        raise ConfigError("the vamp family needs at least one pseudo-input (model setting pseudo_inputs)")
    image_shape = (spec.image_channels, spec.image_size, spec.image_size)
    return VampPriorVAE(
        GaussianEncoder(spec, features), decoder(spec), spec.latent_dim, spec.pseudo_inputs, image_shape
    )
