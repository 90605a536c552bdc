"""Safetensors checkpoints: weights, optimiser state, RNG states and progress, no pickle.

A checkpoint is one ``.safetensors`` file. Tensors are stored under prefixed names
(``model.*``, ``optim.<param index>.<key>``, ``rng.*``); everything else (epoch, step, the
optimiser's hyper-parameters, the metric history) is JSON in the file's metadata. Loading never
unpickles anything, so a run directory from an untrusted source is safe to open.
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

from vaelab.errors import RunDirError
from vaelab.atomic import atomic_write
from vaelab.training.optimizer import with_current_implementation

FORMAT = "vaelab-checkpoint-1"


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


def restore_rng(tensors: dict[str, torch.Tensor], shuffle: torch.Generator) -> None:
    """Inverse of :func:`capture_rng` (CUDA states are restored where the devices exist)."""
    torch.set_rng_state(tensors["rng.torch"])
    shuffle.set_state(tensors["rng.shuffle"])
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
) -> None:
    """Write everything needed to resume, atomically."""
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
    atomic_write(path, lambda tmp: save_file(tensors, str(tmp), metadata=metadata))


def load_checkpoint(
    path: Path, model: nn.Module, optimizer: torch.optim.Optimizer
) -> tuple[TrainingState, dict[str, torch.Tensor]]:
    """Load weights and optimiser state in place; return the training state and RNG tensors."""
    tensors, metadata = read_safetensors(path)
    if metadata.get("format") != FORMAT:
        raise RunDirError(f"{path} is not a vaelab training checkpoint; delete it or use another --run-dir")
    model_state = {k[len("model.") :]: v for k, v in tensors.items() if k.startswith("model.")}
    load_weights_into(model, model_state, path)
    opt_state: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        if key.startswith("optim."):
            _, index, name = key.split(".", 2)
            opt_state.setdefault(int(index), {})[name] = value
    for index, values in json.loads(metadata["optim_scalars"]).items():
        opt_state.setdefault(int(index), {}).update(values)
    groups = with_current_implementation(json.loads(metadata["optim_param_groups"]), optimizer)
    optimizer.load_state_dict({"state": opt_state, "param_groups": groups})
    state = TrainingState(**json.loads(metadata["state"]))
    rng = {k: v for k, v in tensors.items() if k.startswith("rng.")}
    return state, rng


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
