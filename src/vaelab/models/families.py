"""The registry of model families: one line per family, the one place that maps a name to a model.

``ModelSpec.kind`` in a run's ``config.json`` names the family; :func:`build_family` builds it on
the spec's convolutional network (:mod:`vaelab.models.build`). Everything else asks the built model
its capabilities (:class:`~vaelab.models.base.LatentModel`). Adding a family: a model file (or a
subclass setting other capabilities), a line here, its name in :data:`vaelab.choices.FAMILIES`, an
objective, a preset line, and tests (docs/architecture.md, "How to add a model family").
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from torch import nn

from vaelab.choices import FAMILIES as FAMILY_NAMES
from vaelab.errors import ConfigError
from vaelab.models.autoencoder import Autoencoder
from vaelab.models.base import LatentModel
from vaelab.models.beta_tcvae import build_beta_tcvae
from vaelab.models.conv_encoder import GaussianEncoder, PointEncoder
from vaelab.models.cvae import build_cvae
from vaelab.models.info_vae import build_info_vae
from vaelab.models.iwae import build_iwae
from vaelab.models.rae import build_rae
from vaelab.models.spec import ModelSpec
from vaelab.models.vae import VariationalAutoencoder
from vaelab.models.vamp import build_vamp
from vaelab.models.vq_vae import build_vq_vae
from vaelab.models.wae import build_wae_mmd

#: What a family's builder receives: the spec, the encoder's convolutional features (flattened)
#: and the decoder class of the spec's architecture.
Builder = Callable[[ModelSpec, nn.Module, Callable[[ModelSpec], nn.Module]], LatentModel]


@dataclass(frozen=True)
class Family:
    """A model family: its name, what it is in one line, and how it is built."""

    name: str
    summary: str
    build: Builder


def _autoencoder(spec: ModelSpec, features: nn.Module, decoder: Callable[[ModelSpec], nn.Module]) -> LatentModel:
    return Autoencoder(PointEncoder(spec, features), decoder(spec), spec.latent_dim)


def _vae(spec: ModelSpec, features: nn.Module, decoder: Callable[[ModelSpec], nn.Module]) -> LatentModel:
    return VariationalAutoencoder(GaussianEncoder(spec, features), decoder(spec), spec.latent_dim)


FAMILIES: dict[str, Family] = {
    family.name: family
    for family in (
        Family("ae", "the plain autoencoder: a deterministic code, no prior", _autoencoder),
        Family("vae", "the variational autoencoder: Gaussian q(z|x), prior N(0, I)", _vae),
        Family("cvae", "the conditional VAE: encoder and decoder see the class, prior N(0, I)", build_cvae),
        Family("iwae", "the importance-weighted autoencoder: a VAE trained on the k-sample bound", build_iwae),
        Family("vamp", "the VAE with a VampPrior: p(z) a mixture of q(z|u_k) at K learnt pseudo-inputs", build_vamp),
        Family("rae", "the regularised autoencoder (RAE-L2): a point code, ½‖z‖² and decoder L2, no prior", build_rae),
        Family("wae-mmd", "the Wasserstein autoencoder: a point code matched to N(0, I) by MMD", build_wae_mmd),
        Family("info-vae", "InfoVAE: Gaussian q(z|x), prior N(0, I), KL and MMD to the prior", build_info_vae),
        Family("beta-tcvae", "β-TCVAE: the VAE with its KL split into MI, TC and dimension-wise KL", build_beta_tcvae),
        Family(
            "vq-vae",
            "VQ-VAE: a grid of discrete codes from an EMA-learnt codebook, its prior learnt after",
            build_vq_vae,
        ),
    )
}
assert tuple(FAMILIES) == FAMILY_NAMES, "vaelab.choices.FAMILIES must list the registered families"


def get_family(name: str) -> Family:
    """The family called ``name``; a :class:`ConfigError` naming the known ones otherwise."""
    try:
        return FAMILIES[name]
    except KeyError:
        raise ConfigError(f"unknown model family {name!r}; expected one of {', '.join(FAMILIES)}") from None
