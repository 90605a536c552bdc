"""A VQ-VAE run's learnt prior on disk: the folder ``RUN/prior/``, its settings and its weights.

``vaelab prior train RUN`` writes, beside the run's own files and in the same protocol
(:mod:`vaelab.training.run_dir`):

```text
RUN/prior/
  config.json               the PriorConfig (rebuilds the PixelCNN) and the VQ-VAE weights it models
  checkpoint.safetensors    the resumable training state: the commit record of the prior
  metrics.jsonl             one JSON object per completed epoch
  model.safetensors         the last completed epoch's PixelCNN weights, with their record
```

A prior models the code grids of one set of VQ-VAE weights: ``config.json`` records them
(``vq_weights``: epoch and SHA-256). The prior is attached to a loaded run only when those are the
run's weights and its weights file carries the checkpoint's record (:func:`attach_prior`).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

import torch

from vaelab.atomic import atomic_write_text, remove_stale_temporaries
from vaelab.errors import ConfigError, RunDirError
from vaelab.limits import MAX_BATCH_SIZE, MAX_EPOCHS, MAX_SEED
from vaelab.models.base import LatentModel
from vaelab.models.pixelcnn import GatedPixelCNN
from vaelab.models.vq_vae import VectorQuantisedAutoencoder
from vaelab.reading import FileProblem, read_json
from vaelab.safetensors_io import DIGEST_KEY, read_safetensors, read_safetensors_metadata, write_safetensors
from vaelab.training.checkpoint import check_finite_weights, read_training_state
from vaelab.training.run_dir import WeightsRecord, metrics_text, read_metrics_file, weights_file_cap

#: The ``format`` recorded in a prior's weights file.
PRIOR_FORMAT = "vaelab-prior-1"
#: Bounds of the PixelCNN's size: channels, layers, kernel (odd).
MAX_PRIOR_CHANNELS, MAX_PRIOR_LAYERS, MAX_PRIOR_KERNEL = 1024, 64, 15
#: The largest config.json or metrics.jsonl of a prior read back.
MAX_PRIOR_TEXT_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True)
class PriorConfig:
    """How a prior is trained: the PixelCNN (``channels``, ``layers``, ``kernel``), Adam (``lr``),
    ``epochs``, ``batch_size`` (code grids per step), ``seed``; ``classes`` > 0 for a class-conditional
    prior (set from the data: its number of classes, 0 without labels); ``vq_weights`` the record of
    the VQ-VAE weights whose codes it models. Every field is checked."""

    channels: int = 64
    layers: int = 8
    kernel: int = 3
    epochs: int = 8
    batch_size: int = 128
    lr: float = 1e-3
    seed: int = 0
    classes: int = 0
    vq_weights: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        for name, low, high in (
            ("channels", 1, MAX_PRIOR_CHANNELS),
            ("layers", 1, MAX_PRIOR_LAYERS),
            ("kernel", 3, MAX_PRIOR_KERNEL),
            ("epochs", 1, MAX_EPOCHS),
            ("batch_size", 1, MAX_BATCH_SIZE),
            ("seed", 0, MAX_SEED),
            ("classes", 0, 1024),
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise ConfigError(f"prior {name} must be an integer from {low:,} to {high:,}, got {value!r}")
        if self.kernel % 2 == 0:
            raise ConfigError(f"prior kernel must be odd, got {self.kernel}")
        if isinstance(self.lr, bool) or not isinstance(self.lr, (int, float)) or not 0 < self.lr < 1:
            raise ConfigError(f"prior lr must be a number in (0, 1), got {self.lr!r}")

    def build(self, codes: int, grid: tuple[int, int]) -> GatedPixelCNN:
        """A freshly initialised PixelCNN of these settings over ``grid`` grids of ``codes`` codes."""
        return GatedPixelCNN(codes, grid, self.channels, self.layers, self.kernel, self.classes)

    def settings(self) -> dict[str, Any]:
        """The fields that define the prior (all but ``epochs``): what a resume may not change."""
        return {k: v for k, v in asdict(self).items() if k != "epochs"}

    @classmethod
    def from_dict(cls, data: Any, source: Path) -> PriorConfig:
        """A config read back from ``source``; a :class:`RunDirError` when it is not one."""
        known = {f.name for f in fields(cls)}
        if not isinstance(data, dict) or set(data) - known:
            raise RunDirError(f"{source} is not a vaelab prior config; delete the prior folder and train it again")
        try:
            return cls(**data)
        except (ConfigError, TypeError) as exc:
            raise RunDirError(f"{source} is damaged ({exc}); delete the prior folder and train it again") from None

    def resumed_with(self, epochs: int | None) -> PriorConfig:
        """The config of a resumed prior (``epochs`` may grow; nothing else changes)."""
        return self if epochs is None else replace(self, epochs=epochs)


class PriorDir:
    """Paths and reading/writing of ``RUN/prior/`` (see the module docstring)."""

    def __init__(self, run_path: Path) -> None:
        self.run_path = Path(run_path)
        self.path = self.run_path / "prior"
        self.config = self.path / "config.json"
        self.checkpoint = self.path / "checkpoint.safetensors"
        self.metrics = self.path / "metrics.jsonl"
        self.model = self.path / "model.safetensors"

    def __str__(self) -> str:
        return str(self.path)

    def train_hint(self) -> str:
        """The command that trains (or finishes training) this run's prior."""
        resume = " --resume" if self.checkpoint.exists() else ""
        return f"train it with `vaelab prior train {self.run_path}{resume}`"

    def remove_stale_temporaries(self) -> list[Path]:
        """Remove the temporary files that writes cut short by a kill left in the folder (those of
        processes still running are kept); returns what was removed."""
        return remove_stale_temporaries(self.path)

    def read_config(self) -> PriorConfig:
        try:
            data = read_json(self.config, MAX_PRIOR_TEXT_BYTES, "a prior config.json")
        except FileNotFoundError:
            raise RunDirError(f"{self.run_path} has no prior yet; {self.train_hint()}") from None
        except FileProblem as problem:
            raise RunDirError(f"{self.config} {problem}; delete the prior folder and train it again") from None
        return PriorConfig.from_dict(data, self.config)

    def write_config(self, config: PriorConfig) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        atomic_write_text(self.config, json.dumps(asdict(config), indent=2) + "\n")

    def write_metrics(self, rows: list[dict[str, Any]]) -> None:
        atomic_write_text(self.metrics, metrics_text(rows))

    def read_metrics(self) -> list[dict[str, Any]]:
        """Rows of ``metrics.jsonl`` (empty when there are none yet); a :class:`RunDirError` naming a
        damaged file or line."""
        return read_metrics_file(self.metrics, f"write it again with `vaelab prior train {self.run_path} --resume`")

    def save_weights(self, prior: GatedPixelCNN, epoch: int) -> WeightsRecord:
        """Write ``model.safetensors`` tagged with ``epoch``; returns its record."""
        metadata = {"format": PRIOR_FORMAT, "epoch": str(epoch)}
        return WeightsRecord(epoch, write_safetensors(self.model, prior_state_tensors(prior), metadata))

    def weights_record(self) -> WeightsRecord | None:
        """The record ``model.safetensors`` carries, read with the whole file so that its data are
        checked against it (a prior's weights are small); None when missing, damaged or unreadable."""
        try:
            _, metadata = read_safetensors(self.model)
        except RunDirError:
            return None
        epoch = _int(metadata.get("epoch"))
        digest = metadata.get(DIGEST_KEY)
        return WeightsRecord(epoch, digest) if epoch is not None and digest is not None else None

    def load(self, codes: int, grid: tuple[int, int], vq_weights: WeightsRecord | None) -> GatedPixelCNN:
        """The prior's PixelCNN with its weights, checked: intact, committed by the checkpoint, and
        trained on ``vq_weights`` (the run's). Each problem is one :class:`RunDirError` line."""
        config = self.read_config()
        if vq_weights is None or config.vq_weights != vq_weights.to_dict():
            raise RunDirError(
                f"{self} was trained on other weights of the vq-vae than {self.run_path} holds now; "
                f"delete {self} and train a new one with `vaelab prior train {self.run_path}`"
            )
        if not self.model.exists():
            raise RunDirError(f"{self} has no model.safetensors yet; {self.train_hint()}")
        prior = config.build(codes, grid)
        cap = weights_file_cap(prior)
        tensors, metadata = read_safetensors(self.model, RunDirError, self.train_hint(), max_bytes=cap)
        check_finite_weights(tensors, self.model, self.train_hint())
        committed = read_training_state(self.checkpoint, read_safetensors_metadata(self.checkpoint)).weights
        if committed != {"epoch": _int(metadata.get("epoch")), "sha256": metadata.get(DIGEST_KEY)}:
            raise RunDirError(f"{self.model} is not the checkpoint's last epoch; {self.train_hint()}")
        try:
            prior.load_state_dict(tensors)
        except RuntimeError:
            raise RunDirError(f"{self.model} does not fit its config.json; {self.train_hint()}") from None
        return prior


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def prior_state_tensors(prior: GatedPixelCNN) -> dict[str, torch.Tensor]:
    """The PixelCNN's tensors as its weights file stores them (CPU, contiguous)."""
    return {name: value.detach().cpu().contiguous() for name, value in prior.state_dict().items()}


def attach_saved_prior(model: LatentModel, run_path: Path, weights: WeightsRecord | None) -> None:
    """Give a VQ-VAE ``model`` (loaded from ``run_path`` with ``weights``) the prior saved beside it,
    when there is one that fits those weights; otherwise leave it without, its
    ``missing_prior_hint`` saying what to run (train one, finish training it, or replace one trained on
    other weights). Other families are left alone."""
    if not isinstance(model, VectorQuantisedAutoencoder):
        return
    folder = PriorDir(run_path)
    if not folder.path.is_dir():
        model.missing_prior_hint = f"train one with `vaelab prior train {run_path}`"
        return
    try:
        model.attach_prior(folder.load(model.codebook_size, model.grid, weights))
    except (RunDirError, ConfigError) as problem:
        model.missing_prior_hint = str(problem)  # what is wrong with the prior there, and what to run
