"""The variational autoencoder: a Gaussian encoder q(z|x), a reparameterised draw, a decoder."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

#: Range of the encoder's log-variance (see :class:`VariationalAutoencoder`).
LOG_VAR_MIN = -30.0
LOG_VAR_MAX = 20.0


@dataclass
class VaeOutput:
    """What a forward pass of a VAE returns.

    Attributes:
        logits: decoder output before the sigmoid, shape of the input.
        z: the sampled latent code that was decoded, ``mean + exp(0.5·log_var)·ε``.
        mean: mean of q(z|x), [batch, latent_dim].
        log_var: log-variance of q(z|x) after clamping, [batch, latent_dim].
    """

    logits: torch.Tensor
    z: torch.Tensor
    mean: torch.Tensor
    log_var: torch.Tensor


def reparameterise(mean: torch.Tensor, log_var: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """A draw z = mean + exp(0.5·log_var)·ε with ε ~ N(0, I), differentiable in mean and log_var.

    ε comes from ``generator`` when given (deterministic validation), from the global RNG
    otherwise (training, whose RNG state the checkpoint saves).
    """
    eps = torch.randn(mean.shape, generator=generator, device=mean.device, dtype=mean.dtype)
    return mean + torch.exp(0.5 * log_var) * eps


class VariationalAutoencoder(nn.Module):
    """Gaussian encoder + decoder with a sigmoid output (pixel values in [0, 1]).

    :meth:`encode` returns the posterior mean, so analyses (embeddings, grids, reconstructions)
    are deterministic by default; :meth:`sample_latent` draws from q(z|x) instead.

    The log-variance is clamped to [``LOG_VAR_MIN``, ``LOG_VAR_MAX``] = [-30, 20]. The upper
    bound is a standard deviation of exp(0.5·20) ≈ 2.2e4, far outside any sensible posterior
    (the prior's is 1), so it only stops exp() from overflowing when a head's output explodes;
    the lower bound keeps the variance above exp(-30) ≈ 9e-14, so it never underflows to 0 and
    the KL term never takes log 0. Outside the range the clamp passes no gradient to the head.
    """

    kind = "vae"

    def __init__(self, encoder: nn.Module, decoder: nn.Module, latent_dim: int) -> None:
        super().__init__()
        self.encoder = encoder
        self.decoder = decoder
        self.latent_dim = latent_dim

    def encode_distribution(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and (clamped) log-variance of q(z|x) for images in [0, 1]."""
        mean, log_var = self.encoder(x)
        return mean, log_var.clamp(LOG_VAR_MIN, LOG_VAR_MAX)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Map images in [0, 1] to the means of their posteriors (deterministic)."""
        return self.encode_distribution(x)[0]

    def sample_latent(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """One reparameterised draw from q(z|x) per image."""
        return reparameterise(*self.encode_distribution(x), generator)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Map latent points to images in [0, 1]."""
        return torch.sigmoid(self.decoder(z))

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> VaeOutput:
        """Encode, draw z (ε from ``generator`` or the global RNG) and decode to logits."""
        mean, log_var = self.encode_distribution(x)
        z = reparameterise(mean, log_var, generator)
        return VaeOutput(logits=self.decoder(z), z=z, mean=mean, log_var=log_var)
