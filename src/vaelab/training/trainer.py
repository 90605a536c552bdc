"""The training loop: epochs of Adam steps, validation, metrics and resumable checkpoints.

Data stays on the device as uint8; each step (:mod:`vaelab.training.step`, replayed as a CUDA
graph on a GPU: :mod:`vaelab.training.cuda_graph`) converts its batch on the fly and adds the loss
terms to sums on the device. The host reads them without waiting every ``CHECK_EVERY`` steps
(progress bar, NaN check: :mod:`vaelab.training.monitor`) and exactly once at the end of an epoch.
Every completed epoch writes, in this order and each atomically: the checkpoint (the commit: it
also holds the metric history and the record of the weights), ``metrics.jsonl`` and
``model.safetensors`` (the protocol and its invariant: :mod:`vaelab.training.run_dir`). Ctrl-C or
SIGTERM stops after the current step and checkpoints mid-epoch; ``resume`` first rewrites exports the
previous process did not finish, then continues exactly where it stopped. Under torchrun the
same loop trains with DistributedDataParallel (:mod:`vaelab.training.distributed`). With
``--tensorboard``, rank 0 also logs the loss terms every few steps and each epoch's row, images and
the recipe for TensorBoard (:mod:`vaelab.training.tensorboard`), flushed before each checkpoint.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vaelab.data.image_set import ImageSet
from vaelab.data.registry import load_dataset
from vaelab.data.selection import AtMost
from vaelab.errors import ConfigError, RunDirError, TrainingDivergedError, VaelabError, WriteError
from vaelab.limits import MAX_EPOCHS
from vaelab.models import LatentModel, ModelOutput, build_model
from vaelab.models.cvae import condition_labels
from vaelab.models.spec import check_trainable_latent_dim
from vaelab.numbers import counted
from vaelab.progress import progress_bar
from vaelab.safetensors_io import tensors_digest
from vaelab.training.checkpoint import (
    TrainingState,
    capture_rng,
    check_state_fits,
    load_checkpoint,
    restore_rng,
    save_checkpoint,
)
from vaelab.training.config import RunConfig
from vaelab.training.cuda_graph import GraphedStep
from vaelab.training.device import resolve_device
from vaelab.training.distributed import SingleProcess, open_processes
from vaelab.training.execution import Execution, choose_execution, thread_count
from vaelab.training.interrupts import StopRequest
from vaelab.training.monitor import RunningLoss
from vaelab.training.objectives import make_objective
from vaelab.training.optimizer import make_adam
from vaelab.training.placement import choose_placement
from vaelab.training.precision import PrecisionChoice, choose_precision
from vaelab.training.run_dir import RunDir, WeightsRecord, metrics_text, weights_of
from vaelab.training.step import TrainStep
from vaelab.training.tensorboard import EXAMPLES, NoTensorBoard, TensorBoardOptions, check_installed, open_tensorboard
from vaelab.training.validation import mean_terms

#: Steps between reads of the running loss (progress bar, NaN check) and, under torchrun, between
#: the processes' agreements on Ctrl-C and divergence.
CHECK_EVERY = 25


class TrainingInterrupted(VaelabError):
    """Training stopped on Ctrl-C or SIGTERM after writing a checkpoint (exit status 130 or 143, as
    a shell reports a process ended by those signals)."""

    def __init__(self, message: str, exit_code: int = 130) -> None:
        super().__init__(message)
        self.exit_code = exit_code


@dataclass
class TrainResult:
    """What :func:`train` returns: the run directory, its config, the model and its history.

    Under torchrun every process gets one; ``is_main`` is true for rank 0, the one that wrote the
    run directory and whose ``history`` holds the metrics (the other processes' is empty; their
    ``model`` holds the same weights). ``trained`` is false when a resumed run had already
    reached its epochs, so nothing was trained or written. ``tensorboard`` is the folder that received
    TensorBoard's event files (rank 0, with ``--tensorboard``), None otherwise.
    """

    run_dir: RunDir
    config: RunConfig
    model: LatentModel
    history: list[dict[str, Any]]
    is_main: bool = True
    trained: bool = True
    tensorboard: Path | None = None


def prepare_config(run_dir: RunDir, preset: str | None, resume: bool, **overrides: Any) -> RunConfig:
    """The config of a new run (from ``preset``) or of a resumed one (from ``config.json``).

    A new run refuses a directory that already holds one or holds files vaelab did not write; a
    resumed run refuses another preset, any change of the settings that define it (see
    :meth:`RunConfig.resumed_with`) and a folder whose run files cannot be written.
    """
    if resume:
        saved = run_dir.read_config()
        if preset is not None and preset != saved.preset:
            raise RunDirError(
                f"{run_dir} holds a {saved.preset} run, not {preset}; "
                f"resume it without --preset or choose another --run-dir"
            )
        if not run_dir.checkpoint.exists():
            raise RunDirError(
                f"{run_dir} has no checkpoint.safetensors to resume from (its training stopped before the first "
                f"epoch ended); {run_dir.train_again_hint(saved)}"
            )
        run_dir.check_writable()
        return saved.resumed_with(**overrides)
    if preset is None:
        raise VaelabError("--preset is required for a new run (see `vaelab presets`), or pass --resume")
    config = RunConfig.from_preset(preset, **overrides)
    check_trainable_latent_dim(config.model.latent_dim)
    run_dir.check_new_run_possible()
    return config


class Trainer:
    """Owns the model, optimiser, RNGs and training step of one run and trains it epoch by epoch.

    ``processes`` and ``device`` come from :func:`vaelab.training.distributed.open_processes`
    (default: one process on the config's device); ``execution`` overrides the automatic choice
    of :func:`vaelab.training.execution.choose_execution` (the benchmark and tests use it). ``board``
    receives the TensorBoard log (:meth:`open_tensorboard`; by default, nothing is logged).
    """

    def __init__(
        self,
        config: RunConfig,
        run_dir: RunDir,
        train_set: ImageSet,
        test_set: ImageSet,
        *,
        progress: bool = True,
        log: Callable[[str], None] = print,
        processes: SingleProcess | None = None,
        device: torch.device | None = None,
        execution: Execution | None = None,
    ) -> None:
        self.config = config
        self.run_dir = run_dir
        self.processes = processes or SingleProcess()
        self.progress = progress and self.processes.is_main
        self.log = log if self.processes.is_main else _silent
        self.device = device or resolve_device(config.device)
        choice = choose_precision(config.precision, config.preset, self.device)
        self.precision = agreed_precision(choice, self.processes)
        if config.precision == "auto":
            self.log(self.precision.describe())
        self.execution = execution or choose_execution(
            self.device,
            precision=self.precision.precision,
            compile=config.compile,
            threads=config.threads,
            cuda_graphs=config.cuda_graphs,
            distributed=self.processes.world_size > 1,
        )
        torch.manual_seed(config.seed)
        self.model: LatentModel = self.execution.prepare_model(build_model(config.model))
        forward: Callable[..., ModelOutput] = self.processes.wrap(self.model)
        self.model = getattr(forward, "module", self.model)  # the same module, its BatchNorm synchronised under DDP
        if self.execution.compile:
            forward = torch.compile(forward)
        self.optimizer = make_adam(self.model.parameters(), config.lr, self.device)
        self.objective = make_objective(config.objective, config.objective_params)
        self.shuffle = torch.Generator().manual_seed(config.seed)
        self.processes.reseed(config.seed)
        placement = choose_placement(
            config.data_placement, [train_set.images, test_set.images], self.device, self.processes.world_size
        )
        if not placement.obvious:
            self.log(placement.describe(self.device))
        self.train_data = placement.images(train_set.images, _labels_for(self.model, train_set), self.device)
        self.min_last = smallest_batch(self.model, self.processes.world_size)
        if config.batch_size < self.min_last:
            raise ConfigError(
                f"{config.model.architecture} has BatchNorm layers, which cannot train on a batch of one image "
                f"per process; use --batch-size {self.min_last} or more"
            )
        self.test_data = placement.images(test_set.images, _labels_for(self.model, test_set), self.device)
        self.steps_per_epoch = self.train_data.num_batches(config.batch_size, self.min_last)
        self.state = TrainingState()
        self.board = NoTensorBoard()
        step = TrainStep(
            forward,
            self.optimizer,
            self.objective,
            self.execution,
            config.corruption,
            shard=self.processes.shard,
            world_size=self.processes.world_size,
            model=self.model,
            dataset_size=len(train_set),
        )
        self.step: TrainStep | GraphedStep = (
            GraphedStep(step, config.batch_size, self.log) if self.execution.cuda_graphs else step
        )

    def restore(self) -> None:
        """Load the run directory's checkpoint: weights, optimiser, RNGs, position."""
        self.state, rng = load_checkpoint(self.run_dir.checkpoint, self.model, self.optimizer, self.config.recipe())
        check_state_fits(
            self.run_dir.checkpoint,
            self.state,
            steps=self.steps_per_epoch,
            terms=self.objective.terms,
            batch_size=self.config.batch_size,
            max_epochs=MAX_EPOCHS,
        )
        restore_rng(rng, self.shuffle, self.run_dir.checkpoint)
        position = (self.state.epoch, self.state.step)
        self.processes.restore_rank_rng(rng, self.device, self.config.seed, position)

    def repair_exports(self) -> None:
        """After :meth:`restore`: write ``metrics.jsonl`` and ``model.safetensors`` again where the
        previous process stopped before finishing them (see :mod:`vaelab.training.run_dir`).

        A checkpoint written at the end of an epoch holds exactly that epoch's weights, so those are
        written when the weights file does not carry the checkpoint's record. A mid-epoch checkpoint
        holds later weights; then a stale weights file is reported and replaced when the epoch ends.
        A run of vaelab before 0.6 has records in neither file: its weights are written again too
        (the same weights, now with their record), and the log says why.
        """
        if not self.processes.is_main:
            return
        state, run_dir = self.state, self.run_dir
        if run_dir.read_metrics_text() != metrics_text(state.history):
            run_dir.write_metrics(state.history)
            self.log(f"wrote {run_dir.metrics} again from the checkpoint (the last run stopped before finishing it)")
        if not state.epoch:
            return
        current = run_dir.weights_record()
        if state.step == 0:
            expected = WeightsRecord(state.epoch, tensors_digest(weights_of(self.model)))
            if current != expected:
                unrecorded = current is None and not state.weights and run_dir.model.is_file()
                why = (
                    "its header does not record the epoch it holds, as in runs of vaelab before 0.6"
                    if unrecorded
                    else "the last run stopped before finishing it"
                )
                state.weights = run_dir.save_weights(self.model, self.config, state.epoch).to_dict()
                self.log(f"wrote {run_dir.model} again from the checkpoint of epoch {state.epoch} ({why})")
        elif state.weights and current != WeightsRecord(**state.weights):
            self.log(
                f"warning: {run_dir.model} does not hold epoch {state.epoch}'s weights; they are written again "
                f"when epoch {state.epoch + 1} ends"
            )

    def check_weights_written(self) -> None:
        """A :class:`RunDirError` when ``model.safetensors`` does not hold the last completed epoch's
        weights and :meth:`repair_exports` could not write them (a mid-epoch checkpoint holds later
        weights): a resume that trains nothing must not report a finished run without its weights."""
        state = self.state
        if not self.processes.is_main or not state.weights or not state.step:
            return
        if self.run_dir.weights_record() != WeightsRecord(**state.weights):
            raise RunDirError(
                f"{self.run_dir.model} is missing or does not hold epoch {state.epoch}'s weights, and the checkpoint "
                f"holds weights from the middle of epoch {state.epoch + 1}, which cannot replace them; resume with "
                f"--epochs {state.epoch + 1} or more to finish that epoch, which writes its weights"
            )

    def global_step(self) -> int:
        """The optimiser steps taken since the run began (TensorBoard's step axis)."""
        return self.state.epoch * self.steps_per_epoch + self.state.step

    def open_tensorboard(self, options: TensorBoardOptions | None, resumed: bool) -> NoTensorBoard:
        """This process's TensorBoard log (:mod:`vaelab.training.tensorboard`): rank 0's when ``options``
        ask for one. A new run marks step 0 as its start, a resumed one the step after its checkpoint."""
        images, labels = self.test_data.first(EXAMPLES)
        return open_tensorboard(
            options,
            self.run_dir.tensorboard,
            is_main=self.processes.is_main,
            first_step=self.global_step() + 1 if resumed else 0,
            sums=self.step.sums,
            terms=tuple(self.objective.terms),
            examples=(images, labels),
            recipe=self.config.recipe(),
        )

    def fit(self) -> list[dict[str, Any]]:
        """Train up to ``config.epochs`` (logging to ``board``, when set); returns the metric history."""
        if self.processes.is_main:
            self.run_dir.write_metrics(self.state.history)
        with StopRequest() as stop:
            while self.state.epoch < self.config.epochs:
                train_terms, images, seconds = self._train_epoch(stop)
                self._finish_epoch(train_terms, images, seconds)
                if self.state.epoch < self.config.epochs and self._stop_at_epoch_end(stop):
                    raise TrainingInterrupted(
                        f"{stop.describe()} at the end of epoch {self.state.epoch}; checkpoint saved; "
                        f"continue with `vaelab train --run-dir {self.run_dir} --resume`",
                        exit_code=stop.exit_code,
                    )
        return self.state.history

    def _stop_at_epoch_end(self, stop: StopRequest) -> bool:
        """Whether a stop was asked for during the epoch's last batch or its validation (every
        process agrees); the epoch has then been written whole, like any other."""
        if self.processes.world_size == 1:
            return bool(stop)
        (stop_all,) = self.processes.agree(bool(stop))
        return stop_all

    def _train_epoch(self, stop: StopRequest) -> tuple[dict[str, float], int, float]:
        config, state, processes = self.config, self.state, self.processes
        epoch_shuffle_state = self.shuffle.get_state()
        order = self.train_data.permutation(self.shuffle)
        # The saved sums are the processes' total: only rank 0 starts from them.
        saved = state.progress if processes.is_main else {}
        self.step.reset(saved.get("sums"))
        local_images = saved.get("images", 0)
        images = state.progress.get("images", 0)
        elapsed = state.progress.get("seconds", 0.0)
        steps = self.steps_per_epoch
        before = state.epoch * steps  # global steps done before this epoch
        running = RunningLoss(self.step.sums)
        self.board.begin_epoch(before + state.step, local_images)
        self.model.train()
        bar = progress_bar(
            total=steps,
            initial=state.step,
            desc=f"epoch {state.epoch + 1}/{config.epochs}",
            unit="batch",
            enabled=self.progress,
        )
        started = time.perf_counter()
        with bar:
            for step, (batch, labels) in enumerate(
                self.train_data.labelled_batches(config.batch_size, order, state.step, self.min_last), state.step
            ):
                self.step(batch, labels)
                begin, end = processes.shard(batch.shape[0])
                local_images += end - begin
                images += batch.shape[0]
                self.board.after_step(before + step + 1, local_images)
                bar.update(1)
                at_check = (step + 1) % CHECK_EVERY == 0 and step + 1 < steps
                loss = running.read(local_images) if at_check else None
                if loss is not None:
                    bar.set_postfix(loss=f"{loss:.4f}", refresh=False)  # shown at the next redraw
                # A stop in the epoch's last batch lets the epoch end and be written whole (see fit).
                stopping = self._poll(stop, at_check, loss, f"at epoch {state.epoch + 1}, by batch {step + 1}")
                if stopping and step + 1 < steps:
                    seconds = elapsed + time.perf_counter() - started
                    self._save_interrupted(step + 1, images, seconds, epoch_shuffle_state, stop)
            sums = processes.all_reduce_(self.step.sums.clone())
            means = dict(zip(self.objective.terms, (sums / images).tolist(), strict=True))
            bar.set_postfix(loss=f"{means['loss']:.4f}", refresh=False)  # drawn as the bar closes
        seconds = elapsed + time.perf_counter() - started
        self._check_finite(means["loss"], f"at epoch {state.epoch + 1}")
        return means, images, seconds

    def _poll(self, stop: StopRequest, at_check: bool, loss: float | None, where: str) -> bool:
        """Whether to stop now for Ctrl-C; raises :class:`TrainingDivergedError` on a non-finite loss.

        One process stops as soon as Ctrl-C is seen; several agree at each check, so that all
        stop at the same step.
        """
        if self.processes.world_size == 1:
            if loss is not None:
                self._check_finite(loss, where)
            return bool(stop)
        if not at_check:
            return False
        diverged = loss is not None and not math.isfinite(loss)
        stop_all, diverged_all = self.processes.agree(bool(stop), diverged)
        if diverged_all:
            self._check_finite(loss if diverged and loss is not None else math.nan, where + " in one of the processes")
        return stop_all

    def _finish_epoch(self, train_terms: dict[str, float], images: int, train_seconds: float) -> None:
        state, processes = self.state, self.processes
        rank_rng = processes.rank_rng_states(self.device)
        val_terms: dict[str, float] = {}
        started = time.perf_counter()
        if processes.is_main:
            val_terms = mean_terms(
                self.model,
                self.objective,
                self.test_data,
                self.config.batch_size,
                self.config.corruption,
                self.execution,
                dataset_size=len(self.train_data),
            )
        val_seconds = time.perf_counter() - started
        (diverged,) = processes.agree(processes.is_main and not math.isfinite(val_terms["loss"]))
        if diverged:
            self._check_finite(val_terms.get("loss", math.nan), f"in validation after epoch {state.epoch + 1}")
        if not processes.is_main:
            state.epoch, state.step, state.progress = state.epoch + 1, 0, {}
            return
        row = {
            "epoch": state.epoch + 1,
            "train": train_terms,
            "val": val_terms,
            "seconds": round(train_seconds + val_seconds, 3),
            "train_seconds": round(train_seconds, 3),
            "images_per_second": round(images / train_seconds, 1),
            "precision": self.execution.precision,
            "computed_on": self.precision.machine.describe(),
        }
        state.history.append(row)
        state.epoch, state.step, state.progress = state.epoch + 1, 0, {}
        state.weights = WeightsRecord(state.epoch, tensors_digest(weights_of(self.model))).to_dict()
        rng = capture_rng(self.shuffle) | rank_rng
        self.board.end_epoch(self.global_step(), row, self.model)  # on disk before the commit, as every point
        # The checkpoint commits the epoch; the two exports follow (vaelab.training.run_dir).
        save_checkpoint(self.run_dir.checkpoint, self.model, self.optimizer, state, rng, self.config.recipe())
        self.run_dir.write_metrics(state.history)
        self.run_dir.save_weights(self.model, self.config, state.epoch)
        others = ", ".join(f"{name} {value:.4g}" for name, value in val_terms.items() if name != "loss")
        self.log(
            f"epoch {row['epoch']}/{self.config.epochs}: train loss {train_terms['loss']:.5f}, "
            f"val loss {val_terms['loss']:.5f} ({others}; {row['seconds']:.1f} s, "
            f"{row['images_per_second']:.0f} images/s)"
        )

    def _check_finite(self, value: float, where: str) -> None:
        if not math.isfinite(value):
            kept = (
                f"the checkpoint of epoch {self.state.epoch} is kept"
                if self.state.epoch
                else "no checkpoint had been written yet"
            )
            raise TrainingDivergedError(
                f"the training loss became {value} {where}; training stopped and {kept}; "
                f"try a lower --lr or another --seed"
            )

    def _save_interrupted(
        self, step: int, images: int, seconds: float, shuffle_state: torch.Tensor, stop: StopRequest
    ) -> None:
        state, processes = self.state, self.processes
        sums = processes.all_reduce_(self.step.sums.clone())
        rng = capture_rng(self.shuffle) | processes.rank_rng_states(self.device)
        rng["rng.shuffle"] = shuffle_state
        if processes.is_main:
            state.step = step
            state.progress = {"sums": sums.tolist(), "images": images, "seconds": seconds}
            self.board.flush()  # the points so far, on disk before the checkpoint
            save_checkpoint(self.run_dir.checkpoint, self.model, self.optimizer, state, rng, self.config.recipe())
        processes.agree()  # every process waits until the checkpoint is written
        raise TrainingInterrupted(
            f"{stop.describe()} at epoch {state.epoch + 1}, batch {step}; checkpoint saved; "
            f"continue with `vaelab train --run-dir {self.run_dir} --resume`",
            exit_code=stop.exit_code,
        )


def smallest_batch(model: torch.nn.Module, world_size: int = 1) -> int:
    """The fewest images a training batch may hold: 2 per process for a model with BatchNorm
    layers (in training mode, BatchNorm cannot normalise a single image: PyTorch refuses it, where
    Keras would divide by a zero variance plus ε), 1 otherwise. An epoch's last batch with fewer
    images is left out of that epoch."""
    has_batchnorm = any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in model.modules())
    return 2 * world_size if has_batchnorm else 1


def _labels_for(model: LatentModel, images: ImageSet) -> np.ndarray | None:
    """The labels a conditional family trains on (a :class:`ConfigError` for a set without them, or
    with another number of classes); None for the others, which never see labels."""
    return condition_labels(model, images)


def _silent(message: str) -> None:
    """The log of processes other than rank 0."""


def agreed_precision(choice: PrecisionChoice, processes: SingleProcess) -> PrecisionChoice:
    """``choice``, or fp32 when another process of the job chose fp32 (each measures its own peaks)."""
    (any_fp32,) = processes.agree(choice.precision == "fp32")
    if any_fp32 and choice.precision != "fp32":
        return replace(choice, precision="fp32", reason="another process of the job chose fp32")
    return choice


def train(
    config: RunConfig,
    run_dir: str | RunDir,
    *,
    resume: bool = False,
    train_set: ImageSet | None = None,
    test_set: ImageSet | None = None,
    progress: bool = True,
    log: Callable[[str], None] = print,
    tensorboard: TensorBoardOptions | None = None,
) -> TrainResult:
    """Train ``config`` in ``run_dir`` (new, or resumed from its checkpoint).

    ``train_set`` defaults to the config's dataset's training split and ``test_set`` (used for
    validation, as in the book) to its test split; pass :class:`ImageSet` objects to
    train on data held in memory (tests, notebooks). Started by torchrun (``WORLD_SIZE`` > 1 in
    the environment), each process calls this and they train together with DDP; rank 0 writes.
    ``config.threads`` applies for the duration of the call. ``tensorboard`` asks rank 0 to log the
    run for TensorBoard as well (:mod:`vaelab.training.tensorboard`; a :class:`ConfigError` first, before
    any data is read, when the ``tensorboard`` package is missing).
    """
    if tensorboard is not None:
        check_installed()
    run_dir = run_dir if isinstance(run_dir, RunDir) else RunDir(run_dir)
    if train_set is None:
        train_set = load_dataset(
            config.dataset, "train", config.data_dir, _limit(config.limit_train, resume), config.data_options
        )
    if test_set is None:
        test_set = load_dataset(
            config.dataset, "test", config.data_dir, _limit(config.limit_test, resume), config.data_options
        )
    with thread_count(config.threads):
        processes, device = open_processes(resolve_device(config.device))
        finished = False
        try:
            result = _train(config, run_dir, resume, train_set, test_set, progress, log, processes, device, tensorboard)
            finished = True
            return result
        except WriteError as exc:
            raise exc.then(_next_step(run_dir)) from None
        finally:
            processes.close(finished)


def _limit(limit: int | None, resume: bool) -> int | None:
    """A run's ``--limit-*`` as :func:`load_dataset` takes it: refused beyond the split for a new run,
    and for a resumed one what it was when accepted (runs of vaelab before 0.6 could ask for more
    images than a split holds and trained on all of them)."""
    return AtMost(limit) if resume and limit is not None else limit


def _next_step(run_dir: RunDir) -> str:
    """What to run once a write that stopped training can succeed."""
    if run_dir.checkpoint.is_file():
        return f"continue with `vaelab train --run-dir {run_dir} --resume` (the last completed epoch is kept)"
    return "run the same command again"


def _train(
    config: RunConfig,
    run_dir: RunDir,
    resume: bool,
    train_set: ImageSet,
    test_set: ImageSet,
    progress: bool,
    log: Callable[[str], None],
    processes: SingleProcess,
    device: torch.device,
    tensorboard: TensorBoardOptions | None,
) -> TrainResult:
    trainer = Trainer(
        config, run_dir, train_set, test_set, progress=progress, log=log, processes=processes, device=device
    )
    if processes.is_main:
        for path in run_dir.remove_stale_temporaries():
            log(f"removed {path}, left by a write that was cut short")
    if resume:
        trainer.restore()
        trainer.repair_exports()
        if trainer.state.epoch >= config.epochs:
            trainer.check_weights_written()
            trained = counted(trainer.state.epoch, "epoch")
            trainer.log(f"{run_dir} has already trained {trained}; pass a larger --epochs to continue")
            return _result(trainer, processes, trained=False)
    elif processes.is_main:
        run_dir.create()
    if processes.is_main:
        run_dir.write_config(config, trainer.precision.to_dict())
    with trainer.open_tensorboard(tensorboard, resume) as board:
        trainer.board = board
        trainer.fit()
        board.finish(trainer.global_step())
    return _result(trainer, processes, tensorboard=board.folder)


def _result(
    trainer: Trainer, processes: SingleProcess, trained: bool = True, tensorboard: Path | None = None
) -> TrainResult:
    history = trainer.state.history if processes.is_main else []
    return TrainResult(trainer.run_dir, trainer.config, trainer.model, history, processes.is_main, trained, tensorboard)
