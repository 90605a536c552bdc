"""The recipe is declared once (models.recipe.Recipe): presets and run configs extend it, a run
from a preset carries the preset's recipe, and config.json keeps its keys (old files still load)."""

import json
from dataclasses import fields

import pytest

from vaelab.models import PRESETS, RECIPE_FIELDS, Preset, Recipe
from vaelab.training import RunConfig

#: config.json as vaelab 0.5 wrote it (keys in their old order): it must still load.
OLD_CONFIG_JSON = """{
  "preset": "book-dae", "dataset": "fashion-mnist",
  "model": {"kind": "ae", "architecture": "book-conv", "latent_dim": 2, "image_channels": 1, "image_size": 32,
            "encoder_channels": [32, 64, 128]},
  "objective": "bce", "objective_params": {}, "epochs": 4, "batch_size": 100, "lr": 0.001, "seed": 0,
  "device": "auto", "data_dir": null, "limit_train": null, "limit_test": null,
  "corruption": {"kind": "gaussian", "amount": 0.2},
  "data_options": null, "precision": "fp32", "compile": false, "threads": null, "cuda_graphs": true,
  "vaelab_version": "0.5.0"
}"""


def test_preset_and_run_config_take_their_recipe_fields_from_the_one_declaration():
    assert RECIPE_FIELDS == (
        "dataset",
        "model",
        "objective",
        "objective_params",
        "epochs",
        "batch_size",
        "lr",
        "corruption",
    )
    for cls in (Preset, RunConfig):
        assert issubclass(cls, Recipe)
        declared = {f.name: f for f in fields(cls)}
        for name in RECIPE_FIELDS:  # the same field objects: inherited, not declared again
            assert declared[name] is Recipe.__dataclass_fields__[name], (cls.__name__, name)


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_a_run_from_a_preset_carries_the_presets_recipe(name):
    preset = PRESETS[name]
    config = RunConfig.from_preset(name)
    assert config.recipe_fields() == preset.recipe_fields()
    assert config.preset == name
    assert config.objective_params is not preset.objective_params  # --beta never changes the preset


def test_overrides_change_the_runs_recipe_not_the_presets():
    config = RunConfig.from_preset("book-vae", epochs=7, lr=2e-3, beta=10.0, latent_dim=4, noise_amount=0.1)
    assert (config.epochs, config.lr, config.model.latent_dim) == (7, 2e-3, 4)
    assert config.objective_params == {"reconstruction_weight": 10.0}
    assert config.corruption.describe() == "gaussian noise σ=0.1"
    assert PRESETS["book-vae"].recipe_fields()["objective_params"] == {"reconstruction_weight": 500.0}
    assert PRESETS["book-vae"].epochs == 5 and PRESETS["book-vae"].corruption is None


def test_config_json_keeps_its_keys_and_old_files_load(tmp_path):
    path = tmp_path / "config.json"
    path.write_text(OLD_CONFIG_JSON)
    old = RunConfig.read(path)
    assert old == RunConfig.from_preset("book-dae", epochs=4, noise_amount=0.2, cuda_graphs=True)
    written = json.loads(old.to_json())
    added = {"data_placement": "auto"}  # the settings added since, each with its default
    assert set(written) == set(json.loads(OLD_CONFIG_JSON)) | set(added)
    assert next(iter(written)) == "preset"
    assert {key: value for key, value in written.items() if key != "vaelab_version"} == {
        key: value for key, value in json.loads(OLD_CONFIG_JSON).items() if key != "vaelab_version"
    } | added
