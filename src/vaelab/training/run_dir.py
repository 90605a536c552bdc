"""The run directory: the files a training run writes and the analyses read, and the protocol that
keeps them telling the truth whenever the process stops.

    RUN_DIR/
      config.json               the RunConfig (rebuilds the model)
      checkpoint.safetensors    the resumable training state: the commit record of the run
      metrics.jsonl             one JSON object per completed epoch (an export of the checkpoint)
      model.safetensors         the last completed epoch's weights (an export of the checkpoint)
      figures/                  analysis figures (*.png) and their data (*.json, *.npz)
      tensorboard/              with ``train --tensorboard``: TensorBoard's event files (append-only logs, no part
                                of this protocol: :mod:`vaelab.training.tensorboard`)

The protocol. Every file is written atomically (:mod:`vaelab.atomic`), so each one is either its old
or its new version, never half of either; what remains is the order between files. An epoch ends by
writing, in this order:

1. ``checkpoint.safetensors``: the commit. Once it is renamed into place, the epoch has happened: it
   holds the weights, Adam's state, the RNG states, the metric history and a *weights record*, the
   epoch number and the SHA-256 of those weights.
2. ``metrics.jsonl``: the history, rewritten whole.
3. ``model.safetensors``: the weights, with their epoch and SHA-256 in the file's metadata.

The invariant: ``model.safetensors`` is trusted only when its epoch and digest equal the checkpoint's
weights record (and its own data match the digest it records). A process stopped between 1 and 3 (a
kill, a full disk, a power cut) leaves a checkpoint ahead of its exports. Then:

* ``vaelab train --resume`` writes the exports again from the checkpoint before anything else (a
  checkpoint written at the end of an epoch holds exactly that epoch's weights), also when the run
  had already reached its epochs, and says so;
* every analysis (:meth:`RunDir.load_weights`) refuses the stale or missing weights in one line that
  names ``--resume`` as the fix.

A Ctrl-C or SIGTERM mid-epoch writes only the checkpoint, which keeps the weights record of the last
completed epoch, so the weights file stays trusted. A new run writes ``config.json`` and an empty
``metrics.jsonl`` before its first epoch; a run stopped before its first checkpoint holds nothing to
resume and is trained again in the same folder. Temporary files of writes cut short by a kill
(``.NAME.<pid>.<random>.tmp``) are removed when training next starts in the folder.

Ownership: a new run starts only in a new or empty folder, or one holding nothing but what vaelab
writes before a first epoch ends (:meth:`RunDir.check_new_run_possible`), so files that vaelab did
not write are never overwritten.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from vaelab.atomic import atomic_write_text, is_temporary_name, remove_stale_temporaries
from vaelab.errors import ConfigError, RunDirError
from vaelab.folders import check_folder_possible, make_folder, not_writable_reason
from vaelab.reading import MB, FileProblem, parse_json, read_json, read_text
from vaelab.safetensors_io import DIGEST_KEY, read_safetensors, read_safetensors_metadata, write_safetensors
from vaelab.training.checkpoint import (
    check_finite_weights,
    load_weights_into,
    read_training_state,
    sound_metrics_row,
    state_bytes,
)
from vaelab.training.config import RunConfig

#: How the ``format`` of an exported model's ``config.json`` begins (:data:`vaelab.training.pretrained.FORMAT`).
EXPORT_FORMAT_PREFIX = "vaelab-pretrained"

#: The ``format`` recorded in a weights file's metadata.
WEIGHTS_FORMAT = "vaelab-weights-1"


@dataclass(frozen=True)
class WeightsRecord:
    """Which weights a file holds: the epoch they completed and the SHA-256 of their tensors."""

    epoch: int
    sha256: str

    def to_dict(self) -> dict[str, Any]:
        return {"epoch": self.epoch, "sha256": self.sha256}


class RunDir:
    """Paths and reading/writing of one run directory."""

    #: The files vaelab writes into a run directory, by attribute name.
    FILES = ("config", "model", "metrics", "checkpoint")

    def __init__(self, path: str | Path) -> None:
        if not str(path).strip():
            raise ConfigError("the run directory is an empty name; name a folder (`.` for the current one)")
        try:
            str(path).encode("utf-8")
        except UnicodeEncodeError:
            raise ConfigError(
                f"the run directory {os.fsdecode(path)!r} is not a valid UTF-8 name, which the weights' reader needs; "
                "rename it"
            ) from None
        self.path = Path(path)
        self.config = self.path / "config.json"
        self.model = self.path / "model.safetensors"
        self.metrics = self.path / "metrics.jsonl"
        self.checkpoint = self.path / "checkpoint.safetensors"
        self.figures = self.path / "figures"
        self.tensorboard = self.path / "tensorboard"

    def __str__(self) -> str:
        return str(self.path)

    def holds_run(self) -> bool:
        """True when a training run has saved weights here (a config alone, left by a run that
        failed before its first epoch ended, does not count)."""
        return self.checkpoint.exists() or self.model.exists()

    def read_config(self) -> RunConfig:
        """The run's configuration; a :class:`RunDirError` when this is not a run directory."""
        if self.path.exists() and not self.path.is_dir():
            raise RunDirError(
                f"{self.path} is a file, not a run directory; pass the folder that `vaelab train --run-dir` wrote"
            )
        if not self.path.is_dir():
            raise RunDirError(
                f"run directory {self.path} does not exist; train one with "
                f"`vaelab train --preset book-ae --run-dir {self.path}`"
            )
        if not self.config.exists():
            if self.holds_run():
                raise RunDirError(
                    f"{self.path} holds a run's checkpoint or weights but no config.json (was it deleted?); vaelab "
                    "needs it to rebuild the model: restore it from a backup"
                )
            raise RunDirError(
                f"{self.path} is not a vaelab run directory (it has no config.json); pass the folder that "
                "`vaelab train --run-dir` wrote"
            )
        try:
            return RunConfig.read(self.config)
        except ConfigError as exc:
            if self.holds_export():
                raise RunDirError(
                    f"{self.path} is a model exported by `vaelab export`, not a run directory; load it with "
                    f'`vaelab.from_pretrained("{self.path}")`, or pass the run it was exported from'
                ) from None
            raise RunDirError(str(exc)) from None

    def holds_export(self) -> bool:
        """Whether ``config.json`` is that of a model exported by ``vaelab export`` (its ``format`` is
        one of :mod:`vaelab.training.pretrained`'s), not a run's."""
        try:
            data = read_json(self.config, MB)
        except (OSError, FileProblem):
            return False
        return isinstance(data, dict) and str(data.get("format", "")).startswith(EXPORT_FORMAT_PREFIX)

    def check_can_create(self) -> None:
        """A :class:`RunDirError` now, before any work, when this folder clearly cannot be created
        (it or a parent is a file, or the parent is read-only)."""
        check_folder_possible(self.path, RunDirError, "choose another --run-dir")

    def create(self) -> None:
        """Create the run directory (and its parents); a :class:`RunDirError` when impossible."""
        make_folder(self.path, RunDirError, "choose another --run-dir")

    def check_new_run_possible(self) -> None:
        """A :class:`RunDirError` before any work unless a new run may start here: the folder is new
        or empty, or holds only vaelab's files of a run stopped before its first epoch ended (a
        ``config.json`` vaelab can read, an empty ``metrics.jsonl``, temporary files of cut writes, a
        ``tensorboard/`` folder, whose earlier points the new run's purge mark hides).
        Anything else, such as an unrelated ``config.json``, is named and left alone."""
        self.check_can_create()
        if not self.path.is_dir():
            return
        if self.holds_run() and not self.config.exists():
            raise RunDirError(
                f"{self.path} holds a run's checkpoint or weights but no config.json; restore it from a backup, "
                "or choose another --run-dir"
            )
        if self.holds_run():
            raise RunDirError(
                f"{self.path} already holds a run; pass --resume to continue it, or choose another --run-dir"
            )
        foreign = sorted(entry.name for entry in self.path.iterdir() if not self._written_before_first_epoch(entry))
        if foreign:
            shown = ", ".join(foreign[:5]) + (f" and {len(foreign) - 5} more" if len(foreign) > 5 else "")
            raise RunDirError(
                f"{self.path} holds files vaelab did not write ({shown}); train in a new or empty folder, "
                f"or move them away"
            )

    def _written_before_first_epoch(self, entry: Path) -> bool:
        """Whether ``entry`` is one of the files a new run leaves before its first epoch ends."""
        if is_temporary_name(entry.name):
            return True
        if entry == self.config:
            return _reads_as_config(entry)
        if entry == self.metrics:
            return entry.is_file() and not entry.is_symlink() and _is_empty(entry)
        if entry == self.tensorboard:
            return entry.is_dir() and not entry.is_symlink()
        return False

    def check_writable(self) -> None:
        """A :class:`RunDirError` before any training when a run file cannot be written: the folder
        is not writable, or a run file's name is taken by something other than a regular file."""
        for name in self.FILES:
            path: Path = getattr(self, name)
            if os.path.lexists(path) and (path.is_symlink() or not path.is_file()):
                kind = "a folder" if path.is_dir() else "not a regular file"
                raise RunDirError(
                    f"{path} is {kind}, so vaelab cannot write it there; move it away, or choose another --run-dir"
                )
        reason = not_writable_reason(self.path) if self.path.is_dir() else None
        if reason:
            raise RunDirError(
                f"{self.path} is not writable ({reason}); copy the run to a writable folder and "
                f"resume it there, or fix the folder's permissions"
            )

    def remove_stale_temporaries(self) -> list[Path]:
        """Remove the temporary files that writes cut short by a kill left in the folder and in
        ``figures/`` (those of processes still running are kept); returns what was removed."""
        return remove_stale_temporaries(self.path) + remove_stale_temporaries(self.figures)

    def write_config(self, config: RunConfig, machine: dict[str, Any] | None = None) -> None:
        """Write ``config.json``: the config, and under ``"machine"`` what the run is computed on
        (:meth:`vaelab.training.precision.PrecisionChoice.to_dict`; read back as a record only)."""
        data = config.to_dict() | ({"machine": machine} if machine is not None else {})
        atomic_write_text(self.config, json.dumps(data, indent=2) + "\n")

    def read_metrics(self) -> list[dict[str, Any]]:
        """Rows of ``metrics.jsonl`` (empty when there are none yet); a :class:`RunDirError` when a
        line is not a JSON object with an ``epoch`` number."""
        return read_metrics_file(self.metrics, metrics_fix(self.path))

    def read_metrics_text(self) -> str | None:
        """The text of ``metrics.jsonl``, or None when it is missing or unreadable."""
        try:
            return read_text(self.metrics, MAX_METRICS_BYTES)
        except (FileNotFoundError, FileProblem):
            return None

    def write_metrics(self, rows: list[dict[str, Any]]) -> None:
        atomic_write_text(self.metrics, metrics_text(rows))

    def save_weights(self, model: nn.Module, config: RunConfig, epoch: int) -> WeightsRecord:
        """Write ``model.safetensors`` atomically, tagged with the preset and ``epoch``; returns the
        record (epoch, digest) that the checkpoint holds for it."""
        tensors = weights_of(model)
        metadata = {"format": WEIGHTS_FORMAT, "preset": config.preset, "kind": config.model.kind, "epoch": str(epoch)}
        return WeightsRecord(epoch, write_safetensors(self.model, tensors, metadata))

    def weights_record(self) -> WeightsRecord | None:
        """The record ``model.safetensors`` carries (read from its header only), or None when the file
        is missing, unreadable or carries none (written before vaelab 0.6)."""
        try:
            metadata = read_safetensors_metadata(self.model)
        except RunDirError:
            return None
        return _record(metadata.get("epoch"), metadata.get(DIGEST_KEY))

    def checkpoint_record(self, strict: bool = False) -> WeightsRecord | None:
        """The weights record of ``checkpoint.safetensors`` (header only), or None when there is no
        checkpoint or it has no record (no epoch completed yet, or written before vaelab 0.6). A
        checkpoint that cannot be read is a :class:`RunDirError` with ``strict``, else None."""
        if not os.path.lexists(self.checkpoint):
            return None
        try:
            state = read_training_state(self.checkpoint, read_safetensors_metadata(self.checkpoint))
        except RunDirError as exc:
            if not strict:
                return None
            raise RunDirError(
                f"{str(exc).split('; ')[0]}, so vaelab cannot tell whether {self.model.name} holds the run's last "
                f"weights; restore the checkpoint from a backup, or move it out of {self.path} to analyse "
                f"{self.model.name} alone"
            ) from None
        return _record(state.weights.get("epoch"), state.weights.get("sha256"))

    def load_weights(self, model: nn.Module) -> WeightsRecord | None:
        """Load ``model.safetensors`` into ``model`` after checking it: present, intact (its recorded
        digest), finite, of this model's shapes, and the weights the run's checkpoint commits to.
        Each problem is one :class:`RunDirError` line that says how to fix it. Returns the file's
        record (None for a file written before vaelab 0.6)."""
        if not self.model.exists():
            raise RunDirError(f"{self.path} has no model.safetensors yet; {self.finish_training_hint()}")
        fix = self.finish_training_hint() if self.checkpoint.is_file() else "restore it from a backup, or train again"
        committed = self.checkpoint_record(strict=True)
        tensors, metadata = read_safetensors(self.model, RunDirError, fix, max_bytes=weights_file_cap(model))
        check_finite_weights(tensors, self.model, fix)
        record = _record(metadata.get("epoch"), metadata.get(DIGEST_KEY))
        self._check_current(record, committed)
        load_weights_into(model, tensors, self.model)
        return record

    def _check_current(self, record: WeightsRecord | None, committed: WeightsRecord | None) -> None:
        """A :class:`RunDirError` when the checkpoint commits to other weights (``committed``) than
        ``record``."""
        if committed is None or committed == record:
            return
        held = f"the weights of epoch {record.epoch}" if record else "weights of an unknown epoch"
        raise RunDirError(
            f"{self.model} holds {held}, but the run's checkpoint has completed epoch {committed.epoch} (training "
            f"stopped before it wrote them); write them with `vaelab train --run-dir {self.path} --resume`"
        )

    def finish_training_hint(self) -> str:
        """How to get this run's weights: resume from its checkpoint or, without one (training
        stopped before its first epoch ended), train it again."""
        if self.checkpoint.exists():
            return f"finish training with `vaelab train --run-dir {self.path} --resume`"
        return self.train_again_hint(self.read_config())

    def train_again_hint(self, config: RunConfig) -> str:
        """The command that trains this run (of ``config``) again from the start, in its own folder
        (which must have no weights yet), and a reminder of its options when it had any."""
        hint = f"train it again with `vaelab train --preset {config.preset} --run-dir {self.path}`"
        if _has_options(config):
            hint += " and the options it was started with (its config.json lists them)"
        return hint

    def figure_path(self, name: str) -> Path:
        """``figures/<name>``, creating the folder; a ``figures`` that is a symbolic link is refused, so
        an analysis never replaces files outside the run."""
        if self.figures.is_symlink():
            raise RunDirError(
                f"{self.figures} is a symbolic link, and vaelab writes figures only into the run's own folder; "
                "replace the link with a folder"
            )
        in_the_way = self.figures.exists() and not self.figures.is_dir()
        fix = (
            "move or rename that file so figures can be written"
            if in_the_way
            else "copy the run to a writable folder and analyse it there"
        )
        make_folder(self.figures, RunDirError, fix)
        return self.figures / name


#: The largest ``metrics.jsonl`` read back (a row is about 300 bytes; 10,000 epochs take 3 MB).
MAX_METRICS_BYTES = 64 * MB


def weights_file_cap(model: nn.Module) -> int:
    """The most bytes a weights file of ``model`` may have: its tensors' bytes, twice over (a
    float64 copy), and a megabyte of header; a larger file is refused before it is loaded."""
    return 2 * state_bytes(model) + MB


def metrics_text(rows: list[dict[str, Any]]) -> str:
    """The content of ``metrics.jsonl`` for ``rows``: one JSON object per line."""
    return "".join(json.dumps(row) + "\n" for row in rows)


def weights_of(model: nn.Module) -> dict[str, torch.Tensor]:
    """The tensors of ``model``'s state dict as a weights file stores them (CPU, contiguous)."""
    return {name: value.detach().to("cpu").contiguous() for name, value in model.state_dict().items()}


def _record(epoch: Any, digest: Any) -> WeightsRecord | None:
    """A :class:`WeightsRecord` from metadata values (the epoch as text or number), or None."""
    try:
        number = int(epoch)
    except (TypeError, ValueError):
        return None
    return WeightsRecord(number, digest) if isinstance(digest, str) else None


def _reads_as_config(path: Path) -> bool:
    try:
        RunConfig.read(path)
    except ConfigError:
        return False
    return True


def _is_empty(path: Path) -> bool:
    try:
        return path.stat().st_size == 0
    except OSError:
        return False


def _has_options(config: RunConfig) -> bool:
    """Whether ``config``'s recipe or epochs differ from its preset's."""
    try:
        preset = RunConfig.from_preset(config.preset)
    except ConfigError:
        return True
    return (config.recipe(), config.epochs) != (preset.recipe(), preset.epochs)


def metrics_fix(run_dir: Path) -> str:
    """What to do about a damaged ``metrics.jsonl``."""
    return f"write it again from the checkpoint with `vaelab train --run-dir {run_dir} --resume`, or restore it"


def read_metrics_file(path: Path, fix: str) -> list[dict[str, Any]]:
    """The rows of the ``metrics.jsonl`` at ``path`` (a run's or a prior's; empty when it is missing); a
    :class:`RunDirError` naming the file, or the line that is not a metrics row, and ending in ``fix``."""
    try:
        lines = read_text(path, MAX_METRICS_BYTES, "a metrics.jsonl").splitlines()
    except FileNotFoundError:
        return []
    except FileProblem as problem:
        raise RunDirError(f"{path} {problem}; {fix}") from None
    return [_metrics_row(path, number, line, fix) for number, line in enumerate(lines, 1) if line.strip()]


def _metrics_row(path: Path, number: int, line: str, fix: str) -> dict[str, Any]:
    """One line of ``metrics.jsonl`` as a dict; a :class:`RunDirError` naming the line otherwise."""
    try:
        row = parse_json(line)
    except FileProblem as problem:
        raise RunDirError(f"{path} line {number} {problem}; {fix}") from None
    if not sound_metrics_row(row):
        raise RunDirError(
            f"{path} line {number} is not a metrics row (an object with an epoch from 1 and train/val loss terms "
            f"that are finite numbers); {fix}"
        )
    return row
