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
  ``OSError(ENOSPC)``, as on a full disk; the process goes on and reports the error;
* ``stop-after`` (:data:`STOP_AFTER`, not in :data:`MODES`): ``kill-after`` in the test's own process,
  for a scenario cheap enough to run there (``vaelab export``).

The scenarios are those of ``vaelab train`` (:data:`SCENARIOS`, on a book-ae run; the same again with
``--tensorboard``, :data:`TENSORBOARD_SCENARIOS`, whose event files are no part of the run's protocol
and must not change it) and of ``vaelab prior train`` (:data:`PRIOR_SCENARIOS`, on a copy of a 1-epoch
vq-vae run, whose files they must leave untouched). Each starts from a folder :func:`make_starts`
builds once (:data:`STARTS`).

For the kills, the tests start this file as a *fork server* (``python fault_injection.py``): it imports
PyTorch and vaelab, trains each model once to warm up (one thread, so no thread pool exists to be forked), then
reads ``SCENARIO RUN_DIR AT MODE`` lines and, for each, forks a child that runs the scenario with
that fault and prints the child's exit status (``-9`` for a kill). Each child thus starts in
milliseconds instead of paying the imports and PyTorch's first-call costs.
"""

from __future__ import annotations

import contextlib
import errno
import importlib
import os
import shutil
import signal
import sys
import tempfile
from collections.abc import Iterator
from importlib.util import find_spec
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))

from synthetic import synthetic_images
from vaelab import atomic
from vaelab.training import (
    RunConfig,
    RunDir,
    TensorBoardOptions,
    TrainingInterrupted,
    load_run,
    prepare_config,
    train,
)
from vaelab.training.interrupts import StopRequest
from vaelab.training.prior import prepare_prior_config, train_prior
from vaelab.training.prior_dir import PriorDir

MODES = ("kill-during", "kill-after", "enospc")
#: An in-process stand-in for ``kill-after``, for scenarios cheap enough to run in the test's own process
#: (``vaelab export``): the write completes, then :class:`Stopped` is raised, which nothing in vaelab catches.
STOP_AFTER = "stop-after"


class Stopped(BaseException):
    """The process stopped right after a write (:data:`STOP_AFTER`)."""


#: The run every scenario trains: book-ae, 2 epochs of 2 batches of 20 synthetic images.
SETTINGS = {"epochs": 2, "batch_size": 20, "lr": 2e-3, "seed": 0, "device": "cpu"}
PRESET = "book-ae"

#: The scenarios: what the process under test does.
#: ``fresh``: a new run of 2 epochs; ``stopped``: a new run that Ctrl-C stops in its second epoch
#: (writing a mid-epoch checkpoint); ``resumed``: ``--resume`` of a 1-epoch run to 2 epochs.
SCENARIOS = ("fresh", "stopped", "resumed")
#: The same with ``--tensorboard`` (a point every step, into RUN_DIR/tensorboard): ``tensorboard-fresh``, …
TENSORBOARD_SCENARIOS = tuple(f"tensorboard-{scenario}" for scenario in SCENARIOS)
TENSORBOARD = TensorBoardOptions(every=1)

#: The prior's scenarios, on a copy of the 1-epoch vq-vae run ``vq``: ``prior-fresh``: a new prior of 2
#: epochs; ``prior-stopped``: a new prior that Ctrl-C stops in its second epoch; ``prior-resumed``:
#: ``prior train --resume`` of a 1-epoch prior to 2 epochs.
PRIOR_SCENARIOS = ("prior-fresh", "prior-stopped", "prior-resumed")
#: The vq-vae run the prior scenarios start from, and the prior they train (2 batches an epoch).
VQ_SETTINGS = {**SETTINGS, "epochs": 1}
PRIOR_SETTINGS = {"channels": 8, "layers": 2, "kernel": 3, "batch_size": 20, "seed": 0}

#: The folder each scenario starts from (a copy of it; None: an empty folder), built by :func:`make_starts`.
STARTS = {
    "fresh": None,
    "stopped": None,
    "resumed": "one-epoch",
    "tensorboard-fresh": None,
    "tensorboard-stopped": None,
    "tensorboard-resumed": "one-epoch",
    "prior-fresh": "vq",
    "prior-stopped": "vq",
    "prior-resumed": "vq-prior-one-epoch",
}

#: Polls of the stop flag before a ``stopped`` scenario's Ctrl-C: 2 batches and the end of epoch 1,
#: then the first batch of epoch 2.
STOP_AFTER_POLLS = 4


def data():
    """The training and test images of every scenario (40 and 20 synthetic images)."""
    return synthetic_images(40, seed=0), synthetic_images(20, seed=1)


def quiet(message: str) -> None:
    """A log that prints nothing."""


class WriteFaults:
    """Count atomic writes and apply ``mode`` at write number ``at`` (1-based; None: never)."""

    def __init__(self, at: int | None = None, mode: str | None = None) -> None:
        if mode is not None and mode not in (*MODES, STOP_AFTER):
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
        if self.mode in ("kill-after", STOP_AFTER):
            self._original(path, write)
            if self.mode == STOP_AFTER:
                raise Stopped(path)
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


def run_scenario(scenario: str, run_dir: Path) -> None:
    """Do what ``scenario`` does in ``run_dir`` (prepared by :func:`prepare_scenario`)."""
    if scenario in PRIOR_SCENARIOS:
        stopping = _stop_after(STOP_AFTER_POLLS) if scenario == "prior-stopped" else contextlib.nullcontext()
        with stopping:
            _train_prior(run_dir, resume=scenario == "prior-resumed")
        return
    tensorboard = TENSORBOARD if scenario in TENSORBOARD_SCENARIOS else None
    scenario = scenario.removeprefix("tensorboard-")
    if scenario == "resumed":
        _train(run_dir, resume=True, tensorboard=tensorboard)
        return
    with _stop_after(STOP_AFTER_POLLS) if scenario == "stopped" else contextlib.nullcontext():
        _train(run_dir, resume=False, tensorboard=tensorboard)


@contextlib.contextmanager
def _stop_after(polls: int) -> Iterator[None]:
    """Within the block, Ctrl-C is seen from the ``polls``-th poll of the stop flag on."""
    count = {"n": 0}

    def stop_requested(self) -> bool:
        count["n"] += 1
        return count["n"] >= polls

    original = StopRequest.__bool__
    StopRequest.__bool__ = stop_requested
    try:
        yield
    finally:
        StopRequest.__bool__ = original


def _train(
    run_dir: Path, resume: bool, epochs: int = SETTINGS["epochs"], tensorboard: TensorBoardOptions | None = None
) -> None:
    """``vaelab train`` of the book-ae run in ``run_dir``: a new one, or ``--resume`` to ``epochs``
    (with ``--tensorboard`` when ``tensorboard`` says so)."""
    train_set, test_set = data()
    folder = RunDir(run_dir)
    if resume:
        config = prepare_config(folder, None, True, epochs=epochs)
    else:
        config = prepare_config(folder, PRESET, False, **{**SETTINGS, "epochs": epochs})
    train(
        config,
        folder,
        resume=resume,
        train_set=train_set,
        test_set=test_set,
        progress=False,
        log=quiet,
        tensorboard=tensorboard,
    )


def _train_prior(run_dir: Path, resume: bool, epochs: int = 2) -> None:
    """``vaelab prior train`` of the vq-vae run in ``run_dir``: a new prior, or ``--resume`` to ``epochs``."""
    train_set, test_set = data()
    run = load_run(run_dir, "cpu")
    config = prepare_prior_config(run, resume, epochs, **({} if resume else PRIOR_SETTINGS))
    train_prior(run, config, resume=resume, train_set=train_set, test_set=test_set, progress=False, log=quiet)


def prepare_scenario(scenario: str, run_dir: Path, starts: Path) -> None:
    """Put in place what ``scenario`` starts from: nothing, or a copy of its folder in ``starts``."""
    if STARTS[scenario] is not None:
        shutil.copytree(starts / STARTS[scenario], run_dir)


def make_starts(starts: Path) -> None:
    """The folders of :data:`STARTS` in ``starts``: the 1-epoch book-ae run, the 1-epoch vq-vae run, and
    that run with a 1-epoch prior."""
    _train(starts / "one-epoch", resume=False, epochs=1)
    train_set, test_set = data()
    config = RunConfig.from_preset("vq-vae", **VQ_SETTINGS)
    train(config, starts / "vq", train_set=train_set, test_set=test_set, progress=False, log=quiet)
    shutil.copytree(starts / "vq", starts / "vq-prior-one-epoch")
    _train_prior(starts / "vq-prior-one-epoch", resume=False, epochs=1)


def recover(scenario: str, run_dir: Path) -> str:
    """What a user does after the stop: ``--resume`` when there is a checkpoint, else the same
    command again in the same folder. Returns which."""
    prior = scenario in PRIOR_SCENARIOS
    checkpoint = PriorDir(run_dir).checkpoint if prior else RunDir(run_dir).checkpoint
    resume = checkpoint.exists()
    if prior:
        _train_prior(run_dir, resume=resume)
    else:
        _train(run_dir, resume=resume, tensorboard=TENSORBOARD if scenario in TENSORBOARD_SCENARIOS else None)
    return "resume" if resume else "again"


def run_with_fault(scenario: str, run_dir: str, at: str, mode: str) -> int:
    """Run ``scenario`` with ``mode`` at write ``at``; the exit status (if the fault let it end)."""
    with WriteFaults(int(at), mode):
        try:
            run_scenario(scenario, Path(run_dir))
        except TrainingInterrupted:
            return 130
    return 0


def serve() -> None:
    """The fork server (see the module's docstring)."""
    torch.set_num_threads(1)
    if find_spec("tensorboard") is not None:
        importlib.import_module("torch.utils.tensorboard")  # once, not in every child of a tensorboard scenario
    with tempfile.TemporaryDirectory() as folder:
        make_starts(Path(folder))  # trains each model of the scenarios once
    print("ready", flush=True)
    for line in sys.stdin:
        pid = os.fork()
        if pid == 0:
            os._exit(run_with_fault(*line.split()))
        _, status = os.waitpid(pid, 0)
        print(os.waitstatus_to_exitcode(status), flush=True)


if __name__ == "__main__":
    serve()
