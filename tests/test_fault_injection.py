"""Stop training at every file write, by a kill and by a full disk, then recover as a user would:
the run must end bit-identical to one that was never stopped, and in between, no reader may be
served stale weights.

The write points are not listed by hand: each scenario is first run once while its writes are
counted (:class:`fault_injection.WriteFaults`), and every one of them is then stopped at in turn, so
a write added to vaelab later is covered without changing this file. Kills run in a subprocess that
SIGKILLs itself (nothing runs after it, as with ``kill -9``); a full disk (``OSError(ENOSPC)``) is
raised in this process. Timings (``seconds``, ``train_seconds``, ``images_per_second``) are the only
values allowed to differ.
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
from fault_injection import MODES, SCENARIOS, WriteFaults, prepare_scenario, recover, run_scenario, train_one_epoch
from vaelab.atomic import is_temporary_name
from vaelab.errors import RunDirError, WriteError
from vaelab.safetensors_io import tensors_digest
from vaelab.training import RunDir, TrainingInterrupted, load_run

TIMINGS = ("seconds", "train_seconds", "images_per_second")
WORKER = Path(fault_injection.__file__)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The run never stopped, the 1-epoch run that ``resumed`` continues, and each scenario's
    write points: ``(reference dir, one-epoch dir, {scenario: [file names]})``."""
    root = tmp_path_factory.mktemp("reference")
    torch.set_num_threads(1)
    fault_injection.run_scenario("fresh", root / "reference")
    train_one_epoch(root / "one-epoch")
    points = {}
    for scenario in SCENARIOS:
        run_dir = root / f"count-{scenario}"
        prepare_scenario(scenario, run_dir, root / "one-epoch")
        with WriteFaults() as counter, contextlib.suppress(TrainingInterrupted):
            run_scenario(scenario, run_dir)
        points[scenario] = [path.name for path in counter.paths]
    return root / "reference", root / "one-epoch", points


def test_every_scenario_writes_each_run_file(reference):
    _, _, points = reference
    assert (
        points["fresh"]
        == ["config.json", "metrics.jsonl"] + ["checkpoint.safetensors", "metrics.jsonl", "model.safetensors"] * 2
    )
    assert points["stopped"][-1] == "checkpoint.safetensors" and len(points["stopped"]) == 6
    assert points["resumed"][:2] == ["config.json", "metrics.jsonl"] and len(points["resumed"]) == 5


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("scenario", SCENARIOS)
def test_a_stop_at_any_write_resumes_bit_identically(reference, fork_servers, tmp_path, scenario, mode):
    reference_dir, one_epoch, points = reference
    cases = [(at, tmp_path / f"at-{at}") for at in range(1, len(points[scenario]) + 1)]
    for _, run_dir in cases:
        prepare_scenario(scenario, run_dir, one_epoch)
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
            recover(run_dir)
            _assert_same_run(run_dir, reference_dir)
        except (AssertionError, RunDirError, WriteError) as exc:
            failures.append(f"{where}: {exc}")
    assert not failures, "\n".join(failures)


def _fill_the_disk_at(scenario: str, run_dir: Path, at: int) -> None:
    with WriteFaults(at, "enospc"), pytest.raises(WriteError) as stopped:
        run_scenario(scenario, run_dir)
    message = str(stopped.value)
    assert "\n" not in message and "no space left on device" in message and str(run_dir) in message, message
    assert "--resume" in message or "run the same command again" in message, message


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
    reference_dir, _, points = reference
    run_dir = tmp_path / "run"
    last_weights = len(points["fresh"])
    _kill_at_each(fork_servers, "fresh", "kill-during", [(last_weights, run_dir)])
    with pytest.raises(RunDirError, match="--resume"):
        load_run(run_dir, "cpu")
    assert recover(run_dir) == "resume"
    _assert_same_run(run_dir, reference_dir)
    load_run(run_dir, "cpu")
    shutil.rmtree(run_dir)
