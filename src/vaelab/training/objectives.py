"""Training objectives, each returning its named loss terms.

Every objective maps (model output, clean target) to a dictionary of scalar tensors, each
**averaged over the images of the batch**. The key ``"loss"`` is the quantity that is minimised;
the other keys are reported alongside it. Reductions, per term:

``bce`` (book-ae, the book's ``binary_crossentropy``):
    * ``loss`` — binary cross-entropy averaged over every pixel of every image (the number
      Keras prints as ``loss``; nats per pixel).
    * ``bce_nats`` — the same cross-entropy summed over the pixels of an image, then averaged
      over images (nats per image; ``loss`` × pixels per image).

The cross-entropy is computed from the decoder's logits (``binary_cross_entropy_with_logits``),
which equals sigmoid + BCE but never takes the log of 0.
"""

from __future__ import annotations

from typing import Any, Protocol

import torch
import torch.nn.functional as F

from vaelab.errors import ConfigError

Terms = dict[str, torch.Tensor]


class Objective(Protocol):
    """A training objective: ``terms`` names what ``__call__`` returns, ``"loss"`` first."""

    terms: tuple[str, ...]

    def __call__(self, output: Any, target: torch.Tensor) -> Terms: ...


def bce_per_image(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy summed over each image's pixels and channels: shape [batch]."""
    per_pixel = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    return per_pixel.flatten(1).sum(dim=1)


class BceObjective:
    """The book's autoencoder loss: per-pixel mean BCE (see the module docstring)."""

    terms = ("loss", "bce_nats")

    def __call__(self, output: Any, target: torch.Tensor) -> Terms:
        nats = bce_per_image(output.logits, target).mean()
        return {"loss": nats / target[0].numel(), "bce_nats": nats}


OBJECTIVES: dict[str, type] = {"bce": BceObjective}


def make_objective(name: str, params: dict[str, Any] | None = None) -> Objective:
    """The objective called ``name`` built with ``params``."""
    try:
        cls = OBJECTIVES[name]
    except KeyError:
        raise ConfigError(f"unknown objective {name!r}; expected one of {', '.join(OBJECTIVES)}") from None
    return cls(**(params or {}))
