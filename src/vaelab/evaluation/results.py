"""The results files of ``vaelab diagnose`` and ``vaelab evaluate``: written per sampler, read back checked.

Results are kept per sampler in ``figures/diagnostics.json`` and ``figures/evaluation.json``
(``{"samplers": {"uniform-box": {...}, "gmm": {...}}}``), so one run can be measured with several
samplers; ``vaelab compare`` reads them back. A damaged results file is rewritten afresh (with a
warning) by the command that writes it, and refused (one line naming it) by ``vaelab compare``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from vaelab.atomic import atomic_write_json
from vaelab.data.image_cache import Warn, warn_on_stderr
from vaelab.errors import RunDirError
from vaelab.json_fields import describe_value

DIAGNOSTICS = "diagnostics.json"
EVALUATION = "evaluation.json"

#: The command that writes each results file.
WRITTEN_BY = {DIAGNOSTICS: "diagnose", EVALUATION: "evaluate"}


def merge_results(path: Path, sampler: str, result: dict[str, Any], warn: Warn = warn_on_stderr) -> Path:
    """Write ``result`` under ``samplers[sampler]`` of the JSON file at ``path``, keeping the rest.

    A damaged file (unreadable, or not of the shape :func:`read_results` expects) is replaced by a
    fresh one holding ``result`` alone, after a one-line warning through ``warn``.
    """
    content, problem = load_results(path)
    if problem:
        warn(f"{path} {problem}; writing it afresh with the {sampler} results only")
    content.setdefault("samplers", {})[sampler] = result
    return atomic_write_json(path, content)


def read_results(path: Path) -> dict[str, Any]:
    """A per-sampler results file, ``{"samplers": {name: {...}, ...}}`` (no samplers when the file
    does not exist); a :class:`RunDirError` naming it, and the command that re-creates it, when it
    is unreadable or of another shape."""
    content, problem = load_results(path)
    if problem:
        command = WRITTEN_BY.get(path.name, "evaluate")
        raise RunDirError(
            f"{path} {problem}; re-create it with `vaelab {command} {path.parent.parent}` "
            f"(once for each --sampler it held)"
        )
    return content


def load_results(path: Path) -> tuple[dict[str, Any], str | None]:
    """The content of a per-sampler results file and None, or an empty content (no samplers) and
    what is wrong with the file (e.g. ``is not valid JSON (...)``); no file is no problem."""
    empty: dict[str, Any] = {"samplers": {}}
    try:
        content = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return empty, None
    except UnicodeDecodeError as exc:
        return empty, f"is not UTF-8 text (bad byte at offset {exc.start})"
    except ValueError as exc:
        return empty, f"is not valid JSON ({exc})"
    except OSError as exc:
        return empty, f"cannot be read ({exc.strerror or exc})"
    problem = _shape_problem(content)
    return (empty, problem) if problem else (content, None)


def _shape_problem(content: Any) -> str | None:
    """What is wrong with ``content`` as ``{"samplers": {name: {...}}}``, or None."""
    if not isinstance(content, dict):
        return f'holds {describe_value(content)}, not an object with "samplers"'
    samplers = content.get("samplers", {})
    if not isinstance(samplers, dict):
        return f'has "samplers": {describe_value(samplers)} where an object of results per sampler belongs'
    for name, result in samplers.items():
        if not isinstance(result, dict):
            return f"has {describe_value(result)} as the results of sampler {name!r}, not an object"
    return None
