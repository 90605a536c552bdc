"""The VQ-VAE's learnt prior (issue 14, parts 2 and 3): `prior train` on the code grids of a tiny run,
its files and metrics in bits per code, its progress bars, exact resume at an epoch's end and
mid-epoch, the prior attached when the run is loaded (so `generate` samples codes from it, under a
chosen class with `--class`), and the one-line refusals. Stops at every write:
test_fault_injection.py."""

from __future__ import annotations

import json
import math
import shutil
from dataclasses import replace
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from cli_run import assert_one_line_error, run_cli
from idx_fixtures import install_fake_fashion_mnist
from vaelab.errors import ConfigError, RunDirError
from vaelab.presentation import report
from vaelab.training import RunConfig, TrainingInterrupted, load_run, train
from vaelab.training import prior as prior_module
from vaelab.training.prior import prepare_prior_config, train_prior
from vaelab.training.prior_dir import PriorDir

QUIET = {"progress": False, "log": lambda s: None}
SMALL = {"channels": 8, "layers": 2, "kernel": 3, "batch_size": 20}


@pytest.fixture(scope="module")
def vq_run(tmp_path_factory, train_images, test_images):
    """A vq-vae run trained for 1 short epoch on 60 synthetic images."""
    folder = tmp_path_factory.mktemp("vq") / "run"
    config = RunConfig.from_preset("vq-vae", epochs=1, batch_size=20, lr=2e-3, seed=0, device="cpu")
    train(config, folder, train_set=train_images.head(60), test_set=test_images.head(20), **QUIET)
    return folder


@pytest.fixture
def run_copy(vq_run, tmp_path):
    """A fresh copy of the run, without a prior."""
    shutil.copytree(vq_run, tmp_path / "run")
    return tmp_path / "run"


def _prior(folder, train_images, test_images, epochs, resume=False, **settings):
    run = load_run(folder, "cpu")
    config = prepare_prior_config(run, resume, epochs, **({} if resume else SMALL), **settings)
    data = {"train_set": train_images.head(60), "test_set": test_images.head(20)}
    return train_prior(run, config, resume=resume, **QUIET, **data)


def _rows(folder):
    lines = (PriorDir(folder).metrics).read_text().splitlines()
    return [{k: v for k, v in json.loads(line).items() if k != "seconds"} for line in lines]


def test_a_prior_trains_reports_bits_per_code_and_generate_samples_from_it(run_copy, train_images, test_images):
    result = _prior(run_copy, train_images, test_images, epochs=2)
    assert result.config.classes == 10 and result.config.vq_weights == load_run(run_copy, "cpu").weights.to_dict()
    rows = _rows(run_copy)
    assert [row["epoch"] for row in rows] == [1, 2]
    for row in rows:
        for part in ("train", "val"):
            assert 0 < row[part]["nll_bits_per_code"] < 2 * math.log2(256)
    assert sorted(p.name for p in PriorDir(run_copy).path.iterdir()) == [
        "checkpoint.safetensors",
        "config.json",
        "metrics.jsonl",
        "model.safetensors",
    ]
    run = load_run(run_copy, "cpu")
    assert run.model.has_prior and run.model.prior is not None
    written = report.write_generated(run, test_images.head(20), 4, seed=3)
    assert [p.name for p in written] == ["generated.png", "generated.json", "generated.npz"]
    with np.load(written[-1]) as saved:
        assert saved["images"].shape == (4, 1, 32, 32) and saved["points"].shape == (4, run.model.latent_dim)
    assert json.loads(written[1].read_text())["sampler"] == "prior"


def test_prior_training_shows_progress_bars_as_train_does_unless_told_not_to(
    run_copy, train_images, test_images, capsys
):
    run = load_run(run_copy, "cpu")
    data = {"train_set": train_images.head(60), "test_set": test_images.head(20)}
    train_prior(run, prepare_prior_config(run, epochs=2, **SMALL), progress=False, log=print, **data)
    out, err = capsys.readouterr()
    assert err == "" and out.count("prior epoch") == 2
    config = prepare_prior_config(run, resume=True, epochs=3)
    train_prior(run, config, resume=True, progress=True, log=lambda s: None, **data)
    err = capsys.readouterr().err
    assert "code grids of the training images" in err and "code grids of the test images" in err
    assert "prior epoch 3/3" in err and "3/3" in err and "bits=" in err
    assert "prior epoch 1/" not in err  # a resumed prior shows only the epochs it trains


def test_the_command_takes_no_progress(run_copy, monkeypatch):
    from vaelab.cli.app import main

    calls = []
    monkeypatch.setattr(prior_module, "run_prior_training", lambda *a, **k: calls.append(k) or _NOTHING_TRAINED)
    assert main(["prior", "train", str(run_copy)]) == 0
    assert main(["prior", "train", str(run_copy), "--no-progress"]) == 0
    assert [call["progress"] for call in calls] == [True, False]


_NOTHING_TRAINED = SimpleNamespace(trained=False)


def test_without_a_prior_generate_says_how_to_train_one_in_one_line(run_copy, test_images):
    run = load_run(run_copy, "cpu")
    assert not run.model.has_prior
    with pytest.raises(ConfigError) as refused:
        report.write_generated(run, test_images.head(20), 4)
    message = str(refused.value)
    assert "\n" not in message and message.endswith(f"train one with `vaelab prior train {run_copy}`")


def test_resume_at_an_epochs_end_and_mid_epoch_is_the_prior_never_stopped(
    vq_run, tmp_path, train_images, test_images, monkeypatch
):
    folders = {name: tmp_path / name for name in ("straight", "resumed", "cut")}
    for folder in folders.values():
        shutil.copytree(vq_run, folder)
    _prior(folders["straight"], train_images, test_images, epochs=2)
    _prior(folders["resumed"], train_images, test_images, epochs=1)
    _prior(folders["resumed"], train_images, test_images, epochs=2, resume=True)
    polls = {"n": 0}

    def stop_in_the_second_epoch(self):
        polls["n"] += 1
        return polls["n"] >= 5  # 3 steps and the epoch's end, then the first step of epoch 2

    monkeypatch.setattr(prior_module.StopRequest, "__bool__", stop_in_the_second_epoch)
    with pytest.raises(TrainingInterrupted, match=r"at prior epoch 2, batch 1; .* --resume"):
        _prior(folders["cut"], train_images, test_images, epochs=2)
    monkeypatch.undo()
    assert len(_rows(folders["cut"])) == 1
    _prior(folders["cut"], train_images, test_images, epochs=2, resume=True)
    expected = PriorDir(folders["straight"]).model.read_bytes()
    for name in ("resumed", "cut"):
        assert PriorDir(folders[name]).model.read_bytes() == expected, name
        assert _rows(folders[name]) == _rows(folders["straight"]), name


def test_generate_class_draws_every_code_grid_under_that_class(run_copy, train_images, test_images):
    _prior(run_copy, train_images, test_images, epochs=1)
    run = load_run(run_copy, "cpu")
    model = run.model
    assert model.prior_classes == 10 and not model.conditional  # the prior takes the class, not the decoder
    points = {}
    for k in (4, 7):
        written = report.write_generated(run, test_images.head(20), 4, seed=3, condition=f"shape-{k}")
        with np.load(written[-1]) as saved:
            points[k] = saved["points"]
            assert saved["labels"].tolist() == [k] * 4
        record = json.loads(written[1].read_text())
        assert record["classes"] == [k] * 4 and record["class_names"][k] == f"shape-{k}"
        with torch.no_grad():  # the same draws, straight from the PixelCNN
            grids = model.prior.sample(4, torch.full((4,), k), torch.Generator().manual_seed(3))
            assert np.array_equal(points[k], model.codes_to_points(grids).numpy())
    assert not np.array_equal(points[4], points[7])


def test_without_labels_sample_k_is_drawn_under_class_k_mod_classes(run_copy, train_images, test_images):
    _prior(run_copy, train_images, test_images, epochs=1)
    model = load_run(run_copy, "cpu").model
    with torch.no_grad():
        default = model.sample_prior(12, torch.Generator().manual_seed(0))
        cycled = model.sample_prior(12, torch.Generator().manual_seed(0), torch.arange(12) % 10)
        assert torch.equal(default, cycled)
        for labels in (torch.zeros(2, dtype=torch.long), torch.full((3,), 10), torch.zeros(3)):
            with pytest.raises(ValueError):
                model.sample_prior(3, labels=labels)


def test_generate_class_without_a_class_conditional_prior_is_refused_in_one_line(run_copy, train_images, test_images):
    run = load_run(run_copy, "cpu")
    with pytest.raises(ConfigError) as refused:
        report.write_generated(run, test_images.head(20), 4, condition="shape-4")
    assert str(refused.value) == (
        "--class chooses the class a class-conditional prior draws samples under, and this vq-vae run has no "
        f"prior it can use: train one with `vaelab prior train {run_copy}`; then use --class"
    )
    unlabelled = replace(train_images.head(60), labels=None, class_names=())
    config = prepare_prior_config(run, epochs=1, **SMALL)
    train_prior(run, config, train_set=unlabelled, test_set=test_images.head(20), **QUIET)
    run = load_run(run_copy, "cpu")
    assert run.model.has_prior and run.model.prior_classes == 0
    with pytest.raises(ConfigError) as refused:
        report.write_generated(run, test_images.head(20), 4, condition="shape-4")
    assert str(refused.value) == (
        "--class chooses the class a class-conditional prior draws samples under, and this run's vq-vae prior "
        "was trained without classes (its images had no labels); leave --class out"
    )
    with pytest.raises(ValueError, match="takes no classes"):
        run.model.sample_prior(2, labels=torch.zeros(2, dtype=torch.long))


def test_the_command_generates_under_a_class(run_copy, train_images, test_images, capsys, monkeypatch, tmp_path):
    install_fake_fashion_mnist(monkeypatch, tmp_path)
    generate = ["generate", str(run_copy), "--class", "Coat", "--count", "3", "--device", "cpu"]
    code, _, err = run_cli(capsys, *generate)
    assert_one_line_error(code, err, 1, "has no prior it can use", f"`vaelab prior train {run_copy}`; then use --class")
    _prior(run_copy, train_images, test_images, epochs=1)
    code, _, err = run_cli(capsys, *generate)
    assert code == 0, err
    record = json.loads((run_copy / "figures" / "generated.json").read_text())
    assert record["classes"] == [4, 4, 4] and record["class_names"][4] == "Coat"


def test_refusals_are_one_line(run_copy, train_images, test_images, trained_run):
    with pytest.raises(ConfigError, match="codes are continuous"):
        prepare_prior_config(trained_run)  # book-ae, a Run
    run = load_run(run_copy, "cpu")
    with pytest.raises(RunDirError, match="no checkpoint to resume"):
        prepare_prior_config(run, resume=True)
    with pytest.raises(ConfigError, match="prior kernel must be odd"):
        prepare_prior_config(run, kernel=4)
    _prior(run_copy, train_images, test_images, epochs=1)
    with pytest.raises(RunDirError, match="already holds a prior"):
        prepare_prior_config(run)
    with pytest.raises(ConfigError, match="--channels cannot change"):
        prepare_prior_config(run, resume=True, channels=16)


def test_a_prior_of_other_weights_is_not_attached_and_the_hint_says_so(run_copy, train_images, test_images):
    _prior(run_copy, train_images, test_images, epochs=1)
    config = RunConfig.from_preset("vq-vae", epochs=2, batch_size=20, lr=2e-3, seed=0, device="cpu")
    train(config, run_copy, resume=True, train_set=train_images.head(60), test_set=test_images.head(20), **QUIET)
    run = load_run(run_copy, "cpu")  # the vq-vae has moved on: the prior models other codes
    assert not run.model.has_prior
    hint = run.model.missing_prior_hint  # why the prior there does not apply, and what to run
    assert hint.startswith(f"{PriorDir(run_copy)} was trained on other weights of the vq-vae than {run_copy} holds now")
    assert f"; delete {PriorDir(run_copy)} and train a new one" in hint
    from vaelab.workflows.export import export_run

    warned: list[str] = []
    written = export_run(run_copy, run_copy.parent / "shared", warn=warned.append)  # says what it left out
    assert warned == [f"the export has no prior and no samples: {hint}"]
    assert not any("prior" in path.parts for path in written) and not (run_copy.parent / "shared" / "prior").exists()


def test_the_command_refuses_in_one_line_before_reading_data(run_copy, trained_run, capsys):
    from vaelab.cli.app import main

    assert main(["prior", "train", str(trained_run.dir), "--device", "cpu"]) == 1
    error = capsys.readouterr().err
    assert error.startswith("vaelab prior train: error: a PixelCNN prior models grids of discrete codes")
    assert error.count("\n") == 1
    assert main(["prior", "train", str(run_copy), "--resume", "--device", "cpu"]) == 1
    assert "has no checkpoint to resume" in capsys.readouterr().err
    with pytest.raises(SystemExit) as refused:  # the parser's: an odd kernel only
        main(["prior", "train", str(run_copy), "--kernel", "4", "--device", "cpu"])
    assert refused.value.code == 2
    assert capsys.readouterr().err == (
        "vaelab prior train: error: argument --kernel: expected an odd integer from 3 to 15, got '4' "
        "(see `vaelab prior train --help`)\n"
    )


def test_a_prior_stopped_before_its_first_epoch_ended_trains_again_with_the_same_command(run_copy):
    folder = PriorDir(run_copy)
    folder.path.mkdir()
    folder.config.write_text("{}")  # all that a first epoch cut short leaves
    config = prepare_prior_config(load_run(run_copy, "cpu"), **SMALL)
    assert (config.channels, config.layers) == (8, 2)


def test_training_removes_what_writes_cut_short_left_in_the_prior_folder(run_copy, train_images, test_images):
    _prior(run_copy, train_images, test_images, epochs=1)
    left = PriorDir(run_copy).path / ".checkpoint.safetensors.999999999.0123456789abcdef.tmp"  # no such process
    left.write_bytes(b"half a checkpoint")
    logged: list[str] = []
    run = load_run(run_copy, "cpu")
    data = {"train_set": train_images.head(60), "test_set": test_images.head(20)}
    train_prior(run, prepare_prior_config(run, True, 2), resume=True, progress=False, log=logged.append, **data)
    assert not left.exists() and logged[0] == f"removed {left}, left by a write that was cut short"


def test_a_damaged_prior_is_not_attached_and_the_hint_says_what_to_run(run_copy, train_images, test_images):
    _prior(run_copy, train_images, test_images, epochs=1)
    weights = PriorDir(run_copy).model
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF  # one bit of the tensor data: its SHA-256 no longer matches
    weights.write_bytes(bytes(data))
    run = load_run(run_copy, "cpu")  # the VQ-VAE itself still loads
    assert not run.model.has_prior
    assert run.model.missing_prior_hint.endswith(f"; train it with `vaelab prior train {run_copy} --resume`")
    logged: list[str] = []
    config = prepare_prior_config(run, resume=True)
    data = {"train_set": train_images.head(60), "test_set": test_images.head(20)}
    assert not train_prior(run, config, resume=True, log=logged.append, **data).trained
    assert logged[0] == f"wrote {weights} again from the checkpoint of prior epoch 1"
    assert load_run(run_copy, "cpu").model.has_prior  # as the hint said


def test_the_help_states_the_prior_s_defaults():
    from dataclasses import fields

    from vaelab.cli.prior import DEFAULTS
    from vaelab.training.prior_dir import PriorConfig

    assert {f.name: f.default for f in fields(PriorConfig) if f.name in DEFAULTS} == DEFAULTS
