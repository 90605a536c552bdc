"""Training objectives: each scores a model's output on a batch as named loss terms.

An objective is called as ``objective(model, batch, output)``: the model (for its capabilities; it
runs none of its layers — every computation through parameters is in the model's forward pass, see
:mod:`vaelab.models.base`), the :class:`~vaelab.training.batch.Batch` (inputs, clean targets, labels)
and the :class:`~vaelab.models.base.ModelOutput`. It returns a dictionary of scalar tensors, each
**averaged over the images of the batch**; ``"loss"`` is minimised, the other terms are reported
beside it (in ``metrics.jsonl``, the progress line, validation). Every term is in nats unless its
family's docstring says otherwise; ``neg_elbo_nats`` is the negative ELBO per image wherever a
family has one.

One file per family of objectives; :data:`OBJECTIVES` is the registry a preset names.
"""

from __future__ import annotations

from typing import Any, Protocol

from vaelab.errors import ConfigError
from vaelab.models.base import LatentModel, ModelOutput
from vaelab.models.distributions import kl_to_standard_normal
from vaelab.training.batch import Batch
from vaelab.training.objectives.beta_tcvae import BetaTcVaeObjective
from vaelab.training.objectives.book import (
    BceObjective,
    BetaVaeObjective,
    VaeBookObjective,
    VaeMseObjective,
    gaussian_decoder_variance,
    squared_error_per_image,
)
from vaelab.training.objectives.common import Terms, bce_per_image, check_weight, kl_term
from vaelab.training.objectives.info_vae import InfoVaeObjective
from vaelab.training.objectives.iwae import IwaeObjective
from vaelab.training.objectives.rae import RaeObjective
from vaelab.training.objectives.vamp import VampObjective
from vaelab.training.objectives.vq_vae import VqVaeObjective
from vaelab.training.objectives.wae_mmd import WaeMmdObjective


class Objective(Protocol):
    """A training objective: ``terms`` names what ``__call__`` returns, ``"loss"`` first. An
    objective with a main weight says which constructor parameter ``train --beta`` sets in a class
    attribute ``beta_param`` (none: ``--beta`` is refused for its presets)."""

    terms: tuple[str, ...]

    def __call__(self, model: LatentModel, batch: Batch, output: ModelOutput) -> Terms: ...


OBJECTIVES: dict[str, type] = {
    "bce": BceObjective,
    "vae-book": VaeBookObjective,
    "beta-vae": BetaVaeObjective,
    "vae-mse": VaeMseObjective,
    "iwae": IwaeObjective,
    "vamp": VampObjective,
    "rae": RaeObjective,
    "wae-mmd": WaeMmdObjective,
    "info-vae": InfoVaeObjective,
    "beta-tcvae": BetaTcVaeObjective,
    "vq-vae": VqVaeObjective,
}


def make_objective(name: str, params: dict[str, Any] | None = None) -> Objective:
    """The objective called ``name`` built with ``params``; a :class:`ConfigError` for an unknown
    name or parameters it does not take."""
    try:
        cls = OBJECTIVES[name]
    except KeyError:
        raise ConfigError(f"unknown objective {name!r}; expected one of {', '.join(OBJECTIVES)}") from None
    try:
        objective: Objective = cls(**(params or {}))
    except TypeError as exc:
        raise ConfigError(f"bad parameters {params!r} for objective {name!r} ({exc})") from None
    return objective


__all__ = [
    "OBJECTIVES",
    "BceObjective",
    "BetaTcVaeObjective",
    "BetaVaeObjective",
    "InfoVaeObjective",
    "Objective",
    "RaeObjective",
    "Terms",
    "VaeBookObjective",
    "VaeMseObjective",
    "VqVaeObjective",
    "WaeMmdObjective",
    "bce_per_image",
    "check_weight",
    "gaussian_decoder_variance",
    "kl_term",
    "kl_to_standard_normal",
    "make_objective",
    "squared_error_per_image",
]
