"""The training loop: epochs of Adam steps, validation, metrics and resumable checkpoints.

Data stays on the device as uint8 and each batch is converted on the fly; loss terms are summed
on the device and read back only when the progress bar is refreshed and at the end of an epoch.
Every completed epoch writes, in this order and each atomically: the checkpoint (which also holds
the metric history), ``metrics.jsonl`` and ``model.safetensors``. Ctrl-C stops after the current
step and checkpoints mid-epoch; ``resume`` continues exactly where it stopped.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from tqdm.auto import tqdm

from vaelab.data.batching import DeviceImages
from vaelab.data.image_set import ImageSet
from vaelab.data.preprocess import to_unit_float
from vaelab.data.registry import load_dataset
from vaelab.errors import RunDirError, TrainingDivergedError, VaelabError
from vaelab.models import build_model
from vaelab.training.checkpoint import TrainingState, capture_rng, load_checkpoint, restore_rng, save_checkpoint
from vaelab.training.config import RunConfig
from vaelab.training.device import resolve_device
from vaelab.training.interrupts import StopRequest
from vaelab.training.objectives import make_objective
from vaelab.training.run_dir import RunDir
from vaelab.training.validation import mean_terms

#: Steps between reads of the running loss (progress bar, NaN check).
CHECK_EVERY = 25


class TrainingInterrupted(VaelabError):
    """Training stopped on Ctrl-C after writing a checkpoint (exit status 130)."""

    exit_code = 130


@dataclass
class TrainResult:
    """What :func:`train` returns: the run directory, its config, the model and its history."""

    run_dir: RunDir
    config: RunConfig
    model: nn.Module
    history: list[dict[str, Any]]


def prepare_config(run_dir: RunDir, preset: str | None, resume: bool, **overrides: Any) -> RunConfig:
    """The config of a new run (from ``preset``) or of a resumed one (from ``config.json``).

    A new run refuses a directory that already holds one; a resumed run refuses another preset
    and any change of the settings that define it (see :meth:`RunConfig.resumed_with`).
    """
    if resume:
        saved = run_dir.read_config()
        if preset is not None and preset != saved.preset:
            raise RunDirError(
                f"{run_dir} holds a {saved.preset} run, not {preset}; "
                f"resume it without --preset or choose another --run-dir"
            )
        if not run_dir.checkpoint.exists():
            raise RunDirError(f"{run_dir} has no checkpoint.safetensors to resume from; train again in a new --run-dir")
        return saved.resumed_with(**overrides)
    if preset is None:
        raise VaelabError("--preset is required for a new run (see `vaelab presets`), or pass --resume")
    if run_dir.holds_run():
        raise RunDirError(
            f"{run_dir} already holds a run; pass --resume to continue it, or choose another --run-dir"
        )
    return RunConfig.from_preset(preset, **overrides)


class Trainer:
    """Owns the model, optimiser and RNGs of one run and trains it epoch by epoch."""

    def __init__(
        self,
        config: RunConfig,
        run_dir: RunDir,
        train_set: ImageSet,
        test_set: ImageSet,
        *,
        progress: bool = True,
        log: Callable[[str], None] = print,
    ) -> None:
        self.config = config
        self.run_dir = run_dir
        self.progress = progress
        self.log = log
        self.device = resolve_device(config.device)
        torch.manual_seed(config.seed)
        self.model = build_model(config.model).to(self.device)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=config.lr)
        self.objective = make_objective(config.objective, config.objective_params)
        self.shuffle = torch.Generator().manual_seed(config.seed)
        self.train_data = DeviceImages(train_set.images, None, self.device)
        self.test_data = DeviceImages(test_set.images, None, self.device)
        self.state = TrainingState()

    def restore(self) -> None:
        """Load the run directory's checkpoint: weights, optimiser, RNGs, position."""
        self.state, rng = load_checkpoint(self.run_dir.checkpoint, self.model, self.optimizer)
        restore_rng(rng, self.shuffle)

    def fit(self) -> list[dict[str, Any]]:
        """Train up to ``config.epochs``; returns the metric history."""
        self.run_dir.write_metrics(self.state.history)
        with StopRequest() as stop:
            while self.state.epoch < self.config.epochs:
                train_terms, images, seconds = self._train_epoch(stop)
                self._finish_epoch(train_terms, images, seconds)
        return self.state.history

    def _train_epoch(self, stop: StopRequest) -> tuple[dict[str, float], int, float]:
        config, state = self.config, self.state
        epoch_shuffle_state = self.shuffle.get_state()
        order = self.train_data.permutation(self.shuffle)
        names = self.objective.terms
        sums = torch.tensor(state.progress.get("sums", [0.0] * len(names)), dtype=torch.float64, device=self.device)
        images = state.progress.get("images", 0)
        elapsed = state.progress.get("seconds", 0.0)
        steps = self.train_data.num_batches(config.batch_size)
        self.model.train()
        bar = tqdm(
            total=steps,
            initial=state.step,
            desc=f"epoch {state.epoch + 1}/{config.epochs}",
            unit="batch",
            disable=not self.progress,
            dynamic_ncols=True,
        )
        started = time.perf_counter()
        with bar:
            for step, batch in enumerate(self.train_data.batches(config.batch_size, order, state.step), state.step):
                x = to_unit_float(batch)
                x_in = self.config.corruption(x) if self.config.corruption else x
                terms = self.objective(self.model(x_in), x)
                self.optimizer.zero_grad(set_to_none=True)
                terms["loss"].backward()
                self.optimizer.step()
                sums += torch.stack([terms[n].detach() for n in names]).double() * x.shape[0]
                images += x.shape[0]
                bar.update(1)
                if (step + 1) % CHECK_EVERY == 0 or step + 1 == steps:
                    running = sums[0].item() / images
                    self._check_finite(running, f"at epoch {state.epoch + 1}, batch {step + 1}")
                    bar.set_postfix(loss=f"{running:.4f}")
                if stop:
                    seconds = elapsed + time.perf_counter() - started
                    self._save_interrupted(step + 1, sums, images, seconds, epoch_shuffle_state)
        seconds = elapsed + time.perf_counter() - started
        means = dict(zip(names, (sums / images).tolist()))
        return means, images, seconds

    def _finish_epoch(self, train_terms: dict[str, float], images: int, train_seconds: float) -> None:
        state = self.state
        started = time.perf_counter()
        val_terms = mean_terms(
            self.model, self.objective, self.test_data, self.config.batch_size, self.config.corruption
        )
        val_seconds = time.perf_counter() - started
        self._check_finite(val_terms["loss"], f"in validation after epoch {state.epoch + 1}")
        row = {
            "epoch": state.epoch + 1,
            "train": train_terms,
            "val": val_terms,
            "seconds": round(train_seconds + val_seconds, 3),
            "train_seconds": round(train_seconds, 3),
            "images_per_second": round(images / train_seconds, 1),
        }
        state.history.append(row)
        state.epoch, state.step, state.progress = state.epoch + 1, 0, {}
        save_checkpoint(self.run_dir.checkpoint, self.model, self.optimizer, state, capture_rng(self.shuffle))
        self.run_dir.write_metrics(state.history)
        self.run_dir.save_weights(self.model, self.config)
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
        self, step: int, sums: torch.Tensor, images: int, seconds: float, shuffle_state: torch.Tensor
    ) -> None:
        state = self.state
        state.step = step
        state.progress = {"sums": sums.tolist(), "images": images, "seconds": seconds}
        rng = capture_rng(self.shuffle)
        rng["rng.shuffle"] = shuffle_state
        save_checkpoint(self.run_dir.checkpoint, self.model, self.optimizer, state, rng)
        raise TrainingInterrupted(
            f"interrupted at epoch {state.epoch + 1}, batch {step}; checkpoint saved; "
            f"continue with `vaelab train --run-dir {self.run_dir} --resume`"
        )


def train(
    config: RunConfig,
    run_dir: str | RunDir,
    *,
    resume: bool = False,
    train_set: ImageSet | None = None,
    test_set: ImageSet | None = None,
    progress: bool = True,
    log: Callable[[str], None] = print,
) -> TrainResult:
    """Train ``config`` in ``run_dir`` (new, or resumed from its checkpoint).

    ``train_set`` defaults to the config's dataset's training split and ``test_set`` (used for
    validation, as in the book) to its test split; pass :class:`ImageSet` objects to
    train on data held in memory (tests, notebooks).
    """
    run_dir = run_dir if isinstance(run_dir, RunDir) else RunDir(run_dir)
    if train_set is None:
        train_set = load_dataset(config.dataset, "train", config.data_dir, config.limit_train, config.data_options)
    if test_set is None:
        test_set = load_dataset(config.dataset, "test", config.data_dir, config.limit_test, config.data_options)
    trainer = Trainer(config, run_dir, train_set, test_set, progress=progress, log=log)
    if resume:
        trainer.restore()
        if trainer.state.epoch >= config.epochs:
            log(f"{run_dir} has already trained {trainer.state.epoch} epochs; pass a larger --epochs to continue")
            return TrainResult(run_dir, config, trainer.model, trainer.state.history)
    else:
        run_dir.path.mkdir(parents=True, exist_ok=True)
    run_dir.write_config(config)
    history = trainer.fit()
    return TrainResult(run_dir, config, trainer.model, history)
