"""A model shared as a folder in the Hugging Face layout: ``config.json`` beside ``model.safetensors``.

```text
DIR/
  config.json               what rebuilds the model, the digests of its weights, where it came from
  model.safetensors         its weights: every tensor of its state dict
  prior/config.json         a vq-vae's PixelCNN prior, when it has one: the network's settings
  prior/model.safetensors   and its weights
  README.md, samples.png    the model card and its samples (``vaelab export``: vaelab.workflows.export)
```

``config.json`` holds ``format`` (:data:`FORMAT`), ``vaelab_version``, ``model`` (the
:class:`~vaelab.models.ModelSpec`: exactly what :func:`~vaelab.models.build_model` takes, as a Hugging
Face config holds its constructor's arguments), ``weights`` (the SHA-256 of the weights' tensors, and
the epoch that trained them, None for a model saved from Python), ``prior`` (the SHA-256 of the
prior's tensors, or None) and ``run`` (the run's own ``config.json``, the recipe, or None: read by the
model card, never needed to load). ``prior/config.json`` holds ``pixelcnn`` (the
:class:`~vaelab.models.pixelcnn.GatedPixelCNN`'s constructor arguments) and ``training`` (the run's
:class:`~vaelab.training.prior_dir.PriorConfig`, or None).

Writing (:func:`write_pretrained`): every file atomically, ``config.json`` first — it claims the folder
and records the digests of the weights that follow — then ``model.safetensors``, then the prior's files
(or the removal of a prior an earlier export left). A stop in between leaves a ``config.json`` whose
digests the weights files do not match: loading refuses them in one line that says to export again,
and an export into the same folder is allowed (its ``config.json`` is vaelab's), so the same command
repairs it. A folder is written into only when it is new, empty, or holds a ``config.json`` of this
format (an earlier export, perhaps in a clone of its Hub repository: other files there are kept).

Loading (:func:`from_pretrained`) reads JSON and safetensors only (nothing is unpickled), checks each
weights file against the digest ``config.json`` records, refuses non-finite weights, and imports
nothing from ``huggingface_hub``. A Hub repo id (``owner/name``) that is not a folder here is
downloaded with ``huggingface_hub.snapshot_download`` (the optional extra ``vaelab[hub]``), the files
above only; without the package, or without the network, that is one line saying so.
"""

from __future__ import annotations

import importlib
import json
import re
from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from vaelab import __version__
from vaelab.atomic import atomic_write_text, is_temporary_name
from vaelab.errors import ConfigError, PretrainedError, WriteError
from vaelab.folders import check_folder_possible, make_folder
from vaelab.models import ModelSpec, build_model
from vaelab.models.base import LatentModel
from vaelab.models.pixelcnn import GatedPixelCNN
from vaelab.models.vq_vae import VectorQuantisedAutoencoder, discrete_family
from vaelab.reading import MB, FileProblem, read_json
from vaelab.safetensors_io import read_safetensors, tensors_digest, write_safetensors
from vaelab.training.checkpoint import check_finite_weights, load_weights_into
from vaelab.training.config import RunConfig
from vaelab.training.device import resolve_device
from vaelab.training.prior_dir import PriorConfig, prior_state_tensors
from vaelab.training.run_dir import weights_file_cap, weights_of

#: The ``format`` of an exported folder's ``config.json``, of its ``prior/config.json``, and of its weights files.
FORMAT = "vaelab-pretrained-1"
PRIOR_FORMAT = "vaelab-pretrained-prior-1"
WEIGHTS_FORMAT = "vaelab-pretrained-weights-1"
#: The largest config.json read back (a run's recipe inside: a few kB).
MAX_CONFIG_BYTES = MB
#: What loading reads, relative to the folder: what a Hub download fetches.
LOADED_FILES = ("config.json", "model.safetensors", "prior/config.json", "prior/model.safetensors")
#: A Hugging Face Hub repo id, ``owner/name`` (letters, digits, ``-``, ``_``, ``.``; at most 96 each).
REPO_ID = re.compile(r"[A-Za-z0-9][\w.-]{0,95}/[A-Za-z0-9][\w.-]{0,95}")
#: The PixelCNN's constructor arguments, as ``prior/config.json`` records them.
PIXELCNN_KEYS = frozenset({"codes", "grid", "channels", "layers", "kernel", "classes"})
#: How to get a sound folder again.
EXPORT_AGAIN = "export it again with `vaelab export RUN DIR` (or download it again)"
#: What a vq-vae loaded without a prior says to do for one.
NO_PRIOR_HINT = "export a run whose prior is trained (`vaelab prior train RUN`, then `vaelab export RUN DIR`)"


class PretrainedDir:
    """The paths of an exported folder (see the module docstring)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.config = self.path / "config.json"
        self.model = self.path / "model.safetensors"
        self.prior = self.path / "prior"
        self.prior_config = self.prior / "config.json"
        self.prior_model = self.prior / "model.safetensors"
        self.card = self.path / "README.md"
        self.samples = self.path / "samples.png"

    def __str__(self) -> str:
        return str(self.path)

    def holds_export(self) -> bool:
        """Whether ``config.json`` is an exported model's (of :data:`FORMAT`)."""
        try:
            data = read_json(self.config, MAX_CONFIG_BYTES)
        except (FileNotFoundError, FileProblem):
            return False
        return isinstance(data, dict) and data.get("format") == FORMAT

    def check_destination(self) -> None:
        """A :class:`PretrainedError` before any work unless an export may be written here: the
        folder is new or empty (temporary files of cut writes aside), or holds an earlier export."""
        check_folder_possible(self.path, PretrainedError, "choose another folder")
        if not self.path.is_dir() or self.holds_export():
            return
        foreign = sorted(entry.name for entry in self.path.iterdir() if not is_temporary_name(entry.name))
        if foreign:
            shown = ", ".join(foreign[:5]) + (f" and {len(foreign) - 5} more" if len(foreign) > 5 else "")
            raise PretrainedError(
                f"{self.path} holds files vaelab did not write ({shown}); export into a new or empty folder, "
                "or move them away"
            )


def write_pretrained(
    folder: PretrainedDir,
    model: LatentModel,
    run: RunConfig | None = None,
    epoch: int | None = None,
    prior_training: PriorConfig | None = None,
) -> list[Path]:
    """Write ``model`` (built by :func:`~vaelab.models.build_model`; a vq-vae's attached prior too) into
    ``folder``, in the order of the module docstring; ``run``, ``epoch`` and ``prior_training`` record
    where it came from. Returns the files written. Checks the folder first
    (:meth:`PretrainedDir.check_destination`)."""
    spec = _spec_of(model)
    folder.check_destination()
    prior = attached_prior(model)
    tensors = weights_of(model)
    config = {
        "format": FORMAT,
        "vaelab_version": __version__,
        "model": spec.to_dict(),
        "weights": {"sha256": tensors_digest(tensors), "epoch": epoch},
        "prior": None if prior is None else {"sha256": tensors_digest(prior_state_tensors(prior))},
        "run": None if run is None else run.to_dict(),
    }
    make_folder(folder.path, PretrainedError, "choose another folder")
    atomic_write_text(folder.config, json.dumps(config, indent=2) + "\n")
    metadata = {"format": WEIGHTS_FORMAT, "kind": spec.kind, **({"epoch": str(epoch)} if epoch is not None else {})}
    write_safetensors(folder.model, tensors, metadata)
    written = [folder.config, folder.model]
    if prior is None:
        _remove_prior(folder)
        return written
    prior_config = {"format": PRIOR_FORMAT, "pixelcnn": prior.settings(), "training": _training(prior_training)}
    atomic_write_text(folder.prior_config, json.dumps(prior_config, indent=2) + "\n")
    write_safetensors(folder.prior_model, prior_state_tensors(prior), {"format": WEIGHTS_FORMAT, "kind": "pixelcnn"})
    return [*written, folder.prior_config, folder.prior_model]


def _spec_of(model: LatentModel) -> ModelSpec:
    """The spec ``model`` was built from; a :class:`ConfigError` for a model built by hand."""
    if model.spec is None:
        raise ConfigError(
            "this model records no ModelSpec, so nothing could rebuild it; build it with "
            "vaelab.models.build_model(spec), or export the run it was trained in"
        )
    return model.spec


def attached_prior(model: LatentModel) -> GatedPixelCNN | None:
    """The prior attached to a vq-vae ``model``; None for one without and for every other family."""
    discrete = discrete_family(model)
    return discrete.prior if discrete is not None else None


def _training(config: PriorConfig | None) -> dict[str, Any] | None:
    """How the prior was trained (its run's ``prior/config.json``), or None when that is not known."""
    return None if config is None else asdict(config)


def _remove_prior(folder: PretrainedDir) -> None:
    """Remove the prior files an earlier export left (the new model has none), and then ``prior/`` if empty."""
    try:
        for path in (folder.prior_config, folder.prior_model):
            path.unlink(missing_ok=True)
        if folder.prior.is_dir() and not any(folder.prior.iterdir()):
            folder.prior.rmdir()
    except OSError as exc:
        raise WriteError.of(folder.prior, exc) from None


def from_pretrained(source: str | Path, device: str = "auto", revision: str | None = None) -> LatentModel:
    """The model of an exported folder (``vaelab export``, :func:`~vaelab.workflows.export.save_pretrained`),
    or of a Hugging Face Hub repository holding one (``source`` ``owner/name`` that is not a folder
    here; ``revision``: a branch, tag or commit), on ``device`` in evaluation mode: ``encode``,
    ``decode``, and for a family with a prior ``sample_prior`` (a vq-vae's PixelCNN when the folder
    holds one). Each problem is one :class:`~vaelab.errors.VaelabError` line."""
    return load_pretrained(PretrainedDir(locate(source, revision)), device)


def locate(source: str | Path, revision: str | None = None) -> Path:
    """The folder ``source`` names: itself when it exists or is no repo id, else the Hub download."""
    if not str(source).strip():
        raise PretrainedError("from_pretrained was given an empty path; pass the folder `vaelab export` wrote")
    path = Path(source)
    if path.exists() or not isinstance(source, str) or not REPO_ID.fullmatch(source):
        return path
    return download(source, revision)


def download(repo_id: str, revision: str | None = None) -> Path:
    """The local copy of the Hub repository ``repo_id`` (its :data:`LOADED_FILES`), downloaded by
    ``huggingface_hub`` (or found in its cache); one line when the package or the network is missing."""
    try:
        hub = importlib.import_module("huggingface_hub")
    except ImportError:
        raise PretrainedError(
            f"{repo_id} is not a folder here, and downloading it from the Hugging Face Hub needs the package "
            "huggingface_hub; install it with `pip install 'vaelab[hub]'`, or pass the folder `vaelab export` wrote"
        ) from None
    try:
        local = hub.snapshot_download(repo_id=repo_id, revision=revision, allow_patterns=list(LOADED_FILES))
    except Exception as exc:  # the Hub client's errors share no base class (HTTP, offline mode, a bad id, a disk)
        raise PretrainedError(
            f"could not download {repo_id} from the Hugging Face Hub ({_first_line(exc)}); check the repo id and "
            "the network (HF_HUB_OFFLINE=1 uses only what is cached), or pass a local folder"
        ) from None
    return Path(local)


def load_pretrained(folder: PretrainedDir, device: str = "auto") -> LatentModel:
    """The model in ``folder``, checked (see :func:`from_pretrained`)."""
    config = read_pretrained_config(folder)
    model = build_model(_model_spec(folder, config))
    _load_checked(folder.model, model, config["weights"], folder)
    model = model.to(resolve_device(device)).eval()
    vq_vae = discrete_family(model)
    if vq_vae is not None:
        _attach_prior(folder, vq_vae, config["prior"])
    return model


def read_pretrained_config(folder: PretrainedDir) -> dict[str, Any]:
    """``config.json`` of an exported folder, its shape checked; a :class:`PretrainedError` naming
    what is wrong (no folder, a run directory, another format, a damaged file)."""
    if not folder.path.is_dir():
        what = "is a file, not a folder" if folder.path.exists() else "does not exist"
        raise PretrainedError(
            f"{folder} {what}; pass the folder `vaelab export` wrote, or a Hugging Face Hub repo id (owner/name)"
        )
    data = _read_json(folder.config, folder)
    if data.get("format") != FORMAT:
        raise PretrainedError(_not_an_export(folder, data))
    problem = _config_problem(data)
    if problem:
        raise PretrainedError(f"{folder.config} is damaged ({problem}); {EXPORT_AGAIN}")
    return data


def _read_json(path: Path, folder: PretrainedDir) -> dict[str, Any]:
    try:
        data = read_json(path, MAX_CONFIG_BYTES, "a config.json")
    except FileNotFoundError:
        raise PretrainedError(f"{folder} has no {path.relative_to(folder.path)}; {EXPORT_AGAIN}") from None
    except FileProblem as problem:
        raise PretrainedError(f"{path} {problem}; {EXPORT_AGAIN}") from None
    if not isinstance(data, dict):
        raise PretrainedError(f"{path} is not a JSON object; {EXPORT_AGAIN}")
    return data


def _not_an_export(folder: PretrainedDir, data: dict[str, Any]) -> str:
    """Why ``folder``, whose ``config.json`` is ``data``, is not an export, and what to do."""
    if "preset" in data and "model" in data:
        return (
            f"{folder} is a run directory, not an exported model; open it with vaelab.load_run({str(folder)!r}), "
            f"or share it with `vaelab export {folder} DIR`"
        )
    return (
        f"{folder.config} is not a vaelab export's (its format is not {FORMAT}); pass the folder `vaelab export` wrote"
    )


def _config_problem(data: dict[str, Any]) -> str | None:
    """What is wrong with the shape of an export's ``config.json``, or None."""
    if not isinstance(data.get("model"), dict):
        return "no model settings"
    weights, prior = data.get("weights"), data.get("prior")
    if not isinstance(weights, dict) or not isinstance(weights.get("sha256"), str):
        return "no digest of the weights"
    if prior is not None and not (isinstance(prior, dict) and isinstance(prior.get("sha256"), str)):
        return "a prior without a digest"
    return None


def _model_spec(folder: PretrainedDir, config: dict[str, Any]) -> ModelSpec:
    try:
        return ModelSpec.from_dict(config["model"])
    except (ConfigError, TypeError) as exc:
        raise PretrainedError(
            f"{folder.config} holds model settings vaelab cannot build ({exc}); {EXPORT_AGAIN}"
        ) from None


def _load_checked(path: Path, network: torch.nn.Module, record: Mapping[str, Any], folder: PretrainedDir) -> None:
    """Load the weights file ``path`` into ``network`` after checking it against the digest ``config.json``
    records for it (``record``) and for finite values; one :class:`PretrainedError` line otherwise."""
    tensors, _ = read_safetensors(path, PretrainedError, EXPORT_AGAIN, max_bytes=weights_file_cap(network))
    if tensors_digest(tensors) != record["sha256"]:
        raise PretrainedError(
            f"{path} does not hold the weights {folder.config} records (an export cut short?); {EXPORT_AGAIN}"
        )
    check_finite_weights(tensors, path, EXPORT_AGAIN, PretrainedError)
    load_weights_into(network, tensors, path)


def _attach_prior(folder: PretrainedDir, model: VectorQuantisedAutoencoder, record: Mapping[str, Any] | None) -> None:
    """Give the vq-vae ``model`` the prior the folder holds, when its ``config.json`` records one;
    otherwise say, in ``missing_prior_hint``, how to get one."""
    if record is None:
        model.missing_prior_hint = NO_PRIOR_HINT
        return
    data = _read_json(folder.prior_config, folder)
    settings = data.get("pixelcnn")
    if data.get("format") != PRIOR_FORMAT or not isinstance(settings, dict) or set(settings) != PIXELCNN_KEYS:
        raise PretrainedError(f"{folder.prior_config} is not a vaelab export's prior; {EXPORT_AGAIN}")
    if settings["codes"] != model.codebook_size or settings["grid"] != list(model.grid):
        raise PretrainedError(
            f"{folder.prior_config} describes a prior over other codes than the model's; {EXPORT_AGAIN}"
        )
    try:
        prior_settings = {name: settings[name] for name in ("channels", "layers", "kernel", "classes")}
        prior = PriorConfig(**prior_settings).build(model.codebook_size, model.grid)
    except ConfigError as exc:
        raise PretrainedError(f"{folder.prior_config} is damaged ({exc}); {EXPORT_AGAIN}") from None
    _load_checked(folder.prior_model, prior, record, folder)
    model.attach_prior(prior)


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__
