"""What every command's parser shares: the parser class, strict number types, common options, output.

The number types accept plain ASCII forms only (:mod:`vaelab.numbers`) within the bounds of
:mod:`vaelab.limits`; lists of allowed values come from :mod:`vaelab.choices`. Nothing here imports
PyTorch, so ``vaelab --help`` stays fast.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Generic, NoReturn, TypeVar

from vaelab import choices
from vaelab.errors import VaelabError
from vaelab.limits import MAX_ABS_FACTOR, MAX_DATASET_IMAGES, MAX_EPOCHS, MAX_PORT, MAX_SEED
from vaelab.numbers import plain_float, plain_int

EXIT_USAGE = 2

NumberT = TypeVar("NumberT", int, float)


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors are one line."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


class NumberType(Generic[NumberT]):
    """An argparse type converting with ``number`` (:func:`~vaelab.numbers.plain_int` or
    :func:`~vaelab.numbers.plain_float`: plain ASCII forms only) and keeping values for which
    ``accept`` holds. The type records ``number`` (the converter) and ``high`` (its upper bound, or
    None), so that tests can check every numeric flag; argparse names it by ``__name__``."""

    def __init__(
        self, number: Callable[[str], NumberT], accept: Callable[[NumberT], bool], what: str, high: float | None = None
    ) -> None:
        self.number: Callable[[str], NumberT] = number
        self.accept: Callable[[NumberT], bool] = accept
        self.what = what
        self.high = high
        self.__name__ = what.replace(" ", "_")

    def __call__(self, text: str) -> NumberT:
        try:
            value: NumberT | None = self.number(text)
        except ValueError:
            value = None
        if value is None or not self.accept(value):
            raise argparse.ArgumentTypeError(f"expected {self.what}, got {text!r}")
        return value


def bounded_int(low: int, high: int) -> NumberType[int]:
    """An argparse type for integers from ``low`` to ``high`` (both included)."""
    return NumberType(plain_int, lambda v: low <= v <= high, f"an integer from {low:,} to {high:,}", high)


def odd_int(low: int, high: int) -> NumberType[int]:
    """An argparse type for odd integers from ``low`` to ``high`` (both odd, both included)."""
    return NumberType(
        plain_int, lambda v: low <= v <= high and v % 2 == 1, f"an odd integer from {low} to {high}", high
    )


def count_up_to(high: int) -> NumberType[int]:
    """An argparse type for counts from 1 to ``high``."""
    return bounded_int(1, high)


positive_float = NumberType(plain_float, lambda v: v > 0, "a positive number")
port_number = bounded_int(0, MAX_PORT)
epochs_int = count_up_to(MAX_EPOCHS)
images_int = count_up_to(MAX_DATASET_IMAGES)
image_index = bounded_int(0, MAX_DATASET_IMAGES - 1)
seed_int = bounded_int(0, MAX_SEED)

EPOCHS_RANGE = f"1 to {MAX_EPOCHS:,}"
IMAGES_RANGE = f"at most {MAX_DATASET_IMAGES:,} and the split's size"
SEED_RANGE = f"0 to {MAX_SEED:,}"


class FactorsType:
    """argparse type for --factors (START:STOP[:STEP] or a list), via the latent layer's parser;
    marked as :class:`NumberType` marks its types."""

    __name__ = "factors"
    number = staticmethod(plain_float)  # a list or range of them
    high = MAX_ABS_FACTOR

    def __call__(self, text: str) -> tuple[float, ...]:
        from vaelab.latent.arithmetic import parse_factors

        try:
            return parse_factors(text)
        except VaelabError as exc:
            raise argparse.ArgumentTypeError(str(exc).removeprefix("--factors ")) from None


factors_type = FactorsType()


def add_device(parser: argparse.ArgumentParser, default: str | None = "auto", help: str | None = None) -> None:
    """``--device``, one of :data:`vaelab.choices.DEVICES`."""
    parser.add_argument(
        "--device", default=default, choices=choices.DEVICES, help=help or "where to compute (default: auto)"
    )


def add_run_options(parser: argparse.ArgumentParser) -> None:
    """``RUN_DIR``, ``--data-dir`` and ``--device``: what every analysis of a run takes."""
    parser.add_argument("run_dir", metavar="RUN_DIR", help="a run directory written by `vaelab train`")
    parser.add_argument("--data-dir", help="folder with the dataset (default: where the run found it)")
    add_device(parser)


def add_seed(parser: argparse.ArgumentParser, what: str) -> None:
    """``--seed`` (default 0) for ``what``, e.g. "sampling seed"."""
    parser.add_argument("--seed", type=seed_int, default=0, help=f"{what}, {SEED_RANGE} (default: 0)")


SAMPLER_HELP = (
    "how latent points are drawn: uniform-box, uniform in the embeddings' bounding box; prior, the model's prior "
    "(N(0, I); vamp's is a mixture; N(0, I) for a family without one); gmm, a 10-component Gaussian mixture fitted to "
    "the training set's embeddings; two-stage, a second small VAE fitted to them (Dai and Wipf, 2019), its N(0, I) "
    "draws decoded to latent points (default: the model's own: uniform-box for the plain autoencoder, as the book; "
    "gmm for rae; prior for every other family)"
)


def add_sampler(parser: argparse.ArgumentParser) -> None:
    """``--sampler``, one of :data:`vaelab.choices.SAMPLERS` (default None: the model's own)."""
    parser.add_argument("--sampler", choices=choices.SAMPLERS, help=SAMPLER_HELP)


def print_paths(paths: Sequence[Path]) -> None:
    """One line per file written."""
    for path in paths:
        print(f"wrote {path}")
