"""Shape checks of JSON content against dataclass fields."""

from dataclasses import dataclass, field
from typing import Any

import pytest

from vaelab.json_fields import fields_problem, unknown_fields, value_problem


@dataclass
class Inner:
    size: int
    sizes: tuple[int, ...] = (1,)


@dataclass
class Outer:
    name: str
    inner: Inner
    rate: float = 1.0
    flag: bool = False
    limit: int | None = None
    extra: Inner | None = None
    params: dict[str, Any] = field(default_factory=dict)
    rows: list[dict[str, Any]] = field(default_factory=list)


GOOD = {
    "name": "a",
    "inner": {"size": 2, "sizes": [1, 2]},
    "rate": 3,
    "flag": True,
    "limit": None,
    "extra": {"size": 1},
    "params": {"x": [1]},
    "rows": [{"epoch": 1}],
}


def test_a_fitting_object_has_no_problem():
    assert fields_problem(Outer, GOOD) is None
    assert fields_problem(Outer, {"name": "a", "inner": {"size": 0}}) is None  # defaults may be left out


@pytest.mark.parametrize(
    "changes, expected",
    [
        ({"bogus": 1}, "unknown field(s) bogus"),
        ({"inner": {"size": 1, "depth": 2}}, "unknown field(s) inner.depth"),
        ({"inner": {}}, "missing field(s) inner.size"),
        ({"name": 5}, "name should be a string, not 5"),
        ({"rate": "fast"}, "rate should be a number, not 'fast'"),
        ({"rate": True}, "rate should be a number, not True"),
        ({"flag": 1}, "flag should be true or false, not 1"),
        ({"limit": 2.5}, "limit should be an integer or null, not 2.5"),
        ({"inner": [1]}, "inner should be a JSON object, not a list"),
        ({"extra": 3}, "extra should be a JSON object, not 3"),
        ({"extra": {"size": "2"}}, "extra.size should be an integer, not '2'"),
        ({"inner": {"size": 1, "sizes": [1, "2"]}}, "inner.sizes should be a list of integers, not a list"),
        ({"params": [1]}, "params should be an object, not a list"),
        ({"rows": [1]}, "rows should be a list of objects, not a list"),
    ],
)
def test_each_wrong_shape_is_named(changes, expected):
    assert fields_problem(Outer, {**GOOD, **changes}) == expected


def test_not_an_object_and_ignored_keys():
    assert fields_problem(Outer, [1, 2]) == "the content should be a JSON object, not a list"
    assert fields_problem(Outer, {**GOOD, "version": "1"}, ignore=("version",)) is None
    assert unknown_fields(Outer, {**GOOD, "b": 1, "a": 2}) == ["a", "b"]
    assert value_problem([0.5, 1], list[float], "sums") is None
    assert value_problem("x", list[float], "sums") == "sums should be a list of numbers, not 'x'"
