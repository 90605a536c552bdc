"""A number measured over several seeds: its mean ± spread, and which of several is best beyond the spread.

The **spread** of values v_1 … v_n (one per seed) is half their range, (max − min) / 2, so that
mean ± spread runs from the smallest value to the largest when n = 2 (and covers every seed's value
whenever the values are symmetric about their mean). With two seeds it equals the standard deviation
with divisor n (the sample standard deviation, divisor n − 1, is √2 times larger); with more seeds it
is never smaller than that standard deviation. It describes the seeds measured, not a confidence
interval: two seeds are too few for one.

**No difference within the spread.** Two numbers a and b differ only when
|mean_a − mean_b| > spread_a + spread_b: when their mean ± spread intervals do not overlap. Of several,
the one with the best mean is marked **best** (:data:`BEST`) only when it differs, so, from every other;
otherwise it and every number within the spread of it are marked **tied** (:data:`TIED`): the seeds
cannot tell them apart. One seed has no spread, so it calls any difference a difference; the study
measures at least two.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

#: The marks :func:`best_marks` gives.
BEST, TIED, NONE = "best", "tied", ""

#: How the spread is computed, in words, for tables and figures.
SPREAD_WORDS = "± half the range over seeds"


@dataclass(frozen=True)
class OverSeeds:
    """The values of one number measured with each of several seeds (at least one, all finite)."""

    values: tuple[float, ...]

    def __post_init__(self) -> None:
        if not self.values or not all(math.isfinite(v) for v in self.values):
            raise ValueError(f"OverSeeds needs at least one value, all finite; got {self.values}")

    @property
    def mean(self) -> float:
        return math.fsum(self.values) / len(self.values)

    @property
    def spread(self) -> float:
        """Half the range of the values (0 for one value)."""
        return (max(self.values) - min(self.values)) / 2

    def differs_from(self, other: OverSeeds) -> bool:
        """Whether the two means are farther apart than the two spreads together."""
        return abs(self.mean - other.mean) > self.spread + other.spread

    def format(self, fmt: str) -> str:
        """``0.2536 ± 0.0012`` in the number format ``fmt`` (``.4f``; a whole-number format ``d`` shows
        one decimal, as a mean of whole numbers may need)."""
        fmt = ".1f" if fmt.endswith("d") else fmt
        return f"{self.mean:{fmt}} ± {self.spread:{fmt}}"


def over_seeds(values: Sequence[float | int | None]) -> OverSeeds | None:
    """The finite numbers among ``values`` as an :class:`OverSeeds`; None when there are none (a metric
    not defined for the model, or not measured)."""
    kept = tuple(float(v) for v in values if v is not None and math.isfinite(float(v)))
    return OverSeeds(kept) if kept else None


def best_marks(numbers: Sequence[OverSeeds | None], higher_is_better: bool) -> list[str]:
    """For each of ``numbers``: :data:`BEST` for the one with the best mean when it differs from every
    other (:meth:`OverSeeds.differs_from`); otherwise :data:`TIED` for it and each number within the
    spread of it; :data:`NONE` for the rest and for missing numbers. No mark at all when fewer than two
    numbers are present: there is nothing to compare."""
    present = {i: number for i, number in enumerate(numbers) if number is not None}
    marks = [NONE] * len(numbers)
    if len(present) < 2:
        return marks
    sign = -1.0 if higher_is_better else 1.0
    best = min(present, key=lambda i: sign * present[i].mean)
    tied = [i for i, number in present.items() if i != best and not present[best].differs_from(number)]
    if not tied:
        marks[best] = BEST
    else:
        for i in [best, *tied]:
            marks[i] = TIED
    return marks
