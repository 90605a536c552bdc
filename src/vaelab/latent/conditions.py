"""Choosing the classes a conditional model (``cvae``) decodes under, and a class-conditional prior
(a vq-vae's PixelCNN) draws under.

Every analysis of a conditional model passes each test or training image's own class when it
encodes or decodes that image (:func:`vaelab.latent.codec.conditions_of`). Points that come from no
image — samples, grid points, the explorer's cursor — need a class chosen for them:

* :func:`resolve_class` reads a user's choice (``--class Coat``, ``--class 4``, the explorer's
  ``class``) against the dataset's class names, and refuses it for a model that is not conditional;
* :func:`check_sample_class_applies` refuses a class for samples (``generate --class``) only for a
  model that neither decodes nor draws them under one: a class-conditional prior
  (:attr:`~vaelab.models.base.LatentModel.prior_classes`) draws under it, and the refusal for a
  learnt prior without classes, or none yet, says why and what to do; :func:`class_index` then
  reads the choice;
* :func:`cycled_classes` gives ``count`` samples every class in turn (0, 1, …, K − 1, 0, …), so that
  a sample set is class-balanced (each class ⌊count/K⌋ or ⌈count/K⌉ times).
"""

from __future__ import annotations

import numpy as np

from vaelab.data.attributes import unknown_name_message
from vaelab.errors import ConfigError
from vaelab.models.base import LatentModel


def check_class_applies(model: LatentModel, given: object, flag: str = "--class") -> None:
    """A :class:`ConfigError` when a class was ``given`` (not None) for a model that takes none."""
    if given is not None and not model.conditional:
        raise ConfigError(
            f"{flag} chooses the class a conditional model (cvae) decodes under; this run's {model.family} "
            "model takes no class: leave it out"
        )


def resolve_class(
    model: LatentModel, class_names: tuple[str, ...], value: str | int | None, flag: str = "--class"
) -> int | None:
    """The class index ``value`` names: a class name (exact, or the only case-insensitive match), or
    its index as an integer or a plain decimal text (``"4"``); None when ``value`` is None. A
    :class:`ConfigError` for a model that is not conditional (:func:`check_class_applies`), an index
    out of range, or an unknown name (naming the close ones)."""
    check_class_applies(model, value, flag)
    return class_index(class_names, value, flag)


def check_sample_class_applies(model: LatentModel, given: object, flag: str = "--class") -> None:
    """A :class:`ConfigError` when a class was ``given`` for samples (``generate --class``) of a model
    that neither decodes them under one (``conditional``) nor draws them under one (``prior_classes``):
    for a family whose prior is learnt over discrete codes (``vq-vae``), why
    (its prior has no classes, or it has no prior yet) and what to do; otherwise
    :func:`check_class_applies`'s refusal."""
    if given is None or model.conditional or model.prior_classes:
        return
    if model.continuous_codes:  # a prior that is not learnt: only a conditional decoder takes a class
        check_class_applies(model, given, flag)  # raises
    what = f"{flag} chooses the class a class-conditional prior draws samples under"
    if model.has_prior:
        raise ConfigError(
            f"{what}, and this run's {model.family} prior was trained without classes (its images had no labels); "
            f"leave {flag} out"
        )
    raise ConfigError(
        f"{what}, and this {model.family} run has no prior it can use: {model.missing_prior_hint}; then use {flag}"
    )


def class_index(class_names: tuple[str, ...], value: str | int | None, flag: str = "--class") -> int | None:
    """The index of the class ``value`` names among ``class_names`` (see :func:`resolve_class`);
    None for None. A :class:`ConfigError` for an index out of range or an unknown name."""
    if value is None:
        return None
    count = len(class_names)
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise ConfigError(f"{flag} must be a class name or index, got {value!r}")
    if isinstance(value, str) and value.isascii() and value.removeprefix("-").isdigit():  # "4"; "-1" is out of range
        value = int(value)
    if isinstance(value, int):
        if not 0 <= value < count:
            raise ConfigError(f"{flag} {value} is out of range: the model has {count} classes (0 to {count - 1})")
        return value
    if value in class_names:
        return class_names.index(value)
    folded = [k for k, name in enumerate(class_names) if name.casefold() == value.casefold()]
    if len(folded) == 1:
        return folded[0]
    raise ConfigError(f"{flag}: " + unknown_name_message("class", value, class_names))


def cycled_classes(count: int, classes: int) -> np.ndarray:
    """int64 [count]: 0, 1, …, ``classes`` − 1, 0, 1, … (each class equally often, ±1)."""
    return np.arange(count, dtype=np.int64) % classes


def sample_classes(model: LatentModel, count: int, chosen: int | None = None) -> np.ndarray | None:
    """The classes of ``count`` samples of ``model``: all ``chosen`` when given, every class in turn
    otherwise (:func:`cycled_classes`); None for a model that is not conditional."""
    if not model.conditional:
        return None
    if chosen is not None:
        return np.full(count, chosen, dtype=np.int64)
    return cycled_classes(count, model.condition_dim)
