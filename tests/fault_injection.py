"""Stopping vaelab at a chosen file write, as a kill or a full disk would, for the fault-injection tests.

Every file vaelab writes goes through :func:`vaelab.atomic.atomic_write`, which calls
``vaelab.atomic._write_and_replace`` once per file. :class:`WriteFaults` replaces that function for
the duration of a ``with`` block, counts the writes (their paths are the *write points*) and, at write
number ``at``, applies one of :data:`MODES`:

* ``kill-during``: the temporary file gets part of its data, then the process is killed (SIGKILL:
  nothing runs after it, no ``finally``, no clean-up, the temporary file stays);
* ``kill-after``: the write completes (renamed into place), then the process is killed before
  anything else happens;
* ``enospc``: the temporary file gets part of its data, then the write fails with
  ``OSError(ENOSPC)``, as on a full disk; the process goes on and reports the error.

For the kills, the tests start this file as a *fork server* (``python fault_injection.py``): it imports
PyTorch and vaelab, trains once to warm up (one thread, so no thread pool exists to be forked), then
reads ``SCENARIO RUN_DIR AT MODE`` lines and, for each, forks a child that runs the scenario with
that fault and prints the child's exit status (``-9`` for a kill). Each child thus starts in
milliseconds instead of paying the imports and PyTorch's first-call costs.
"""

from __future__ import annotations

import errno
import os
import shutil
import signal
import sys
import tempfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))

from synthetic import synthetic_images
from vaelab import atomic
from vaelab.training import RunConfig, RunDir, prepare_config, train
from vaelab.training import trainer as trainer_module

MODES = ("kill-during", "kill-after", "enospc")

#: The run every scenario trains: book-ae, 2 epochs of 2 batches of 20 synthetic images.
SETTINGS = {"epochs": 2, "batch_size": 20, "lr": 2e-3, "seed": 0, "device": "cpu"}
PRESET = "book-ae"

#: The scenarios: what the process under test does.
#: ``fresh``: a new run of 2 epochs; ``stopped``: a new run that Ctrl-C stops in its second epoch
#: (writing a mid-epoch checkpoint); ``resumed``: ``--resume`` of a 1-epoch run to 2 epochs.
SCENARIOS = ("fresh", "stopped", "resumed")

#: Polls of the stop flag before ``stopped``'s Ctrl-C: 2 batches and the end of epoch 1, then the first
#: batch of epoch 2.
STOP_AFTER_POLLS = 4


def data():
    """The training and test images of every scenario (40 and 20 synthetic images)."""
    return synthetic_images(40, seed=0), synthetic_images(20, seed=1)


def quiet(message: str) -> None:
    """A log that prints nothing."""


class WriteFaults:
    """Count atomic writes and apply ``mode`` at write number ``at`` (1-based; None: never)."""

    def __init__(self, at: int | None = None, mode: str | None = None) -> None:
        if mode is not None and mode not in MODES:
            raise ValueError(f"unknown fault mode {mode!r}")
        self.at, self.mode = at, mode
        self.paths: list[Path] = []
        self._original = atomic._write_and_replace

    def __enter__(self) -> WriteFaults:
        atomic._write_and_replace = self._write
        return self

    def __exit__(self, *exc: object) -> None:
        atomic._write_and_replace = self._original

    def _write(self, path: Path, write) -> None:
        self.paths.append(Path(path))
        if len(self.paths) != self.at:
            return self._original(path, write)
        if self.mode == "kill-after":
            self._original(path, write)
            _kill()
        if self.mode == "kill-during":
            return self._original(path, lambda tmp: (write(tmp), _truncate_to_half(tmp), _kill()))
        return self._original(path, lambda tmp: (write(tmp), _truncate_to_half(tmp), _full_disk()))


def _kill() -> None:
    sys.stdout.flush()
    os.kill(os.getpid(), signal.SIGKILL)


def _full_disk() -> None:
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def _truncate_to_half(path: Path) -> None:
    os.truncate(path, os.path.getsize(path) // 2)


def run_scenario(scenario: str, run_dir: Path, one_epoch_run: Path | None = None) -> None:
    """Do what ``scenario`` does in ``run_dir`` (for ``resumed``, a copy of ``one_epoch_run`` must
    already be there)."""
    train_set, test_set = data()
    if scenario == "resumed":
        config = prepare_config(RunDir(run_dir), None, True, epochs=SETTINGS["epochs"])
        train(config, run_dir, resume=True, train_set=train_set, test_set=test_set, progress=False, log=quiet)
        return
    config = prepare_config(RunDir(run_dir), PRESET, False, **SETTINGS)
    if scenario == "stopped":
        polls = {"n": 0}

        def stop_requested(self) -> bool:
            polls["n"] += 1
            return polls["n"] >= STOP_AFTER_POLLS

        original = trainer_module.StopRequest.__bool__
        trainer_module.StopRequest.__bool__ = stop_requested
        try:
            train(config, run_dir, train_set=train_set, test_set=test_set, progress=False, log=quiet)
        finally:
            trainer_module.StopRequest.__bool__ = original
        return
    train(config, run_dir, train_set=train_set, test_set=test_set, progress=False, log=quiet)


def prepare_scenario(scenario: str, run_dir: Path, one_epoch_run: Path) -> None:
    """Put in place what ``scenario`` starts from: nothing, or a copy of the 1-epoch run."""
    if scenario == "resumed":
        shutil.copytree(one_epoch_run, run_dir)


def train_one_epoch(run_dir: Path) -> None:
    """The 1-epoch run that ``resumed`` continues."""
    train_set, test_set = data()
    config = RunConfig.from_preset(PRESET, **{**SETTINGS, "epochs": 1})
    train(config, run_dir, train_set=train_set, test_set=test_set, progress=False, log=quiet)


def recover(run_dir: Path) -> str:
    """What a user does after the stop: ``--resume`` when there is a checkpoint, else the same
    ``train`` command again in the same folder. Returns which."""
    train_set, test_set = data()
    folder = RunDir(run_dir)
    if folder.checkpoint.exists():
        config = prepare_config(folder, None, True, epochs=SETTINGS["epochs"])
        train(config, folder, resume=True, train_set=train_set, test_set=test_set, progress=False, log=quiet)
        return "resume"
    config = prepare_config(folder, PRESET, False, **SETTINGS)
    train(config, folder, train_set=train_set, test_set=test_set, progress=False, log=quiet)
    return "again"


def run_with_fault(scenario: str, run_dir: str, at: str, mode: str) -> int:
    """Run ``scenario`` with ``mode`` at write ``at``; the exit status (if the fault let it end)."""
    with WriteFaults(int(at), mode):
        try:
            run_scenario(scenario, Path(run_dir))
        except trainer_module.TrainingInterrupted:
            return 130
    return 0


def serve() -> None:
    """The fork server (see the module's docstring)."""
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as folder:
        run_scenario("fresh", Path(folder) / "warm-up")
    print("ready", flush=True)
    for line in sys.stdin:
        pid = os.fork()
        if pid == 0:
            os._exit(run_with_fault(*line.split()))
        _, status = os.waitpid(pid, 0)
        print(os.waitstatus_to_exitcode(status), flush=True)


if __name__ == "__main__":
    serve()
