"""Corrupting images, for the denoising autoencoder.

Three kinds, each with one ``amount``:

* ``gaussian`` — add N(0, amount²) noise to every pixel, then clip to [0, 1];
* ``salt-pepper`` — each pixel, with probability ``amount``, becomes 0 or 1 (even odds);
* ``mask`` — each pixel, with probability ``amount``, is set to 0 (dropped).

Corruption is applied on the fly to float batches on the training device, drawing from the given
``torch.Generator`` (or PyTorch's global RNG, whose state training checkpoints save).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch

from vaelab.errors import ConfigError

KINDS = ("gaussian", "salt-pepper", "mask")

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
        if not self.amount > 0 or (self.kind != "gaussian" and self.amount > 1):
            limit = "> 0" if self.kind == "gaussian" else "in (0, 1]"
            raise ConfigError(f"the {self.kind} corruption amount must be {limit}, got {self.amount}")

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
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Corruption":
        return cls(**data)

    @classmethod
    def of(cls, kind: str, amount: float | None = None) -> "Corruption":
        """``kind`` with ``amount``, or that kind's default amount (:data:`DEFAULT_AMOUNTS`)."""
        if kind not in KINDS:
            raise ConfigError(f"unknown corruption {kind!r}; choose one of: {', '.join(KINDS)}")
        return cls(kind, DEFAULT_AMOUNTS[kind] if amount is None else float(amount))

    def describe(self) -> str:
        """E.g. ``gaussian noise σ=0.3`` or ``salt-pepper p=0.2``."""
        return f"gaussian noise σ={self.amount:g}" if self.kind == "gaussian" else f"{self.kind} p={self.amount:g}"
