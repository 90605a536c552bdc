"""Safetensors checkpoints: weights, optimiser state, RNG states and progress, no pickle.

A checkpoint is one ``.safetensors`` file (:mod:`vaelab.safetensors_io`). Tensors are stored under
prefixed names (``model.*``, ``optim.<param index>.<key>``, ``rng.*``); everything else (epoch,
step, the optimiser's hyper-parameters, the metric history, the run's recipe, the record of the
weights file that belongs to it) is JSON in the file's metadata, beside the SHA-256 of the tensor
data. Loading never unpickles anything, so a run directory from an untrusted source is safe to
open; it verifies that digest, checks the shape and range of every metadata field and refuses, in
one line, a damaged checkpoint or one from another run (a recipe other than the resumed run's
config).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from vaelab import __version__
from vaelab.errors import RunDirError, VaelabError
from vaelab.json_fields import describe_value, fields_problem, unknown_fields, value_problem
from vaelab.reading import MB
from vaelab.safetensors_io import read_safetensors, write_safetensors
from vaelab.training.config import recipe_differences
from vaelab.training.optimizer import IMPLEMENTATION_OPTIONS, with_current_implementation

FORMAT = "vaelab-checkpoint-1"

#: The largest |loss term| per image a checkpoint's running sums may imply (a BCE or KL in nats per
#: image of a 256×256 RGB image stays far below).
MAX_TERM_PER_IMAGE = 1e9

#: What to do about a damaged checkpoint, in every error that says so.
DAMAGED_FIX = "restore it from a backup, or train again in a new --run-dir"


@dataclass
class TrainingState:
    """Where training stands, beside the tensors.

    Attributes:
        epoch: index of the epoch in progress (equal to the number of completed epochs when
            ``step`` is 0).
        step: batches already done in that epoch (non-zero only after an interruption).
        progress: running sums of the epoch in progress (loss terms × images, images, seconds).
        history: one metrics row per completed epoch (the content of ``metrics.jsonl``).
        weights: the weights file that belongs to this state, ``{"epoch": N, "sha256": digest}``:
            the last completed epoch and the digest of its weights (:func:`vaelab.safetensors_io.
            tensors_digest`), which ``model.safetensors`` must record to be trusted; empty before the
            first epoch ends and in checkpoints written before vaelab 0.6.
    """

    epoch: int = 0
    step: int = 0
    progress: dict[str, Any] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)
    weights: dict[str, Any] = field(default_factory=dict)


def capture_rng(shuffle: torch.Generator) -> dict[str, torch.Tensor]:
    """The RNG states that make a resumed run continue exactly."""
    states = {"rng.torch": torch.get_rng_state(), "rng.shuffle": shuffle.get_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        for i, state in enumerate(torch.cuda.get_rng_state_all()):
            states[f"rng.cuda.{i}"] = state
    return states


def restore_rng(tensors: dict[str, torch.Tensor], shuffle: torch.Generator, source: Path | None = None) -> None:
    """Inverse of :func:`capture_rng` (CUDA states are restored where the devices exist); a
    :class:`RunDirError` naming ``source`` when the states are missing or are not RNG states."""
    try:
        torch.set_rng_state(tensors["rng.torch"])
        shuffle.set_state(tensors["rng.shuffle"])
    except (KeyError, RuntimeError, TypeError) as exc:
        raise RunDirError(
            f"{source or 'the training checkpoint'} has missing or damaged random-number-generator states "
            f"({type(exc).__name__}: {exc}); {DAMAGED_FIX}"
        ) from None
    cuda = sorted(k for k in tensors if k.startswith("rng.cuda."))
    if cuda and torch.cuda.is_available():
        count = min(len(cuda), torch.cuda.device_count())
        torch.cuda.set_rng_state_all([tensors[f"rng.cuda.{i}"] for i in range(count)])


def save_checkpoint(
    path: Path,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    state: TrainingState,
    rng: dict[str, torch.Tensor],
    recipe: dict[str, Any] | None = None,
) -> None:
    """Write everything needed to resume, atomically (an :class:`OSError` leaves the previous
    checkpoint in place).

    ``recipe`` (:meth:`vaelab.training.config.RunConfig.recipe`) is recorded so that
    :func:`load_checkpoint` can refuse the checkpoint of another run.
    """
    tensors = {f"model.{k}": v for k, v in model.state_dict().items()}
    opt_state = optimizer.state_dict()
    scalars: dict[str, dict[str, Any]] = {}
    for index, param_state in opt_state["state"].items():
        for key, value in param_state.items():
            if torch.is_tensor(value):
                tensors[f"optim.{index}.{key}"] = value
            else:
                scalars.setdefault(str(index), {})[key] = value
    tensors.update(rng)
    metadata = {
        "format": FORMAT,
        "state": json.dumps(state.__dict__),
        "optim_param_groups": json.dumps(opt_state["param_groups"]),
        "optim_scalars": json.dumps(scalars),
    }
    if recipe is not None:
        metadata["recipe"] = json.dumps(recipe, sort_keys=True)
    write_safetensors(path, tensors, metadata)


def load_checkpoint(
    path: Path, model: nn.Module, optimizer: torch.optim.Optimizer, recipe: dict[str, Any] | None = None
) -> tuple[TrainingState, dict[str, torch.Tensor]]:
    """Load weights and optimiser state in place; return the training state and RNG tensors.

    With ``recipe`` (the resumed run's :meth:`~vaelab.training.config.RunConfig.recipe`), a
    checkpoint that records another recipe is refused; checkpoints written before vaelab recorded
    it load as before. Every problem is a :class:`RunDirError` naming ``path``.
    """
    cap = 6 * state_bytes(model) + 64 * MB  # the weights, two moments each, RNG states, the history
    tensors, metadata = read_safetensors(path, RunDirError, DAMAGED_FIX, max_bytes=cap)
    if metadata.get("format") != FORMAT:
        raise RunDirError(f"{path} is not a vaelab training checkpoint; delete it or use another --run-dir")
    if recipe is not None:
        check_recipe(path, metadata, recipe)
    state = read_training_state(path, metadata)
    _check_finite(path, tensors)
    model_state = {k[len("model.") :]: v for k, v in tensors.items() if k.startswith("model.")}
    load_weights_into(model, model_state, path)
    _load_optimizer(path, tensors, metadata, optimizer)
    rng = {k: v for k, v in tensors.items() if k.startswith("rng.")}
    return state, rng


def state_bytes(model: nn.Module) -> int:
    """The bytes of ``model``'s state dict (weights and buffers)."""
    return sum(t.numel() * t.element_size() for t in model.state_dict().values())


def check_recipe(path: Path, metadata: dict[str, str], recipe: dict[str, Any]) -> None:
    """A :class:`RunDirError` when the checkpoint's metadata records a recipe other than ``recipe``."""
    if "recipe" not in metadata:
        return  # written before vaelab recorded it
    saved = _metadata_json(path, metadata, "recipe", dict)
    different = sorted(recipe_differences(saved, recipe), key=lambda key: (key != "preset", key))
    if different:
        raise RunDirError(
            f"{path} belongs to another run: it records {_settings(saved, recipe, different)} but this run's "
            f"config.json has {_settings(recipe, saved, different)}; put this run's own checkpoint back, "
            "or train again in a new --run-dir"
        )


def read_training_state(path: Path, metadata: dict[str, str]) -> TrainingState:
    """The :class:`TrainingState` recorded in a checkpoint's metadata, its shape checked."""
    data = _metadata_json(path, metadata, "state", dict)
    unknown = unknown_fields(TrainingState, data)
    if unknown:
        raise RunDirError(
            f"{path} records training-state field(s) {', '.join(unknown)} that vaelab {__version__} does not "
            f"know: it was probably written by a newer vaelab (upgrade vaelab to resume it), or it is damaged "
            f"({DAMAGED_FIX})"
        )
    problem = fields_problem(TrainingState, data) or _state_problem(data)
    if problem:
        raise RunDirError(f"{path} has a damaged training state ({problem}); {DAMAGED_FIX}")
    return TrainingState(**data)


def _state_problem(data: dict[str, Any]) -> str | None:
    """What :func:`fields_problem` cannot see: negative positions, malformed running sums or
    weights record."""
    for name in ("epoch", "step"):
        if data.get(name, 0) < 0:
            return f"{name} is negative"
    progress = data.get("progress", {})
    if progress:
        expected = {"sums": list[float], "images": int, "seconds": float}
        for name, hint in expected.items():
            problem = value_problem(progress.get(name), hint, f"progress.{name}")
            if problem:
                return problem
    weights = data.get("weights", {})
    if weights:
        problem = value_problem(weights.get("epoch"), int, "weights.epoch")
        if problem:
            return problem
        digest = weights.get("sha256")
        if not (isinstance(digest, str) and len(digest) == 64 and all(c in "0123456789abcdef" for c in digest)):
            return f"weights.sha256 should be 64 hex digits, not {describe_value(digest)}"
    return None


def sound_metrics_row(row: Any) -> bool:
    """Whether ``row`` is a metrics row: an object with an ``epoch`` from 1 and ``train``/``val`` loss
    terms (when present) that are finite numbers."""
    if not isinstance(row, dict) or not _is_int(row.get("epoch")) or row["epoch"] < 1:
        return False
    splits = [row.get(split, {}) for split in ("train", "val")]
    return all(isinstance(terms, dict) and all(_is_finite_number(v) for v in terms.values()) for terms in splits)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_finite_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def check_state_fits(
    path: Path, state: TrainingState, *, steps: int, terms: tuple[str, ...], batch_size: int, max_epochs: int
) -> None:
    """A :class:`RunDirError` naming ``path`` unless ``state`` is a position this run can be in: an
    epoch of at most ``max_epochs``, a step inside an epoch of ``steps`` batches, one history row per
    completed epoch, running sums of the objective's ``terms`` over at most the images seen so far,
    and a weights record of the last completed epoch."""
    problem = _position_problem(state, steps, max_epochs) or _progress_problem(state, terms, batch_size)
    if problem:
        raise RunDirError(f"{path} has a damaged training state ({problem}); {DAMAGED_FIX}")


def _position_problem(state: TrainingState, steps: int, max_epochs: int) -> str | None:
    if state.epoch > max_epochs:
        return f"epoch {state.epoch} is beyond the largest number of epochs vaelab trains ({max_epochs})"
    if state.step >= steps and state.step:
        return f"step {state.step} is beyond the {steps} batches of an epoch"
    if len(state.history) != state.epoch:
        return f"{len(state.history)} metrics rows for {state.epoch} completed epochs"
    if not all(sound_metrics_row(row) for row in state.history):
        return "a metrics row is not an object with an epoch and finite loss terms"
    if [row.get("epoch") for row in state.history] != list(range(1, state.epoch + 1)):
        return "the metrics rows are not epochs 1, 2, … in order"
    if state.weights and state.weights["epoch"] != state.epoch:
        return f"its weights record names epoch {state.weights['epoch']}, not the {state.epoch} completed"
    return None


def _progress_problem(state: TrainingState, terms: tuple[str, ...], batch_size: int) -> str | None:
    progress = state.progress
    if not state.step:
        return "running sums recorded at the start of an epoch" if progress else None
    if not progress:
        return f"no running sums for the {state.step} batches done in epoch {state.epoch + 1}"
    if len(progress["sums"]) != len(terms):
        return f"{len(progress['sums'])} running sums for the objective's {len(terms)} loss terms ({', '.join(terms)})"
    if not all(math.isfinite(value) for value in progress["sums"]):
        return "a running sum is not finite"
    largest = progress["images"] * MAX_TERM_PER_IMAGE
    if any(abs(value) > largest for value in progress["sums"]):
        return f"a running sum is beyond ±{MAX_TERM_PER_IMAGE:g} per image seen"
    if not 0 < progress["images"] <= state.step * batch_size:
        return f"{progress['images']} images seen in {state.step} batches of at most {batch_size}"
    if not 0 <= progress["seconds"] < math.inf:
        return f"{progress['seconds']} seconds spent"
    return None


def _load_optimizer(
    path: Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str], optimizer: torch.optim.Optimizer
) -> None:
    """Load the optimiser's state (tensors and metadata) into ``optimizer``."""
    scalars = _metadata_json(path, metadata, "optim_scalars", dict)
    groups = _metadata_json(path, metadata, "optim_param_groups", list)
    problem = _optimizer_problem(tensors, groups, optimizer)
    if problem:
        raise RunDirError(f"{path} has a damaged optimiser state ({problem}); {DAMAGED_FIX}")
    try:
        opt_state: dict[int, dict[str, Any]] = {}
        for key, value in tensors.items():
            if key.startswith("optim."):
                _, index, name = key.split(".", 2)
                opt_state.setdefault(int(index), {})[name] = value
        for index, values in scalars.items():
            opt_state.setdefault(int(index), {}).update(values)
        groups = with_current_implementation(groups, optimizer)  # also fills hyper-parameters it lacks
        optimizer.load_state_dict({"state": opt_state, "param_groups": groups})
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise RunDirError(
            f"{path} has an optimiser state that does not fit the model ({type(exc).__name__}: {exc}); {DAMAGED_FIX}"
        ) from None


def _check_finite(path: Path, tensors: dict[str, torch.Tensor]) -> None:
    """A :class:`RunDirError` when a weight or an optimiser moment is NaN or infinite."""
    for name, tensor in tensors.items():
        if name.startswith(("model.", "optim.")) and tensor.is_floating_point() and not torch.isfinite(tensor).all():
            raise RunDirError(f"{path} holds non-finite numbers (NaN or infinity) in {name}; {DAMAGED_FIX}")


def _optimizer_problem(
    tensors: dict[str, torch.Tensor], groups: list[Any], optimizer: torch.optim.Optimizer
) -> str | None:
    """What keeps a checkpoint's optimiser state from fitting ``optimizer`` (built from the run's
    config): other hyper-parameters than the config's, or moments of another shape than their
    parameter."""
    current = optimizer.param_groups
    if len(groups) != len(current) or not all(isinstance(group, dict) for group in groups):
        return f"{len(groups)} parameter groups where the model has {len(current)}"
    for saved, group in zip(groups, current, strict=True):
        for key in sorted(set(saved) & set(group) - {"params", *IMPLEMENTATION_OPTIONS}):
            if saved[key] != group[key] and not (isinstance(group[key], tuple) and saved[key] == list(group[key])):
                return f"{key} {describe_value(saved[key])} where the run's config gives {group[key]}"
    params = [param for group in current for param in group["params"]]
    keys: dict[int, set[str]] = {}
    for name, tensor in tensors.items():
        if not name.startswith("optim."):
            continue
        match = _OPTIM_TENSOR.fullmatch(name)
        if not match or int(match[1]) >= len(params):
            return f"{name} names no moment of a parameter of the model"
        index, key = int(match[1]), match[2]
        keys.setdefault(index, set()).add(key)
        problem = _moment_problem(name, key, tensor, params[index])
        if problem:
            return problem
    incomplete = [index for index, names in keys.items() if not names >= ADAM_STATE]
    if incomplete:
        return f"the moments of parameter {incomplete[0]} are incomplete (Adam keeps {', '.join(sorted(ADAM_STATE))})"
    return None


#: What Adam keeps per parameter (``max_exp_avg_sq`` too with amsgrad, which vaelab does not use).
ADAM_STATE = frozenset({"step", "exp_avg", "exp_avg_sq"})
_OPTIM_TENSOR = re.compile(r"optim\.([0-9]{1,6})\.(step|exp_avg|exp_avg_sq|max_exp_avg_sq)")
#: More optimiser steps than any run takes (10,000 epochs of 10 million images one at a time).
_MAX_STEPS = 1e11


def _moment_problem(name: str, key: str, tensor: torch.Tensor, param: torch.Tensor) -> str | None:
    """What is wrong with the optimiser tensor ``name`` (``key`` of Adam's state for ``param``)."""
    if key == "step":
        if tensor.dim() != 0 or not tensor.is_floating_point():
            shape = tuple(tensor.shape)
            return f"{name} should be one floating-point number, not a {tensor.dtype} tensor of shape {shape}"
        if not 0 <= float(tensor) <= _MAX_STEPS:
            return f"{name} counts {float(tensor):g} steps"
        return None
    if tensor.shape != param.shape:
        return f"{name} has shape {tuple(tensor.shape)}, its parameter {tuple(param.shape)}"
    if tensor.dtype != param.dtype:
        return f"{name} is {tensor.dtype}, its parameter {param.dtype}"
    return None


def _metadata_json(path: Path, metadata: dict[str, str], key: str, kind: type) -> Any:
    """The JSON value of metadata field ``key``, which must be a ``kind`` (dict or list)."""
    if key not in metadata:
        raise RunDirError(f"{path} has no {key!r} in its metadata, so it is damaged; {DAMAGED_FIX}")
    try:
        value = json.loads(metadata[key])
    except ValueError as exc:
        raise RunDirError(f"{path} has damaged {key!r} metadata (not JSON: {exc}); {DAMAGED_FIX}") from None
    except RecursionError:
        raise RunDirError(f"{path} has damaged {key!r} metadata (not JSON: nested too deeply); {DAMAGED_FIX}") from None
    if not isinstance(value, kind):
        raise RunDirError(
            f"{path} has damaged {key!r} metadata ({describe_value(value)} where "
            f"{'an object' if kind is dict else 'a list'} belongs); {DAMAGED_FIX}"
        )
    return value


def _settings(recipe: dict[str, Any], other: dict[str, Any], keys: list[str]) -> str:
    """``preset book-dae, corruption amount=0.3 kind=gaussian``: the values of ``keys`` in
    ``recipe`` (of a nested setting, the parts that differ from ``other``'s)."""
    return ", ".join(f"{key} {_setting(recipe[key], other[key])}" for key in keys)


def _setting(value: Any, other: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, dict):
        other = other if isinstance(other, dict) else {}
        return " ".join(f"{k}={v}" for k, v in sorted(value.items()) if k not in other or other[k] != v)
    return str(value)


def check_finite_weights(
    tensors: dict[str, torch.Tensor], source: Path, fix: str, error: type[VaelabError] = RunDirError
) -> None:
    """An ``error`` naming ``source`` and the first tensor, ending with ``fix``, when a floating-point
    weight of a weights file is NaN or infinite."""
    for name, tensor in tensors.items():
        if tensor.is_floating_point() and not torch.isfinite(tensor).all():
            raise error(f"{source} holds non-finite weights (NaN or infinity in {name}); {fix}")


def load_weights_into(model: nn.Module, state: dict[str, torch.Tensor], source: Path) -> None:
    """``model.load_state_dict(state)`` with a one-line error when the shapes or names differ."""
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong = sorted(k for k in set(expected) & set(state) if expected[k].shape != state[k].shape)
    if missing or unexpected or wrong:
        detail = "; ".join(
            f"{label}: {', '.join(names[:3])}{' …' if len(names) > 3 else ''}"
            for label, names in (("missing", missing), ("unexpected", unexpected), ("wrong shape", wrong))
            if names
        )
        raise RunDirError(f"the weights in {source} do not fit the model in its config.json ({detail})")
    model.load_state_dict(state)
