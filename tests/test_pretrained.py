"""Sharing a model (issue 15, part 2): ``vaelab export RUN DIR``, ``vaelab.save_pretrained`` and
``vaelab.from_pretrained``, the Hugging Face layout (``config.json`` + ``model.safetensors``).

* every preset of :data:`vaelab.models.PRESETS`: a run exported and loaded back is the same model
  (the same state dict, bit for bit, and the same encode and decode outputs), and its card holds the
  recipe and the command that trains it (a preset added later is covered without a change here); the
  runs are built from their presets without training (weights drawn at random), which is what the
  round trip needs;
* a trained run's card: its metrics, its measurements, its samples (copied from ``figures/`` or drawn
  from the prior); a vq-vae's PixelCNN prior goes along, and samples the same grids after the trip;
* the commands on the card give the run's config back through the command line itself;
* loading from a folder imports nothing from huggingface_hub and opens no connection (a subprocess);
  a repo id without huggingface_hub, or without the network, is one line;
* every refusal is one line: a foreign folder, a run without weights, a damaged or cut export.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import types
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

import vaelab
import vaelab.training
from cli_run import assert_one_line_error, run_cli
from synthetic import synthetic_images
from vaelab.errors import ConfigError, PretrainedError, RunDirError, VaelabError
from vaelab.evaluation.results import EVALUATION, merge_results
from vaelab.latent.samplers import check_sampler_applies
from vaelab.models import PRESETS, build_model
from vaelab.models.base import LatentModel
from vaelab.presentation import report
from vaelab.training import RunConfig, RunDir, load_run, train
from vaelab.training.pretrained import LOADED_FILES, PretrainedDir, from_pretrained
from vaelab.training.prior import prepare_prior_config, train_prior
from vaelab.training.reproduce import train_command
from vaelab.workflows.export import export_run, save_pretrained

QUIET = {"progress": False, "log": lambda s: None}
TINY = {"epochs": 1, "batch_size": 20, "lr": 2e-3, "seed": 0, "device": "cpu"}
TINY_PRIOR = {"channels": 8, "layers": 2, "kernel": 3, "batch_size": 20, "seed": 0}
EXPORT_FILES = {"README.md", "config.json", "model.safetensors"}


def untrained_run(preset: str, folder: Path) -> Path:
    """A run directory of ``preset`` (seed 7) holding weights drawn at random, buffers included, as if
    it had trained one epoch: what a round trip needs, without training."""
    config = RunConfig.from_preset(preset, seed=7, device="cpu")
    torch.manual_seed(7)
    model = build_model(config.model)
    with torch.no_grad():
        for tensor in model.state_dict().values():
            if tensor.is_floating_point():  # positive factors: BatchNorm's running variances stay positive
                tensor.mul_(1 + 0.1 * torch.rand_like(tensor)).add_(0.01 * torch.rand_like(tensor))
    run_dir = RunDir(folder)
    run_dir.create()
    run_dir.write_config(config)
    run_dir.write_metrics([])
    run_dir.save_weights(model, config, epoch=1)
    return folder


def images_for(model: LatentModel, count: int = 6) -> torch.Tensor:
    spec = model.spec
    generator = torch.Generator().manual_seed(3)
    return torch.rand((count, spec.image_channels, spec.image_size, spec.image_size), generator=generator)


def labels_for(model: LatentModel, count: int = 6) -> torch.Tensor | None:
    return torch.arange(count) % model.condition_dim if model.conditional else None


def assert_same_model(loaded: LatentModel, original: LatentModel) -> None:
    """The same family, spec and state dict (bit for bit), and the same encode and decode outputs."""
    assert type(loaded) is type(original) and loaded.spec == original.spec and not loaded.training
    state, expected = loaded.state_dict(), original.state_dict()
    assert state.keys() == expected.keys()
    assert not [name for name in state if not torch.equal(state[name], expected[name])]
    images, labels = images_for(original), labels_for(original)
    with torch.no_grad():
        posterior, reference = loaded.encode(images, labels), original.encode(images, labels)
        assert torch.equal(posterior.mean, reference.mean)
        if hasattr(reference, "log_var"):
            assert torch.equal(posterior.log_var, reference.log_var)
        assert torch.equal(loaded.decode(posterior.mean, labels), original.decode(reference.mean, labels))


def card_of(folder: Path) -> str:
    return (folder / "README.md").read_text(encoding="utf-8")


def front_matter(card: str) -> dict[str, list[str] | str]:
    """The card's YAML front matter, read as the flat keys and lists vaelab writes."""
    assert card.startswith("---\n")
    fields: dict[str, list[str] | str] = {}
    key = ""
    for line in card.split("---\n")[1].splitlines():
        if line.startswith("- "):
            fields.setdefault(key, [])
            fields[key].append(line[2:])  # type: ignore[union-attr]
        else:
            key, _, value = line.partition(":")
            if value.strip():
                fields[key] = value.strip()
    return fields


def code_blocks(card: str, language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)\n```", card, flags=re.S)


# ---------------------------------------------------------------- every preset


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """Each preset's untrained run and its export, made on first use: {preset: (run_dir, export_dir)}."""
    root = tmp_path_factory.mktemp("every-preset-export")
    made: dict[str, tuple[Path, Path]] = {}

    def make(preset: str) -> tuple[Path, Path]:
        if preset not in made:
            run_dir = untrained_run(preset, root / preset)
            export_run(run_dir, root / f"{preset}-export")
            made[preset] = (run_dir, root / f"{preset}-export")
        return made[preset]

    return make


@pytest.mark.parametrize("preset", list(PRESETS))
def test_an_exported_run_loads_back_as_the_same_model(exported, preset):
    run_dir, folder = exported(preset)
    original = load_run(run_dir, "cpu").model
    loaded = vaelab.from_pretrained(str(folder), device="cpu")
    assert_same_model(loaded, original)
    names = {path.name for path in folder.iterdir()}
    samples = {"samples.png"} if original.has_prior else set()  # a prior to draw from without the data
    assert names == EXPORT_FILES | samples
    config = json.loads((folder / "config.json").read_text())
    assert config["format"] == "vaelab-pretrained-1" and config["model"] == original.spec.to_dict()
    assert config["run"] == RunDir(run_dir).read_config().to_dict() and config["weights"]["epoch"] == 1


@pytest.mark.parametrize("preset", list(PRESETS))
def test_the_card_holds_the_recipe_and_the_command_that_trains_it(exported, preset):
    run_dir, folder = exported(preset)
    card, config = card_of(folder), RunDir(run_dir).read_config()
    fields = front_matter(card)
    assert fields["library_name"] == "vaelab" and config.model.kind in fields["tags"]
    assert json.loads(code_blocks(card, "json")[0]) == config.to_dict()
    commands = code_blocks(card, "bash")[0].splitlines()
    assert commands == [train_command(config, str(run_dir)).text, f"vaelab export {run_dir} {folder}"]
    assert f"--preset {preset} --run-dir {run_dir} --seed 7 --device cpu" in commands[0]
    for part in ("encoder", "decoder", "total"):
        assert f"{part} " in card
    assert ("![samples](samples.png)" in card) == (folder / "samples.png").exists()
    point_size = from_pretrained(folder, device="cpu").latent_dim  # a vq-vae's: its grid of code vectors
    assert "z = model.encode(images" in card and f"# [N, {point_size}]: " in card


# ---------------------------------------------------------------- the commands on the card


def _train_config_of(capsys, monkeypatch, tmp_path, command: str) -> RunConfig:
    """The config ``vaelab train`` builds from ``command`` (the training itself replaced by a stand-in)."""
    captured = {}

    def fake_train(config, run_dir, **kwargs):
        captured["config"] = config
        return SimpleNamespace(is_main=False)

    monkeypatch.setattr(vaelab.training, "train", fake_train)
    argv = shlex.split(command)
    argv[argv.index("--run-dir") + 1] = str(tmp_path / "again")
    code, _, err = run_cli(capsys, *argv[1:])
    assert code == 0, err
    return captured["config"]


@pytest.mark.parametrize(
    "preset, settings",
    [
        ("book-ae", {"seed": 3}),
        ("book-vae", {"epochs": 7, "batch_size": 64, "lr": 3e-4, "latent_dim": 4, "beta": 250.0, "limit_train": 500}),
        ("beta-vae", {"beta": 4.0, "corruption": "mask", "noise_amount": 0.25, "limit_test": 100, "threads": 2}),
        ("book-dae", {"corruption": "salt-pepper", "precision": "bf16", "compile": True, "device": "cpu"}),
        ("iwae", {"k": 12, "data_dir": "/data/fashion mnist"}),
        ("vamp", {"pseudo_inputs": 50, "cuda_graphs": True}),
        ("vq-vae", {"codebook_size": 64, "latent_dim": 8, "beta": 0.5}),
        ("book-faces", {"image_size": 64, "center_crop": True, "on_bad_image": "skip", "data_dir": "/data/celeba"}),
        ("cvae", {"dataset": "fashion-mnist", "seed": 12}),
        ("book-ae", {"dataset": "image-folder", "image_size": 16, "data_dir": "/data/pictures"}),
    ],
)
def test_the_train_command_gives_the_run_config_back(capsys, monkeypatch, tmp_path, preset, settings):
    config = RunConfig.from_preset(preset, **settings)
    command = train_command(config, "runs/x")
    assert command.unreproduced == ()
    assert _train_config_of(capsys, monkeypatch, tmp_path, command.text) == config


def test_settings_no_flag_sets_are_named_not_dropped():
    preset = RunConfig.from_preset("rae")
    config = RunConfig(**{**preset.__dict__, "objective_params": {"beta": 0.1, "decoder_weight": 0.5}})
    command = train_command(config, "runs/rae")
    assert command.unreproduced == ("objective_params",)
    assert command.text == "vaelab train --preset rae --run-dir runs/rae --seed 0"


# ---------------------------------------------------------------- trained runs


@pytest.fixture(scope="module")
def vq_runs(tmp_path_factory):
    """A vq-vae trained 1 epoch on synthetic images, without and with a tiny class-conditional prior."""
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("vq")
    train_set, test_set = synthetic_images(40, seed=0), synthetic_images(20, seed=1)
    train(RunConfig.from_preset("vq-vae", **TINY), root / "plain", train_set=train_set, test_set=test_set, **QUIET)
    shutil.copytree(root / "plain", root / "with-prior")
    run = load_run(root / "with-prior", "cpu")
    config = prepare_prior_config(run, epochs=1, **TINY_PRIOR)
    train_prior(run, config, train_set=train_set, test_set=test_set, **QUIET)
    return root / "plain", root / "with-prior"


def test_a_vq_vae_goes_with_its_prior_and_samples_the_same_after_the_trip(vq_runs, tmp_path):
    _, run_dir = vq_runs
    run = load_run(run_dir, "cpu")
    written = export_run(run_dir, tmp_path / "vq")
    assert [p.relative_to(tmp_path / "vq").as_posix() for p in written] == [
        "config.json",
        "model.safetensors",
        "prior/config.json",
        "prior/model.safetensors",
        "samples.png",
        "README.md",
    ]
    loaded = from_pretrained(tmp_path / "vq", device="cpu")
    assert_same_model(loaded, run.model)
    assert loaded.has_prior and loaded.prior_classes == run.model.prior_classes == 10
    prior_state, expected = loaded.prior.state_dict(), run.model.prior.state_dict()
    assert all(torch.equal(prior_state[name], expected[name]) for name in expected)
    with torch.no_grad():
        drawn = [m.decode(m.sample_prior(4, torch.Generator().manual_seed(5))) for m in (loaded, run.model)]
    assert torch.equal(*drawn)
    card = card_of(tmp_path / "vq")
    assert "vaelab prior train" in card and "bits per code" in card and "Column k holds class k" in card
    commands = code_blocks(card, "bash")[0].splitlines()
    assert commands[1] == f"vaelab prior train {run_dir} --seed 0 --channels 8 --layers 2 --epochs 1 --batch-size 20"
    prior_config = json.loads((tmp_path / "vq" / "prior" / "config.json").read_text())
    assert prior_config["pixelcnn"] == run.model.prior.settings() and prior_config["training"]["epochs"] == 1


def test_a_vq_vae_without_a_prior_says_so_and_a_new_export_replaces_an_old_one(vq_runs, tmp_path):
    plain, with_prior = vq_runs
    folder = tmp_path / "vq"
    export_run(with_prior, folder)
    written = export_run(plain, folder)  # over the export with a prior: its prior and samples go
    assert sorted(p.name for p in folder.iterdir()) == sorted(EXPORT_FILES)
    assert [p.name for p in written] == ["config.json", "model.safetensors", "README.md"]
    loaded = from_pretrained(folder, device="cpu")
    assert not loaded.has_prior and "vaelab prior train" in loaded.missing_prior_hint
    assert "No samples:" in card_of(folder) and "vaelab prior train" in card_of(folder)
    with pytest.raises(ConfigError, match="export a run whose prior is trained"):  # what generate says
        check_sampler_applies("prior", loaded)


def test_a_trained_run_card_has_its_metrics_measures_and_samples(trained_run, test_images, tmp_path):
    run_dir = tmp_path / "ae"
    shutil.copytree(trained_run.dir.path, run_dir)
    shutil.rmtree(run_dir / "figures", ignore_errors=True)  # the session's run: other tests write figures there
    folder = tmp_path / "shared"
    export_run(run_dir, folder)
    card = card_of(folder)
    assert "Epoch 2, as the run's `metrics.jsonl` records it" in card and "| loss |" in card
    assert "No samples image" in card and f"`vaelab generate {run_dir}`" in card
    assert "No `vaelab evaluate`" in card
    run = load_run(run_dir, "cpu")
    report.write_generated(run, test_images, 6)
    merge_results(
        run_dir / "figures" / EVALUATION, "uniform-box", {"reconstruction": {"bce_per_pixel": 0.25}}, run.weights
    )
    export_run(run_dir, folder)  # again, into its own earlier export
    card = card_of(folder)
    assert (folder / "samples.png").read_bytes() == (run_dir / "figures" / "generated.png").read_bytes()
    assert "![samples](samples.png)" in card and "| recon BCE/px | 0.2500 |" in card


def test_a_model_saved_from_python_loads_back(tmp_path):
    torch.manual_seed(0)
    model = build_model(PRESETS["cvae"].model).eval()
    written = save_pretrained(model, tmp_path / "cvae")
    assert [p.name for p in written] == ["config.json", "model.safetensors", "samples.png", "README.md"]
    assert_same_model(vaelab.from_pretrained(str(tmp_path / "cvae"), device="cpu"), model)
    card = card_of(tmp_path / "cvae")
    assert "Saved from Python, not from a run" in card and "```bash" not in card
    assert json.loads((tmp_path / "cvae" / "config.json").read_text())["run"] is None


def test_a_loaded_run_saves_as_its_folder_does(trained_run, tmp_path):
    save_pretrained(trained_run, tmp_path / "from-run")
    export_run(trained_run.dir.path, tmp_path / "from-folder")
    for name in ("config.json", "model.safetensors"):
        assert (tmp_path / "from-run" / name).read_bytes() == (tmp_path / "from-folder" / name).read_bytes()


def test_the_card_s_python_runs_as_written(exported):
    _, folder = exported("cvae")
    (code,) = code_blocks(card_of(folder), "python")
    namespace: dict = {}
    exec(code, namespace)
    assert namespace["decoded"].shape == namespace["images"].shape and namespace["samples"].shape[0] == 4


# ---------------------------------------------------------------- the command line


def test_the_command_writes_the_folder_and_prints_each_file(capsys, exported, tmp_path):
    run_dir, _ = exported("book-vae")
    code, out, err = run_cli(capsys, "export", str(run_dir), str(tmp_path / "shared"))
    assert code == 0, err
    assert out.splitlines() == [
        f"wrote {tmp_path / 'shared' / name}"
        for name in ("config.json", "model.safetensors", "samples.png", "README.md")
    ]


def test_the_command_refuses_a_foreign_folder_in_one_line(capsys, exported, tmp_path):
    run_dir, _ = exported("book-ae")
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("mine")
    code, _, err = run_cli(capsys, "export", str(run_dir), str(tmp_path / "mine"))
    assert_one_line_error(code, err, 1, "vaelab export: error:", "notes.txt", "did not write")
    assert sorted(p.name for p in (tmp_path / "mine").iterdir()) == ["notes.txt"]
    code, _, err = run_cli(capsys, "export", str(run_dir), str(tmp_path / "mine" / "notes.txt"))
    assert_one_line_error(code, err, 1, "notes.txt")


def test_the_command_refuses_a_folder_inside_the_run_in_one_line(capsys, exported):
    run_dir, _ = exported("book-ae")
    before = sorted(p.relative_to(run_dir) for p in Path(run_dir).rglob("*"))
    for inside in (Path(run_dir), Path(run_dir) / "hf", Path(run_dir) / "figures" / "hf", Path(run_dir) / "prior"):
        code, _, err = run_cli(capsys, "export", str(run_dir), str(inside))
        assert_one_line_error(code, err, 1, "is inside the run directory", "outside it")
    assert sorted(p.relative_to(run_dir) for p in Path(run_dir).rglob("*")) == before


def test_the_command_refuses_a_run_without_weights_in_one_line(capsys, tmp_path):
    run_dir = RunDir(tmp_path / "run")
    run_dir.create()
    run_dir.write_config(RunConfig.from_preset("book-ae"))
    code, _, err = run_cli(capsys, "export", str(run_dir), str(tmp_path / "shared"))
    assert_one_line_error(code, err, 1, "has no model.safetensors yet", "vaelab train")
    assert not (tmp_path / "shared").exists()
    code, _, err = run_cli(capsys, "export", str(tmp_path / "nowhere"), str(tmp_path / "shared"))
    assert_one_line_error(code, err, 1, "does not exist")


def test_a_model_built_by_hand_is_refused_in_one_line(tmp_path):
    model = build_model(PRESETS["book-ae"].model)
    model.spec = None
    with pytest.raises(ConfigError, match="build_model") as refused:
        save_pretrained(model, tmp_path / "x")
    assert "\n" not in str(refused.value) and not (tmp_path / "x").exists()


# ---------------------------------------------------------------- loading: offline, a repo id, refusals


@pytest.mark.slow
def test_loading_a_folder_imports_no_hub_client_and_opens_no_connection(exported, tmp_path):
    _, folder = exported("book-vae")
    trap = tmp_path / "trap" / "huggingface_hub"
    trap.mkdir(parents=True)
    (trap / "__init__.py").write_text("raise RuntimeError('huggingface_hub was imported')\n")
    script = (
        "import socket, sys\n"
        "def refuse(*args, **kwargs): raise RuntimeError('a connection was attempted')\n"
        "socket.socket.connect = refuse; socket.getaddrinfo = refuse; socket.create_connection = refuse\n"
        "import torch, vaelab\n"
        f"model = vaelab.from_pretrained({str(folder)!r}, device='cpu')\n"
        "images = model.decode(model.sample_prior(2))\n"
        "assert 'huggingface_hub' not in sys.modules, 'huggingface_hub was imported'\n"
        "print('loaded', tuple(images.shape))\n"
    )
    paths = [str(tmp_path / "trap"), str(Path(vaelab.__file__).parents[1]), os.environ.get("PYTHONPATH", "")]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, paths)), "HF_HUB_OFFLINE": "0"}
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "loaded (2, 1, 32, 32)"


def _hub_module(snapshot_download) -> types.ModuleType:
    """A stand-in for the huggingface_hub package with this ``snapshot_download``."""
    module = types.ModuleType("huggingface_hub")
    module.snapshot_download = snapshot_download
    return module


def test_a_repo_id_without_huggingface_hub_is_one_line(monkeypatch):
    monkeypatch.setitem(sys.modules, "huggingface_hub", None)  # an import of it now fails
    with pytest.raises(
        PretrainedError, match=r"needs the package huggingface_hub.*pip install 'vaelab\[hub\]'"
    ) as refused:
        vaelab.from_pretrained("someone/some-model")
    assert "\n" not in str(refused.value)


def test_a_repo_id_that_cannot_be_downloaded_is_one_line(monkeypatch):
    def offline(**kwargs):
        raise OSError("Max retries exceeded with url: /api/models/someone/some-model\n(Caused by NameResolutionError)")

    monkeypatch.setitem(sys.modules, "huggingface_hub", _hub_module(offline))
    with pytest.raises(
        PretrainedError, match="could not download someone/some-model from the Hugging Face Hub"
    ) as refused:
        vaelab.from_pretrained("someone/some-model")
    assert "\n" not in str(refused.value) and "Max retries exceeded" in str(refused.value)


def test_a_repo_id_loads_what_the_hub_client_fetched(monkeypatch, exported):
    """The download itself is huggingface_hub's (not faked here beyond handing back a folder): vaelab
    asks for the files it loads, at the revision asked, and loads what it gets."""
    run_dir, folder = exported("iwae")
    asked = {}

    def snapshot_download(**kwargs):
        asked.update(kwargs)
        return str(folder)

    monkeypatch.setitem(sys.modules, "huggingface_hub", _hub_module(snapshot_download))
    model = vaelab.from_pretrained("someone/iwae", device="cpu", revision="v1")
    assert asked == {"repo_id": "someone/iwae", "revision": "v1", "allow_patterns": list(LOADED_FILES)}
    assert_same_model(model, load_run(run_dir, "cpu").model)


@pytest.mark.parametrize(
    "damage, fragment",
    [
        (lambda f: (f / "model.safetensors").unlink(), "model.safetensors does not exist"),
        (lambda f: (f / "config.json").unlink(), "no config.json"),
        (lambda f: (f / "config.json").write_text("{"), "config.json"),
        (lambda f: (f / "config.json").write_text('{"format": "other"}'), "is not a vaelab export's"),
        (lambda f: _edit_config(f, weights={"sha256": "0" * 64}), "does not hold the weights"),
        (lambda f: _edit_config(f, model={"kind": "nope"}), "cannot build"),
        (lambda f: shutil.copy(f / "config.json", f / "model.safetensors"), "corrupt or truncated"),
    ],
)
def test_a_damaged_export_is_refused_in_one_line(exported, tmp_path, damage, fragment):
    _, folder = exported("beta-vae")
    copy = tmp_path / "copy"
    shutil.copytree(folder, copy)
    damage(copy)
    with pytest.raises(PretrainedError, match=re.escape(fragment)) as refused:
        from_pretrained(copy, device="cpu")
    assert "\n" not in str(refused.value)


def _edit_config(folder: Path, **changes) -> None:
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, **changes}))


@pytest.mark.parametrize("what", ["missing", "file", "run", "empty"])
def test_what_is_not_an_export_is_named(exported, tmp_path, what):
    run_dir, _ = exported("book-ae")
    source = {"missing": tmp_path / "a" / "b" / "c", "file": Path(__file__), "run": run_dir, "empty": ""}[what]
    fragment = {
        "missing": "does not exist",
        "file": "is a file",
        "run": "is a run directory",
        "empty": "an empty path",
    }[what]
    with pytest.raises(VaelabError, match=fragment) as refused:
        from_pretrained(source)
    assert "\n" not in str(refused.value)


@pytest.mark.parametrize("command", [["report"], ["generate"], ["prior", "train"], ["export"]])
def test_an_export_given_where_a_run_belongs_is_named_as_one(capsys, exported, tmp_path, command):
    from vaelab.training.pretrained import FORMAT
    from vaelab.training.run_dir import EXPORT_FORMAT_PREFIX

    assert FORMAT.startswith(EXPORT_FORMAT_PREFIX)
    _, folder = exported("book-ae")
    extra = [str(tmp_path / "again")] if command == ["export"] else []
    code, _, err = run_cli(capsys, *command, str(folder), *extra)
    assert_one_line_error(code, err, 1, "is a model exported by `vaelab export`, not a run", "from_pretrained")


def test_an_export_cut_short_is_refused_then_repaired_by_the_same_command(vq_runs, tmp_path):
    _, run_dir = vq_runs
    folder = tmp_path / "vq"
    export_run(run_dir, folder)
    (folder / "prior" / "model.safetensors").unlink()  # as a stop before the prior's weights were written
    with pytest.raises(PretrainedError, match="export it again"):
        from_pretrained(folder, device="cpu")
    assert PretrainedDir(folder).holds_export()
    export_run(run_dir, folder)
    assert from_pretrained(folder, device="cpu").has_prior


def test_a_run_directory_is_not_taken_for_an_export_destination(exported, tmp_path):
    run_dir, _ = exported("book-ae")
    with pytest.raises(PretrainedError, match="inside the run directory"):
        export_run(run_dir, run_dir)
    with pytest.raises(RunDirError):
        export_run(tmp_path / "none", tmp_path / "out")
