"""TensorBoard logs of a training run (``vaelab train --tensorboard [DIR]``), an optional export.

Everything goes into one folder, DIR (default ``RUN_DIR/tensorboard``), on one step axis: the global
optimiser step, the number of training steps completed since the run began (epoch × steps per epoch
+ batch), so that a resumed run continues the same curves. Rank 0 alone writes under torchrun.

* ``train/TERM``, every ``every`` global steps: each loss term's mean over the steps since the last
  point (or since the epoch began or the run resumed), over rank 0's share of the batches, read as
  the progress bar reads the running loss (:mod:`vaelab.training.monitor`: on a GPU, one point late);
* at each epoch's end, from the row ``metrics.jsonl`` is about to get, at the epoch's last step:
  ``train_epoch/TERM`` and ``val/TERM`` (every term of both), ``speed/images_per_second``, and two
  images: ``images/reconstructions`` (the first :data:`EXAMPLES` validation images above their
  reconstructions from the posterior mean) and, for a model with a prior, ``images/samples`` (that
  many draws from the prior, seeded; the samplers of a model without one, a bounding box or a GMM,
  are fitted to embeddings after training: ``vaelab generate``);
* the recipe (:meth:`~vaelab.training.config.RunConfig.recipe`, the settings a resume may not change,
  flattened to ``model.latent_dim``, …) as TensorBoard hyperparameters, when a process starts training;
  the HPARAMS tab then lists each run's scalars, ``val/loss`` among them, at their last (final) values.

The event files are TensorBoard's own append-only logs, written by PyTorch's ``SummaryWriter`` (it
comes with PyTorch, needs only the ``tensorboard`` package, and can purge, below). They are no part
of the run's protocol (:mod:`vaelab.training.run_dir`): vaelab's atomic writes never touch them and
nothing in them is needed to resume exactly. Two rules keep them in step with the checkpoint all the
same, whatever stops the process:

* every point is on disk before the checkpoint that follows it (an epoch's points, and a Ctrl-C's,
  are flushed before its checkpoint is written): a checkpoint never runs ahead of the logs;
* a process that starts writes a purge mark first: a new run at step 0 (hiding what an attempt
  stopped before its first checkpoint left), a resumed one at the step after its checkpoint. The
  points a killed process wrote after its last checkpoint are then dropped by TensorBoard's readers
  (both its Python reader and its fast loader honour the mark), and written again as the resumed
  run redoes those steps: no point shows twice or goes backwards. TensorBoard reads a run's event
  files in the order of their names, which begin with the second the file was created (then the
  host, the process id and a counter), so a process that opens the folder in the same second as an
  earlier one waits for the next second: its mark is then read after the points it hides.
"""

from __future__ import annotations

import contextlib
import importlib
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import torch

from vaelab.data.preprocess import to_unit_float
from vaelab.errors import ConfigError, WriteError
from vaelab.limits import MAX_TENSORBOARD_EVERY, check_range
from vaelab.models.base import LatentModel
from vaelab.training.monitor import SumsCopy, SumsReader

#: Global steps between two ``train/TERM`` points, unless ``--tensorboard-every`` says otherwise.
DEFAULT_EVERY = 50
#: Validation images reconstructed, and prior samples drawn, once per epoch (one row of TensorBoard's grid).
EXAMPLES = 8
#: Seed of the prior draws of ``images/samples`` (the same points at every epoch).
SAMPLE_SEED = 0
#: Seconds between the writer's flushes to disk (each epoch's end flushes too).
FLUSH_SECONDS = 10
#: How the names of TensorBoard's event files begin: ``events.out.tfevents.SECOND.HOST.PID.N``.
EVENT_FILE_PREFIX = "events.out.tfevents."

#: What to install when the ``tensorboard`` package is missing.
INSTALL_HINT = "install it with `pip install 'vaelab[tensorboard]'` (or `pip install tensorboard`)"


@dataclass(frozen=True)
class TensorBoardOptions:
    """Where (``folder``; None: the run directory's ``tensorboard/``) and how often (``every`` global
    steps) to log the training loss for TensorBoard."""

    folder: Path | None = None
    every: int = DEFAULT_EVERY

    def __post_init__(self) -> None:
        check_range("--tensorboard-every", self.every, 1, MAX_TENSORBOARD_EVERY)
        if self.folder is not None and not str(self.folder).strip():
            raise ConfigError("--tensorboard names an empty folder; name one, or leave DIR out for RUN_DIR/tensorboard")
        if self.folder is not None and Path(self.folder).exists() and not Path(self.folder).is_dir():
            raise ConfigError(
                f"--tensorboard {self.folder} is a file, not a folder; name a folder (it is created when missing), "
                "or leave DIR out for RUN_DIR/tensorboard"
            )

    def folder_for(self, default: Path) -> Path:
        """The folder the event files go into: ``folder``, or else ``default`` (the run's ``tensorboard/``)."""
        return self.folder if self.folder is not None else default


def tensorboard_options(folder: str | None, every: int | None) -> TensorBoardOptions | None:
    """The options ``train --tensorboard [DIR] --tensorboard-every N`` ask for: ``folder`` is None
    without ``--tensorboard``, ``""`` with it alone (the default folder); None when TensorBoard is off."""
    if folder is None:
        if every is not None:
            raise ConfigError("--tensorboard-every applies to TensorBoard's logs; add --tensorboard")
        return None
    return TensorBoardOptions(Path(folder) if folder else None, DEFAULT_EVERY if every is None else every)


def check_installed() -> None:
    """A one-line :class:`ConfigError` when the ``tensorboard`` package is missing (before any training)."""
    _summary_writer_class()


def _summary_writer_class() -> Any:
    """PyTorch's ``SummaryWriter``, which imports the ``tensorboard`` package."""
    try:
        return importlib.import_module("torch.utils.tensorboard").SummaryWriter
    except ImportError:
        raise ConfigError(
            f"--tensorboard needs the tensorboard package, which is not installed; {INSTALL_HINT}"
        ) from None


class NoTensorBoard:
    """The log of a run without ``--tensorboard``, and of processes other than rank 0: nothing."""

    #: The folder of the event files (None: none are written).
    folder: Path | None = None

    def begin_epoch(self, step: int, images: int) -> None:
        """An epoch begins (or resumes) after global step ``step``, its sums holding ``images`` images."""

    def after_step(self, step: int, images: int) -> None:
        """Global step ``step`` is done; the epoch's sums hold ``images`` images."""

    def end_epoch(self, step: int, row: dict[str, Any], model: LatentModel) -> None:
        """The epoch that ended at global step ``step`` has been written as ``row`` of ``metrics.jsonl``."""

    def finish(self, step: int) -> None:
        """Training reached its epochs at global step ``step``."""

    def flush(self) -> None:
        """Put every point so far on disk (before a checkpoint)."""

    def close(self) -> None:
        """Write what is buffered and close the files."""

    def __enter__(self) -> NoTensorBoard:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if kind is None:
            self.close()
            return
        with contextlib.suppress(WriteError):  # the error that stopped training is the one to report
            self.close()


class TensorBoardLog(NoTensorBoard):
    """Event files in ``folder`` for one process's part of a run (see the module docstring).

    ``sums`` is the training step's tensor of loss sums (one per name in ``terms``); ``examples`` the
    uint8 validation images (and their classes, for a conditional model) shown once per epoch;
    ``first_step`` the step of the purge mark and of the hyperparameters, ``recipe`` their values.
    """

    def __init__(
        self,
        folder: Path,
        every: int,
        *,
        first_step: int,
        sums: torch.Tensor,
        terms: tuple[str, ...],
        examples: tuple[torch.Tensor, torch.Tensor | None],
        recipe: dict[str, Any],
    ) -> None:
        self.folder: Path = folder
        self.every, self.terms, self.examples = every, terms, examples
        self.sums = sums
        self.reader = SumsReader(sums)
        self.base = SumsCopy(first_step, 0, (0.0,) * len(terms))
        with self._writing():
            _wait_for_a_later_second(folder)
            self.writer = _summary_writer_class()(str(folder), purge_step=first_step, flush_secs=FLUSH_SECONDS)
            start, self.end = _session_summaries(recipe)
            self.writer.file_writer.add_summary(start, first_step)

    def begin_epoch(self, step: int, images: int) -> None:
        self.base = SumsCopy(step, images, tuple(self.sums.tolist()))

    def after_step(self, step: int, images: int) -> None:
        if step % self.every == 0:
            self._log_window(self.reader.read(step, images))

    def end_epoch(self, step: int, row: dict[str, Any], model: LatentModel) -> None:
        self._log_window(self.reader.drain())
        reconstructions, samples = example_images(model, *self.examples)
        with self._writing():
            for part, prefix in (("train", "train_epoch"), ("val", "val")):
                for term, value in row[part].items():
                    self.writer.add_scalar(f"{prefix}/{term}", value, step)
            self.writer.add_scalar("speed/images_per_second", row["images_per_second"], step)
            self.writer.add_images("images/reconstructions", reconstructions, step)
            if samples is not None:
                self.writer.add_images("images/samples", samples, step)
        self.flush()

    def finish(self, step: int) -> None:
        with self._writing():
            self.writer.file_writer.add_summary(self.end, step)

    def flush(self) -> None:
        self._log_window(self.reader.drain())  # a point still in flight on a GPU
        with self._writing():
            self.writer.flush()

    def close(self) -> None:
        self.flush()
        with self._writing():
            self.writer.close()

    def _log_window(self, copy: SumsCopy | None) -> None:
        """Write the mean of each term over the images since the last point, at ``copy``'s step."""
        if copy is None or copy.images <= self.base.images:
            return
        count = copy.images - self.base.images
        with self._writing():
            for term, now, before in zip(self.terms, copy.values, self.base.values, strict=True):
                self.writer.add_scalar(f"train/{term}", (now - before) / count, copy.step)
        self.base = copy

    @contextlib.contextmanager
    def _writing(self) -> Iterator[None]:
        """An :class:`OSError` of TensorBoard's writer (a full disk, a file in the folder's place) as a
        one-line :class:`WriteError` naming the folder."""
        try:
            yield
        except OSError as exc:
            raise WriteError.of(self.folder, exc) from None


def open_tensorboard(
    options: TensorBoardOptions | None,
    default_folder: Path,
    *,
    is_main: bool,
    first_step: int,
    sums: torch.Tensor,
    terms: tuple[str, ...],
    examples: tuple[torch.Tensor, torch.Tensor | None],
    recipe: dict[str, Any],
) -> NoTensorBoard:
    """The log a process keeps: a :class:`TensorBoardLog` on rank 0 when ``options`` ask for one (in
    their folder, or ``default_folder``), :class:`NoTensorBoard` otherwise (the other arguments: see
    :class:`TensorBoardLog`)."""
    if options is None or not is_main:
        return NoTensorBoard()
    return TensorBoardLog(
        options.folder_for(default_folder),
        options.every,
        first_step=first_step,
        sums=sums,
        terms=terms,
        examples=examples,
        recipe=recipe,
    )


@torch.inference_mode()
def example_images(
    model: LatentModel, images: torch.Tensor, labels: torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The uint8 ``images`` in [0, 1] followed by their reconstructions (decoded from the posterior
    mean, each under its own class for a conditional model), and, for a model with a prior, as many
    seeded draws from it, decoded under the same classes (None for a model without a prior)."""
    was_training = model.training
    model.eval()
    x = to_unit_float(images)
    reconstructions = model.decode(model.encode(x, labels).mean, labels)
    samples = None
    if model.has_prior:
        generator = torch.Generator(device=x.device).manual_seed(SAMPLE_SEED)
        z = model.sample_prior(len(x), generator, labels if model.prior_classes else None)
        samples = model.decode(z, labels).float()
    model.train(was_training)
    return torch.cat([x, reconstructions.float()]), samples


def _wait_for_a_later_second(folder: Path) -> None:
    """Sleep until the clock has passed the second in which the latest event file in ``folder`` was
    created (at most a second: a file dated further ahead, by a clock set back, cannot be waited for)."""
    created = [int(name.split(".")[3]) for name in _event_files(folder) if name.split(".")[3].isdigit()]
    delay = max(created, default=-1) + 1 - time.time()
    if 0 < delay <= 1:
        time.sleep(delay)


def _event_files(folder: Path) -> list[str]:
    """The names of the event files in ``folder`` (none when it does not exist yet)."""
    return [path.name for path in folder.glob(f"{EVENT_FILE_PREFIX}*")] if folder.is_dir() else []


def _session_summaries(recipe: dict[str, Any]) -> tuple[Any, Any]:
    """The hparams plugin's session start (the recipe, flattened) and end (success) summaries.

    The experiment summary is left out: TensorBoard then builds the table from every run's session,
    so runs of other families (other hyperparameters) side by side under one ``--logdir`` all show.
    """
    summary = importlib.import_module("torch.utils.tensorboard.summary")
    _, start, end = summary.hparams(dict(_flatten(recipe)), {})
    return start, end


def _flatten(values: dict[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    """``values`` as (dotted name, number or text) pairs: nested objects flattened, lists as text,
    None left out."""
    for key, value in values.items():
        name = prefix + key
        if isinstance(value, dict):
            yield from _flatten(value, name + ".")
        elif isinstance(value, (list, tuple)):
            yield name, ", ".join(map(str, value))
        elif value is not None:
            yield name, value
