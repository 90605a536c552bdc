"""Training a VQ-VAE run's prior: a gated PixelCNN (:mod:`vaelab.models.pixelcnn`) over the code
grids of its training set, class-conditional when the data have labels.

The VQ-VAE encodes every training and test image once (evaluation mode, its weights untouched) to
its grid of codebook indices; the PixelCNN is then trained on the training grids by Adam to
minimise the cross-entropy of each code given the codes before it (and the image's class):

    loss = −(1/(H·W)) Σ_{ij} ln p(c_ij | c_<ij, y)        nats per code, averaged over the batch

``metrics.jsonl`` reports it in bits per code (÷ ln 2), ``nll_bits_per_code``: for the training
grids (the mean over the epoch's steps, weighted by their grids) and for the test grids after each
epoch. A prior that put equal mass on the K codes would score log₂ K bits per code (8 for K = 256).

Like ``vaelab train``, it shows a progress bar on stderr (``progress``): one while the images are
encoded, then one per epoch, with the running bits per code. It checkpoints and resumes as
``vaelab train`` does (the files and their order:
:mod:`vaelab.training.prior_dir`): every epoch writes the checkpoint (weights, Adam, RNG states,
position, history), then ``metrics.jsonl``, then ``model.safetensors``; Ctrl-C or SIGTERM saves a
mid-epoch checkpoint, and ``--resume`` continues at that step with the same shuffle, so a resumed
prior is the one never stopped.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import torch
import torch.nn.functional as F

from vaelab.data.batching import resident_images
from vaelab.data.image_set import ImageSet
from vaelab.data.preprocess import to_unit_float
from vaelab.errors import ConfigError, RunDirError, WriteError
from vaelab.models.base import LatentModel
from vaelab.models.pixelcnn import GatedPixelCNN
from vaelab.models.vq_vae import VectorQuantisedAutoencoder, discrete_family
from vaelab.numbers import counted
from vaelab.progress import progress_bar
from vaelab.safetensors_io import tensors_digest
from vaelab.training.checkpoint import TrainingState, capture_rng, load_checkpoint, restore_rng, save_checkpoint
from vaelab.training.interrupts import StopRequest
from vaelab.training.optimizer import make_adam
from vaelab.training.prior_dir import PriorConfig, PriorDir, prior_state_tensors
from vaelab.training.run import Run, load_run
from vaelab.training.run_dir import WeightsRecord
from vaelab.training.trainer import CHECK_EVERY, TrainingInterrupted

#: Images encoded at once when the code grids are computed.
ENCODE_BATCH = 500
#: The term ``metrics.jsonl`` reports, for ``train`` and ``val``.
TERM = "nll_bits_per_code"


@dataclass
class PriorResult:
    """What :func:`train_prior` returns: the prior's folder, config, PixelCNN and metric history;
    ``trained`` is False when a resumed prior had already reached its epochs."""

    dir: PriorDir
    config: PriorConfig
    prior: GatedPixelCNN
    history: list[dict[str, Any]]
    trained: bool = True


def discrete_model(model: LatentModel) -> VectorQuantisedAutoencoder:
    """``model`` as a family with a codebook; a :class:`ConfigError` for any other family."""
    discrete = discrete_family(model)
    if discrete is None:
        raise ConfigError(
            f"a PixelCNN prior models grids of discrete codes, and the {model.family} family's codes are "
            "continuous; its samplers are uniform-box, prior, gmm and two-stage"
        )
    return discrete


def prepare_prior_config(run: Run, resume: bool = False, epochs: int | None = None, **settings: Any) -> PriorConfig:
    """The config of a new prior (``settings``: :class:`PriorConfig` fields, None for the default) or
    of the run's prior resumed (only ``epochs`` may change). A one-line error for a run without
    discrete codes, a resume without a checkpoint, a changed setting on resume, or a new prior where
    one already is."""
    discrete_model(run.model)
    folder = PriorDir(run.dir.path)
    given: dict[str, Any] = {name: value for name, value in settings.items() if value is not None}
    if resume:
        if given:
            raise ConfigError(f"--{next(iter(given)).replace('_', '-')} cannot change when a prior is resumed")
        if not folder.checkpoint.exists():
            raise RunDirError(
                f"{folder} has no checkpoint to resume; train a prior with `vaelab prior train {run.dir}`"
            )
        return folder.read_config().resumed_with(epochs)
    if folder.checkpoint.exists() or folder.model.exists():  # a config alone: stopped before its first epoch
        raise RunDirError(
            f"{folder} already holds a prior; continue it with `vaelab prior train {run.dir} --resume`, "
            f"or delete {folder} to train a new one"
        )
    if epochs is not None:
        given["epochs"] = epochs
    return PriorConfig(**given)


@torch.no_grad()  # not inference mode: the grids are then training data of the PixelCNN
def encode_code_grids(
    model: VectorQuantisedAutoencoder, images: ImageSet, progress: bool = False, split: str = "images"
) -> torch.Tensor:
    """The code grids of ``images``, on the model's device: int64 [N, H, W]; ``progress`` shows a bar
    (named after ``split``) that goes when the grids are done."""
    model.eval()
    device = model.quantizer.codebook.device
    resident = resident_images(images.images, device)
    grids = []
    with progress_bar(
        total=len(resident), desc=f"code grids of the {split}", unit="image", enabled=progress, leave=False
    ) as bar:
        for begin in range(0, len(resident), ENCODE_BATCH):
            grids.append(model.encode_codes(to_unit_float(resident[begin : begin + ENCODE_BATCH])))
            bar.update(len(grids[-1]))
    return torch.cat(grids) if grids else torch.zeros((0, *model.grid), dtype=torch.long, device=device)


def prior_labels(images: ImageSet, classes: int, device: torch.device) -> torch.Tensor | None:
    """The labels of ``images`` on ``device`` for a prior conditioned on ``classes`` classes; None for
    an unconditional prior (``classes`` 0) or unlabelled images."""
    return (
        torch.as_tensor(images.labels, dtype=torch.long, device=device)
        if classes and images.labels is not None
        else None
    )


@torch.inference_mode()
def mean_bits(prior: GatedPixelCNN, codes: torch.Tensor, labels: torch.Tensor | None, batch_size: int) -> float:
    """−log₂ p(c | y) per code, averaged over every grid of ``codes`` (evaluation mode)."""
    prior.eval()
    total = 0.0
    for begin in range(0, len(codes), batch_size):
        part = slice(begin, begin + batch_size)
        total += prior.nll_bits(codes[part], None if labels is None else labels[part]).double().sum().item()
    prior.train()
    return total / max(len(codes), 1)


class PriorTrainer:
    """The prior's training loop over fixed code grids (see the module docstring); ``progress`` shows
    the bars of the encoding and of each epoch."""

    def __init__(
        self,
        run: Run,
        config: PriorConfig,
        train_set: ImageSet,
        test_set: ImageSet,
        log: Callable[[str], None],
        progress: bool = True,
    ):
        model = discrete_model(run.model)
        self.run, self.config, self.log, self.progress = run, config, log, progress
        self.dir = PriorDir(run.dir.path)
        device = run.device
        self.train_codes = encode_code_grids(model, train_set, progress, "training images")
        self.test_codes = encode_code_grids(model, test_set, progress, "test images")
        self.train_labels = prior_labels(train_set, config.classes, device)
        self.test_labels = prior_labels(test_set, config.classes, device)
        torch.manual_seed(config.seed)
        self.prior = config.build(model.codebook_size, model.grid).to(device)
        self.optimizer = make_adam(self.prior.parameters(), config.lr, device)
        self.shuffle = torch.Generator().manual_seed(config.seed)
        self.state = TrainingState()

    def train(self, resume: bool) -> bool:
        """Train the prior, or with ``resume`` continue it from its checkpoint, to ``config.epochs``,
        writing its files; False when a resumed prior had already reached them (nothing trained)."""
        for path in self.dir.remove_stale_temporaries():
            self.log(f"removed {path}, left by a write that was cut short")
        if resume:
            self.restore()
            self.repair_exports()
        self.dir.write_config(self.config)
        if resume and self.state.epoch >= self.config.epochs:
            trained = counted(self.state.epoch, "epoch")
            self.log(f"{self.dir} has already trained {trained}; pass a larger --epochs to continue")
            return False
        self.fit()
        return True

    def restore(self) -> None:
        """Weights, Adam, RNG states and position from the prior's checkpoint."""
        self.state, rng = load_checkpoint(self.dir.checkpoint, self.prior, self.optimizer, self.config.settings())
        restore_rng(rng, self.shuffle, self.dir.checkpoint)

    def repair_exports(self) -> None:
        """After :meth:`restore`: write ``metrics.jsonl`` again from the checkpoint, and the weights file
        too when the checkpoint was written at an epoch's end and the file does not carry its record
        (a write cut short, a damaged file), as ``train --resume`` does."""
        state = self.state
        self.dir.write_metrics(state.history)
        if state.epoch and state.step == 0 and self.dir.weights_record() != WeightsRecord(**state.weights):
            self.dir.save_weights(self.prior, state.epoch)
            self.log(f"wrote {self.dir.model} again from the checkpoint of prior epoch {state.epoch}")

    def fit(self) -> None:
        """Train epochs until ``config.epochs``."""
        with StopRequest() as stop:
            while self.state.epoch < self.config.epochs:
                self._finish_epoch(*self._train_epoch(stop))
                if stop and self.state.epoch < self.config.epochs:  # asked during the epoch's last batch
                    raise TrainingInterrupted(
                        f"{stop.describe()} at the end of prior epoch {self.state.epoch}; checkpoint saved; "
                        f"continue with `vaelab prior train {self.run.dir} --resume`",
                        exit_code=stop.exit_code,
                    )

    def _train_epoch(self, stop: StopRequest) -> tuple[float, float]:
        state, config = self.state, self.config
        shuffle_state = self.shuffle.get_state()
        order = torch.randperm(len(self.train_codes), generator=self.shuffle).to(self.train_codes.device)
        steps = math.ceil(len(order) / config.batch_size)
        nats = float(state.progress.get("sums", [0.0])[0])
        grids, elapsed, started = (
            state.progress.get("images", 0),
            state.progress.get("seconds", 0.0),
            time.perf_counter(),
        )
        self.prior.train()
        bar = progress_bar(
            total=steps,
            initial=state.step,
            desc=f"prior epoch {state.epoch + 1}/{config.epochs}",
            unit="batch",
            enabled=self.progress,
        )
        with bar:
            for step in range(state.step, steps):
                index = order[step * config.batch_size : (step + 1) * config.batch_size]
                nats += self._step(index) * len(index)
                grids += len(index)
                bar.update(1)
                if (step + 1) % CHECK_EVERY == 0 or step + 1 == steps:
                    bar.set_postfix(bits=f"{nats / grids / math.log(2):.4f}", refresh=False)  # at the next redraw
                if stop and step + 1 < steps:
                    self._save_interrupted(
                        step + 1, [nats], grids, elapsed + time.perf_counter() - started, shuffle_state, stop
                    )
        return nats / max(grids, 1) / math.log(2), elapsed + time.perf_counter() - started

    def _step(self, index: torch.Tensor) -> float:
        """One Adam step on the training grids at ``index``; their mean cross-entropy, nats per code."""
        codes = self.train_codes[index]
        labels = None if self.train_labels is None else self.train_labels[index]
        loss = F.cross_entropy(self.prior(codes, labels), codes)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return loss.item()

    def _finish_epoch(self, train_bits: float, seconds: float) -> None:
        state = self.state
        test_bits = mean_bits(self.prior, self.test_codes, self.test_labels, self.config.batch_size)
        row = {
            "epoch": state.epoch + 1,
            "train": {TERM: train_bits},
            "val": {TERM: test_bits},
            "seconds": round(seconds, 3),
        }
        state.history.append(row)
        state.epoch, state.step, state.progress = state.epoch + 1, 0, {}
        state.weights = WeightsRecord(state.epoch, tensors_digest(prior_state_tensors(self.prior))).to_dict()
        save_checkpoint(
            self.dir.checkpoint, self.prior, self.optimizer, state, capture_rng(self.shuffle), self.config.settings()
        )
        self.dir.write_metrics(state.history)
        self.dir.save_weights(self.prior, state.epoch)
        self.log(
            f"prior epoch {state.epoch}/{self.config.epochs}: train {train_bits:.4f}, test {test_bits:.4f} "
            f"bits per code ({seconds:.1f} s)"
        )

    def _save_interrupted(
        self, step: int, sums: list[float], grids: int, seconds: float, shuffle_state: torch.Tensor, stop: StopRequest
    ) -> None:
        state = self.state
        state.step, state.progress = step, {"sums": sums, "images": grids, "seconds": seconds}
        rng = capture_rng(self.shuffle)
        rng["rng.shuffle"] = shuffle_state  # the epoch's order is drawn again on resume
        save_checkpoint(self.dir.checkpoint, self.prior, self.optimizer, state, rng, self.config.settings())
        raise TrainingInterrupted(
            f"{stop.describe()} at prior epoch {state.epoch + 1}, batch {step}; checkpoint saved; "
            f"continue with `vaelab prior train {self.run.dir} --resume`",
            exit_code=stop.exit_code,
        )


def train_prior(
    run: Run,
    config: PriorConfig,
    *,
    resume: bool = False,
    train_set: ImageSet | None = None,
    test_set: ImageSet | None = None,
    progress: bool = True,
    log: Callable[[str], None] = print,
) -> PriorResult:
    """Train (or, with ``resume``, continue) the prior of the VQ-VAE ``run`` on ``train_set`` (default:
    the run's training split), reporting bits per code on ``test_set`` (default: its test split), and
    attach it to ``run.model``. A new prior records the data's number of classes (0 without labels)
    and the run's weights; a resumed one must find the same. ``progress`` shows progress bars on
    stderr (the encoding, each epoch); ``log`` gets a line per epoch."""
    weights = _vq_weights(run)
    train_set = train_set if train_set is not None else run.train_set()
    test_set = test_set if test_set is not None else run.test_set()
    config = _config_for(config, resume, train_set, weights, run)
    trainer = PriorTrainer(run, config, train_set, test_set, log, progress)
    try:
        trained = trainer.train(resume)
    except WriteError as exc:
        raise exc.then(_next_step(trainer.dir)) from None
    discrete_model(run.model).attach_prior(trainer.prior)
    return PriorResult(trainer.dir, config, trainer.prior, trainer.state.history, trained)


def _vq_weights(run: Run) -> dict[str, Any]:
    """The record of the weights of ``run``, a VQ-VAE; a one-line error for another family or
    weights without a record."""
    discrete_model(run.model)
    if run.weights is None:
        raise RunDirError(f"{run.dir} has weights without a record of their epoch; resume its training first")
    return run.weights.to_dict()


def _config_for(
    config: PriorConfig, resume: bool, train_set: ImageSet, vq_weights: dict[str, Any], run: Run
) -> PriorConfig:
    """A new prior's ``config`` with the data's number of classes (0 without labels) and the VQ-VAE's
    ``vq_weights``; a resumed one's as it is, when it records the same (a :class:`RunDirError` if not)."""
    classes = len(train_set.class_names) if train_set.labels is not None else 0
    if not resume:
        return replace(config, classes=classes, vq_weights=vq_weights)
    if config.vq_weights != vq_weights or config.classes != classes:
        raise RunDirError(
            f"{PriorDir(run.dir.path)} was trained on other weights or data than {run.dir} has now; delete it "
            f"and train a new prior with `vaelab prior train {run.dir}`"
        )
    return config


def _next_step(folder: PriorDir) -> str:
    """What to run once a write that stopped the prior's training can succeed."""
    if folder.checkpoint.is_file():
        return f"continue with `vaelab prior train {folder.run_path} --resume` (the last completed prior epoch is kept)"
    return "run the same command again"


def run_prior_training(
    run_dir: str,
    *,
    resume: bool = False,
    epochs: int | None = None,
    device: str = "auto",
    data_dir: str | None = None,
    limit_train: int | None = None,
    limit_test: int | None = None,
    progress: bool = True,
    log: Callable[[str], None] = print,
    **settings: Any,
) -> PriorResult:
    """What ``vaelab prior train RUN_DIR`` does: load the run, check the request
    (:func:`prepare_prior_config`, before any data is read), load its splits (``data_dir`` overrides
    where the run found them; the first ``limit_train``/``limit_test`` images) and train the prior,
    with progress bars unless ``progress`` is False."""
    run = load_run(run_dir, device)
    config = prepare_prior_config(run, resume, epochs, **settings)
    train_set, test_set = run.train_set(data_dir, limit_train), run.test_set(data_dir, limit_test)
    return train_prior(run, config, resume=resume, train_set=train_set, test_set=test_set, progress=progress, log=log)
