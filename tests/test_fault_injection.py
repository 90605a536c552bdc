"""Stop training (``vaelab train``, and ``vaelab prior train`` of a vq-vae run) at every file write, by a
kill and by a full disk, then recover as a user would: the run (and its prior) must end bit-identical
to one that was never stopped, and in between, no reader may be served stale weights.

The write points are not listed by hand: each scenario is first run once while its writes are
counted (:class:`fault_injection.WriteFaults`), and every one of them is then stopped at in turn, so
a write added to vaelab later is covered without changing this file. The scenarios of ``vaelab train``
run again with ``--tensorboard``: TensorBoard's event files add no write point, change no run file, and
after any stop and recovery show each point at most once, in order. Kills run in a subprocess that
SIGKILLs itself (nothing runs after it, as with ``kill -9``); a full disk (``OSError(ENOSPC)``) is
raised in this process. Timings (``seconds``, ``train_seconds``, ``images_per_second``) are the only
values allowed to differ.

``vaelab export`` is stopped the same way at each of its writes, in this process (a full disk, and
``stop-after``: the write done, then nothing more), into an empty folder and over an earlier export of
another run: the folder must load as one whole model or be refused in one line, and the same command
must then write what an export never stopped writes, byte for byte.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file

import fault_injection
from fault_injection import (
    MODES,
    PRIOR_SCENARIOS,
    SCENARIOS,
    STOP_AFTER,
    TENSORBOARD_SCENARIOS,
    WriteFaults,
    make_starts,
    prepare_scenario,
    recover,
    run_scenario,
)
from tensorboard_events import (
    TENSORBOARD_INSTALLED,
    assert_steps_increase,
    needs_tensorboard,
    read_events,
    scalar_values,
)
from vaelab.atomic import is_temporary_name
from vaelab.errors import PretrainedError, RunDirError, VaelabError, WriteError
from vaelab.safetensors_io import read_safetensors_metadata, tensors_digest
from vaelab.training import RunDir, TrainingInterrupted, load_run
from vaelab.training.checkpoint import read_training_state
from vaelab.training.pretrained import from_pretrained
from vaelab.training.prior_dir import PriorDir, prior_state_tensors
from vaelab.workflows.export import export_run

TIMINGS = ("seconds", "train_seconds", "images_per_second")
WORKER = Path(fault_injection.__file__)
#: The scenarios this machine can run (those with --tensorboard need the tensorboard package).
ALL_SCENARIOS = SCENARIOS + (TENSORBOARD_SCENARIOS if TENSORBOARD_INSTALLED else ()) + PRIOR_SCENARIOS
EPOCH_FILES = ["checkpoint.safetensors", "metrics.jsonl", "model.safetensors"]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The folders the scenarios start from, the runs never stopped (``fresh``, and ``prior-fresh``:
    a vq-vae run with its prior), each scenario's write points and, for the scenarios with
    --tensorboard, the never-stopped run whose event files theirs must equal in the end (a resumed
    run's hold no first epoch): ``(starts, {scenario: reference dir}, {scenario: [paths relative to the
    run dir]}, {scenario: reference dir})``."""
    root = tmp_path_factory.mktemp("reference")
    torch.set_num_threads(1)
    starts = root / "starts"
    make_starts(starts)
    never_stopped = {}
    for scenario in ALL_SCENARIOS:
        if scenario == _fresh(scenario):
            never_stopped[scenario] = root / f"reference-{scenario}"
            prepare_scenario(scenario, never_stopped[scenario], starts)
            run_scenario(scenario, never_stopped[scenario])
    references = {s: never_stopped[_fresh(s)] for s in ALL_SCENARIOS}
    points = {}
    for scenario in ALL_SCENARIOS:
        run_dir = root / f"count-{scenario}"
        prepare_scenario(scenario, run_dir, starts)
        with WriteFaults() as counter, contextlib.suppress(TrainingInterrupted):
            run_scenario(scenario, run_dir)
        points[scenario] = [str(path.relative_to(run_dir)) for path in counter.paths]
    logs = {
        s: root / "count-tensorboard-resumed" if s == "tensorboard-resumed" else references[s] for s in ALL_SCENARIOS
    }
    return starts, references, points, logs


def _fresh(scenario: str) -> str:
    """The scenario whose run, never stopped, ``scenario``'s must equal in the end."""
    family = scenario.split("-")[0]
    return "fresh" if family in SCENARIOS else f"{family}-fresh"


def test_every_scenario_writes_each_run_file(reference):
    _, _, points, _ = reference
    assert points["fresh"] == ["config.json", "metrics.jsonl"] + EPOCH_FILES * 2
    assert points["stopped"][-1] == "checkpoint.safetensors" and len(points["stopped"]) == 6
    assert points["resumed"][:2] == ["config.json", "metrics.jsonl"] and len(points["resumed"]) == 5
    prior_epoch = [f"prior/{name}" for name in EPOCH_FILES]
    assert points["prior-fresh"] == ["prior/config.json"] + prior_epoch * 2
    assert points["prior-stopped"] == ["prior/config.json", *prior_epoch, "prior/checkpoint.safetensors"]
    assert points["prior-resumed"] == ["prior/metrics.jsonl", "prior/config.json", *prior_epoch]


@needs_tensorboard
def test_tensorboard_adds_no_write_point(reference):
    _, _, points, _ = reference
    for scenario in SCENARIOS:
        assert points[f"tensorboard-{scenario}"] == points[scenario], scenario


def _scenarios(names: tuple[str, ...]) -> list:
    """``names`` as parameters, those with --tensorboard skipped (saying why) without the package."""
    return [pytest.param(name, marks=needs_tensorboard) if name in TENSORBOARD_SCENARIOS else name for name in names]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("scenario", _scenarios(SCENARIOS + TENSORBOARD_SCENARIOS + PRIOR_SCENARIOS))
def test_a_stop_at_any_write_resumes_bit_identically(reference, fork_servers, tmp_path, scenario, mode):
    starts, references, points, logs = reference
    cases = [(at, tmp_path / f"at-{at}") for at in range(1, len(points[scenario]) + 1)]
    for _, run_dir in cases:
        prepare_scenario(scenario, run_dir, starts)
    if mode == "enospc":
        for at, run_dir in cases:
            _fill_the_disk_at(scenario, run_dir, at)
    else:
        _kill_at_each(fork_servers, scenario, mode, cases)
    failures = []
    for at, run_dir in cases:
        where = f"{scenario}, {mode} at write {at} ({points[scenario][at - 1]})"
        try:
            _assert_readers_are_not_lied_to(run_dir)
            if scenario in PRIOR_SCENARIOS:
                _assert_prior_readers_are_not_lied_to(run_dir)
            recover(scenario, run_dir)
            _assert_same_run(run_dir, references[scenario])
            if scenario in TENSORBOARD_SCENARIOS:
                _assert_points_once_in_order(run_dir, logs[scenario])
            if scenario in PRIOR_SCENARIOS:
                _assert_same_run(run_dir / "prior", references[scenario] / "prior")
        except (AssertionError, RunDirError, WriteError) as exc:
            failures.append(f"{where}: {exc}")
    assert not failures, "\n".join(failures)


def _fill_the_disk_at(scenario: str, run_dir: Path, at: int) -> None:
    with WriteFaults(at, "enospc"), pytest.raises(WriteError) as stopped:
        run_scenario(scenario, run_dir)
    message = str(stopped.value)
    assert "\n" not in message and "no space left on device" in message and str(run_dir) in message, message
    assert "--resume" in message or "run the same command again" in message, message
    if scenario in PRIOR_SCENARIOS and "--resume" in message:
        assert f"`vaelab prior train {run_dir} --resume`" in message, message


@pytest.fixture(scope="module")
def fork_servers():
    """Two fork servers (``fault_injection.py``), which take the kill cases in turn."""
    servers = [_ForkServer() for _ in range(2)]
    yield servers
    for server in servers:
        server.close()


def _kill_at_each(servers: list, scenario: str, mode: str, cases: list[tuple[int, Path]]) -> None:
    """Run the scenario in a child process per case, each killing itself at its write."""
    for start in range(0, len(cases), len(servers)):
        batch = list(zip(servers, cases[start : start + len(servers)], strict=False))  # the last batch may be short
        for server, (at, run_dir) in batch:
            server.send(scenario, run_dir, at, mode)
        for server, (at, _) in batch:
            status = server.status()
            assert status == -signal.SIGKILL, f"write {at}: the child ended with {status}, not a kill"


class _ForkServer:
    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, str(WORKER)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1
        )
        assert self.process.stdout.readline().strip() == "ready"

    def send(self, scenario: str, run_dir: Path, at: int, mode: str) -> None:
        self.process.stdin.write(f"{scenario} {run_dir} {at} {mode}\n")

    def status(self) -> int:
        return int(self.process.stdout.readline())

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait(timeout=60)


def _assert_readers_are_not_lied_to(run_dir: Path) -> None:
    """Between the stop and the recovery, an analysis either gets the weights the checkpoint commits
    to (or, before any checkpoint, none at all), or one line that says to resume or train again."""
    folder = RunDir(run_dir)
    try:
        run = load_run(run_dir, "cpu")
    except RunDirError as exc:
        message = str(exc)
        advice = ("--resume", "train it again", "it has no config.json")
        assert "\n" not in message and any(text in message for text in advice), message
        return
    committed = folder.checkpoint_record()
    loaded = tensors_digest({k: v.contiguous() for k, v in run.model.state_dict().items()})
    assert committed is not None and committed.sha256 == loaded, "an analysis was served stale weights"
    assert len(folder.read_metrics()) == committed.epoch, "metrics.jsonl does not match the weights"


def _assert_prior_readers_are_not_lied_to(run_dir: Path) -> None:
    """The same for the prior: a loaded run has the prior the prior's checkpoint commits to, with its
    metrics, or none and a hint that says to train it or resume its training."""
    model = load_run(run_dir, "cpu").model
    folder = PriorDir(run_dir)
    if not model.has_prior:
        hint = model.missing_prior_hint
        assert "\n" not in hint, hint  # the prior's problem, if one is there, then what to run:
        assert hint.startswith("train one with") or "; train it with" in hint, hint
        assert ("--resume" in hint) == folder.checkpoint.exists(), hint
        return
    committed = read_training_state(folder.checkpoint, read_safetensors_metadata(folder.checkpoint)).weights
    loaded = tensors_digest(prior_state_tensors(model.prior))
    assert committed["sha256"] == loaded, "a sampler was served a stale prior"
    rows = folder.metrics.read_text().splitlines() if folder.metrics.is_file() else []
    assert len(rows) == committed["epoch"], "the prior's metrics.jsonl does not match its weights"


def _assert_same_run(run_dir: Path, reference_dir: Path) -> None:
    leftovers = [p.name for p in run_dir.rglob("*") if is_temporary_name(p.name)]
    assert not leftovers, f"temporary files left: {leftovers}"
    assert sorted(p.name for p in run_dir.iterdir()) == sorted(p.name for p in reference_dir.iterdir())
    for name in ("config.json", "model.safetensors"):
        assert (run_dir / name).read_bytes() == (reference_dir / name).read_bytes(), f"{name} differs"
    assert _rows(run_dir / "metrics.jsonl") == _rows(reference_dir / "metrics.jsonl"), "metrics.jsonl differs"
    tensors, metadata = _checkpoint(run_dir)
    expected_tensors, expected_metadata = _checkpoint(reference_dir)
    assert metadata == expected_metadata, "the checkpoint's metadata differ"
    assert tensors.keys() == expected_tensors.keys()
    different = [k for k in tensors if not torch.equal(tensors[k], expected_tensors[k])]
    assert not different, f"checkpoint tensors differ: {different[:5]}"


def _assert_points_once_in_order(run_dir: Path, reference_dir: Path) -> None:
    """TensorBoard shows the points of the never-stopped run, each once, in order: every point is on
    disk before the checkpoint after it, and those after the last checkpoint are hidden by the
    resumed run's purge mark and written again (only images/s, a timing, may differ)."""
    mine, expected = read_events(run_dir / "tensorboard"), read_events(reference_dir / "tensorboard")
    assert assert_steps_increase(mine) == assert_steps_increase(expected), "the points' steps differ"
    for prefix in ("train/", "train_epoch/", "val/"):
        assert scalar_values(mine, prefix) == scalar_values(expected, prefix), f"the {prefix} points differ"


def _rows(path: Path) -> list[dict]:
    return [_without_timings(json.loads(line)) for line in path.read_text().splitlines()]


def _without_timings(row: dict) -> dict:
    return {k: v for k, v in row.items() if k not in TIMINGS}


def _checkpoint(run_dir: Path) -> tuple[dict, dict]:
    with safe_open(str(run_dir / "checkpoint.safetensors"), "pt") as handle:
        metadata = dict(handle.metadata())
    tensors = load_file(run_dir / "checkpoint.safetensors")
    state = json.loads(metadata.pop("state"))
    state["history"] = [_without_timings(row) for row in state["history"]]
    metadata["state"] = state
    metadata.pop("sha256")  # covers the tensors, compared one by one
    return tensors, metadata


def test_a_run_reported_finished_is_finished(tmp_path, reference, fork_servers):
    """The window issue 11 found: the last checkpoint written, the weights not. `--resume` must write
    them (not say "already trained" and leave them stale) and the analyses must then agree."""
    _, references, points, _ = reference
    reference_dir = references["fresh"]
    run_dir = tmp_path / "run"
    last_weights = len(points["fresh"])
    _kill_at_each(fork_servers, "fresh", "kill-during", [(last_weights, run_dir)])
    with pytest.raises(RunDirError, match="--resume"):
        load_run(run_dir, "cpu")
    assert recover("fresh", run_dir) == "resume"
    _assert_same_run(run_dir, reference_dir)
    load_run(run_dir, "cpu")
    shutil.rmtree(run_dir)


# ---------------------------------------------------------------- vaelab export

EXPORT_MODES = ("enospc", STOP_AFTER)


@pytest.fixture(scope="module")
def export_reference(tmp_path_factory):
    """``(root, points)``: in ``root``, the runs (:func:`make_starts`), an export of the 1-epoch book-ae run
    (``earlier``: what a scenario may start from), and ``reference``, the vq-vae run with its prior
    exported never stopped; ``points``, the writes of that export. Every export goes to ``root/shared``,
    the folder its card names, and is moved away from it."""
    root = tmp_path_factory.mktemp("export")
    torch.set_num_threads(1)
    make_starts(root)
    export_run(root / "one-epoch", root / "shared")
    shutil.move(root / "shared", root / "earlier")
    with WriteFaults() as counter:
        export_run(root / "vq-prior-one-epoch", root / "shared")
    shutil.move(root / "shared", root / "reference")
    return root, [str(path.relative_to(root / "shared")) for path in counter.paths]


def test_an_export_writes_config_first_and_its_card_last(export_reference):
    _, points = export_reference
    assert points == [
        "config.json",
        "model.safetensors",
        "prior/config.json",
        "prior/model.safetensors",
        "samples.png",
        "README.md",
    ]


@pytest.mark.parametrize("mode", EXPORT_MODES)
@pytest.mark.parametrize("start", ["empty", "earlier"])
def test_an_export_stopped_at_any_write_is_refused_or_whole_and_the_same_command_repairs_it(
    export_reference, start, mode
):
    """A stop at any write of ``vaelab export`` (into an empty folder or over an earlier export of
    another run) leaves a folder that loads as one whole model, the old or the new, or is refused in one
    line; the same command then writes what an export never stopped writes, byte for byte."""
    root, points = export_reference
    shared, failures = root / "shared", []
    for at in range(1, len(points) + 1):
        shutil.rmtree(shared, ignore_errors=True)
        if start == "earlier":
            shutil.copytree(root / "earlier", shared)
        else:
            shared.mkdir()
        where = f"{start}, {mode} at write {at} ({points[at - 1]})"
        try:
            _stop_export_at(root, at, mode)
            _assert_loads_whole_or_refuses(shared, [root / "earlier", root / "reference"])
            export_run(root / "vq-prior-one-epoch", shared)
            _assert_same_files(shared, root / "reference")
        except (AssertionError, VaelabError) as exc:
            failures.append(f"{where}: {exc}")
    assert not failures, "\n".join(failures)


def _stop_export_at(root: Path, at: int, mode: str) -> None:
    """Export the vq-vae run into ``root/shared``, stopped at write ``at``."""
    with WriteFaults(at, mode), pytest.raises((WriteError, fault_injection.Stopped)) as stopped:
        export_run(root / "vq-prior-one-epoch", root / "shared")
    if mode == "enospc":
        message = str(stopped.value)
        assert "\n" not in message and "no space left on device" in message, message
        assert "run the command again" in message, message


def _assert_loads_whole_or_refuses(folder: Path, exports: list[Path]) -> None:
    """``folder`` loads as the model of one of ``exports`` (its weights and its prior, or none), or is
    refused in one line that says to export again."""
    try:
        model = from_pretrained(folder, device="cpu")
    except PretrainedError as exc:
        assert "\n" not in str(exc) and "export it again" in str(exc), str(exc)
        return
    loaded = tensors_digest({k: v.contiguous() for k, v in model.state_dict().items()})
    prior = getattr(model, "prior", None)
    loaded_prior = tensors_digest(prior_state_tensors(prior)) if prior is not None else None
    whole = []
    for export in exports:
        config = json.loads((export / "config.json").read_text())
        whole.append((config["weights"]["sha256"], (config["prior"] or {}).get("sha256")))
    assert (loaded, loaded_prior) in whole, "a stopped export loaded as a mixture of two"


def _assert_same_files(folder: Path, reference: Path) -> None:
    files = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(reference).as_posix() for p in reference.rglob("*") if p.is_file())
    different = [name for name in files if (folder / name).read_bytes() != (reference / name).read_bytes()]
    assert not different, f"differ from an export never stopped: {different}"
