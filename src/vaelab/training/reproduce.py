"""The commands that reproduce a run, as its model card states them (``vaelab export``).

* ``vaelab train``: the run's preset, its seed, and a flag for every setting that differs from the
  preset (the recipe, the data selection, the execution settings: everything ``config.json`` holds).
  The command is checked, not hoped for: its flags, applied to the preset as ``vaelab train`` applies
  them (:meth:`~vaelab.training.config.RunConfig.from_preset`), must give the run's config back.
  Settings that no flag sets (an objective parameter other than the one ``--beta`` sets, changed
  through the Python API) are named in :attr:`Command.unreproduced` instead of being left out
  silently.
* ``vaelab prior train``: a vq-vae's prior, with a flag for every setting of its
  :class:`~vaelab.training.prior_dir.PriorConfig` that differs from the defaults. The prior's config
  does not record the data it was trained on (``--data-dir``, ``--limit-train``, ``--limit-test``).
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import Any

from vaelab.data.image_options import ImageOptions
from vaelab.errors import ConfigError
from vaelab.models import get_preset
from vaelab.training.config import MODEL_OPTIONS, RunConfig
from vaelab.training.objectives import OBJECTIVES
from vaelab.training.prior_dir import PriorConfig

#: The settings a run's execution may have without a flag: what ``vaelab train`` uses when none is given.
EXECUTION_DEFAULTS = {
    "device": "auto",
    "precision": "fp32",
    "compile": False,
    "cuda_graphs": False,
    "data_placement": "auto",
}
#: Run settings that are None unless a flag set them.
OPTIONAL_SETTINGS = ("data_dir", "limit_train", "limit_test", "threads")
#: The prior's settings that ``vaelab prior train`` takes as flags (the others come from the data and the run).
PRIOR_FLAGS = ("channels", "layers", "kernel", "epochs", "batch_size", "lr", "seed")


@dataclass(frozen=True)
class Command:
    """A ``vaelab`` command line (``text``, quoted for a POSIX shell) and the settings of the run it cannot
    reproduce (``unreproduced``: their names in ``config.json``; empty when it reproduces them all)."""

    text: str
    unreproduced: tuple[str, ...] = ()

    @property
    def program(self) -> str:
        """The command without its arguments: ``vaelab train``, ``vaelab prior train``, ``vaelab export``."""
        words = self.text.split()
        return " ".join(words[:3] if words[1] == "prior" else words[:2])


def train_command(config: RunConfig, run_dir: str) -> Command:
    """The ``vaelab train`` command that trains ``config`` again into ``run_dir`` (see the module docstring)."""
    try:
        options = train_options(config)
        rebuilt = RunConfig.from_preset(config.preset, **options).to_dict()
    except ConfigError:  # a preset vaelab no longer has, or settings no flag can express
        options, rebuilt = {"seed": config.seed}, {}
    saved = config.to_dict()
    unreproduced = tuple(sorted(key for key in saved if key != "vaelab_version" and rebuilt.get(key) != saved[key]))
    words = ["vaelab", "train", "--preset", config.preset, "--run-dir", run_dir, *_flags(options)]
    return Command(shlex.join(words), unreproduced)


def train_options(config: RunConfig) -> dict[str, Any]:
    """The options of ``vaelab train`` (by their names in :func:`~vaelab.training.prepare_config`) that
    turn ``config``'s preset into ``config``: the seed, and every setting that differs from the preset."""
    preset = get_preset(config.preset)
    options: dict[str, Any] = {"seed": config.seed}
    if config.dataset != preset.dataset:
        options["dataset"] = config.dataset
    options.update(_changed(config, preset, ("epochs", "batch_size", "lr")))
    if config.model.latent_dim != preset.model.latent_dim:
        options["latent_dim"] = config.model.latent_dim
    for option, (spec_field, _, _) in MODEL_OPTIONS.items():
        if getattr(config.model, spec_field) != getattr(preset.model, spec_field):
            options[option] = getattr(config.model, spec_field)
    beta_param = getattr(OBJECTIVES.get(config.objective), "beta_param", None)
    if beta_param and config.objective_params.get(beta_param) != preset.objective_params.get(beta_param):
        options["beta"] = config.objective_params.get(beta_param)
    if config.corruption is not None and config.corruption != preset.corruption:
        options["corruption"], options["noise_amount"] = config.corruption.kind, config.corruption.amount
    if config.data_options is not None:
        defaults = ImageOptions(image_size=preset.model.image_size)
        options.update(_changed(config.data_options, defaults, ("image_size", "center_crop", "on_bad_image")))
    options.update({name: getattr(config, name) for name in OPTIONAL_SETTINGS if getattr(config, name) is not None})
    execution = EXECUTION_DEFAULTS.items()
    options.update({name: getattr(config, name) for name, default in execution if getattr(config, name) != default})
    return options


def prior_train_command(config: PriorConfig, run_dir: str) -> Command:
    """The ``vaelab prior train`` command that trains the prior of ``config`` again over ``run_dir``'s codes."""
    options = {"seed": config.seed, **_changed(config, PriorConfig(), PRIOR_FLAGS)}
    return Command(shlex.join(["vaelab", "prior", "train", run_dir, *_flags(options)]))


def export_command(run_dir: str, folder: str) -> Command:
    """The ``vaelab export`` command that shares ``run_dir`` in ``folder``."""
    return Command(shlex.join(["vaelab", "export", run_dir, folder]))


def _changed(settings: Any, defaults: Any, names: tuple[str, ...]) -> dict[str, Any]:
    """The fields ``names`` of ``settings`` whose values differ from ``defaults``' (both dataclasses)."""
    return {name: getattr(settings, name) for name in names if getattr(settings, name) != getattr(defaults, name)}


def _flags(options: dict[str, Any]) -> list[str]:
    """``options`` as command-line words: ``--name value``, a true switch as ``--name`` alone."""
    words: list[str] = []
    for name, value in options.items():
        flag = "--" + name.replace("_", "-")
        words += [flag] if value is True else [flag, _text(value)]
    return words


def _text(value: Any) -> str:
    """A flag's value as the command line reads it back exactly (floats in their shortest exact form)."""
    return repr(value) if isinstance(value, float) else str(value)
