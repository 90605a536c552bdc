"""Reading a run's TensorBoard event files back with TensorBoard's own reader, for the tests."""

from __future__ import annotations

import itertools
from importlib.util import find_spec
from pathlib import Path

import pytest

#: Whether the ``tensorboard`` package is installed.
TENSORBOARD_INSTALLED = find_spec("tensorboard") is not None

#: Marks a test that needs the ``tensorboard`` package (skipped, saying so, without it).
needs_tensorboard = pytest.mark.skipif(
    not TENSORBOARD_INSTALLED,
    reason="needs the tensorboard package (`pip install 'vaelab[tensorboard]'`, which `make setup` installs)",
)


def read_events(folder: Path):
    """TensorBoard's ``EventAccumulator`` over ``folder``, every event kept (no sampling), loaded as
    TensorBoard loads a run: files in name order, purge marks applied."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    accumulator = EventAccumulator(str(folder), size_guidance={"scalars": 0, "images": 0, "tensors": 0})
    accumulator.Reload()
    return accumulator


def steps_by_tag(accumulator) -> dict[str, list[int]]:
    """The steps of every scalar and image tag, in the order TensorBoard shows them."""
    tags = accumulator.Tags()
    steps = {tag: [e.step for e in accumulator.Scalars(tag)] for tag in tags["scalars"]}
    steps.update({tag: [e.step for e in accumulator.Images(tag)] for tag in tags["images"]})
    return steps


def assert_steps_increase(accumulator) -> dict[str, list[int]]:
    """Every tag's steps are unique and strictly increasing (no point twice, none going backwards);
    returns them."""
    steps = steps_by_tag(accumulator)
    for tag, values in steps.items():
        assert all(a < b for a, b in itertools.pairwise(values)), f"{tag}: steps {values}"
    return steps


def scalar_values(accumulator, prefix: str = "") -> dict[str, list[tuple[int, float]]]:
    """(step, value) of every scalar tag that starts with ``prefix``."""
    return {
        tag: [(e.step, e.value) for e in accumulator.Scalars(tag)]
        for tag in accumulator.Tags()["scalars"]
        if tag.startswith(prefix)
    }
