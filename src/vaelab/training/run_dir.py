"""The run directory: the files a training run writes and the analyses read.

    RUN_DIR/
      config.json               the RunConfig (rebuilds the model)
      model.safetensors         the latest weights
      metrics.jsonl             one JSON object per completed epoch
      checkpoint.safetensors    the resumable training state
      figures/                  analysis figures (*.png) and their data (*.json, *.npz)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from safetensors.torch import save_file
from torch import nn

from vaelab.errors import ConfigError, RunDirError
from vaelab.atomic import atomic_write, atomic_write_text
from vaelab.folders import check_folder_possible, make_folder
from vaelab.training.checkpoint import load_weights_into, read_safetensors
from vaelab.training.config import RunConfig


class RunDir:
    """Paths and reading/writing of one run directory."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.config = self.path / "config.json"
        self.model = self.path / "model.safetensors"
        self.metrics = self.path / "metrics.jsonl"
        self.checkpoint = self.path / "checkpoint.safetensors"
        self.figures = self.path / "figures"

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
            raise RunDirError(f"{self.path} is not a vaelab run directory (it has no config.json)")
        try:
            return RunConfig.read(self.config)
        except ConfigError as exc:
            raise RunDirError(str(exc)) from None

    def check_can_create(self) -> None:
        """A :class:`RunDirError` now, before any work, when this folder clearly cannot be created
        (it or a parent is a file, or the parent is read-only)."""
        check_folder_possible(self.path, RunDirError, "choose another --run-dir")

    def create(self) -> None:
        """Create the run directory (and its parents); a :class:`RunDirError` when impossible."""
        make_folder(self.path, RunDirError, "choose another --run-dir")

    def write_config(self, config: RunConfig) -> None:
        atomic_write_text(self.config, config.to_json())

    def read_metrics(self) -> list[dict[str, Any]]:
        """Rows of ``metrics.jsonl`` (empty when there are none yet); a :class:`RunDirError` when a
        line is not a JSON object with an ``epoch`` number."""
        if not self.metrics.exists():
            return []
        try:
            lines = self.metrics.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise RunDirError(f"cannot read {self.metrics} ({exc}); {METRICS_FIX}") from None
        return [_metrics_row(self.metrics, number, line) for number, line in enumerate(lines, 1) if line.strip()]

    def write_metrics(self, rows: list[dict[str, Any]]) -> None:
        atomic_write_text(self.metrics, "".join(json.dumps(row) + "\n" for row in rows))

    def save_weights(self, model: nn.Module, config: RunConfig) -> None:
        """Write ``model.safetensors`` atomically, tagged with the preset."""
        tensors = {k: v.detach().cpu().contiguous().clone() for k, v in model.state_dict().items()}
        metadata = {"format": "vaelab-weights-1", "preset": config.preset, "kind": config.model.kind}
        atomic_write(self.model, lambda tmp: save_file(tensors, str(tmp), metadata=metadata))

    def load_weights(self, model: nn.Module) -> None:
        """Load ``model.safetensors`` into ``model``; clear errors when absent or mismatched."""
        if not self.model.exists():
            raise RunDirError(f"{self.path} has no model.safetensors yet; {self.finish_training_hint()}")
        tensors, _ = read_safetensors(self.model)
        load_weights_into(model, tensors, self.model)

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
        """``figures/<name>``, creating the folder."""
        make_folder(self.figures, RunDirError, "move or rename that file so figures can be written")
        return self.figures / name


def _has_options(config: RunConfig) -> bool:
    """Whether ``config``'s recipe or epochs differ from its preset's."""
    try:
        preset = RunConfig.from_preset(config.preset)
    except ConfigError:
        return True
    return (config.recipe(), config.epochs) != (preset.recipe(), preset.epochs)


#: What to do about a damaged ``metrics.jsonl``.
METRICS_FIX = (
    "restore it from a backup, or resume training with a larger --epochs, which rewrites it from the checkpoint"
)


def _metrics_row(path: Path, number: int, line: str) -> dict[str, Any]:
    """One line of ``metrics.jsonl`` as a dict; a :class:`RunDirError` naming the line otherwise."""
    try:
        row = json.loads(line)
    except ValueError as exc:
        raise RunDirError(f"{path} line {number} is not valid JSON ({exc}); {METRICS_FIX}") from None
    sound = isinstance(row, dict) and isinstance(row.get("epoch"), int) and all(
        isinstance(row.get(split, {}), dict) for split in ("train", "val")
    )
    if not sound:
        raise RunDirError(
            f"{path} line {number} is not a metrics row (an object with an epoch and train/val loss terms); "
            f"{METRICS_FIX}"
        )
    return row
