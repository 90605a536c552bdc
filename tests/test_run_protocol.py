"""The run directory's guarantees beyond crash windows (those: test_fault_injection.py): ownership of
the folder, environmental faults as one line, SIGTERM, checked weights, and the clean-up of
temporary files that killed writes leave behind."""

from __future__ import annotations

import errno
import json
import os
import signal
import struct

import pytest
import torch

from conftest import small_config
from fault_injection import WriteFaults
from idx_fixtures import install_fake_fashion_mnist
from test_cli import assert_one_line_error, run_cli
from vaelab.atomic import atomic_write_text, is_temporary_name, remove_stale_temporaries
from vaelab.errors import ConfigError, RunDirError, WriteError
from vaelab.safetensors_io import read_safetensors, tensors_digest, write_safetensors
from vaelab.training import RunDir, TrainingInterrupted, load_run, prepare_config, train

QUIET = {"progress": False, "log": lambda s: None}
COMMON = ["--batch-size", "20", "--device", "cpu", "--no-progress", "--epochs", "1"]


def _train(run_dir, train_images, test_images, **overrides):
    config = small_config(**overrides)
    return train(config, run_dir, train_set=train_images, test_set=test_images, **QUIET)


# --- ownership -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, content",
    [
        ("config.json", '{"learning_rate": 0.1}\n'),
        ("metrics.jsonl", '{"step": 1, "loss": 0.3}\n'),
        ("notes.txt", "my notes\n"),
    ],
)
def test_a_new_run_leaves_files_it_did_not_write_alone(tmp_path, name, content):
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / name).write_text(content)
    with pytest.raises(RunDirError, match=f"holds files vaelab did not write \\({name}\\)"):
        prepare_config(RunDir(folder), "book-ae", False)
    assert (folder / name).read_text() == content


def test_ownership_through_the_command_line(capsys, monkeypatch, tmp_path):
    install_fake_fashion_mnist(monkeypatch, tmp_path)
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    (folder / "metrics.jsonl").write_text("1\n")
    code, _, err = run_cli(capsys, "train", "--preset", "book-ae", "--run-dir", str(folder), *COMMON)
    assert_one_line_error(code, err, 1, "holds files vaelab did not write (config.json, metrics.jsonl)")
    assert (folder / "config.json").read_text() == "{}"
    code, _, err = run_cli(capsys, "train", "--preset", "book-ae", "--run-dir", "", *COMMON)
    assert_one_line_error(code, err, 1, "empty name")
    monkeypatch.chdir(folder)
    code, _, err = run_cli(capsys, "train", "--preset", "book-ae", "--run-dir", ".", *COMMON)
    assert_one_line_error(code, err, 1, "holds files vaelab did not write")


def test_a_new_run_may_start_in_an_empty_folder_or_over_a_run_stopped_before_its_first_epoch(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    prepare_config(RunDir(empty), "book-ae", False)
    stopped = RunDir(tmp_path / "stopped")
    stopped.create()
    stopped.write_config(small_config())
    stopped.write_metrics([])
    (stopped.path / ".checkpoint.safetensors.999999999.0123456789abcdef.tmp").write_bytes(b"cut short")
    prepare_config(stopped, "book-ae", False)


def test_an_empty_run_dir_name_is_refused():
    with pytest.raises(ConfigError, match="empty name"):
        RunDir("")


# --- environmental faults ----------------------------------------------------------------------------


def test_a_folder_where_the_weights_belong_is_refused_before_training(tmp_path, train_images, test_images):
    run_dir = RunDir(tmp_path / "run")
    _train(run_dir.path, train_images, test_images, epochs=1)
    before = run_dir.checkpoint.read_bytes()
    run_dir.model.unlink()
    run_dir.model.mkdir()
    with pytest.raises(RunDirError, match=r"model\.safetensors is a folder"):
        prepare_config(run_dir, None, True, epochs=2)
    assert run_dir.checkpoint.read_bytes() == before


def test_a_read_only_folder_is_refused_before_training(tmp_path, train_images, test_images, monkeypatch):
    run_dir = RunDir(tmp_path / "run")
    _train(run_dir.path, train_images, test_images, epochs=1)
    real_access = os.access
    monkeypatch.setattr(
        os, "access", lambda path, mode: False if str(path) == str(run_dir.path) else real_access(path, mode)
    )
    with pytest.raises(RunDirError, match="is not writable"):
        prepare_config(run_dir, None, True, epochs=2)


@pytest.mark.parametrize(
    "code, fragment",
    [
        (errno.ENOSPC, "no space left on device); free some disk space, then continue with"),
        (errno.EROFS, "read-only file system); the file system is read-only"),
        (errno.EACCES, "permission denied); you lack permission there"),
        (errno.EIO, "input/output error); the disk reported an input/output error"),
    ],
)
def test_a_failed_write_during_training_is_one_line_through_the_command_line(
    capsys, monkeypatch, tmp_path, code, fragment
):
    install_fake_fashion_mnist(monkeypatch, tmp_path)
    run = tmp_path / "run"
    original = WriteFaults()._original

    def failing(path, write):
        if path.name == "model.safetensors":
            raise OSError(code, os.strerror(code))
        return original(path, write)

    monkeypatch.setattr("vaelab.atomic._write_and_replace", failing)
    status, _, err = run_cli(capsys, "train", "--preset", "book-ae", "--run-dir", str(run), *COMMON)
    assert_one_line_error(status, err, 1, f"cannot write {run / 'model.safetensors'} (", fragment)
    monkeypatch.setattr("vaelab.atomic._write_and_replace", original)
    status, _, err = run_cli(capsys, "reconstruct", str(run))
    assert_one_line_error(status, err, 1, "--resume")
    status, out, err = run_cli(capsys, "train", "--run-dir", str(run), "--resume", "--no-progress")
    assert status == 0 and "model.safetensors again from the checkpoint of epoch 1" in out, err
    status, out, err = run_cli(capsys, "reconstruct", str(run))
    assert status == 0, err


def test_any_os_error_reaching_the_command_line_is_one_line(capsys, monkeypatch):
    def broken(args):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), "/some/where")

    monkeypatch.setattr("vaelab.cli.info.cmd_presets", broken)
    monkeypatch.setattr("vaelab.cli.app.build_parser", _parser_with(broken))
    code, _, err = run_cli(capsys, "presets")
    assert_one_line_error(code, err, 1, "permission denied (/some/where); you lack permission there")


def _parser_with(handler):
    from vaelab.cli.app import build_parser

    def build():
        parser = build_parser()
        for action in parser._subparsers._group_actions:
            action.choices["presets"].set_defaults(handler=handler)
        return parser

    return build


# --- SIGTERM -----------------------------------------------------------------------------------------


def test_sigterm_stops_like_ctrl_c_and_the_run_resumes_exactly(tmp_path, train_images, test_images):
    straight = _train(tmp_path / "straight", train_images, test_images)

    def log(message):
        if message.startswith("epoch 1/"):
            os.kill(os.getpid(), signal.SIGTERM)  # arrives as epoch 1 is written: it stops there

    config = small_config()
    with pytest.raises(TrainingInterrupted) as stopped:
        train(config, tmp_path / "run", train_set=train_images, test_set=test_images, progress=False, log=log)
    assert stopped.value.exit_code == 128 + signal.SIGTERM
    assert str(stopped.value).startswith("terminated (SIGTERM) at the end of epoch 1; checkpoint saved")
    resumed = train(
        prepare_config(RunDir(tmp_path / "run"), None, True),
        tmp_path / "run",
        resume=True,
        train_set=train_images,
        test_set=test_images,
        **QUIET,
    )
    for key, value in straight.model.state_dict().items():
        assert torch.equal(value, resumed.model.state_dict()[key]), key


# --- the weights are checked ---------------------------------------------------------------------------


def test_bytes_changed_in_the_weights_are_refused(tmp_path, train_images, test_images, capsys):
    run_dir = RunDir(tmp_path / "run")
    _train(run_dir.path, train_images, test_images, epochs=1)
    data = bytearray(run_dir.model.read_bytes())
    (header,) = struct.unpack("<Q", data[:8])
    data[8 + header : 8 + header + 16] = struct.pack("<4f", *[float("nan")] * 4)  # NaNs pasted in
    run_dir.model.write_bytes(bytes(data))
    code, _, err = run_cli(capsys, "grid", str(run_dir.path))
    assert_one_line_error(code, err, 1, "model.safetensors is damaged", "SHA-256", "--resume")


def test_non_finite_weights_are_refused_even_with_a_matching_digest(tmp_path, train_images, test_images):
    run_dir = RunDir(tmp_path / "run")
    _train(run_dir.path, train_images, test_images, epochs=1)
    run_dir.checkpoint.unlink()  # no checkpoint to compare with: the file stands alone
    tensors, metadata = read_safetensors(run_dir.model)
    name = sorted(tensors)[0]
    tensors[name] = torch.full_like(tensors[name], float("nan"))
    metadata.pop("sha256")
    write_safetensors(run_dir.model, tensors, metadata)
    with pytest.raises(RunDirError, match=f"non-finite weights \\(NaN or infinity in {name}\\)"):
        load_run(run_dir.path, "cpu")


def test_weights_other_than_the_checkpoint_commits_to_are_refused(tmp_path, train_images, test_images):
    run_dir = RunDir(tmp_path / "run")
    result = _train(run_dir.path, train_images, test_images, epochs=1)
    with torch.no_grad():
        next(result.model.parameters()).add_(1.0)
    run_dir.save_weights(result.model, result.config, epoch=1)
    with pytest.raises(RunDirError, match="checkpoint has completed epoch 1"):
        load_run(run_dir.path, "cpu")


def test_the_weights_record_names_the_epoch_and_digest(tmp_path, train_images, test_images):
    run_dir = RunDir(tmp_path / "run")
    result = _train(run_dir.path, train_images, test_images, epochs=2)
    record = run_dir.weights_record()
    assert record == run_dir.checkpoint_record()
    assert record.epoch == 2
    assert record.sha256 == tensors_digest({k: v.contiguous() for k, v in result.model.state_dict().items()})


def test_the_safetensors_writer_is_deterministic_and_readable_by_safetensors(tmp_path):
    from safetensors.torch import load_file

    tensors = {
        "b": torch.arange(6.0).reshape(2, 3),
        "a": torch.tensor(7),
        "c": torch.zeros(0),
        "d": torch.ones(2, dtype=torch.bfloat16),
        "e": torch.tensor([True, False]),
        "f": torch.randn(2, 3, 4, 5).to(memory_format=torch.channels_last),
    }
    write_safetensors(tmp_path / "one", tensors, {"z": "1", "a": "2"})
    write_safetensors(tmp_path / "two", dict(reversed(list(tensors.items()))), {"a": "2", "z": "1"})
    assert (tmp_path / "one").read_bytes() == (tmp_path / "two").read_bytes()
    loaded = load_file(str(tmp_path / "one"))
    assert all(torch.equal(loaded[k], tensors[k]) for k in tensors)
    header = json.loads(
        (tmp_path / "one").read_bytes()[8 : 8 + struct.unpack("<Q", (tmp_path / "one").read_bytes()[:8])[0]]
    )
    assert header["__metadata__"]["sha256"] == tensors_digest(tensors)


# --- temporary files ---------------------------------------------------------------------------------------


def test_training_removes_temporaries_of_dead_writers_only(tmp_path, train_images, test_images):
    run_dir = RunDir(tmp_path / "run")
    _train(run_dir.path, train_images, test_images, epochs=1)
    dead = run_dir.path / ".checkpoint.safetensors.999999999.0123456789abcdef.tmp"
    old_style = run_dir.path / ".model.safetensors.0123456789abcdef.tmp"
    live = run_dir.path / f".metrics.jsonl.{os.getppid()}.0123456789abcdef.tmp"
    in_figures = run_dir.figures / ".latent_grid.png.999999999.fedcba9876543210.tmp"
    run_dir.figures.mkdir()
    for path in (dead, old_style, live, in_figures):
        path.write_bytes(b"x" * 100)
    assert all(is_temporary_name(p.name) for p in (dead, old_style, live, in_figures))
    lines = []
    train(
        prepare_config(run_dir, None, True, epochs=2),
        run_dir,
        resume=True,
        train_set=train_images,
        test_set=test_images,
        progress=False,
        log=lines.append,
    )
    assert not dead.exists() and not old_style.exists() and not in_figures.exists()
    assert live.exists()
    assert any(line.startswith(f"removed {dead}") for line in lines)
    assert remove_stale_temporaries(tmp_path / "nowhere") == []


def test_a_failed_write_leaves_no_temporary_and_names_the_destination(tmp_path):
    target = tmp_path / "out.json"
    target.write_text("old")

    def full(tmp):
        tmp.write_text("partial")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    from vaelab.atomic import atomic_write

    with pytest.raises(WriteError, match=f"cannot write {target} \\(no space left on device\\)"):
        atomic_write(target, full)
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]
    (tmp_path / "folder.json").mkdir()
    with pytest.raises(WriteError, match="is a directory"):
        atomic_write_text(tmp_path / "folder.json", "{}")


def test_the_next_write_of_a_file_removes_what_a_killed_write_of_it_left(tmp_path):
    stale = tmp_path / ".judge.safetensors.999999999.0123456789abcdef.tmp"
    other = tmp_path / ".other.json.999999999.0123456789abcdef.tmp"
    mine = tmp_path / f".judge.safetensors.{os.getpid()}.0123456789abcdef.tmp"
    for path in (stale, other, mine):
        path.write_bytes(b"x")
    atomic_write_text(tmp_path / "judge.safetensors", "new")
    assert not stale.exists() and other.exists() and mine.exists()


@pytest.mark.parametrize(
    "polls, message",
    [
        (11, "interrupted at epoch 1, batch 11; checkpoint saved"),
        (12, "interrupted at the end of epoch 1; checkpoint saved"),  # the epoch's last batch (12 of 12)
        (13, "interrupted at the end of epoch 1; checkpoint saved"),  # during its validation
    ],
)
def test_a_stop_in_an_epochs_last_batch_writes_the_epoch_whole(
    tmp_path, train_images, test_images, monkeypatch, polls, message
):
    """A stop asked for in the last batch used to checkpoint "step 12 of 12", which no resume accepts."""
    from vaelab.training import trainer as trainer_module

    straight = _train(tmp_path / "straight", train_images, test_images)
    seen = {"n": 0}

    def stop_requested(self):
        seen["n"] += 1
        return seen["n"] >= polls

    monkeypatch.setattr(trainer_module.StopRequest, "__bool__", stop_requested)
    with pytest.raises(TrainingInterrupted, match=message):
        _train(tmp_path / "run", train_images, test_images)
    monkeypatch.undo()
    resumed = train(
        prepare_config(RunDir(tmp_path / "run"), None, True),
        tmp_path / "run",
        resume=True,
        train_set=train_images,
        test_set=test_images,
        **QUIET,
    )
    for key, value in straight.model.state_dict().items():
        assert torch.equal(value, resumed.model.state_dict()[key]), key


def test_a_second_sigterm_exits_143_and_says_so(capsys, monkeypatch):
    from vaelab.training.interrupts import SignalAbort

    def aborted(args):
        raise SignalAbort(signal.SIGTERM)

    monkeypatch.setattr("vaelab.cli.app.build_parser", _parser_with(aborted))
    code, _, err = run_cli(capsys, "presets")
    assert code == 143 and err.strip() == "vaelab presets: terminated (SIGTERM)"


def test_a_resume_that_trains_nothing_never_reports_a_run_without_its_weights(
    tmp_path, train_images, test_images, monkeypatch
):
    from vaelab.training import trainer as trainer_module

    seen = {"n": 0}

    def stop_in_epoch_2(self):
        seen["n"] += 1
        return seen["n"] >= 16  # 12 batches and the end of epoch 1, then batch 3 of epoch 2

    monkeypatch.setattr(trainer_module.StopRequest, "__bool__", stop_in_epoch_2)
    with pytest.raises(TrainingInterrupted, match="at epoch 2, batch 3"):
        _train(tmp_path / "run", train_images, test_images)
    monkeypatch.undo()
    run_dir = RunDir(tmp_path / "run")
    run_dir.model.unlink()
    with pytest.raises(RunDirError, match="resume with --epochs 2 or more to finish that epoch"):
        train(
            prepare_config(run_dir, None, True, epochs=1),
            run_dir,
            resume=True,
            train_set=train_images,
            test_set=test_images,
            **QUIET,
        )
    result = train(
        prepare_config(run_dir, None, True, epochs=2),
        run_dir,
        resume=True,
        train_set=train_images,
        test_set=test_images,
        **QUIET,
    )
    assert run_dir.weights_record().epoch == 2 and len(result.history) == 2


# --- found by the hostile review ------------------------------------------------------------------------


@pytest.mark.parametrize("damage", ["truncate", "empty", "folder"])
def test_a_damaged_checkpoint_means_the_weights_cannot_be_vouched_for(tmp_path, train_images, test_images, damage):
    run_dir = RunDir(tmp_path / "run")
    _train(run_dir.path, train_images, test_images, epochs=1)
    data = run_dir.checkpoint.read_bytes()
    run_dir.checkpoint.unlink()
    if damage == "truncate":
        run_dir.checkpoint.write_bytes(data[:-1])
    elif damage == "empty":
        run_dir.checkpoint.write_bytes(b"")
    else:
        run_dir.checkpoint.mkdir()
    with pytest.raises(RunDirError, match=r"so vaelab cannot tell whether model\.safetensors holds the run's last"):
        load_run(run_dir.path, "cpu")


def test_a_checkpoint_moved_away_leaves_the_weights_to_stand_alone(tmp_path, train_images, test_images):
    run_dir = RunDir(tmp_path / "run")
    _train(run_dir.path, train_images, test_images, epochs=1)
    run_dir.checkpoint.rename(tmp_path / "elsewhere.safetensors")
    load_run(run_dir.path, "cpu")


def test_figures_that_are_a_link_elsewhere_are_refused(trained_run, tmp_path, test_images):
    import shutil

    from vaelab.presentation.report import write_reconstructions

    run = load_run(shutil.copytree(trained_run.dir.path, tmp_path / "run"), "cpu")
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "reconstructions.png").write_bytes(b"mine")
    shutil.rmtree(run.dir.figures, ignore_errors=True)
    run.dir.figures.symlink_to(foreign)
    with pytest.raises(RunDirError, match="is a symbolic link"):
        write_reconstructions(run, test_images)
    assert (foreign / "reconstructions.png").read_bytes() == b"mine"


def test_a_run_dir_name_that_is_not_utf8_is_refused_in_one_line():
    import os

    with pytest.raises(ConfigError, match="not a valid UTF-8 name"):
        RunDir(os.fsdecode(b"\xffrun"))


def test_finite_but_huge_weights_are_refused_when_they_give_nan(tmp_path, train_images, test_images):
    from vaelab.presentation.report import write_grid

    run_dir = RunDir(tmp_path / "run")
    _train(run_dir.path, train_images, test_images, epochs=1)
    run_dir.checkpoint.unlink()
    tensors, metadata = read_safetensors(run_dir.model)
    tensors = {k: v * 3e30 if v.is_floating_point() else v for k, v in tensors.items()}
    metadata.pop("sha256")
    write_safetensors(run_dir.model, tensors, metadata)
    run = load_run(run_dir.path, "cpu")
    with pytest.raises(RunDirError, match=r"not finite numbers .* its weights are damaged"):
        write_grid(run, test_images)


def test_a_factor_step_too_small_to_count_with_is_one_line():
    from vaelab.latent.arithmetic import parse_factors

    for text in ("0:1:1e-320", "0:1:1e-300"):
        with pytest.raises(ConfigError, match="gives more than 101 factors; use a larger STEP"):
            parse_factors(text)


def test_a_run_without_its_config_says_what_is_missing(tmp_path, train_images, test_images):
    run_dir = RunDir(tmp_path / "run")
    _train(run_dir.path, train_images, test_images, epochs=1)
    run_dir.config.unlink()
    with pytest.raises(RunDirError, match=r"holds a run's checkpoint or weights but no config\.json"):
        load_run(run_dir.path, "cpu")
    with pytest.raises(RunDirError, match=r"holds a run's checkpoint or weights but no config\.json"):
        prepare_config(run_dir, "book-ae", False)


def test_the_judge_cache_and_the_demo_output_are_checked_before_any_work(tmp_path, monkeypatch):
    from vaelab.errors import JudgeError
    from vaelab.evaluation.judge import train_and_save_judge
    from vaelab.workflows.demo import run_demo

    blocker = tmp_path / "a-file"
    blocker.write_text("")

    def no_data(*args, **kwargs):
        raise AssertionError("data was loaded before the folder was checked")

    monkeypatch.setattr("vaelab.evaluation.judge.training.load_fashion_mnist", no_data)
    with pytest.raises(JudgeError, match="set XDG_CACHE_HOME to a writable folder"):
        train_and_save_judge(folder=blocker / "judge")
    with pytest.raises(RunDirError, match="choose another --output"):
        run_demo(blocker / "demo")
