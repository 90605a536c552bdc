"""Corrupting images, for the denoising autoencoder.

Three kinds, each with one ``amount``:

* ``gaussian`` — add N(0, amount²) noise to every pixel, then clip to [0, 1];
* ``salt-pepper`` — each pixel, with probability ``amount``, becomes 0 or 1 (even odds);
* ``mask`` — each pixel, with probability ``amount``, is set to 0 (dropped).

Amounts are checked when a Corruption is made, so a bad ``--noise-amount`` is refused before any
data loads: σ from just above 0 to :data:`~vaelab.limits.MAX_NOISE_SIGMA` (finite), fractions in
(0, 1].

Corruption is applied on the fly to float batches on the training device, drawing from the given
``torch.Generator`` (or PyTorch's global RNG, whose state training checkpoints save).

:func:`override_corruption` is the one rule for ``--corruption KIND`` and ``--noise-amount X``
changing a corruption, wherever they are given: ``vaelab train`` (the preset's), ``train --resume``
(the saved run's) and ``vaelab denoise`` (the run's, or the default).
"""

from __future__ import annotations

import numbers
from dataclasses import asdict, dataclass
from typing import Any, overload

import torch

from vaelab.choices import CORRUPTIONS as KINDS
from vaelab.errors import ConfigError
from vaelab.limits import MAX_NOISE_SIGMA

#: The amount each kind takes when only the kind is given.
DEFAULT_AMOUNTS = {"gaussian": 0.3, "salt-pepper": 0.2, "mask": 0.5}


@dataclass(frozen=True)
class Corruption:
    """A kind of corruption and its amount (σ for ``gaussian``, a probability otherwise)."""

    kind: str = "gaussian"
    amount: float = 0.3

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ConfigError(f"unknown corruption {self.kind!r}; choose one of: {', '.join(KINDS)}")
        check_amount(self.kind, self.amount)

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """A corrupted copy of ``x`` (float images in [0, 1])."""
        if self.kind == "gaussian":
            noise = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
            return (x + self.amount * noise).clamp_(0.0, 1.0)
        hit = torch.rand(x.shape, generator=generator, device=x.device) < self.amount
        if self.kind == "mask":
            return x.masked_fill(hit, 0.0)
        salt = torch.rand(x.shape, generator=generator, device=x.device) < 0.5
        return torch.where(hit, salt.to(x.dtype), x)

    def to_dict(self) -> dict[str, Any]:
        """The fields, for ``config.json``."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Corruption:
        """The corruption :meth:`to_dict` wrote (checked like any other)."""
        return cls(**data)

    @classmethod
    def of(cls, kind: str, amount: float | None = None) -> Corruption:
        """``kind`` with ``amount``, or that kind's default amount (:data:`DEFAULT_AMOUNTS`)."""
        if kind not in KINDS:
            raise ConfigError(f"unknown corruption {kind!r}; choose one of: {', '.join(KINDS)}")
        return cls(kind, DEFAULT_AMOUNTS[kind] if amount is None else float(amount))

    def describe(self) -> str:
        """E.g. ``gaussian noise σ=0.3`` or ``salt-pepper p=0.2``."""
        return f"gaussian noise σ={self.amount:g}" if self.kind == "gaussian" else f"{self.kind} p={self.amount:g}"


def amount_bound(kind: str) -> float:
    """The largest amount ``kind`` takes: :data:`~vaelab.limits.MAX_NOISE_SIGMA` for gaussian, 1 otherwise."""
    return MAX_NOISE_SIGMA if kind == "gaussian" else 1.0


def check_amount(kind: str, amount: object) -> None:
    """A one-line :class:`ConfigError` naming ``--noise-amount`` unless ``amount`` is a real number
    more than 0 and at most :func:`amount_bound` of ``kind`` (so never NaN or infinite)."""
    if not isinstance(amount, numbers.Real) or isinstance(amount, bool):
        raise ConfigError(f"--noise-amount must be a number, got {amount!r}")
    # 0 < amount ≤ bound, written with <= only (typeshed's numbers.Real has no >); false for NaN and ±inf
    if amount <= amount_bound(kind) and not amount <= 0:
        return
    what = "the gaussian corruption's σ" if kind == "gaussian" else f"the fraction of pixels {kind} hits"
    raise ConfigError(
        f"--noise-amount {amount!r} is out of range: {what} must be more than 0 and at most {amount_bound(kind):g}"
    )


@overload
def override_corruption(base: Corruption, kind: str | None = None, amount: float | None = None) -> Corruption: ...


@overload
def override_corruption(
    base: Corruption | None, kind: str | None = None, amount: float | None = None
) -> Corruption | None: ...


def override_corruption(
    base: Corruption | None, kind: str | None = None, amount: float | None = None
) -> Corruption | None:
    """``base`` changed by a ``kind`` (``--corruption``) and an ``amount`` (``--noise-amount``), either
    or both None when not given.

    Neither given: ``base`` itself (None, no corruption, stays None). An amount alone changes the
    amount of ``base``'s kind (gaussian when there is no base). A kind keeps ``base``'s amount when
    it is ``base``'s kind, and otherwise takes ``amount`` or the kind's :data:`DEFAULT_AMOUNTS`.
    A :class:`ConfigError` names the flag for an unknown kind or an amount out of range.
    """
    if kind is None and amount is None:
        return base
    if kind is None:
        kind = base.kind if base is not None else "gaussian"
    if amount is None and base is not None and base.kind == kind:
        amount = base.amount
    return Corruption.of(kind, amount)
