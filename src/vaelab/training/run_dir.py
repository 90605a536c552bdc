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
        """Rows of ``metrics.jsonl`` (empty when there are none yet)."""
        if not self.metrics.exists():
            return []
        return [json.loads(line) for line in self.metrics.read_text().splitlines() if line.strip()]

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
            raise RunDirError(
                f"{self.path} has no model.safetensors yet; finish training with "
                f"`vaelab train --run-dir {self.path} --resume`"
            )
        tensors, _ = read_safetensors(self.model)
        load_weights_into(model, tensors, self.model)

    def figure_path(self, name: str) -> Path:
        """``figures/<name>``, creating the folder."""
        make_folder(self.figures, RunDirError, "move or rename that file so figures can be written")
        return self.figures / name
