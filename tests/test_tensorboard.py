"""`vaelab train --tensorboard`: what the event files hold, read back with TensorBoard's own reader
(its EventAccumulator, which loads a run as TensorBoard does), and that a resume after a stop or a
kill continues the curves with no point twice and none going backwards."""

from __future__ import annotations

import shutil
import sys
import time

import pytest
import torch
from safetensors.torch import load_file

from cli_run import assert_one_line_error, run_cli
from conftest import small_config
from idx_fixtures import install_fake_fashion_mnist
from tensorboard_events import assert_steps_increase, needs_tensorboard, read_events, scalar_values
from test_distributed import torchrun
from test_execution import CudaEventStandIn
from vaelab.cli.train import TENSORBOARD_EVERY
from vaelab.errors import ConfigError
from vaelab.models import PRESETS, build_model, get_preset
from vaelab.training import (
    RunConfig,
    RunDir,
    TensorBoardOptions,
    TrainingInterrupted,
    monitor,
    tensorboard_options,
    train,
)
from vaelab.training import trainer as trainer_module
from vaelab.training.tensorboard import DEFAULT_EVERY, EVENT_FILE_PREFIX, EXAMPLES, TensorBoardLog, example_images

QUIET = {"progress": False, "log": lambda s: None}
STEPS = 12  # an epoch of small_config on the 240 synthetic training images (batches of 20)
TIMINGS = ("seconds", "train_seconds", "images_per_second")


def _train(run_dir, train_images, test_images, resume=False, every=4, config=None, **overrides):
    config = config or small_config(**overrides)
    if resume:
        config = RunDir(run_dir).read_config().resumed_with(epochs=config.epochs)
    options = TensorBoardOptions(every=every)
    return train(
        config, run_dir, resume=resume, train_set=train_images, test_set=test_images, tensorboard=options, **QUIET
    )


def _stop_at_poll(monkeypatch, poll):
    """Ctrl-C, as seen from the ``poll``-th look at the stop flag on (one per step, one per epoch's end)."""
    count = {"n": 0}

    def stop_requested(self):
        count["n"] += 1
        return count["n"] >= poll

    monkeypatch.setattr(trainer_module.StopRequest, "__bool__", stop_requested)


@needs_tensorboard
def test_a_run_logs_its_terms_validation_speed_images_and_recipe(tmp_path, train_images, test_images):
    config = RunConfig.from_preset("book-vae", epochs=2, batch_size=20, lr=2e-3, seed=0, device="cpu")
    result = _train(tmp_path / "run", train_images, test_images, config=config)
    assert result.tensorboard == tmp_path / "run" / "tensorboard"
    events = read_events(result.tensorboard)
    terms = ("loss", "reconstruction", "kl", "neg_elbo_nats")
    steps = assert_steps_increase(events)
    for term in terms:
        assert steps[f"train/{term}"] == list(range(4, 2 * STEPS + 1, 4))
        assert steps[f"train_epoch/{term}"] == steps[f"val/{term}"] == [STEPS, 2 * STEPS]
    assert steps["speed/images_per_second"] == [STEPS, 2 * STEPS]
    assert steps["images/reconstructions"] == steps["images/samples"] == [STEPS, 2 * STEPS]

    rows, values = result.history, scalar_values(events)
    for part, prefix in (("train", "train_epoch"), ("val", "val")):
        for term in terms:
            logged = [value for _, value in values[f"{prefix}/{term}"]]
            assert logged == pytest.approx([row[part][term] for row in rows], rel=1e-6), (prefix, term)
    speeds = [value for _, value in values["speed/images_per_second"]]
    assert speeds == pytest.approx([row["images_per_second"] for row in rows])
    # The points every 4 steps tile each epoch into 3 windows of 80 images: their mean is the epoch's.
    for epoch, row in enumerate(rows):
        windows = [value for _, value in values["train/loss"][3 * epoch : 3 * epoch + 3]]
        assert sum(windows) / 3 == pytest.approx(row["train"]["loss"], rel=1e-5)

    reconstructions = events.Images("images/reconstructions")[-1]
    assert (reconstructions.width, reconstructions.height) == (EXAMPLES * 32, 2 * 32)  # originals above
    samples = events.Images("images/samples")[-1]
    assert (samples.width, samples.height) == (EXAMPLES * 32, 32)

    hparams = _hparams(events)
    assert hparams["preset"].string_value == "book-vae" and hparams["objective"].string_value == "vae-book"
    assert hparams["lr"].number_value == pytest.approx(2e-3) and hparams["batch_size"].number_value == 20
    assert hparams["model.latent_dim"].number_value == 2
    assert hparams["objective_params.reconstruction_weight"].number_value == 500
    assert "epochs" not in hparams and "device" not in hparams  # what a resume may change is no hyperparameter


def _hparams(events):
    from tensorboard.plugins.hparams import metadata

    content = events.summary_metadata[metadata.SESSION_START_INFO_TAG].plugin_data.content
    return metadata.parse_session_start_info_plugin_data(content).hparams


@needs_tensorboard
def test_a_model_without_a_prior_logs_reconstructions_only(tmp_path, train_images, test_images):
    result = _train(tmp_path / "run", train_images, test_images, epochs=1)
    tags = read_events(result.tensorboard).Tags()
    assert tags["images"] == ["images/reconstructions"]
    assert set(tags["scalars"]) >= {"train/loss", "train/bce_nats", "val/loss", "val/bce_nats"}


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_every_family_s_images_are_its_reconstructions_and_prior_draws(preset):
    """What the capabilities say, never a family's name: reconstructions for every model (under each
    image's class for a conditional one), samples for a model with a prior only."""
    torch.manual_seed(0)
    model = build_model(get_preset(preset).model)
    spec = get_preset(preset).model
    images = torch.randint(0, 256, (3, spec.image_channels, spec.image_size, spec.image_size), dtype=torch.uint8)
    labels = torch.tensor([0, 1, 2]) if model.conditional else None
    model.train()
    shown, samples = example_images(model, images, labels)
    assert shown.shape == (6, *images.shape[1:]) and torch.equal(shown[:3], images / 255.0)
    assert shown.min() >= 0 and shown.max() <= 1 and model.training  # left as it was found
    assert (samples is not None) == model.has_prior
    if samples is not None:
        assert samples.shape == images.shape and torch.equal(samples, example_images(model, images, labels)[1])


@needs_tensorboard
def test_logging_changes_nothing_in_the_run(tmp_path, train_images, test_images):
    logged = _train(tmp_path / "logged", train_images, test_images, every=1, epochs=2)
    plain = train(small_config(epochs=2), tmp_path / "plain", train_set=train_images, test_set=test_images, **QUIET)
    assert _without_timings(logged.history) == _without_timings(plain.history)
    mine, theirs = load_file(RunDir(tmp_path / "logged").model), load_file(RunDir(tmp_path / "plain").model)
    assert all(mine[name].equal(theirs[name]) for name in theirs)
    assert sorted(p.name for p in (tmp_path / "logged").iterdir()) == sorted(
        [*(p.name for p in (tmp_path / "plain").iterdir()), "tensorboard"]
    )


def _without_timings(rows):
    return [{k: v for k, v in row.items() if k not in TIMINGS} for row in rows]


@needs_tensorboard
def test_on_a_gpu_the_points_come_one_interval_late_at_their_own_steps(
    tmp_path, train_images, test_images, monkeypatch
):
    now = read_events(_train(tmp_path / "cpu", train_images, test_images).tensorboard)
    original = monitor.SumsReader.__init__

    def as_on_a_gpu(self, sums):
        original(self, sums)
        self.event = CudaEventStandIn()

    monkeypatch.setattr(monitor.SumsReader, "__init__", as_on_a_gpu)
    late = read_events(_train(tmp_path / "gpu", train_images, test_images).tensorboard)
    assert scalar_values(late, "train/") == scalar_values(now, "train/")


@needs_tensorboard
def test_a_resume_after_a_stop_and_a_kill_continues_the_curves_exactly(
    tmp_path, train_images, test_images, monkeypatch
):
    straight = read_events(_train(tmp_path / "straight", train_images, test_images).tensorboard)

    run = tmp_path / "cut"
    _stop_at_poll(monkeypatch, 17)  # 12 steps and the end of epoch 1, then epoch 2's 4th step: global step 16
    with pytest.raises(TrainingInterrupted):
        _train(run, train_images, test_images)
    monkeypatch.undo()
    saved = tmp_path / "checkpoint-at-step-16"
    shutil.copytree(run, saved, ignore=shutil.ignore_patterns("tensorboard"))
    _train(run, train_images, test_images, resume=True)  # logs steps 17 to 24 and epoch 2 …
    for name in RunDir.FILES:  # … then is "killed" before its checkpoints: the run files go back to step 16
        shutil.copy2(saved / getattr(RunDir(saved), name).name, getattr(RunDir(run), name))
    _train(run, train_images, test_images, resume=True)  # logs steps 17 to 24 and epoch 2 again

    resumed = read_events(run / "tensorboard")
    assert assert_steps_increase(resumed) == assert_steps_increase(straight)
    for prefix in ("train/", "train_epoch/", "val/"):
        assert scalar_values(resumed, prefix) == scalar_values(straight, prefix), prefix


@needs_tensorboard
def test_a_new_run_hides_the_points_of_an_attempt_stopped_before_its_first_checkpoint(
    tmp_path, train_images, test_images
):
    from torch.utils.tensorboard import SummaryWriter

    with SummaryWriter(str(tmp_path / "run" / "tensorboard")) as killed:  # what a kill in epoch 1 leaves
        for step in range(1, 9):
            killed.add_scalar("train/loss", 99.0, step)
    result = _train(tmp_path / "run", train_images, test_images, epochs=1)
    events = read_events(result.tensorboard)
    losses = scalar_values(events, "train/loss")["train/loss"]
    assert [step for step, _ in losses] == [4, 8, 12] and 99.0 not in [value for _, value in losses]


@needs_tensorboard
def test_a_process_that_opens_the_folder_in_the_second_of_an_earlier_one_sorts_after_it(tmp_path):
    """TensorBoard reads a run's event files in name order: the second of creation, then host and pid.
    An earlier process's file, dated this second and from a host whose name sorts last, must still be
    read before the new one, or its points would come after the purge mark meant to hide them."""
    folder = tmp_path / "tensorboard"
    folder.mkdir()
    earlier = folder / f"{EVENT_FILE_PREFIX}{int(time.time()):010d}.zzzz.99999.0"
    earlier.touch()
    examples = (torch.zeros((1, 1, 32, 32), dtype=torch.uint8), None)
    sums = torch.zeros(1, dtype=torch.float64)
    TensorBoardLog(folder, 1, first_step=0, sums=sums, terms=("loss",), examples=examples, recipe={}).close()
    assert sorted(p.name for p in folder.iterdir())[0] == earlier.name


@needs_tensorboard
def test_the_cli_writes_into_the_run_s_tensorboard_folder_or_dir(capsys, monkeypatch, tmp_path):
    install_fake_fashion_mnist(monkeypatch, tmp_path)
    common = ["--preset", "book-ae", "--epochs", "1", "--batch-size", "20", "--device", "cpu", "--no-progress"]
    code, out, err = run_cli(capsys, "train", "--run-dir", str(tmp_path / "a"), *common, "--tensorboard")
    assert code == 0, err
    assert f"wrote TensorBoard's event files into {tmp_path / 'a' / 'tensorboard'}" in out
    assert [s for s, _ in scalar_values(read_events(tmp_path / "a" / "tensorboard"), "val/loss")["val/loss"]] == [3]

    logs = tmp_path / "logs" / "b"
    code, out, err = run_cli(
        capsys,
        "train",
        "--run-dir",
        str(tmp_path / "b"),
        *common,
        "--tensorboard",
        str(logs),
        "--tensorboard-every",
        "1",
    )
    assert code == 0, err
    assert f"wrote TensorBoard's event files into {logs}" in out and not (tmp_path / "b" / "tensorboard").exists()
    assert [s for s, _ in scalar_values(read_events(logs), "train/loss")["train/loss"]] == [1, 2, 3]


def test_the_tensorboard_flags_are_checked(capsys, tmp_path):
    code, _, err = run_cli(
        capsys, "train", "--preset", "book-ae", "--run-dir", str(tmp_path / "r"), "--tensorboard-every", "5"
    )
    assert_one_line_error(code, err, 1, "--tensorboard-every", "add --tensorboard")
    assert not (tmp_path / "r").exists()
    code, _, err = run_cli(
        capsys, "train", "--preset", "book-ae", "--run-dir", "r", "--tensorboard", "--tensorboard-every", "0"
    )
    assert_one_line_error(code, err, 2, "--tensorboard-every")
    (tmp_path / "afile").write_text("mine")
    code, _, err = run_cli(
        capsys,
        "train",
        "--preset",
        "book-ae",
        "--run-dir",
        str(tmp_path / "r"),
        "--tensorboard",
        str(tmp_path / "afile"),
    )
    assert_one_line_error(code, err, 1, "afile is a file, not a folder", "name a folder")
    assert not (tmp_path / "r").exists()  # refused before the run directory is made
    with pytest.raises(ConfigError, match="--tensorboard-every must be an integer from 1"):
        TensorBoardOptions(every=0)
    assert tensorboard_options(None, None) is None
    assert tensorboard_options("", None) == TensorBoardOptions(None, DEFAULT_EVERY) == TensorBoardOptions()
    assert TENSORBOARD_EVERY == DEFAULT_EVERY  # what --help states


def test_without_the_tensorboard_package_training_stops_before_it_starts(
    capsys, monkeypatch, tmp_path, train_images, test_images
):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # `import` now fails, as without the package
    with pytest.raises(ConfigError, match=r"pip install 'vaelab\[tensorboard\]'") as refused:
        _train(tmp_path / "run", train_images, test_images)
    assert "\n" not in str(refused.value)
    assert not (tmp_path / "run").exists()
    install_fake_fashion_mnist(monkeypatch, tmp_path)
    code, _, err = run_cli(capsys, "train", "--preset", "book-ae", "--run-dir", str(tmp_path / "r"), "--tensorboard")
    assert_one_line_error(code, err, 1, "tensorboard package", "vaelab[tensorboard]")
    assert not (tmp_path / "r").exists()


@needs_tensorboard
@pytest.mark.slow
def test_under_torchrun_rank_0_alone_writes(tmp_path):
    done = torchrun(tmp_path / "run", tmp_path / "weights", "--epochs", 1, "--tensorboard")
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    files = sorted((tmp_path / "run" / "tensorboard").iterdir())
    assert len(files) == 1 and files[0].name.startswith("events.out.tfevents."), files  # one writer, one process
    events = read_events(tmp_path / "run" / "tensorboard")
    steps = assert_steps_increase(events)
    assert steps["train/loss"] == [4, 8, 12] and steps["val/loss"] == steps["images/reconstructions"] == [12]
