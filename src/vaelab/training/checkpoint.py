"""Safetensors checkpoints: weights, optimiser state, RNG states and progress, no pickle.

A checkpoint is one ``.safetensors`` file. Tensors are stored under prefixed names
(``model.*``, ``optim.<param index>.<key>``, ``rng.*``); everything else (epoch, step, the
optimiser's hyper-parameters, the metric history, the run's recipe) is JSON in the file's
metadata. Loading never unpickles anything, so a run directory from an untrusted source is safe to
open; it checks the shape of every metadata field and refuses, in one line, a damaged checkpoint or
one from another run (a recipe other than the resumed run's config).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file
from torch import nn

from vaelab import __version__
from vaelab.atomic import atomic_write
from vaelab.errors import RunDirError
from vaelab.json_fields import describe_value, fields_problem, unknown_fields, value_problem
from vaelab.training.config import recipe_differences
from vaelab.training.optimizer import with_current_implementation

FORMAT = "vaelab-checkpoint-1"

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
    """

    epoch: int = 0
    step: int = 0
    progress: dict[str, Any] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)


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
    """Write everything needed to resume, atomically.

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
    tensors = {k: v.detach().to("cpu").contiguous().clone() for k, v in tensors.items()}
    metadata = {
        "format": FORMAT,
        "state": json.dumps(state.__dict__),
        "optim_param_groups": json.dumps(opt_state["param_groups"]),
        "optim_scalars": json.dumps(scalars),
    }
    if recipe is not None:
        metadata["recipe"] = json.dumps(recipe, sort_keys=True)
    atomic_write(path, lambda tmp: save_file(tensors, str(tmp), metadata=metadata))


def load_checkpoint(
    path: Path, model: nn.Module, optimizer: torch.optim.Optimizer, recipe: dict[str, Any] | None = None
) -> tuple[TrainingState, dict[str, torch.Tensor]]:
    """Load weights and optimiser state in place; return the training state and RNG tensors.

    With ``recipe`` (the resumed run's :meth:`~vaelab.training.config.RunConfig.recipe`), a
    checkpoint that records another recipe is refused; checkpoints written before vaelab recorded
    it load as before. Every problem is a :class:`RunDirError` naming ``path``.
    """
    tensors, metadata = read_safetensors(path)
    if metadata.get("format") != FORMAT:
        raise RunDirError(f"{path} is not a vaelab training checkpoint; delete it or use another --run-dir")
    if recipe is not None:
        check_recipe(path, metadata, recipe)
    state = read_training_state(path, metadata)
    model_state = {k[len("model.") :]: v for k, v in tensors.items() if k.startswith("model.")}
    load_weights_into(model, model_state, path)
    _load_optimizer(path, tensors, metadata, optimizer)
    rng = {k: v for k, v in tensors.items() if k.startswith("rng.")}
    return state, rng


def check_recipe(path: Path, metadata: dict[str, str], recipe: dict[str, Any]) -> None:
    """A :class:`RunDirError` when the checkpoint's metadata records a recipe other than ``recipe``."""
    if "recipe" not in metadata:
        return  # written before vaelab recorded it
    saved = _metadata_json(path, metadata, "recipe", dict)
    different = sorted(recipe_differences(saved, recipe), key=lambda key: (key != "preset", key))
    if different:
        raise RunDirError(
            f"{path} belongs to another run: it records {_settings(saved, recipe, different)} but this run's "
            f"config.json has {_settings(recipe, saved, different)}; put this run's own checkpoint back, or train again in a new --run-dir"
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
    """What :func:`fields_problem` cannot see: negative positions, malformed running sums."""
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
    return None


def _load_optimizer(
    path: Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str], optimizer: torch.optim.Optimizer
) -> None:
    """Load the optimiser's state (tensors and metadata) into ``optimizer``."""
    scalars = _metadata_json(path, metadata, "optim_scalars", dict)
    groups = _metadata_json(path, metadata, "optim_param_groups", list)
    try:
        opt_state: dict[int, dict[str, Any]] = {}
        for key, value in tensors.items():
            if key.startswith("optim."):
                _, index, name = key.split(".", 2)
                opt_state.setdefault(int(index), {})[name] = value
        for index, values in scalars.items():
            opt_state.setdefault(int(index), {}).update(values)
        groups = with_current_implementation(groups, optimizer)
        optimizer.load_state_dict({"state": opt_state, "param_groups": groups})
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise RunDirError(
            f"{path} has an optimiser state that does not fit the model ({type(exc).__name__}: {exc}); {DAMAGED_FIX}"
        ) from None


def _metadata_json(path: Path, metadata: dict[str, str], key: str, kind: type) -> Any:
    """The JSON value of metadata field ``key``, which must be a ``kind`` (dict or list)."""
    if key not in metadata:
        raise RunDirError(f"{path} has no {key!r} in its metadata, so it is damaged; {DAMAGED_FIX}")
    try:
        value = json.loads(metadata[key])
    except ValueError as exc:
        raise RunDirError(f"{path} has damaged {key!r} metadata (not JSON: {exc}); {DAMAGED_FIX}") from None
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


def read_safetensors(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """All tensors (on the CPU) and the metadata of a safetensors file; a clear error if corrupt."""
    try:
        with safe_open(str(path), framework="pt", device="cpu") as handle:
            metadata = handle.metadata() or {}
            tensors = {key: handle.get_tensor(key) for key in handle.keys()}
    except FileNotFoundError:
        raise RunDirError(f"{path} does not exist") from None
    except (SafetensorError, OSError, ValueError) as exc:
        raise RunDirError(f"{path} is corrupt or truncated ({exc}); retrain, or restore it from a backup") from None
    return tensors, metadata


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
