"""The configuration of a training run, saved as the run directory's ``config.json``."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

from vaelab import __version__
from vaelab.choices import DEVICES
from vaelab.data.corruption import Corruption, override_corruption
from vaelab.data.image_options import ImageOptions
from vaelab.data.registry import dataset_info
from vaelab.errors import ConfigError
from vaelab.json_fields import fields_problem
from vaelab.limits import (
    MAX_BATCH_SIZE,
    MAX_CODEBOOK_SIZE,
    MAX_DATASET_IMAGES,
    MAX_EPOCHS,
    MAX_IWAE_SAMPLES,
    MAX_PSEUDO_INPUTS,
    MAX_SEED,
    MAX_THREADS,
    check_range,
)
from vaelab.models import ModelSpec, Recipe, get_preset
from vaelab.reading import KB, FileProblem, read_json
from vaelab.training.objectives import OBJECTIVES, make_objective
from vaelab.training.placement import PLACEMENTS
from vaelab.training.precision import check_precision

#: The largest config.json read back (vaelab writes about 700 bytes).
MAX_CONFIG_BYTES = 64 * KB

#: Options that may change when a run is resumed (everything else must stay as saved).
RESUMABLE_OVERRIDES = frozenset({"epochs", "device", "data_dir"}) | frozenset(
    # execution settings (vaelab.training.execution, vaelab.training.placement)
    {"precision", "compile", "threads", "cuda_graphs", "data_placement"}
)

#: Model settings that a ``train`` flag overrides: the option's name → the :class:`ModelSpec` field,
#: its largest value, and what it is. A flag applies to the presets whose model sets the field (a
#: value other than the spec's default), and a resume cannot change it.
MODEL_OPTIONS = {
    "k": ("samples", MAX_IWAE_SAMPLES, "presets that draw several z per image (iwae)"),
    "pseudo_inputs": ("pseudo_inputs", MAX_PSEUDO_INPUTS, "presets with a VampPrior (vamp)"),
    "codebook_size": ("codebook_size", MAX_CODEBOOK_SIZE, "presets with a codebook (vq-vae)"),
}

#: Overrides that become the run's :class:`ImageOptions` (datasets read from image files only).
IMAGE_OPTION_KEYS = ("image_size", "center_crop", "on_bad_image")


@dataclass(frozen=True, kw_only=True)
class RunConfig(Recipe):
    """Everything needed to rebuild, retrain or analyse a run: a :class:`~vaelab.models.recipe.Recipe`
    (dataset, model, objective and its parameters, epochs, batch size, lr, corruption) plus the
    run's own settings.

    ``preset`` names the preset the recipe came from. ``limit_train``/``limit_test`` keep the first N
    images of each split (``None`` keeps all). ``data_options`` (image size, centre crop, bad-image
    policy) is set for the datasets read from image files (``celeba``, ``image-folder``) and
    None for Fashion-MNIST; its ``image_size`` always equals the model's. ``precision``,
    ``compile``, ``threads`` and ``cuda_graphs`` choose how the run executes (see
    :mod:`vaelab.training.execution`), ``data_placement`` where its images wait between batches
    (:mod:`vaelab.training.placement`). Every field is checked here, whoever builds the config
    (the command line, the Python API, ``config.json``), and saved flat in ``config.json``.
    """

    preset: str
    seed: int = 0
    device: str = "auto"
    data_dir: str | None = None
    limit_train: int | None = None
    limit_test: int | None = None
    data_options: ImageOptions | None = None
    precision: str = "fp32"
    compile: bool = False
    threads: int | None = None
    cuda_graphs: bool = False
    data_placement: str = "auto"

    def __post_init__(self) -> None:
        _check_positive("epochs", self.epochs, MAX_EPOCHS)
        check_precision(self.precision)
        if self.threads is not None:
            _check_positive("threads", self.threads, MAX_THREADS)
        if self.data_placement not in PLACEMENTS:
            raise ConfigError(f"--data-placement must be one of {', '.join(PLACEMENTS)}, got {self.data_placement!r}")
        _check_positive("batch_size", self.batch_size, MAX_BATCH_SIZE)
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or not 0 <= self.seed <= MAX_SEED:
            raise ConfigError(f"--seed must be an integer from 0 to {MAX_SEED:,}, got {self.seed!r}")
        if isinstance(self.lr, bool) or not isinstance(self.lr, (int, float)) or not 0 < self.lr < math.inf:
            raise ConfigError(f"--lr must be a positive number, got {self.lr!r}")
        make_objective(self.objective, self.objective_params)  # a ConfigError for unknown names or bad weights
        if self.device not in DEVICES and not self.device.startswith("cuda:"):
            raise ConfigError(f"--device must be auto, cpu or cuda, got {self.device!r}")
        for name in ("limit_train", "limit_test"):
            value = getattr(self, name)
            if value is not None:
                _check_positive(name, value, MAX_DATASET_IMAGES)
        _check_data_fits_model(self.dataset, self.model, self.data_options)

    @classmethod
    def from_preset(cls, name: str, **overrides: Any) -> RunConfig:
        """The preset's recipe with ``overrides`` applied (``None`` values are ignored).

        ``latent_dim`` is accepted as an override and goes into the model spec; ``beta`` goes
        into the objective's parameters (the objective's ``beta_param``; refused for a plain AE); ``k``,
        ``pseudo_inputs`` and ``codebook_size`` into the model spec (see :data:`MODEL_OPTIONS`; refused for a preset
        whose model has no such setting).
        """
        preset = get_preset(name)
        overrides = {k: v for k, v in overrides.items() if v is not None}
        dataset = overrides.pop("dataset", preset.dataset)
        model, data_options = _data_settings(dataset, preset.model, overrides)
        if "latent_dim" in overrides:
            _check_positive("latent_dim", overrides["latent_dim"])
            model = replace(model, latent_dim=overrides.pop("latent_dim"))
        model = _pop_model_options(name, model, overrides)
        corruption = _pop_corruption(preset.corruption, overrides)
        objective_params = dict(preset.objective_params)
        if "beta" in overrides:
            beta = overrides.pop("beta")
            _check_beta(beta)
            objective_params[_beta_param(preset.objective)] = float(beta)
        _reject_unknown(overrides)
        changed = {"dataset": dataset, "model": model, "objective_params": objective_params, "corruption": corruption}
        base = cls(preset=preset.name, data_options=data_options, **{**preset.recipe_fields(), **changed})
        return replace(base, **overrides)

    def resumed_with(self, **overrides: Any) -> RunConfig:
        """This saved config with the options a resume may change; others must match."""
        overrides = {k: v for k, v in overrides.items() if v is not None}
        latent_dim = overrides.pop("latent_dim", None)
        if latent_dim is not None and latent_dim != self.model.latent_dim:
            raise ConfigError(f"this run has --latent-dim {self.model.latent_dim}; --resume cannot change it")
        for option, (spec_field, _, _) in MODEL_OPTIONS.items():
            value = overrides.pop(option, None)
            saved_value = getattr(self.model, spec_field)
            if value is not None and value != saved_value:
                flag = "--" + option.replace("_", "-")
                raise ConfigError(f"this run has {flag} {saved_value}; --resume cannot change it")
        beta = overrides.pop("beta", None)
        if beta is not None:
            saved = self.objective_params.get(_beta_param(self.objective))
            if float(beta) != saved:
                raise ConfigError(f"this run was trained with --beta {saved:g}; --resume cannot change it")
        if "corruption" in overrides or "noise_amount" in overrides:
            wanted = _pop_corruption(self.corruption, overrides)
            if wanted != self.corruption:
                saved = self.corruption.describe() if self.corruption else "no corruption"
                raise ConfigError(f"this run was trained with {saved}; --resume cannot change it")
        if any(key in overrides for key in IMAGE_OPTION_KEYS):
            _, wanted_options = _data_settings(self.dataset, self.model, overrides)
            saved_options = self.data_options
            # saved_options is None only for a dataset without image files: _data_settings refused the flags
            if wanted_options != saved_options and saved_options is not None:
                raise ConfigError(
                    f"this run was trained on {saved_options.describe()} images with --on-bad-image "
                    f"{saved_options.on_bad_image}; "
                    "--resume cannot change --image-size, --center-crop or --on-bad-image"
                )
        _reject_unknown(overrides)
        for key, value in overrides.items():
            if key not in RESUMABLE_OVERRIDES and value != getattr(self, key):
                flag = "--" + key.replace("_", "-")
                raise ConfigError(
                    f"this run was trained with {flag} {getattr(self, key)}; --resume cannot change it "
                    f"(start a new run in another --run-dir instead)"
                )
        return replace(self, **overrides)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, with the vaelab version that wrote it."""
        data = {"preset": self.preset, **asdict(self)}  # the preset's name first, as before the Recipe existed
        data["model"] = self.model.to_dict()
        data["corruption"] = self.corruption.to_dict() if self.corruption else None
        data["data_options"] = self.data_options.to_dict() if self.data_options else None
        data["vaelab_version"] = __version__
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunConfig:
        """Inverse of :meth:`to_dict`; a :class:`ConfigError` on a wrong shape (not an object,
        missing or unknown keys, values of the wrong type) or invalid values."""
        problem = fields_problem(cls, data, ignore=("vaelab_version", "machine"))
        if problem:
            raise ConfigError(f"config is incomplete or has unknown settings ({problem})")
        data = dict(data)
        data.pop("vaelab_version", None)
        data.pop("machine", None)  # what the run was computed on (RunDir.write_config), not a setting
        try:
            data["model"] = ModelSpec.from_dict(data["model"])
            if data.get("corruption") is not None:
                data["corruption"] = Corruption.from_dict(data["corruption"])
            if data.get("data_options") is not None:
                data["data_options"] = ImageOptions.from_dict(data["data_options"])
            return cls(**data)
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"config has an invalid setting ({exc})") from None

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2) + "\n"

    @classmethod
    def read(cls, path: Path) -> RunConfig:
        """Read a ``config.json``; a :class:`ConfigError` naming it when it is unreadable or wrong."""
        fix = "restore it from a backup, or train the run again in a new --run-dir"
        try:
            data = read_json(path, MAX_CONFIG_BYTES, "a config.json")
        except FileNotFoundError:
            raise ConfigError(f"{path} does not exist; {fix}") from None
        except FileProblem as problem:
            raise ConfigError(f"{path} {problem}; {fix}") from None
        try:
            return cls.from_dict(data)
        except ConfigError as exc:
            raise ConfigError(f"{path}: {exc}") from None

    def recipe(self) -> dict[str, Any]:
        """What defines the run and a resume may not change: :meth:`to_dict` without the
        :data:`RESUMABLE_OVERRIDES` and the vaelab version, as it reads back from JSON. That is
        more than the :class:`~vaelab.models.recipe.Recipe` (:meth:`recipe_fields`): also the
        preset's name, the seed and the data selection.

        A training checkpoint records it, so that a checkpoint copied from another run (another
        preset, corruption, data or seed) is refused instead of silently continued.
        """
        data = self.to_dict()
        for key in (*RESUMABLE_OVERRIDES, "vaelab_version"):
            data.pop(key, None)
        return json.loads(json.dumps(data))


def recipe_differences(saved: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """The settings whose values differ between two :meth:`RunConfig.recipe` (one may be from
    an older or newer vaelab, so only the settings both record are compared), sorted."""
    return sorted(key for key in set(saved) & set(current) if saved[key] != current[key])


def _pop_corruption(base: Corruption | None, overrides: dict[str, Any]) -> Corruption | None:
    """``base`` changed by the ``corruption`` (kind) and ``noise_amount`` overrides, which it pops
    (:func:`~vaelab.data.corruption.override_corruption`)."""
    return override_corruption(base, overrides.pop("corruption", None), overrides.pop("noise_amount", None))


def _data_settings(dataset: str, model: ModelSpec, overrides: dict[str, Any]) -> tuple[ModelSpec, ImageOptions | None]:
    """The model spec fitted to ``dataset``'s images (channels, size) and the run's image options,
    from the image-option ``overrides`` (which it pops)."""
    info = dataset_info(dataset)
    given = {key: overrides.pop(key) for key in IMAGE_OPTION_KEYS if key in overrides}
    if info.fixed_size is not None:  # not read from image files (see DatasetInfo)
        if given:
            flags = ", ".join("--" + key.replace("_", "-") for key in given)
            raise ConfigError(f"{flags}: only for datasets read from image files (celeba, image-folder), not {dataset}")
        return replace(model, image_channels=info.channels, image_size=info.fixed_size), None
    options = ImageOptions(**{"image_size": model.image_size, **given})
    return replace(model, image_channels=info.channels, image_size=options.image_size), options


def _check_data_fits_model(dataset: str, model: ModelSpec, options: ImageOptions | None) -> None:
    """A :class:`ConfigError` unless the dataset's images have the model's channels and size."""
    info = dataset_info(dataset)
    if model.image_channels != info.channels:
        raise ConfigError(
            f"the model takes {model.image_channels}-channel images but {dataset} has {info.channels} channel(s)"
        )
    if info.image_files and options is None:
        raise ConfigError(f"dataset {dataset} needs image options (size, crop, bad-image policy)")
    if not info.image_files and options is not None:
        raise ConfigError(f"dataset {dataset} takes no image options")
    size = options.image_size if options is not None else info.fixed_size
    if model.image_size != size:
        raise ConfigError(
            f"the model takes {model.image_size}×{model.image_size} images but the data are {size}×{size}"
        )
    if model.conditions and model.conditions != info.classes:
        having = f"images labelled with {info.classes} classes" if info.classes else "images without classes"
        raise ConfigError(
            f"the {model.kind} model is conditioned on {model.conditions} classes but {dataset} has {having} "
            "(conditioning on CelebA attributes is not supported yet); train it on fashion-mnist"
        )


def _check_positive(name: str, value: Any, largest: int | None = None) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ConfigError(f"--{name.replace('_', '-')} must be a positive integer, got {value!r}")
    if largest is not None and value > largest:
        raise ConfigError(f"--{name.replace('_', '-')} must be at most {largest:,}, got {value!r}")


def _pop_model_options(preset: str, model: ModelSpec, overrides: dict[str, Any]) -> ModelSpec:
    """``model`` with the :data:`MODEL_OPTIONS` among ``overrides`` (which it pops) applied; a
    :class:`ConfigError` for a value out of bounds or an option the preset's model does not take."""
    default = ModelSpec()
    for option, (spec_field, largest, what) in MODEL_OPTIONS.items():
        if option not in overrides:
            continue
        value = overrides.pop(option)
        flag = "--" + option.replace("_", "-")
        if getattr(model, spec_field) == getattr(default, spec_field):
            raise ConfigError(f"{flag} only applies to {what}, not to {preset}")
        check_range(flag, value, 1, largest)
        model = replace(model, **{spec_field: value})
    return model


def _check_beta(value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < float("inf"):
        raise ConfigError(f"--beta must be a positive number, got {value!r}")


def _beta_param(objective: str) -> str:
    """The objective parameter that ``--beta`` sets; a :class:`ConfigError` for non-VAE objectives."""
    param = getattr(OBJECTIVES.get(objective), "beta_param", None)
    if param is None:
        raise ConfigError(
            f"--beta does not apply to this preset: its {objective!r} objective has no weight that --beta sets"
        )
    return param


def _reject_unknown(overrides: dict[str, Any]) -> None:
    known = {f.name for f in fields(RunConfig)}
    unknown = set(overrides) - known
    if unknown:
        raise ConfigError(f"unknown training options: {', '.join(sorted(unknown))}")
