"""The results files of ``vaelab diagnose`` and ``vaelab evaluate``: written per sampler, read back checked.

Results are kept per sampler in ``figures/diagnostics.json`` and ``figures/evaluation.json``
(``{"samplers": {"uniform-box": {...}, "gmm": {...}}}``), so one run can be measured with several
samplers; ``vaelab compare`` reads them back.

Each sampler's result records the weights it measured, ``"weights": {"epoch": 2, "sha256": ...}``
(the record of the run's ``model.safetensors``; ``null`` when that file carries none), and a results
file holds the results of one set of weights: when a result is added for other weights than the
stored ones (training was resumed in between), those stored results are dropped, with a one-line
warning naming them and the command that measures them again. Results written before vaelab
recorded the weights count as measured on unknown weights, and are dropped too when a result of
known weights is added. Dropping rather than keeping them marked keeps every reader of the file
(``compare``, a notebook's ``json.load``) from mixing numbers of different weights without knowing
about the marks, and the weights they measured are no longer in the run to check them against.

Reading is guarded (:mod:`vaelab.reading`): a regular file of at most :data:`MAX_RESULTS_BYTES`,
valid JSON however it is damaged (nesting too deep for the parser included) and of the shape above.
A damaged results file is rewritten afresh (with a warning) by the command that writes it, and
refused (one line naming it) by ``vaelab compare``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vaelab.atomic import atomic_write_json
from vaelab.data.image_cache import Warn, warn_on_stderr
from vaelab.errors import RunDirError
from vaelab.json_fields import describe_value
from vaelab.reading import MB, FileProblem, read_json
from vaelab.training.run_dir import WeightsRecord

DIAGNOSTICS = "diagnostics.json"
EVALUATION = "evaluation.json"

#: The command that writes each results file.
WRITTEN_BY = {DIAGNOSTICS: "diagnose", EVALUATION: "evaluate"}

#: The key of a sampler's result that records the weights it measured.
WEIGHTS_KEY = "weights"

#: The largest results file read back: a result is a few kB (a few hundred for a 1,024-d latent
#: space's per-dimension numbers), and there are three samplers.
MAX_RESULTS_BYTES = 16 * MB


def merge_results(
    path: Path, sampler: str, result: dict[str, Any], weights: WeightsRecord | None, warn: Warn = warn_on_stderr
) -> Path:
    """Write ``result``, measured on ``weights`` (None: unknown), under ``samplers[sampler]`` of the
    JSON file at ``path``, keeping the other samplers' results of the same weights.

    A damaged file (unreadable, or not of the shape :func:`read_results` expects) is replaced by a
    fresh one holding ``result`` alone, and results of other weights are dropped, each after a
    one-line warning through ``warn``.
    """
    content, problem = load_results(path)
    if problem:
        warn(f"{path} {problem}; writing it afresh with the {sampler} results only")
    samplers: dict[str, Any] = content.setdefault("samplers", {})
    record = weights.to_dict() if weights is not None else None
    stale = [name for name, old in samplers.items() if name != sampler and old.get(WEIGHTS_KEY) != record]
    if stale:
        warn(_dropped_message(path, stale, samplers, weights))
        for name in stale:
            del samplers[name]
    samplers[sampler] = {**result, WEIGHTS_KEY: record}
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
        content = read_json(path, MAX_RESULTS_BYTES, f"a {path.name}")
    except FileNotFoundError:
        return empty, None
    except FileProblem as exc:
        return empty, str(exc)
    problem = _shape_problem(content)
    return (empty, problem) if problem else (content, None)


def result_weights(result: dict[str, Any]) -> WeightsRecord | None:
    """The weights a result (of a file :func:`load_results` accepted) was measured on, or None
    when it does not record them."""
    record = result.get(WEIGHTS_KEY)
    return WeightsRecord(record["epoch"], record["sha256"]) if isinstance(record, dict) else None


def describe_weights(weights: WeightsRecord | None) -> str:
    """``the weights of epoch 2``, or ``unrecorded weights``."""
    return f"the weights of epoch {weights.epoch}" if weights is not None else "unrecorded weights"


def measure_command(path: Path, sampler: str) -> str:
    """The command that measures ``sampler``'s results of the results file ``path`` again."""
    return f"vaelab {WRITTEN_BY.get(path.name, 'evaluate')} {path.parent.parent} --sampler {sampler}"


def _dropped_message(path: Path, stale: list[str], samplers: dict[str, Any], weights: WeightsRecord | None) -> str:
    measured = sorted({describe_weights(result_weights(samplers[name])) for name in stale})
    commands = " and ".join(f"`{measure_command(path, name)}`" for name in stale)
    return (
        f"{path}: dropping the {', '.join(stale)} results, measured on {' and '.join(measured)}, not on "
        f"{describe_weights(weights)} measured now; measure them again with {commands}"
    )


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
        record = result.get(WEIGHTS_KEY)
        if record is not None and not _is_weights_record(record):
            return (
                f"has {describe_value(record)} as the weights of sampler {name!r}, not an object with an "
                f"epoch (a whole number) and a sha256 (text)"
            )
    return None


def _is_weights_record(record: Any) -> bool:
    if not isinstance(record, dict) or set(record) != {"epoch", "sha256"}:
        return False
    epoch, digest = record["epoch"], record["sha256"]
    return isinstance(epoch, int) and not isinstance(epoch, bool) and epoch >= 0 and isinstance(digest, str)
