"""The judge's cache: its folder, its two files, the record, and the checks that guard them.

``vaelab judge train`` caches the judge in the user cache (``$XDG_CACHE_HOME/vaelab/judge`` or
``~/.cache/vaelab/judge``):

* ``fashion-mnist-judge.safetensors`` — the weights, written by :mod:`vaelab.safetensors_io` (so
  the file also records the SHA-256 of its tensor data), with the training record (format,
  accuracy, epochs, seed, creation time, vaelab version) as JSON in the file's metadata;
* ``fashion-mnist-judge.json`` — the same record plus the weights file's ``hash``: the first 16
  hex digits of the SHA-256 of the file's bytes.

That ``hash`` is the judge's identity: every metric records it (:func:`judge_summary`), so numbers
computed with different judges are never compared by mistake. :func:`load_judge` checks it before
anything else, then reads the file with :func:`~vaelab.safetensors_io.read_safetensors`.

The data digest inside the file makes one part of that check redundant: finding damaged tensor data.
It does not replace the rest. The hash is the judge's identity, it covers the header (where the
accuracy is recorded), which the digest does not, and judges cached before the judge used
:mod:`vaelab.safetensors_io` carry no digest. So the hash check stays, first; once it has passed, the
reader's digest check can only fail for a file replaced between the two reads. Older judges load as
before (same files, same hash, so metrics computed with them stay comparable).

A missing judge, or anything wrong with the cache, is one :class:`~vaelab.errors.JudgeError` line
that names ``vaelab judge train`` as the fix.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vaelab import __version__
from vaelab.atomic import atomic_write_text
from vaelab.data.fashion_mnist import CLASS_NAMES
from vaelab.data.locations import user_cache_dir
from vaelab.errors import JudgeError
from vaelab.evaluation.judge.network import BATCH_SIZE, FEATURE_DIM, NUM_CLASSES, JudgeNet, apply_in_batches
from vaelab.hashing import file_hash
from vaelab.reading import MB, FileProblem, read_json
from vaelab.safetensors_io import read_safetensors, write_safetensors
from vaelab.training.device import resolve_device

JUDGE_NAME = "fashion-mnist-judge"
WEIGHTS_FILE = f"{JUDGE_NAME}.safetensors"
RECORD_FILE = f"{JUDGE_NAME}.json"
FORMAT = "vaelab-judge-1"
"""The ``format`` in the weights file's metadata and in the record."""
TRAIN_MINUTES_CPU = 12
"""Wall time of ``vaelab judge train`` (8 epochs on 60,000 images) on a 2-core CPU, rounded up
from the 11 min 17 s measured on the build machine; quoted in the "no judge" message."""
RETRAIN = "retrain it with `vaelab judge train`"
"""The fix every refusal of a cached judge ends with."""
MAX_RECORD_BYTES = MB
"""The largest ``fashion-mnist-judge.json`` read (vaelab writes about 1 kB): a regular file of at most
this size, read with :mod:`vaelab.reading` (any damage, deep nesting included, is one JudgeError)."""


@dataclass
class Judge:
    """A trained judge loaded for scoring: the model in eval mode, its accuracy, hash and file.

    ``record`` is the training record (accuracy, epochs, seed, created, vaelab version, ...).
    """

    model: JudgeNet
    accuracy: float
    hash: str
    path: Path
    record: dict[str, Any] = field(default_factory=dict)

    @property
    def record_path(self) -> Path:
        """The sidecar JSON beside the weights (the record and the hash)."""
        return self.path.with_name(RECORD_FILE)

    @property
    def device(self) -> torch.device:
        """Where the model computes."""
        return next(self.model.parameters()).device

    def predict_proba(self, images: np.ndarray | torch.Tensor, batch_size: int = BATCH_SIZE) -> np.ndarray:
        """Class probabilities [N, 10] (float32) of images [N, 1, 32, 32].

        Images are floats in [0, 1] (numpy or torch) or uint8 (scaled by 1/255, as for training).
        """
        return apply_in_batches(
            self.model, lambda x: torch.softmax(self.model(x), dim=1), images, batch_size, NUM_CLASSES
        )

    def features(self, images: np.ndarray | torch.Tensor, batch_size: int = BATCH_SIZE) -> np.ndarray:
        """The judge's 128-d feature vectors [N, 128] (float32) of images, as :meth:`predict_proba`."""
        return apply_in_batches(self.model, self.model.features, images, batch_size, FEATURE_DIM)

    def scores(self, images: np.ndarray | torch.Tensor, batch_size: int = BATCH_SIZE) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`predict_proba` and :meth:`features` of the same images, in one pass through the network
        (the same numbers as the two calls)."""

        def both(x: torch.Tensor) -> torch.Tensor:
            features = self.model.features(x)
            return torch.cat([torch.softmax(self.model.head(features), dim=1), features], dim=1)

        combined = apply_in_batches(self.model, both, images, batch_size, NUM_CLASSES + FEATURE_DIM)
        return np.ascontiguousarray(combined[:, :NUM_CLASSES]), np.ascontiguousarray(combined[:, NUM_CLASSES:])


def judge_summary(judge: Judge) -> dict[str, Any]:
    """What every metric records about the judge it used: ``hash``, ``accuracy``, ``path``."""
    return {"hash": judge.hash, "accuracy": judge.accuracy, "path": str(judge.path)}


def default_judge_dir() -> Path:
    """Where the judge is cached: ``user_cache_dir() / "judge"``."""
    return user_cache_dir() / "judge"


def save_judge(
    model: JudgeNet, accuracy: float, meta: dict[str, Any] | None = None, folder: str | Path | None = None
) -> Judge:
    """Write the judge's weights and record into ``folder`` (default :func:`default_judge_dir`).

    ``meta`` (e.g. epochs, seed, data sizes) joins the record, which is stored as JSON in the
    safetensors metadata and, with the weights file's hash, in the sidecar ``fashion-mnist-judge.json``.
    Both files are written atomically; an existing judge is replaced. Returns the saved judge.
    """
    folder = Path(folder) if folder is not None else default_judge_dir()
    record: dict[str, Any] = {
        "format": FORMAT,
        "accuracy": float(accuracy),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "vaelab_version": __version__,
        **(meta or {}),
    }
    weights = folder / WEIGHTS_FILE
    write_safetensors(weights, model.state_dict(), {"format": FORMAT, "record": json.dumps(record)})
    digest = file_hash(weights)
    sidecar = {**record, "hash": digest, "weights": WEIGHTS_FILE, "classes": list(CLASS_NAMES)}
    atomic_write_text(folder / RECORD_FILE, json.dumps(sidecar, indent=2) + "\n")
    return Judge(model.eval(), float(accuracy), digest, weights, sidecar)


def load_judge(device: str = "cpu", folder: str | Path | None = None) -> Judge:
    """The cached judge on ``device``, in eval mode, after checking its file against the recorded hash.

    A JudgeError (one line) when there is no judge, the record is missing or unreadable, the
    weights file differs from its recorded hash, is damaged, or is not a vaelab judge.
    """
    folder = Path(folder) if folder is not None else default_judge_dir()
    weights, record_path = folder / WEIGHTS_FILE, folder / RECORD_FILE
    if not weights.is_file():
        raise JudgeError(
            f"no judge classifier in {folder}; train it once with `vaelab judge train` "
            f"(about {TRAIN_MINUTES_CPU} minutes on CPU)"
        )
    sidecar = _read_sidecar(record_path, weights)
    digest = _check_hash(weights, record_path, sidecar["hash"])
    tensors, metadata = read_safetensors(weights, JudgeError, RETRAIN)
    record = _embedded_record(weights, metadata)
    if sidecar.get("accuracy") != record["accuracy"]:
        raise JudgeError(
            f"{record_path} records accuracy {sidecar.get('accuracy')} but {weights} was saved with "
            f"{record['accuracy']}; {RETRAIN}"
        )
    model = _network_with(tensors, weights).to(resolve_device(device)).eval()
    return Judge(model, float(record["accuracy"]), digest, weights, {**record, "hash": digest})


def _read_sidecar(record_path: Path, weights: Path) -> dict[str, Any]:
    """The sidecar record (a JSON object with a ``hash``), or a JudgeError."""
    if not record_path.exists():
        raise JudgeError(f"{weights} has no {RECORD_FILE} beside it, which records its hash; {RETRAIN}")
    try:
        sidecar = read_json(record_path, MAX_RECORD_BYTES, "a judge record")
    except (FileNotFoundError, FileProblem) as exc:
        problem = "is missing" if isinstance(exc, FileNotFoundError) else str(exc)
        raise JudgeError(f"{record_path} is unreadable: it {problem}; {RETRAIN}") from None
    if not isinstance(sidecar, dict) or "hash" not in sidecar:
        raise JudgeError(f"{record_path} is unreadable (it records no hash); {RETRAIN}")
    return sidecar


def _check_hash(weights: Path, record_path: Path, expected: Any) -> str:
    """The weights file's hash, after checking that it is the one ``record_path`` records."""
    try:
        digest = file_hash(weights)
    except OSError as exc:
        raise JudgeError(f"cannot read {weights} ({exc.strerror or exc}); {RETRAIN}") from None
    if digest != expected:
        raise JudgeError(
            f"{weights} has hash {digest} but {record_path} records {expected}: the file was changed or "
            f"damaged; {RETRAIN}"
        )
    return digest


def _embedded_record(weights: Path, metadata: dict[str, str]) -> dict[str, Any]:
    """The training record in the weights file's metadata; a JudgeError unless it is a judge's,
    with a numeric accuracy."""
    try:
        record = json.loads(metadata["record"]) if metadata.get("format") == FORMAT else None
    except (KeyError, ValueError):
        record = None
    accuracy = record.get("accuracy") if isinstance(record, dict) else None
    if not isinstance(record, dict) or isinstance(accuracy, bool) or not isinstance(accuracy, (int, float)):
        raise JudgeError(f"{weights} is not a vaelab judge ({FORMAT}); {RETRAIN}")
    return record


def _network_with(tensors: dict[str, torch.Tensor], weights: Path) -> JudgeNet:
    """A judge network holding ``tensors``; a JudgeError when they do not fit it."""
    model = JudgeNet()
    try:
        model.load_state_dict(tensors)
    except RuntimeError:
        raise JudgeError(f"the weights in {weights} do not fit this vaelab's judge network; {RETRAIN}") from None
    return model
