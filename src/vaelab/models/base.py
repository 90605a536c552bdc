"""The latent-model interface: what the code outside ``models/`` may ask of a model.

:class:`LatentModel` is a :class:`typing.Protocol`: nothing inherits from it, and a model satisfies
it by having its members. Both of today's families do (:class:`~vaelab.models.autoencoder.Autoencoder`
and :class:`~vaelab.models.vae.VariationalAutoencoder`); :class:`GaussianLatentModel` adds what only
the VAE has, a Gaussian posterior q(z|x). The interface holds the latent operations and the few
:class:`torch.nn.Module` members that analyses use (eval mode, the parameters' device), so that an
analysis is typed by what it asks, not by ``nn.Module``. Training works on the module itself
(:data:`LatentModule`): it needs all of ``nn.Module`` (state dicts, DistributedDataParallel,
``torch.compile``).

The model-families issue turns this into the full interface (posterior objects, sampling the
prior, capabilities instead of ``kind``); until then it states today's models exactly.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Protocol, TypeAlias, TypeGuard

import torch
from torch import nn

from vaelab.models.autoencoder import Autoencoder, AutoencoderOutput
from vaelab.models.vae import VaeOutput, VariationalAutoencoder

if TYPE_CHECKING:
    from typing_extensions import Self

#: What a latent model's forward pass returns: a dataclass with at least ``logits`` and ``z``.
ModelOutput: TypeAlias = AutoencoderOutput | VaeOutput

#: The latent models :func:`~vaelab.models.build.build_model` makes, as the modules they are.
LatentModule: TypeAlias = Autoencoder | VariationalAutoencoder


class LatentModel(Protocol):
    """A model with a latent space: images in [0, 1] of shape [N, C, H, W] ↔ points [N, latent_dim]."""

    @property
    def kind(self) -> str:
        """The family's name in :class:`~vaelab.models.spec.ModelSpec` (``"ae"``, ``"vae"``)."""
        ...

    @property
    def latent_dim(self) -> int:
        """The number of latent dimensions."""
        ...

    @property
    def encoder(self) -> nn.Module:
        """The encoder network (its output is the family's: a point, or a posterior's parameters)."""
        ...

    @property
    def decoder(self) -> nn.Module:
        """The decoder network: latent points [N, latent_dim] to logits (the sigmoid is :meth:`decode`'s)."""
        ...

    @property
    def training(self) -> bool:
        """Whether the model is in training mode (``nn.Module.training``)."""
        ...

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Images to latent points, deterministically (a VAE's posterior means)."""
        ...

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Latent points to images in [0, 1]."""
        ...

    def forward(self, x: torch.Tensor) -> ModelOutput:
        """The training forward pass: images to the output the objective scores."""
        ...

    def __call__(self, x: torch.Tensor) -> ModelOutput:
        """:meth:`forward`, through ``nn.Module``'s call."""
        ...

    # The part of nn.Module that analyses use.

    def parameters(self, recurse: bool = True) -> Iterator[nn.Parameter]: ...

    def eval(self) -> Self: ...

    def train(self, mode: bool = True) -> Self: ...


class GaussianLatentModel(LatentModel, Protocol):
    """A latent model whose encoder gives a diagonal Gaussian posterior q(z|x) (the VAE)."""

    def encode_distribution(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and log-variance of q(z|x), each [N, latent_dim]."""
        ...

    def sample_latent(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """One draw from q(z|x) per image (ε from ``generator``, or the global RNG)."""
        ...

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> VaeOutput:
        """The forward pass, its ε drawn from ``generator`` (or the global RNG)."""
        ...


def has_gaussian_posterior(model: LatentModel) -> TypeGuard[GaussianLatentModel]:
    """Whether ``model`` is a :class:`GaussianLatentModel` (today: its kind is ``"vae"``)."""
    return model.kind == "vae"
