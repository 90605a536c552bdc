import json

import pytest
import torch
from safetensors.torch import load_file

from conftest import small_config
from vaelab.errors import ConfigError, RunDirError, TrainingDivergedError
from vaelab.models import build_model
from vaelab.training import RunDir, TrainingInterrupted, load_run, prepare_config, train
from vaelab.training import trainer as trainer_module
from vaelab.training.objectives import OBJECTIVES, BceObjective

QUIET = {"progress": False, "log": lambda s: None}


def _train(run_dir, train_images, test_images, resume=False, **overrides):
    config = small_config(**overrides)
    return train(config, run_dir, resume=resume, train_set=train_images, test_set=test_images, **QUIET)


def _weights(run_dir):
    return load_file(str(RunDir(run_dir).model))


def test_training_lowers_the_loss_and_writes_the_run(tmp_path, train_images, test_images):
    result = _train(tmp_path / "run", train_images, test_images, epochs=3)
    history = result.history
    assert [row["epoch"] for row in history] == [1, 2, 3]
    assert history[-1]["train"]["loss"] < history[0]["train"]["loss"]
    assert history[-1]["val"]["loss"] < history[0]["val"]["loss"]
    run = RunDir(tmp_path / "run")
    rows = run.read_metrics()
    assert rows == json.loads(json.dumps(history))
    for key in ("epoch", "train", "val", "seconds", "images_per_second"):
        assert key in rows[0]
    assert set(rows[0]["train"]) == {"loss", "bce_nats"} == set(rows[0]["val"])
    assert rows[0]["train"]["bce_nats"] == pytest.approx(rows[0]["train"]["loss"] * 1024, rel=1e-6)
    assert run.config.exists() and run.model.exists() and run.checkpoint.exists()
    assert not list(run.path.glob(".*.tmp")), "temporary files left behind"


def test_same_seed_same_numbers_other_seed_other_numbers(tmp_path, train_images, test_images):
    a = _train(tmp_path / "a", train_images, test_images, epochs=1).history
    b = _train(tmp_path / "b", train_images, test_images, epochs=1).history
    c = _train(tmp_path / "c", train_images, test_images, epochs=1, seed=1).history
    assert a[0]["train"] == b[0]["train"] and a[0]["val"] == b[0]["val"]
    assert a[0]["val"] != c[0]["val"]


def test_resume_continues_exactly(tmp_path, train_images, test_images):
    straight = _train(tmp_path / "straight", train_images, test_images, epochs=2).history
    _train(tmp_path / "resumed", train_images, test_images, epochs=1)
    resumed = _train(tmp_path / "resumed", train_images, test_images, resume=True, epochs=2).history
    assert [row["epoch"] for row in resumed] == [row["epoch"] for row in straight] == [1, 2]
    for a, b in zip(straight, resumed, strict=True):
        assert a["train"] == b["train"] and a["val"] == b["val"]
    for name, tensor in _weights(tmp_path / "straight").items():
        assert torch.equal(tensor, _weights(tmp_path / "resumed")[name]), name


def test_interrupt_mid_epoch_checkpoints_and_resume_is_exact(tmp_path, train_images, test_images, monkeypatch):
    straight = _train(tmp_path / "straight", train_images, test_images, epochs=2).history

    polls = {"n": 0}

    def stop_after_17_steps(self):
        polls["n"] += 1
        return polls["n"] >= 17  # in the second epoch (12 steps per epoch)

    monkeypatch.setattr(trainer_module.StopRequest, "__bool__", stop_after_17_steps)
    with pytest.raises(TrainingInterrupted, match="--resume"):
        _train(tmp_path / "cut", train_images, test_images, epochs=2)
    monkeypatch.undo()
    assert len(RunDir(tmp_path / "cut").read_metrics()) == 1
    resumed = _train(tmp_path / "cut", train_images, test_images, resume=True, epochs=2).history
    assert [r["train"] for r in resumed] == [r["train"] for r in straight]
    assert [r["val"] for r in resumed] == [r["val"] for r in straight]


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path, train_images, test_images, monkeypatch):
    run_dir = tmp_path / "run"
    _train(run_dir, train_images, test_images, epochs=1)
    good = RunDir(run_dir).checkpoint.read_bytes()

    class Exploding(BceObjective):
        def __call__(self, model, batch, output):
            terms = super().__call__(model, batch, output)
            return {k: v * float("nan") for k, v in terms.items()}

    monkeypatch.setitem(OBJECTIVES, "bce", Exploding)
    with pytest.raises(TrainingDivergedError, match="checkpoint of epoch 1 is kept"):
        _train(run_dir, train_images, test_images, resume=True, epochs=2)
    assert RunDir(run_dir).checkpoint.read_bytes() == good
    assert len(RunDir(run_dir).read_metrics()) == 1


def test_new_run_refuses_a_directory_that_holds_one(tmp_path, train_images, test_images):
    _train(tmp_path / "run", train_images, test_images, epochs=1)
    with pytest.raises(RunDirError, match="--resume"):
        prepare_config(RunDir(tmp_path / "run"), "book-ae", resume=False)


def test_resume_refuses_other_settings_and_missing_runs(tmp_path, train_images, test_images):
    _train(tmp_path / "run", train_images, test_images, epochs=1)
    run = RunDir(tmp_path / "run")
    with pytest.raises(ConfigError, match="--lr"):
        prepare_config(run, None, resume=True, lr=0.5)
    with pytest.raises(ConfigError, match="latent"):
        prepare_config(run, None, resume=True, latent_dim=16)
    assert prepare_config(run, None, resume=True, epochs=5).epochs == 5
    with pytest.raises(RunDirError, match="does not exist"):
        prepare_config(RunDir(tmp_path / "nowhere"), None, resume=True)


def test_resume_of_a_finished_run_does_nothing(tmp_path, train_images, test_images):
    _train(tmp_path / "run", train_images, test_images, epochs=1)
    before = RunDir(tmp_path / "run").checkpoint.read_bytes()
    result = _train(tmp_path / "run", train_images, test_images, resume=True, epochs=1)
    assert len(result.history) == 1
    assert RunDir(tmp_path / "run").checkpoint.read_bytes() == before


def test_load_run_rebuilds_the_trained_model(trained_run, test_images):
    x = torch.from_numpy(test_images.images[:4]).float() / 255
    z = trained_run.model.encode(x).mean
    assert z.shape == (4, 2)
    assert trained_run.config.preset == "book-ae" and not trained_run.model.training
    # The trained weights, not a freshly initialised model of the same shape.
    saved = _weights(trained_run.dir.path)
    loaded = trained_run.model.state_dict()
    assert saved.keys() == loaded.keys()
    assert all(torch.equal(loaded[name], tensor) for name, tensor in saved.items())
    torch.manual_seed(trained_run.config.seed)
    untrained = build_model(trained_run.config.model).state_dict()
    assert not any(torch.equal(untrained[name], tensor) for name, tensor in saved.items() if "weight" in name)


def test_corrupt_weights_give_a_clear_error(tmp_path, train_images, test_images):
    _train(tmp_path / "run", train_images, test_images, epochs=1)
    model_file = RunDir(tmp_path / "run").model
    model_file.write_bytes(model_file.read_bytes()[:100])
    with pytest.raises(RunDirError, match="corrupt"):
        load_run(tmp_path / "run", "cpu")


def test_weights_of_another_architecture_are_refused(tmp_path, train_images, test_images):
    _train(tmp_path / "run", train_images, test_images, epochs=1)
    config = json.loads(RunDir(tmp_path / "run").config.read_text())
    config["model"]["latent_dim"] = 3
    RunDir(tmp_path / "run").config.write_text(json.dumps(config))
    with pytest.raises(RunDirError, match="do not fit"):
        load_run(tmp_path / "run", "cpu")
