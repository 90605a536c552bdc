"""Damaged, foreign or unfinished run files: one line naming the file and what to do, never a
traceback; files vaelab re-creates are rewritten afresh with a warning."""

import hashlib
import io
import json
import os
import shutil

import numpy as np
import pytest
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from conftest import small_config
from test_cli import assert_one_line_error, run_cli
from vaelab.errors import ConfigError, RunDirError, WriteError
from vaelab.evaluation.results import merge_results as _merge
from vaelab.evaluation.results import read_results
from vaelab.presentation import attribute_report
from vaelab.presentation.compare import CSV_FILE, MARKDOWN_FILE, collect_rows, write_comparison
from vaelab.reading import MB
from vaelab.safetensors_io import DIGEST_KEY, tensors_digest
from vaelab.training import RunConfig, RunDir, load_run, prepare_config, train
from vaelab.training.run_dir import WeightsRecord

QUIET = {"progress": False, "log": lambda s: None}


@pytest.fixture
def run_copy(trained_run, tmp_path):
    """A copy of the session's trained book-ae run (2 epochs) that a test may damage."""
    return RunDir(shutil.copytree(trained_run.dir.path, tmp_path / "run"))


def resume(run_dir: RunDir, train_images, test_images, epochs: int = 2):
    config = prepare_config(run_dir, None, True, epochs=epochs)
    return train(config, run_dir, resume=True, train_set=train_images, test_set=test_images, **QUIET)


def rewrite_checkpoint(path, change, digest=True):
    """Rewrite the checkpoint at ``path`` with ``change(metadata, tensors)`` applied and, with
    ``digest``, the data digest recomputed (as a careful forger would; without it, the change is
    caught by the digest before anything else)."""
    with safe_open(str(path), "pt") as handle:
        metadata = dict(handle.metadata())
    tensors = load_file(path)
    change(metadata, tensors)
    if digest:
        metadata[DIGEST_KEY] = tensors_digest(tensors)
    save_file(tensors, str(path), metadata=metadata)


def one_line(exc_info) -> str:
    message = str(exc_info.value)
    assert "\n" not in message
    return message


# --- config.json ---------------------------------------------------------------------------------


def _config_with(**changes) -> bytes:
    data = small_config().to_dict()
    for key, value in changes.items():
        section, _, name = key.partition("__")
        (data[section] if name else data)[name or section] = value
    return json.dumps(data).encode()


@pytest.mark.parametrize(
    "content, fragment",
    [
        (b"\xff\xfe", "not UTF-8"),
        (b"{", "not valid JSON"),
        (b"[1, 2]", "should be a JSON object, not a list"),
        (_config_with(device=5), "device should be a string, not 5"),
        (_config_with(model__latent_dim="2"), "model.latent_dim should be an integer, not '2'"),
        (_config_with(model=[1]), "model should be a JSON object, not a list"),
        (_config_with(corruption=3), "corruption should be a JSON object, not 3"),
        (_config_with(limit_train=True), "limit_train should be an integer or null, not True"),
        # hostile numbers: the same bounds as the command line's flags, never a traceback or a huge allocation
        (_config_with(model__latent_dim=10**12), "latent_dim must be an integer from 1 to 1,024"),
        (_config_with(model__encoder_channels=[]), "encoder_channels must list 1 to 8 layer widths, got []"),
        (_config_with(model__encoder_channels=[-1, 64, 128]), "each of encoder_channels must be an integer from 1"),
        (_config_with(model__encoder_channels=[32] * 40), "encoder_channels must list 1 to 8"),
        (_config_with(model__image_size=10**6), "image_size must be an integer from 1 to 256"),
        (_config_with(model__image_channels=0), "image_channels must be an integer from 1 to 4"),
        (_config_with(seed=2**70), "--seed must be an integer from 0 to 4,294,967,295"),
        (_config_with(seed=-1), "--seed must be an integer from 0"),
        (_config_with(epochs=10**9), "--epochs must be at most 10,000"),
        (_config_with(threads=10**9), "--threads must be at most 1,024"),
        (_config_with(lr=float("nan")), "--lr must be a positive number, got nan"),
        (_config_with(lr=float("inf")), "--lr must be a positive number, got inf"),
        (_config_with(objective="nope"), "unknown objective 'nope'"),
        (_config_with(batch_size=10**12), "--batch-size must be at most 65,536"),
        (_config_with(limit_train=10**15), "--limit-train must be at most 10,000,000"),
        (_config_with(corruption={"kind": "gaussian", "amount": 1e300}), "gaussian"),
    ],
)
def test_a_damaged_config_is_one_line_naming_it(capsys, run_copy, content, fragment):
    run_copy.config.write_bytes(content)
    with pytest.raises(RunDirError) as exc_info:
        load_run(run_copy.path, "cpu")
    message = one_line(exc_info)
    assert str(run_copy.config) in message and fragment in message
    code, _, err = run_cli(capsys, "reconstruct", str(run_copy.path))
    assert_one_line_error(code, err, 1, str(run_copy.config), fragment)


def test_a_config_read_back_is_the_config_written():
    config = RunConfig.from_preset("book-dae", epochs=2, limit_train=50)
    assert RunConfig.from_dict(json.loads(config.to_json())) == config


# --- metrics.jsonl -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content, fragment",
    [
        (b"{bad\n", "line 1 is not valid JSON"),
        (b'{"epoch": 1}\n[1]\n', "line 2 is not a metrics row"),
        (b'{"epoch": 1, "val": 0.5}\n', "line 1 is not a metrics row"),
        (b"\xff\n", "is not UTF-8 text"),
    ],
)
def test_damaged_metrics_are_one_line_naming_them(run_copy, content, fragment):
    run_copy.metrics.write_bytes(content)
    with pytest.raises(RunDirError) as exc_info:
        run_copy.read_metrics()
    assert str(run_copy.metrics) in one_line(exc_info) and fragment in str(exc_info.value)


# --- the checkpoint ------------------------------------------------------------------------------


def _set_state(value):
    def change(metadata, tensors):
        metadata["state"] = value

    return change


def _edit_state(**fields):
    def change(metadata, tensors):
        state = json.loads(metadata["state"])
        state.update(fields)
        metadata["state"] = json.dumps(state)

    return change


def _drop_metadata(key):
    return lambda metadata, tensors: metadata.pop(key)


def _drop_tensor(key):
    return lambda metadata, tensors: tensors.pop(key)


PROGRESS = {"sums": [1.0, 1.0], "images": 60, "seconds": 1.0}
MODEL_TENSOR = "model.decoder.from_latent.weight"


def _rename_tensor(old, new):
    def change(metadata, tensors):
        tensors[new] = tensors.pop(old)

    return change


def _edit_group(**fields):
    def change(metadata, tensors):
        groups = json.loads(metadata["optim_param_groups"])
        groups[0].update(fields)
        metadata["optim_param_groups"] = json.dumps(groups)

    return change


def _set_tensor(name, replace, digest=True):
    def change(metadata, tensors):
        assert name in tensors, sorted(tensors)[:8]
        tensors[name] = replace(tensors[name].clone())

    change.digest = digest
    return change


@pytest.mark.parametrize(
    "change, fragments",
    [
        (_set_state("{nope"), ["damaged 'state' metadata (not JSON"]),
        (_drop_metadata("state"), ["has no 'state' in its metadata"]),
        (_set_state("[1, 2]"), ["damaged 'state' metadata (a list where an object belongs)"]),
        (_edit_state(bogus=1), ["field(s) bogus", "newer vaelab", "upgrade vaelab"]),
        (_edit_state(epoch="1"), ["epoch should be an integer, not '1'"]),
        (_edit_state(epoch=-1), ["epoch is negative"]),
        (_edit_state(history={"epoch": 1}), ["history should be a list"]),
        (_edit_state(step=3, progress={"sums": "x", "images": 60, "seconds": 1.0}), ["progress.sums"]),
        (lambda m, t: m.update(optim_param_groups="[{}]"), ["optimiser state that does not fit", "KeyError"]),
        (lambda m, t: m.update(optim_scalars="5"), ["damaged 'optim_scalars' metadata"]),
        (_drop_tensor("rng.torch"), ["random-number-generator states", "rng.torch"]),
        # hostile numbers: a position this run cannot be in, sums that do not fit, a doctored optimiser
        (_edit_state(step=10**9, progress=PROGRESS), ["step 1000000000 is beyond the 12 batches of an epoch"]),
        (_edit_state(epoch=10**9), ["epoch 1000000000 is beyond the largest number of epochs vaelab trains"]),
        (_edit_state(step=3, progress={**PROGRESS, "sums": [1.0] * 7}), ["7 running sums for the objective's 2"]),
        (_edit_state(step=3, progress={**PROGRESS, "images": 10**6}), ["1000000 images seen in 3 batches"]),
        (_edit_state(step=3, progress={**PROGRESS, "sums": [1.0, float("nan")]}), ["a running sum is not finite"]),
        (_edit_state(step=3, progress={}), ["no running sums for the 3 batches"]),
        (_edit_state(history=[]), ["0 metrics rows for 2 completed epochs"]),
        (_edit_state(weights={"epoch": 1, "sha256": "0" * 64}), ["weights record names epoch 1"]),
        (_edit_state(weights={"epoch": 2, "sha256": "x"}), ["weights.sha256 should be 64 hex digits"]),
        (_edit_group(lr=1e300), ["damaged optimiser state (lr 1e+300 where the run's config gives 0.002)"]),
        (_set_tensor("optim.0.exp_avg", lambda t: t.new_zeros(3)), ["optim.0.exp_avg has shape (3,)"]),
        (_set_tensor("optim.1.exp_avg_sq", lambda t: t.fill_(float("nan"))), ["non-finite", "optim.1.exp_avg_sq"]),
        (_set_tensor(MODEL_TENSOR, lambda t: t.fill_(float("inf"))), ["non-finite", MODEL_TENSOR]),
        (_set_tensor(MODEL_TENSOR, lambda t: t.fill_(float("nan")), digest=False), ["no longer match the SHA-256"]),
        # found by the hostile review: names, shapes and counts of Adam's state; deep JSON; doctored history
        (_rename_tensor("optim.0.exp_avg", "optim.0"), ["optim.0 names no moment of a parameter"]),
        (_set_tensor("optim.0.step", lambda t: t.new_zeros(3)), ["optim.0.step should be one floating-point number"]),
        (_set_tensor("optim.0.step", lambda t: t.new_full((), -5.0)), ["optim.0.step counts -5 steps"]),
        (_set_tensor("optim.0.step", lambda t: t.long()), ["optim.0.step should be one floating-point number"]),
        (_set_tensor("optim.0.exp_avg", lambda t: t.double()), ["optim.0.exp_avg is torch.float64"]),
        (_drop_tensor("optim.2.exp_avg_sq"), ["the moments of parameter 2 are incomplete"]),
        (_set_state("[" * 100_000), ["damaged 'state' metadata (not JSON"]),
        (_edit_state(history=[{"epoch": 1, "train": {"loss": float("nan")}}, {"epoch": 2}]), ["a metrics row is not"]),
        (_edit_state(history=[{"epoch": 1, "train": "x"}, {"epoch": 2}]), ["a metrics row is not"]),
        (_edit_state(step=3, progress={**PROGRESS, "sums": [-1e308, 1e308]}), ["a running sum is beyond"]),
    ],
)
def test_a_damaged_checkpoint_is_one_line_and_left_as_it_was(run_copy, train_images, test_images, change, fragments):
    rewrite_checkpoint(run_copy.checkpoint, change, digest=getattr(change, "digest", True))
    before = run_copy.checkpoint.read_bytes()
    with pytest.raises(RunDirError) as exc_info:
        resume(run_copy, train_images, test_images)
    message = one_line(exc_info)
    assert message.startswith(str(run_copy.checkpoint)), message
    for fragment in [*fragments, "restore it from a backup, or train again in a new --run-dir"]:
        assert fragment in message
    assert run_copy.checkpoint.read_bytes() == before


def test_a_state_of_defaults_is_a_fresh_start(run_copy, train_images, test_images):
    rewrite_checkpoint(run_copy.checkpoint, _set_state("{}"))  # epoch 0, no history: not damaged
    result = resume(run_copy, train_images, test_images, epochs=1)
    assert [row["epoch"] for row in result.history] == [1]


def test_a_checkpoint_records_its_runs_recipe(trained_run):
    with safe_open(str(trained_run.dir.checkpoint), "pt") as handle:
        recipe = json.loads(handle.metadata()["recipe"])
    assert recipe == trained_run.config.recipe()
    assert recipe["preset"] == "book-ae" and "epochs" not in recipe and "device" not in recipe


@pytest.mark.parametrize(
    "other, fragments",
    [
        (
            RunConfig.from_preset("book-dae", epochs=2, batch_size=20, lr=2e-3, seed=0, device="cpu"),
            ["it records preset book-ae, corruption none", "config.json has preset book-dae, corruption amount=0.3"],
        ),
        (small_config(seed=1), ["it records seed 0 but this run's config.json has seed 1"]),
        (small_config(latent_dim=3), ["model latent_dim=2", "model latent_dim=3"]),
    ],
)
def test_a_checkpoint_from_another_run_is_refused(run_copy, train_images, test_images, other, fragments):
    run_copy.write_config(other)
    with pytest.raises(RunDirError) as exc_info:
        resume(run_copy, train_images, test_images)
    message = one_line(exc_info)
    assert message.startswith(f"{run_copy.checkpoint} belongs to another run")
    for fragment in [*fragments, "put this run's own checkpoint back"]:
        assert fragment in message


def test_a_checkpoint_from_before_recipes_still_resumes(run_copy, train_images, test_images):
    rewrite_checkpoint(run_copy.checkpoint, _drop_metadata("recipe"))
    result = resume(run_copy, train_images, test_images, epochs=3)
    assert [row["epoch"] for row in result.history] == [1, 2, 3]
    with safe_open(str(run_copy.checkpoint), "pt") as handle:
        assert json.loads(handle.metadata()["recipe"]) == result.config.recipe()


def test_resuming_with_execution_settings_changed_is_the_same_recipe(run_copy, train_images, test_images):
    config = prepare_config(run_copy, None, True, epochs=3, threads=1, device="cpu", precision="fp32")
    result = train(config, run_copy, resume=True, train_set=train_images, test_set=test_images, **QUIET)
    assert len(result.history) == 3


# --- a run stopped before its first epoch ended --------------------------------------------------


def _unfinished(tmp_path, config):
    run_dir = RunDir(tmp_path / "th")
    run_dir.path.mkdir()
    run_dir.write_config(config)
    run_dir.write_metrics([])
    return run_dir


@pytest.mark.parametrize("options, suffix", [(True, " and the options it was started with"), (False, "")])
def test_a_run_stopped_in_its_first_epoch_says_to_train_it_again(capsys, tmp_path, options, suffix):
    config = small_config() if options else RunConfig.from_preset("book-ae")
    run_dir = _unfinished(tmp_path, config)
    hint = f"train it again with `vaelab train --preset book-ae --run-dir {run_dir.path}`{suffix}"
    code, _, err = run_cli(capsys, "reconstruct", str(run_dir.path))
    assert_one_line_error(code, err, 1, "has no model.safetensors yet", hint)
    assert err.strip().endswith("`" if not options else "(its config.json lists them)")
    code, _, err = run_cli(capsys, "train", "--run-dir", str(run_dir.path), "--resume")
    assert_one_line_error(code, err, 1, "has no checkpoint.safetensors to resume from", hint)


def test_the_advised_command_trains_such_a_run_again(tmp_path, train_images, test_images):
    run_dir = _unfinished(tmp_path, small_config())
    config = prepare_config(run_dir, "book-ae", False, epochs=1, batch_size=20, lr=2e-3, device="cpu")
    train(config, run_dir, train_set=train_images, test_set=test_images, **QUIET)
    assert len(run_dir.read_metrics()) == 1
    assert load_run(run_dir.path, "cpu").config == config


def test_a_run_interrupted_in_its_first_epoch_is_resumed(tmp_path):
    run_dir = _unfinished(tmp_path, small_config())
    run_dir.checkpoint.write_bytes(b"")  # a mid-epoch checkpoint: the advice is to resume
    with pytest.raises(RunDirError, match=r"finish training with `vaelab train --run-dir .* --resume`"):
        load_run(run_dir.path, "cpu")


# --- figures/evaluation.json and diagnostics.json ------------------------------------------------

DEEP_JSON = b"[" * 100_000 + b"]" * 100_000

DAMAGED_RESULTS = [
    (b"[1, 2]", "holds a list, not an object"),
    (b'{"samplers": 5}', '"samplers": 5 where an object of results per sampler belongs'),
    (b'{"samplers": {"prior": [1]}}', "has a list as the results of sampler 'prior'"),
    (b"\xff\xfe", "is not UTF-8 text"),
    (b"{bad", "is not valid JSON"),
    (DEEP_JSON, "is not valid JSON (it is nested too deeply)"),
    (b'{"samplers": {"prior": {"weights": [1]}}}', "has a list as the weights of sampler 'prior'"),
    (b'{"samplers": {"prior": {"weights": {"epoch": "2", "sha256": "ab"}}}}', "as the weights of sampler 'prior'"),
    (b"{}" + b" " * (16 * MB), "more than the 16 MB a evaluation.json can be"),
]

#: Weights records for results: those of an earlier epoch and of a later one.
EPOCH_1, EPOCH_2 = WeightsRecord(1, "1" * 64), WeightsRecord(2, "2" * 64)


@pytest.mark.parametrize("name, command", [("evaluation.json", "evaluate"), ("diagnostics.json", "diagnose")])
@pytest.mark.parametrize("content, fragment", DAMAGED_RESULTS)
def test_a_damaged_results_file_is_rewritten_with_a_warning(tmp_path, name, command, content, fragment):
    path = tmp_path / "run" / "figures" / name
    path.parent.mkdir(parents=True)
    path.write_bytes(content)
    fragment = fragment.replace("evaluation.json", name)
    with pytest.raises(RunDirError) as exc_info:
        read_results(path)
    message = one_line(exc_info)
    assert message.startswith(f"{path} ") and fragment in message
    assert f"re-create it with `vaelab {command} {tmp_path / 'run'}`" in message
    warnings = []
    _merge(path, "gmm", {"precision": 0.5}, EPOCH_2, warn=warnings.append)
    assert len(warnings) == 1 and warnings[0].startswith(str(path)) and fragment in warnings[0]
    assert json.loads(path.read_text()) == {"samplers": {"gmm": {"precision": 0.5, "weights": EPOCH_2.to_dict()}}}


def test_a_results_file_that_is_not_a_regular_file_is_refused(tmp_path):
    path = tmp_path / "run" / "figures" / "evaluation.json"
    path.parent.mkdir(parents=True)
    os.mkfifo(path)  # reading it would block forever
    with pytest.raises(RunDirError, match="is not a regular file"):
        read_results(path)


def test_a_sound_results_file_keeps_its_other_samplers(tmp_path):
    path = tmp_path / "evaluation.json"
    warnings = []
    _merge(path, "prior", {"precision": 0.25}, EPOCH_2, warn=warnings.append)
    _merge(path, "gmm", {"precision": 0.5}, EPOCH_2, warn=warnings.append)
    assert warnings == []
    weights = EPOCH_2.to_dict()
    assert read_results(path) == {
        "samplers": {"prior": {"precision": 0.25, "weights": weights}, "gmm": {"precision": 0.5, "weights": weights}}
    }


def test_results_of_other_weights_are_dropped_with_a_warning(tmp_path):
    path = tmp_path / "run" / "figures" / "evaluation.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"samplers": {"prior": {"precision": 0.1}}}))  # before results recorded weights
    warnings = []
    _merge(path, "uniform-box", {"precision": 0.25}, EPOCH_1, warn=warnings.append)
    _merge(path, "uniform-box", {"precision": 0.3}, EPOCH_1, warn=warnings.append)  # the same sampler: replaced
    _merge(path, "gmm", {"precision": 0.5}, EPOCH_2, warn=warnings.append)
    assert warnings == [
        f"{path}: dropping the prior results, measured on unrecorded weights, not on the weights of epoch 1 measured "
        f"now; measure them again with `vaelab evaluate {tmp_path / 'run'} --sampler prior`",
        f"{path}: dropping the uniform-box results, measured on the weights of epoch 1, not on the weights of "
        f"epoch 2 measured now; measure them again with `vaelab evaluate {tmp_path / 'run'} --sampler uniform-box`",
    ]
    assert read_results(path) == {"samplers": {"gmm": {"precision": 0.5, "weights": EPOCH_2.to_dict()}}}


def test_compare_never_shows_results_of_other_weights_as_the_runs(capsys, run_copy, train_images, test_images):
    """The tester's case: evaluate and diagnose at epoch 2, resume to epoch 3, evaluate another sampler."""
    shutil.rmtree(run_copy.figures, ignore_errors=True)  # other tests measure the session's run too
    measured = run_copy.weights_record()
    evaluation, diagnostics = run_copy.figure_path("evaluation.json"), run_copy.figure_path("diagnostics.json")
    _merge(evaluation, "uniform-box", {"precision": 0.25}, measured)
    _merge(diagnostics, "gmm", {"p3_holes": {"hole_fraction": 0.5}}, measured)
    resume(run_copy, train_images, test_images, epochs=3)
    current = run_copy.weights_record()
    assert (measured.epoch, current.epoch) == (2, 3) and measured.sha256 != current.sha256

    warnings = []
    rows = collect_rows([run_copy.path], warn=warnings.append)
    assert [(r["sampler"], r["weights"]) for r in rows] == [
        ("uniform-box", "epoch 2 (not current)"),
        ("gmm", "epoch 2 (not current)"),
    ]
    assert len(warnings) == 1 and "\n" not in warnings[0]
    assert warnings[0].startswith(f"{run_copy.path}: ") and "on the weights of epoch 3" in warnings[0]
    assert f"`vaelab evaluate {run_copy.path} --sampler uniform-box`" in warnings[0]
    assert f"`vaelab diagnose {run_copy.path} --sampler gmm`" in warnings[0]

    warnings.clear()
    _merge(evaluation, "gmm", {"precision": 0.5}, current, warn=warnings.append)
    assert len(warnings) == 1 and "dropping the uniform-box results, measured on the weights of epoch 2" in warnings[0]
    rows = collect_rows([run_copy.path], warn=warnings.append)
    # one sampler, two sets of weights: two rows, never one
    assert [(r["sampler"], r["weights"], r["precision"], r["P3 in holes"]) for r in rows] == [
        ("gmm", "epoch 3", 0.5, None),
        ("gmm", "epoch 2 (not current)", None, 0.5),
    ]
    assert len(warnings) == 2 and f"`vaelab diagnose {run_copy.path} --sampler gmm`" in warnings[1]
    assert "`vaelab evaluate" not in warnings[1]

    code, out, err = run_cli(capsys, "compare", str(run_copy.path), "--output", str(run_copy.path / "cmp"))
    assert code == 0 and "epoch 2 (not current)" in out and "epoch 3" in out
    assert len(err.strip().splitlines()) == 1 and "measure them again" in err
    assert "| epoch 2 (not current) |" in (run_copy.path / "cmp" / MARKDOWN_FILE).read_text()


@pytest.mark.parametrize(
    "content, fragment",
    [
        *DAMAGED_RESULTS[:-1],
        (
            b'{"samplers": {"prior": {"precision": "high"}}}',
            "holds 'high' as precision of sampler 'prior', not a number",
        ),
        (
            b'{"samplers": {"prior": {"likelihood": {"importance_samples": 6.5}}}}',
            "6.5 as IW k of sampler 'prior', not a whole number",
        ),
    ],
)
def test_compare_stops_at_a_damaged_results_file(capsys, run_copy, content, fragment):
    path = run_copy.figures / "evaluation.json"
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(content)
    with pytest.raises(RunDirError) as exc_info:
        collect_rows([run_copy.path])
    assert one_line(exc_info).startswith(str(path)) and fragment in str(exc_info.value)
    code, _, err = run_cli(capsys, "compare", str(run_copy.path), "--output", str(run_copy.path / "cmp"))
    assert_one_line_error(code, err, 1, str(path), fragment, f"vaelab evaluate {run_copy.path}")
    assert not (run_copy.path / "cmp").exists()


def test_compare_refuses_a_run_named_twice(capsys, run_copy, tmp_path):
    again = run_copy.path / ".." / run_copy.path.name  # the same folder, spelt another way
    with pytest.raises(ConfigError, match="the same run directory"):
        collect_rows([run_copy.path, again])
    code, _, err = run_cli(capsys, "compare", str(run_copy.path), str(again), "--output", str(tmp_path / "cmp"))
    assert_one_line_error(code, err, 1, str(again), "same run directory", "name each run once")
    assert not (tmp_path / "cmp").exists()


# --- the comparison files compare writes ----------------------------------------------------------------


@pytest.mark.parametrize("name", [MARKDOWN_FILE, CSV_FILE])
def test_compare_replaces_only_its_own_comparison_files(capsys, run_copy, tmp_path, name):
    _merge(run_copy.figure_path("evaluation.json"), "gmm", {"precision": 0.5}, run_copy.weights_record())
    output = tmp_path / "out"
    output.mkdir()
    mine = output / name
    mine.write_text("run,notes\nmy own table\n")
    with pytest.raises(ConfigError) as exc_info:
        write_comparison([run_copy.path], output)
    assert one_line(exc_info).startswith(f"{mine} was not written by vaelab compare")
    code, _, err = run_cli(capsys, "compare", str(run_copy.path), "--output", str(output))
    assert_one_line_error(code, err, 1, str(mine), "move it away, or choose another --output")
    assert mine.read_text() == "run,notes\nmy own table\n" and sorted(p.name for p in output.iterdir()) == [name]

    mine.unlink()
    write_comparison([run_copy.path], output)  # vaelab's own files are replaced
    write_comparison([run_copy.path], output)
    assert (output / MARKDOWN_FILE).read_text().startswith("<!-- written by vaelab compare")
    assert (output / CSV_FILE).read_text().startswith("run,preset,sampler,weights,")


@pytest.mark.parametrize("columns", [slice(None), slice(0, 6)], ids=["today's columns", "fewer columns"])
def test_compare_replaces_the_files_of_an_earlier_vaelab(run_copy, tmp_path, columns):
    """Before the marker and the weights column, and with the columns of any earlier version (later
    ones added columns: the likelihood under a code prior, the codes used)."""
    from vaelab.presentation.compare import COLUMNS

    _merge(run_copy.figure_path("evaluation.json"), "gmm", {"precision": 0.5}, run_copy.weights_record())
    metrics = [name for name, *_ in COLUMNS][columns]
    (tmp_path / MARKDOWN_FILE).write_text("| " + " | ".join(["run", "preset", "sampler", *metrics]) + " |\n|---|\n")
    (tmp_path / CSV_FILE).write_text(",".join(["run", "preset", "sampler", *metrics]) + "\r\n")
    write_comparison([run_copy.path], tmp_path)
    assert "| epoch 2 |" in (tmp_path / MARKDOWN_FILE).read_text()
    assert (tmp_path / CSV_FILE).read_text().startswith("run,preset,sampler,weights,")


def test_foreign_comparison_files_of_every_kind_are_left_alone(run_copy, tmp_path):
    _merge(run_copy.figure_path("evaluation.json"), "gmm", {"precision": 0.5}, run_copy.weights_record())
    (tmp_path / MARKDOWN_FILE).mkdir()
    os.mkfifo(tmp_path / CSV_FILE)
    with pytest.raises(ConfigError, match=f"{MARKDOWN_FILE} and .*{CSV_FILE} were not written by vaelab"):
        write_comparison([run_copy.path], tmp_path)


# --- figures/attribute-NAME.json / .npz -------------------------------------------------------------


def _forge(json_path, npz_path, drop=(), **arrays):
    """Rewrite the vector's .npz with ``arrays`` changed (and ``drop`` left out), and the record's
    digest to match, as a careful forger would: only the checks of the arrays themselves can tell."""
    with np.load(npz_path) as data:
        content = {key: data[key] for key in data.files if key not in drop}
    content.update(arrays)
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **content)
    npz_path.write_bytes(buffer.getvalue())
    record = json.loads(json_path.read_text())
    record["arrays_sha256"] = hashlib.sha256(buffer.getvalue()).hexdigest()
    json_path.write_text(json.dumps(record))


def _nan_vector(json_path, npz_path):
    _forge(json_path, npz_path, vector=np.array([np.nan, 0.5], dtype=np.float32))


def _long_vector(json_path, npz_path):
    _forge(json_path, npz_path, vector=np.zeros(2_000_000, dtype=np.float32))  # 8 MB, compressed to 8 kB


def _extra_array(json_path, npz_path):
    _forge(json_path, npz_path, extra=np.random.default_rng(0).random(200_000))  # 1.6 MB of noise


def _fifo(json_path, npz_path):
    npz_path.unlink()
    os.mkfifo(npz_path)


@pytest.mark.parametrize(
    "damage, fragment",
    [
        (lambda json_path, npz_path: json_path.write_text("[]"), "holds a list, not an object"),
        (lambda json_path, npz_path: json_path.write_bytes(b"\xff"), "is not UTF-8 text"),
        (lambda json_path, npz_path: json_path.write_bytes(DEEP_JSON), "is not valid JSON (it is nested too deeply)"),
        (lambda json_path, npz_path: json_path.write_text('{"attribute": "shape-1"}'), "is damaged (no against)"),
        (lambda json_path, npz_path: json_path.unlink(), ".json is missing (its .npz is there)"),
        (
            lambda json_path, npz_path: npz_path.write_bytes(npz_path.read_bytes()[:100]),
            "is not the file its .json describes",
        ),
        (lambda json_path, npz_path: npz_path.unlink(), ".npz is missing (its .json is there)"),
        (_fifo, ".npz is not a regular file"),
        (_nan_vector, "is damaged (vector holds NaN or infinity)"),
        (
            lambda j, n: _forge(j, n, vector=np.array([1.0, 0.0], dtype=np.float32)),
            "vector is not the difference divided by its length",
        ),
        (lambda j, n: _forge(j, n, drop=("convergence_cosine",)), "is damaged (no convergence_cosine)"),
        (lambda j, n: _forge(j, n, difference=np.zeros((2, 1))), "difference is not 1 to 2 floating-point numbers"),
        (lambda j, n: _forge(j, n, convergence_with=np.array(["a"] * 3)), "convergence_with is not 1 to 60 whole"),
        (lambda j, n: _forge(j, n, convergence_images=np.arange(3)), "convergence arrays of different lengths"),
        (_long_vector, "is damaged (vector is 8,000,128 bytes, more than 2 numbers take)"),
        (_extra_array, "MB, more than the 30.4 kB an attribute vector's .npz can be"),
    ],
)
def test_a_damaged_attribute_vector_is_computed_again_with_a_warning(
    run_copy, train_images, test_images, damage, fragment
):
    run = load_run(run_copy.path, "cpu")
    attribute_report.write_attribute(run, train_images, "shape-1", "shape-2")
    json_path = run_copy.figures / "attribute-shape-1-vs-shape-2.json"
    damage(json_path, json_path.with_suffix(".npz"))
    warnings = []
    assert attribute_report.saved_attribute_vector(run, "shape-1", "shape-2", warn=warnings.append) is None
    assert len(warnings) == 1 and fragment in warnings[0] and "\n" not in warnings[0]
    command = f"vaelab attribute {run_copy.path} --attribute shape-1 --against shape-2"
    assert warnings[0].endswith(f"computing the vector again, as `{command}` does")
    written = attribute_report.write_arithmetic(
        run, test_images, "shape-1", "shape-2", "-1:1", images=2, train_set=train_images
    )
    assert json_path in written
    assert attribute_report.saved_attribute_vector(run, "shape-1", "shape-2", warn=warnings.append) is not None
    assert len(warnings) == 1
    with np.load(written[-1]) as data:
        assert np.isfinite(data["images"]).all()


def test_a_saved_vector_records_its_weights_and_is_computed_again_for_new_ones(run_copy, train_images, test_images):
    run = load_run(run_copy.path, "cpu")
    attribute_report.write_attribute(run, train_images, "shape-1")
    json_path = run_copy.figures / "attribute-shape-1.json"
    assert json.loads(json_path.read_text())["weights"] == run_copy.weights_record().to_dict()
    resume(run_copy, train_images, test_images, epochs=3)
    run = load_run(run_copy.path, "cpu")
    warnings = []
    assert attribute_report.saved_attribute_vector(run, "shape-1", warn=warnings.append) is None
    assert warnings == []  # other weights: not damage, just computed again
    written = attribute_report.write_arithmetic(
        run, test_images, "shape-1", None, "-1:1", images=2, train_set=train_images
    )
    assert json_path in written and json.loads(json_path.read_text())["weights"]["epoch"] == 3


def _fail_on_figures(monkeypatch):
    def full_disk(figure, path):
        raise WriteError.of(path, OSError(28, "No space left on device"))

    monkeypatch.setattr(attribute_report, "save_figure", full_disk)


def test_a_pair_cut_short_leaves_no_data_file_that_a_later_command_trusts(
    monkeypatch, run_copy, train_images, test_images
):
    run = load_run(run_copy.path, "cpu")
    attribute_report.write_attribute(run, train_images, "shape-1")
    written = attribute_report.write_arithmetic(run, test_images, "shape-1", None, "-1:1", images=2)
    written += attribute_report.write_morph(run, test_images, 0, 1, steps=3)
    data_files = [run_copy.figures / "attribute-shape-1.json", *(p for p in written if p.suffix == ".npz")]
    assert all(path.exists() for path in data_files)
    _fail_on_figures(monkeypatch)  # the disk fills up before each figure is written
    for write in (
        lambda: attribute_report.write_morph(run, test_images, 0, 1, steps=3),
        lambda: attribute_report.write_arithmetic(run, test_images, "shape-1", None, "0:1", images=1),
        lambda: attribute_report.write_attribute(run, train_images, "shape-1", count=100),
    ):
        with pytest.raises(WriteError):
            write()
    # neither a record beside the arrays of another count, nor data beside an older figure
    assert [path.name for path in data_files if path.exists()] == []
    warnings = []
    assert attribute_report.saved_attribute_vector(run, "shape-1", warn=warnings.append) is None
    assert len(warnings) == 1 and "attribute-shape-1.json is missing" in warnings[0]


@pytest.mark.parametrize(
    "content",
    [
        b'{"epoch": 0, "train": {}, "val": {}}\n',
        b'{"epoch": 1, "train": {"loss": NaN}, "val": {}}\n',
        b'{"epoch": 1, "train": {"loss": "0.3"}, "val": {}}\n',
        b'{"epoch": true, "train": {}, "val": {}}\n',
    ],
)
def test_hostile_numbers_in_metrics_are_refused_with_the_repair(run_copy, content):
    run_copy.metrics.write_bytes(content)
    with pytest.raises(RunDirError) as exc_info:
        run_copy.read_metrics()
    assert "not a metrics row" in one_line(exc_info)
    assert f"vaelab train --run-dir {run_copy.path} --resume" in str(exc_info.value)


def test_resume_writes_damaged_metrics_again(run_copy, train_images, test_images):
    run_copy.metrics.write_bytes(b"{bad\n")
    resume(run_copy, train_images, test_images)
    assert [row["epoch"] for row in run_copy.read_metrics()] == [1, 2]


def test_a_run_from_before_limits_were_refused_still_resumes(tmp_path, monkeypatch):
    """vaelab 0.5 accepted a --limit-train beyond the split and trained on all of it; such a run resumes."""
    from idx_fixtures import install_fake_fashion_mnist
    from vaelab.data.selection import AtMost

    install_fake_fashion_mnist(monkeypatch, tmp_path, n_train=40, n_test=20)
    config = RunConfig.from_preset("book-ae", epochs=1, batch_size=20, device="cpu", limit_train=AtMost(100))
    run_dir = RunDir(tmp_path / "run")
    train(config, run_dir, **QUIET)  # as vaelab 0.5 did: all 40 images, limit_train 100 recorded
    assert json.loads(run_dir.config.read_text())["limit_train"] == 100
    result = train(prepare_config(run_dir, None, True, epochs=2), run_dir, resume=True, **QUIET)
    assert [row["epoch"] for row in result.history] == [1, 2]
    with pytest.raises(Exception, match="--limit-train 100 is more than the 40"):
        train(
            RunConfig.from_preset("book-ae", epochs=1, batch_size=20, device="cpu", limit_train=100),
            tmp_path / "new",
            **QUIET,
        )


def test_a_parameter_group_missing_a_hyper_parameter_takes_the_configs(run_copy, train_images, test_images):
    def drop_lr(metadata, tensors):
        groups = json.loads(metadata["optim_param_groups"])
        del groups[0]["lr"]
        metadata["optim_param_groups"] = json.dumps(groups)

    rewrite_checkpoint(run_copy.checkpoint, drop_lr)
    result = resume(run_copy, train_images, test_images, epochs=3)
    assert [row["epoch"] for row in result.history] == [1, 2, 3]


@pytest.mark.parametrize(
    "content, fragment",
    [
        (b"[" * 50_000, "is not valid JSON (it is nested too deeply)"),
        (b'{"seed": ' + b"9" * 5000 + b"}", "is not valid JSON (Exceeds the limit"),
        (b" " * (65 * 1024), "more than the 64 kB a config.json can be"),
    ],
)
def test_a_config_that_would_blow_the_reader_is_one_line(run_copy, content, fragment):
    run_copy.config.write_bytes(content)
    with pytest.raises(RunDirError) as exc_info:
        load_run(run_copy.path, "cpu")
    assert fragment in one_line(exc_info)


@pytest.mark.parametrize("name", ["config.json", "metrics.jsonl", "model.safetensors", "checkpoint.safetensors"])
@pytest.mark.parametrize("kind", ["fifo", "device"])
def test_a_pipe_or_device_in_place_of_a_run_file_is_refused_without_reading(run_copy, name, kind):
    """A FIFO would block the reader forever and /dev/zero never ends."""
    import os

    path = run_copy.path / name
    path.unlink()
    if kind == "fifo":
        os.mkfifo(path)
    else:
        path.symlink_to("/dev/zero")
    with pytest.raises(RunDirError) as exc_info:
        load_run(run_copy.path, "cpu") if name != "metrics.jsonl" else run_copy.read_metrics()
    assert "is not a regular file" in one_line(exc_info)
