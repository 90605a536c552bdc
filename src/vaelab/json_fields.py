"""Checking that what ``json.loads`` returned has the shape a dataclass expects.

The files of a run directory can be edited by hand, damaged, or written by another vaelab
version. Before their content is used it is checked against the field types of the dataclass it
becomes (nested dataclasses, ``X | None``, ``list[...]``, ``dict[str, ...]``, ``tuple[X, ...]``),
so that a wrong shape is one clear sentence instead of a ``TypeError`` deep inside the code.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any


def unknown_fields(cls: type, data: dict[str, Any], ignore: tuple[str, ...] = ()) -> list[str]:
    """The keys of ``data`` that are not fields of dataclass ``cls`` (nor in ``ignore``), sorted."""
    known = {f.name for f in dataclasses.fields(cls)} | set(ignore)
    return sorted(set(data) - known)


def fields_problem(cls: type, data: Any, where: str = "", ignore: tuple[str, ...] = ()) -> str | None:
    """What is wrong with ``data`` as the fields of dataclass ``cls``, or None when it fits.

    ``data`` must be a JSON object with every required field, no unknown one (keys in ``ignore``
    are allowed) and values of the fields' types; nested dataclasses are checked the same way.
    ``where`` prefixes the field names in the answer (e.g. ``model.``).
    """
    if not isinstance(data, dict):
        return f"{where.rstrip('.') or 'the content'} should be a JSON object, not {describe_value(data)}"
    unknown = unknown_fields(cls, data, ignore)
    if unknown:
        return "unknown field(s) " + ", ".join(where + name for name in unknown)
    required = [f.name for f in dataclasses.fields(cls) if _required(f)]
    missing = [name for name in required if name not in data]
    if missing:
        return "missing field(s) " + ", ".join(where + name for name in missing)
    hints = typing.get_type_hints(cls)
    for name, value in data.items():
        if name in hints:
            problem = value_problem(value, hints[name], where + name)
            if problem:
                return problem
    return None


def value_problem(value: Any, hint: Any, where: str) -> str | None:
    """What is wrong with ``value`` as a value of type ``hint`` (named ``where``), or None."""
    classes = [arg for arg in (hint, *typing.get_args(hint)) if isinstance(arg, type) and dataclasses.is_dataclass(arg)]
    if classes and (isinstance(value, dict) or not _matches(value, hint)):
        return fields_problem(classes[0], value, where + ".")
    if _matches(value, hint):
        return None
    return f"{where} should be {_describe(hint)}, not {describe_value(value)}"


def describe_value(value: Any) -> str:
    """A short description of a JSON value for an error message: ``a list``, ``"abc"``, ``5``."""
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _required(f: dataclasses.Field) -> bool:
    return f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING


def _matches(value: Any, hint: Any) -> bool:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any:
        return True
    if hint is type(None) or hint is None:
        return value is None
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return isinstance(value, dict) and fields_problem(hint, value) is None
    if origin in (typing.Union, types.UnionType):
        return any(_matches(value, arg) for arg in args)
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if origin is dict or hint is dict:
        value_type = args[1] if len(args) == 2 else Any
        return isinstance(value, dict) and all(_matches(v, value_type) for v in value.values())
    if origin in (list, tuple) or hint in (list, tuple):
        item_type = args[0] if args else Any
        return isinstance(value, (list, tuple)) and all(_matches(v, item_type) for v in value)
    return isinstance(value, hint) if isinstance(hint, type) else True


def _describe(hint: Any) -> str:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe(arg) for arg in args)
    names = {bool: "true or false", int: "an integer", float: "a number", str: "a string", type(None): "null"}
    if hint in names:
        return names[hint]
    if origin is dict or hint is dict or dataclasses.is_dataclass(hint):
        return "an object"
    if origin in (list, tuple) or hint in (list, tuple):
        return f"a list of {_plural(args[0])}" if args and args[0] is not Any else "a list"
    return getattr(hint, "__name__", str(hint))


def _plural(hint: Any) -> str:
    names = {int: "integers", float: "numbers", str: "strings", bool: "booleans"}
    return names.get(hint, "objects" if typing.get_origin(hint) is dict or hint is dict else _describe(hint))
