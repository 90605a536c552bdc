"""``vaelab study``: which model fixes which of the chapter's three problems, under one protocol.

The study trains every family's preset (:data:`STUDY_PRESETS`) under one :class:`Protocol` (the same
training images, epochs, batch size and seeds; latent 2, the chapter's visible setting, and latent 16;
a VQ-VAE, whose codes are a grid, once, with the PixelCNN prior learnt over them), then measures each
run with ``diagnose`` and ``evaluate`` for each of its samplers (the family's own, ``gmm`` where the
codes are continuous, ``two-stage`` from latent :data:`TWO_STAGE_FROM_DIM`), and writes, into its
folder:

* ``comparison.md``, ``comparison.csv``: every family, setting and sampler over seeds, mean ± spread,
  the best of each metric marked only where the seeds tell it apart
  (:mod:`vaelab.presentation.study_table`, :mod:`vaelab.evaluation.spread`);
* ``summary.png``: families × {P1, P2, P3, reconstruction, Fréchet distance, recall}
  (:mod:`vaelab.presentation.study_figure`);
* ``samples/<preset>.png``: each family's first samples, a row per setting and sampler;
* ``report.html``: all of it on one page, with every run's own row (:mod:`vaelab.presentation.study_page`);
* ``runs.csv``: every run's row as ``vaelab compare`` makes it;
* ``study.json``: the protocol, written first; a folder holding another protocol's study is refused.

Each run is a run directory of its own under ``runs/<preset>/<setting>/seed-<seed>``, trained by
:func:`vaelab.training.train` and measured by :func:`vaelab.evaluation.run_measures.measure_run` (the
numbers of ``vaelab diagnose`` and ``vaelab evaluate`` with the same arguments). The study is a list of
tasks (train, the prior, measure), and running it again skips each task already done, saying so: a
stopped study resumes where it stopped (a run stopped mid-epoch from its checkpoint). After each task
it logs how many are done, the time so far and an estimate of the time left: the remaining tasks'
estimated costs (:func:`estimate`), scaled by how long the tasks done so far took against their
estimates.

Under torchrun every process trains the runs together (DDP, as ``vaelab train``), then rank 0 alone
learns the priors, measures, and writes; the other processes return once training is done.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from vaelab import __version__
from vaelab.atomic import atomic_write, atomic_write_json, atomic_write_text
from vaelab.data.image_set import ImageSet
from vaelab.data.registry import load_dataset
from vaelab.errors import ConfigError, RunDirError, WriteError
from vaelab.evaluation.judge import Judge, load_judge
from vaelab.evaluation.metrics import has_likelihood
from vaelab.evaluation.results import DIAGNOSTICS, EVALUATION, load_results, result_weights
from vaelab.evaluation.run_measures import SamplerMeasures, measure_run
from vaelab.folders import check_folder_possible, make_folder
from vaelab.latent.two_stage import DEFAULT_SETTINGS, TwoStageSettings
from vaelab.limits import MAX_DATASET_IMAGES, MAX_LATENT_DIM, MAX_STUDY_SEEDS, MIN_LATENT_DIM, check_range
from vaelab.models import build_model
from vaelab.models.presets import get_preset
from vaelab.models.vq_vae import discrete_family
from vaelab.presentation import compare
from vaelab.presentation.images import figure_png
from vaelab.presentation.study_figure import plot_study_summary
from vaelab.presentation.study_page import study_page
from vaelab.presentation.study_samples import plot_family_samples, read_sample_strip, save_sample_strip, strip_name
from vaelab.presentation.study_table import (
    METRICS,
    MeasuredRow,
    aggregate,
    as_csv,
    as_markdown,
    formatted,
)
from vaelab.reading import MB, FileProblem, read_json
from vaelab.training import RunConfig, RunDir, TrainingInterrupted, load_run, train
from vaelab.training.device import resolve_device
from vaelab.training.distributed import open_processes
from vaelab.training.prior import prepare_prior_config, train_prior
from vaelab.training.prior_dir import PriorDir

#: Every family's preset, the book's two first (its VAE twice: with the book's loss and with the ELBO).
STUDY_PRESETS = (
    "book-ae",
    "book-vae",
    "beta-vae",
    "cvae",
    "iwae",
    "vamp",
    "rae",
    "wae-mmd",
    "info-vae",
    "beta-tcvae",
    "vq-vae",
)

#: The two-stage sampler is measured from this many latent dimensions: a second VAE is meant for codes
#: of many dimensions, and at latent 2 a 10-component mixture already fits them (docs/families.md).
TWO_STAGE_FROM_DIM = 16

#: The files the study writes into its folder (beside ``runs/`` and ``samples/``).
STUDY_FILE, SUMMARY_FILE, REPORT_FILE = "study.json", "summary.png", "report.html"
MARKDOWN_FILE, CSV_FILE, RUNS_FILE = "comparison.md", "comparison.csv", "runs.csv"
#: What ``study.json`` says it is.
STUDY_FORMAT = "vaelab-study"


@dataclass(frozen=True)
class Protocol:
    """How the study trains and measures every run. The same for every family:

    * ``train_images``: the first N Fashion-MNIST training images, for training and for the samplers'
      fit and the diagnostics' training embeddings;
    * ``test_images``: the first T test images, for validation and for ``evaluate`` (reconstruction,
      Fréchet distance, precision and recall);
    * ``epochs``, ``batch_size``: each preset's own model, objective and learning rate, trained this long;
    * ``seeds``: seeds 0 … seeds − 1, each seeding the training, the samplers' fit and draw and the
      likelihood bound's draws;
    * ``latent_dims``: the sizes of continuous latent spaces (a family with discrete codes keeps its
      preset's grid, once);
    * ``samples``: points each sampler draws for ``diagnose`` and ``evaluate``;
    * ``importance_samples``, ``likelihood_images``: the importance-weighted bound's k and test images;
    * ``prior_epochs``: epochs of a VQ-VAE's PixelCNN prior (its other settings are ``prior train``'s);
    * ``two_stage_steps``: the two-stage sampler's fit (its other settings are its defaults).
    """

    name: str
    train_images: int
    test_images: int
    epochs: int
    samples: int
    importance_samples: int
    likelihood_images: int
    prior_epochs: int
    two_stage_steps: int
    batch_size: int = 100
    seeds: int = 2
    latent_dims: tuple[int, ...] = (2, 16)
    presets: tuple[str, ...] = STUDY_PRESETS

    def __post_init__(self) -> None:
        for name in ("train_images", "test_images", "epochs", "samples", "importance_samples", "likelihood_images"):
            check_range(f"the protocol's {name}", getattr(self, name), 1, MAX_DATASET_IMAGES)
        for name in ("prior_epochs", "two_stage_steps", "batch_size", "seeds"):
            check_range(f"the protocol's {name}", getattr(self, name), 1, MAX_DATASET_IMAGES)
        if not self.presets or not self.latent_dims:
            raise ConfigError("a study's protocol needs at least one preset and one latent size")
        for preset in self.presets:
            get_preset(preset)
        for dim in self.latent_dims:
            check_range("the protocol's latent size", dim, MIN_LATENT_DIM, MAX_LATENT_DIM)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "latent_dims": list(self.latent_dims), "presets": list(self.presets)}

    def lines(self) -> list[str]:
        """The protocol in words, one line per setting."""
        return [
            f"presets: {', '.join(self.presets)}",
            f"latent sizes: {', '.join(map(str, self.latent_dims))} (discrete codes: the preset's grid)",
            f"seeds: {', '.join(map(str, range(self.seeds)))}",
            f"training: the first {self.train_images:,} Fashion-MNIST training images, {self.epochs} epochs, "
            f"batch {self.batch_size}, each preset's model, objective and learning rate",
            f"test images: the first {self.test_images:,} (validation, reconstruction, Fréchet distance, recall)",
            f"samples: {self.samples:,} per sampler for diagnose and evaluate; samplers fitted to the training "
            f"images' embeddings",
            f"likelihood bound: k = {self.importance_samples} over the first {self.likelihood_images:,} test images",
            f"VQ-VAE prior: {self.prior_epochs} epochs; two-stage sampler: {self.two_stage_steps:,} steps "
            f"(from latent {TWO_STAGE_FROM_DIM})",
        ]

    @property
    def two_stage(self) -> TwoStageSettings:
        """The two-stage sampler's settings: its defaults, fitted for :attr:`two_stage_steps` steps."""
        return replace(DEFAULT_SETTINGS, steps=self.two_stage_steps)


#: The study of the README: under 2 hours on the 2-core build machine (docs/study.md: the arithmetic).
FULL = Protocol(
    name="full",
    train_images=12000,
    test_images=5000,
    epochs=5,
    samples=5000,
    importance_samples=32,
    likelihood_images=500,
    prior_epochs=3,
    two_stage_steps=2000,
)

#: The same code path at reduced data and epochs: under 15 minutes (a check, not a result).
QUICK = Protocol(
    name="quick",
    train_images=2000,
    test_images=500,
    epochs=2,
    samples=500,
    importance_samples=8,
    likelihood_images=100,
    prior_epochs=1,
    two_stage_steps=200,
)


@dataclass(frozen=True)
class PlannedRun:
    """One run of the study: its preset, latent size (None: the preset's own, for discrete codes), seed
    and folder; the group it is compared in and its setting's name; the samplers it is measured with;
    whether it needs a prior learnt after training (discrete codes)."""

    preset: str
    latent_dim: int | None
    seed: int
    path: Path
    group: str
    setting: str
    samplers: tuple[str, ...]
    learns_prior: bool

    @property
    def name(self) -> str:
        return f"{self.preset}, {self.setting}, seed {self.seed}"


def plan_runs(protocol: Protocol, output: str | Path) -> list[PlannedRun]:
    """Every run of ``protocol``, by setting, then preset, then seed. A family with discrete codes is
    planned once per seed, in the group of the largest latent size, its setting named after its grid."""
    runs = []
    largest = max(protocol.latent_dims)
    for dim in protocol.latent_dims:
        for preset in protocol.presets:
            model = build_model(RunConfig.from_preset(preset, latent_dim=dim).model)
            discrete = discrete_family(model)
            if discrete is not None and dim != largest:
                continue
            if discrete is not None:
                rows, columns = discrete.grid
                setting, folder, latent = f"{rows}×{columns} codes", "codes", None
                samplers: tuple[str, ...] = (model.default_sampler,)
            else:
                setting, folder, latent = f"latent {dim}", f"latent-{dim}", dim
                samplers = _continuous_samplers(model.default_sampler, dim)
            for seed in range(protocol.seeds):
                path = Path(output) / "runs" / preset / folder / f"seed-{seed}"
                runs.append(
                    PlannedRun(preset, latent, seed, path, f"latent {dim}", setting, samplers, discrete is not None)
                )
    return runs


def _continuous_samplers(default: str, dim: int) -> tuple[str, ...]:
    """The family's own sampler, the ex-post ``gmm`` and, from :data:`TWO_STAGE_FROM_DIM`, ``two-stage``."""
    names = [default, "gmm"] + (["two-stage"] if dim >= TWO_STAGE_FROM_DIM else [])
    return tuple(dict.fromkeys(names))


def run_config(protocol: Protocol, run: PlannedRun, device: str = "auto", data_dir: str | None = None) -> RunConfig:
    """The training config of ``run`` under ``protocol``."""
    return RunConfig.from_preset(
        run.preset,
        epochs=protocol.epochs,
        batch_size=protocol.batch_size,
        latent_dim=run.latent_dim,
        seed=run.seed,
        device=device,
        data_dir=data_dir,
        limit_train=protocol.train_images,
        limit_test=protocol.test_images,
    )


# ---------------------------------------------------------------- the cost of each task

#: Seconds per training image and epoch of book-vae's step on the 2-core build machine (1,700 images/s),
#: and each preset's step against it where it differs (iwae decodes k = 5 points per image, vamp encodes
#: its 500 pseudo-inputs, vq-vae has no dense layer): measured in a study's own runs (docs/study.md).
TRAIN_SECONDS_PER_IMAGE = 1 / 1700
RELATIVE_STEP_COST = {"iwae": 5.0, "vamp": 1.6, "cvae": 1.1, "vq-vae": 0.65}
#: Seconds per image of validation, of the prior's training (per grid and epoch), of measuring (the
#: training embeddings; the test reconstruction and features; a sample drawn, judged and compared), per
#: importance sample, per two-stage step and per code grid a PixelCNN draws: measured the same way.
VALIDATION_SECONDS, PRIOR_SECONDS = 1 / 6000, 1 / 775
EMBED_SECONDS, TEST_SECONDS, SAMPLE_SECONDS = 1 / 3500, 1 / 1000, 1 / 1300
IMPORTANCE_SECONDS, TWO_STAGE_STEP_SECONDS, CODE_GRID_SECONDS = 1 / 3000, 1 / 130, 1 / 250


@dataclass
class Task:
    """A step of the study: ``kind`` (train, prior, measure) of ``run``, its estimated seconds."""

    kind: str
    run: PlannedRun
    estimate: float

    @property
    def words(self) -> str:
        what = {"train": "training", "prior": "the prior of", "measure": "measuring"}[self.kind]
        return f"{what} {self.run.name}"


def estimate(kind: str, run: PlannedRun, protocol: Protocol) -> float:
    """The seconds a task should take on the 2-core build machine (the time-left estimate's start)."""
    p = protocol
    if kind == "train":
        step = TRAIN_SECONDS_PER_IMAGE * RELATIVE_STEP_COST.get(run.preset, 1.0)
        return p.epochs * (p.train_images * step + p.test_images * VALIDATION_SECONDS)
    if kind == "prior":
        return p.prior_epochs * p.train_images * PRIOR_SECONDS + (p.train_images + p.test_images) * EMBED_SECONDS
    seconds = p.train_images * EMBED_SECONDS + p.test_images * TEST_SECONDS
    seconds += p.importance_samples * p.likelihood_images * IMPORTANCE_SECONDS
    for sampler in run.samplers:
        seconds += p.samples * SAMPLE_SECONDS + p.train_images * EMBED_SECONDS / 2
        seconds += p.two_stage_steps * TWO_STAGE_STEP_SECONDS if sampler == "two-stage" else 0
        seconds += p.samples * CODE_GRID_SECONDS if run.learns_prior else 0
    return seconds


class Clock:
    """Counts the tasks done and estimates the time left: each remaining task's estimate, scaled by the
    ratio of the seconds the tasks of its kind done so far took to their estimates (of all kinds, before
    one of its kind is done; 1 before any is)."""

    def __init__(self, tasks: Sequence[Task]) -> None:
        self.remaining = list(tasks)
        self.total = len(tasks)
        self.started = time.perf_counter()
        self.spent: dict[str, float] = {}
        self.estimated: dict[str, float] = {}

    @property
    def done(self) -> int:
        return self.total - len(self.remaining)

    def finish(self, task: Task, seconds: float | None) -> None:
        """``task`` is done, in ``seconds`` (None: skipped, done before)."""
        self.remaining.remove(task)
        if seconds is not None:
            self.spent[task.kind] = self.spent.get(task.kind, 0.0) + seconds
            self.estimated[task.kind] = self.estimated.get(task.kind, 0.0) + task.estimate

    def left(self) -> float:
        """The estimated seconds the remaining tasks take."""
        overall = sum(self.spent.values()) / sum(self.estimated.values()) if self.estimated else 1.0
        return sum(task.estimate * self._ratio(task.kind, overall) for task in self.remaining)

    def _ratio(self, kind: str, overall: float) -> float:
        return self.spent[kind] / self.estimated[kind] if self.estimated.get(kind) else overall

    def line(self, what: str) -> str:
        """``[12/95] trained …; 14 min so far, about 1 h 02 min left``."""
        elapsed = time.perf_counter() - self.started
        left = "done" if not self.remaining else f"about {duration(self.left())} left"
        width = len(str(self.total))
        return f"[{self.done:>{width}}/{self.total}] {what}; {duration(elapsed)} so far, {left}"


def duration(seconds: float) -> str:
    """``40 s``, ``12 min``, ``1 h 05 min``."""
    whole = round(max(0.0, seconds))
    if whole < 60:
        return f"{whole} s"
    minutes = round(whole / 60)
    return f"{minutes} min" if minutes < 60 else f"{minutes // 60} h {minutes % 60:02d} min"


# ---------------------------------------------------------------- the study


@dataclass
class StudyResult:
    """What :func:`run_study` returns: the files it wrote (rank 0), the tasks it skipped as done before,
    and whether this process is rank 0 (the one that measured and wrote; the others only trained)."""

    written: list[Path] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    is_main: bool = True


def run_study(
    output: str | Path = "reports/study",
    *,
    quick: bool = False,
    seeds: int | None = None,
    device: str = "auto",
    data_dir: str | None = None,
    progress: bool = True,
    log: Callable[[str], None] = print,
    protocol: Protocol | None = None,
    train_set: ImageSet | None = None,
    test_set: ImageSet | None = None,
    judge: Judge | None = None,
    after_task: Callable[[Task], None] | None = None,
) -> StudyResult:
    """Run (or continue) the study of ``protocol`` (default: :data:`QUICK` with ``quick``, else :data:`FULL`;
    ``seeds`` overrides its number of seeds) in ``output`` and write its files; see the module docstring.

    ``train_set`` and ``test_set`` default to Fashion-MNIST's splits (from ``data_dir`` or where vaelab
    finds them), cut to the protocol's counts; ``judge`` to the cached judge. ``after_task`` is called
    after each task that ran (tests stop the study there). Everything that can be checked is checked
    before any training: the folder (new, empty, or a study of the same protocol but for its seeds), the
    data, the judge. A stop (Ctrl-C, SIGTERM) keeps every task done and the checkpoint of the run being
    trained; the same command continues."""
    protocol = protocol or (QUICK if quick else FULL)
    if seeds is not None:
        check_range("--seeds", seeds, 2, MAX_STUDY_SEEDS)
        protocol = replace(protocol, seeds=seeds)
    output = Path(output)
    check_study_folder(output, protocol)
    runs = plan_runs(protocol, output)
    if judge is None:
        load_judge("cpu")  # checked in every process, before any work, so that all stop alike without one
    train_set = _images(train_set, "train", protocol.train_images, data_dir)
    test_set = _images(test_set, "test", protocol.test_images, data_dir)
    processes, _ = open_processes(resolve_device(device))
    result = StudyResult(is_main=processes.is_main)
    quiet = log if processes.is_main else _silent
    if processes.is_main:
        make_folder(output, RunDirError, "choose another --output")
        atomic_write_json(output / STUDY_FILE, {"format": STUDY_FORMAT, "vaelab": __version__, **protocol.to_dict()})
    tasks = [Task("train", run, estimate("train", run, protocol)) for run in runs]
    if processes.is_main:
        for run in runs:
            tasks += [
                Task(kind, run, estimate(kind, run, protocol)) for kind in (["prior"] if run.learns_prior else [])
            ]
            tasks.append(Task("measure", run, estimate("measure", run, protocol)))
    clock = Clock(tasks)
    quiet(
        f"the {protocol.name} study in {output}: {len(runs)} runs, {len(tasks)} tasks; first estimate "
        f"{duration(clock.left())} on a 2-core CPU"
    )
    steps = _Steps(protocol, device, data_dir, train_set, test_set, progress, quiet)
    finished = False
    try:
        for task in tasks[: len(runs)]:
            _do(task, steps.train, clock, result, quiet, after_task)
        finished = True
    finally:
        processes.close(finished)
    if not processes.is_main:
        return result
    steps.judge = judge if judge is not None else load_judge(str(resolve_device(device)))
    for task in tasks[len(runs) :]:
        _do(task, steps.prior if task.kind == "prior" else steps.measure, clock, result, quiet, after_task)
    result.written = write_outputs(output, protocol, runs, quiet)
    quiet(clock.line(f"wrote the study's {len(result.written)} files"))
    return result


def _silent(message: str) -> None:
    """The log of the processes other than rank 0."""


def _images(given: ImageSet | None, split: str, count: int, data_dir: str | None) -> ImageSet:
    """The first ``count`` images of ``given`` or, without it, of Fashion-MNIST's ``split``."""
    if given is None:
        return load_dataset("fashion-mnist", split, data_dir, count)
    if len(given) < count:
        raise ConfigError(f"the study needs {count:,} {split} images and was given {len(given):,}")
    return given.head(count)


def _do(
    task: Task,
    step: Callable[[Task], str | None],
    clock: Clock,
    result: StudyResult,
    log: Callable[[str], None],
    after_task: Callable[[Task], None] | None,
) -> None:
    """Run ``task`` with ``step`` (which returns why it was skipped, or None once it has done it), and
    log the progress."""
    started = time.perf_counter()
    try:
        skipped = step(task)
    except TrainingInterrupted as stop:
        cause = str(stop).split("; ")[0]
        raise TrainingInterrupted(
            f"{cause} while {task.words}; every task done is kept, and the same command continues the study",
            exit_code=stop.exit_code,
        ) from None
    except KeyboardInterrupt as stop:  # Ctrl-C outside training, or a second one in it (then its signal)
        signum = getattr(stop, "signum", None)
        raise TrainingInterrupted(
            f"interrupted while {task.words}; every task done is kept, and the same command continues the study",
            exit_code=130 if signum is None else 128 + signum,
        ) from None
    if skipped is not None:
        clock.finish(task, None)
        result.skipped.append(f"{task.words}: {skipped}")
        log(clock.line(f"skipped {task.words}: {skipped}"))
        return
    clock.finish(task, time.perf_counter() - started)
    log(clock.line(f"done {task.words} in {duration(time.perf_counter() - started)}"))
    if after_task is not None:
        after_task(task)


@dataclass
class _Steps:
    """What each kind of task does (and what they share: the protocol, the data, the judge)."""

    protocol: Protocol
    device: str
    data_dir: str | None
    train_set: ImageSet
    test_set: ImageSet
    progress: bool
    log: Callable[[str], None]
    judge: Judge | None = None

    def train(self, task: Task) -> str | None:
        """Train the run, or resume it; skipped when its weights are those of its last epoch."""
        run_dir = RunDir(task.run.path)
        config = run_config(self.protocol, task.run, self.device, self.data_dir)
        state = training_state(run_dir, config)
        if state == "done":
            return f"trained already ({config.epochs} epochs)"
        if state == "new":
            run_dir.check_new_run_possible()  # as `vaelab train` checks a folder: vaelab's files only
        else:
            run_dir.check_writable()
        train(
            config,
            run_dir,
            resume=state == "resume",
            train_set=self.train_set,
            test_set=self.test_set,
            progress=self.progress,
            log=self.log,
        )
        return None

    def prior(self, task: Task) -> str | None:
        """Learn the PixelCNN prior over the run's codes, or resume it; skipped when it has its epochs."""
        run = load_run(task.run.path, self.device)
        folder = PriorDir(run.dir.path)
        if run.model.has_prior and len(folder.read_metrics()) >= self.protocol.prior_epochs:
            return f"learnt already ({self.protocol.prior_epochs} epochs)"
        resume = folder.checkpoint.exists()
        settings = {} if resume else {"seed": task.run.seed}
        config = prepare_prior_config(run, resume, self.protocol.prior_epochs, **settings)
        train_prior(
            run,
            config,
            resume=resume,
            train_set=self.train_set,
            test_set=self.test_set,
            progress=self.progress,
            log=self.log,
        )
        return None

    def measure(self, task: Task) -> str | None:
        """``diagnose`` and ``evaluate`` with each of the run's samplers not measured yet (then a strip
        of each one's first samples); skipped when every sampler is measured."""
        run = load_run(task.run.path, self.device)
        missing = [s for s in task.run.samplers if not measured(run.dir, s, self.protocol, task.run.seed)]
        if not missing:
            return f"measured already ({', '.join(task.run.samplers)})"
        likelihood = has_likelihood(run.model)

        def keep_strip(measures: SamplerMeasures) -> None:
            save_sample_strip(
                run.dir.figure_path(strip_name(measures.diagnosis.sampler)), measures.diagnosis.samples.images
            )

        measure_run(
            run,
            missing,
            self.train_set,
            self.test_set,
            self.judge,
            num_samples=self.protocol.samples,
            importance_samples=self.protocol.importance_samples if likelihood else None,
            likelihood_images=self.protocol.likelihood_images if likelihood else None,
            seed=task.run.seed,
            progress=self.progress,
            two_stage=self.protocol.two_stage,
            on_measured=keep_strip,
        )
        return None


def training_state(run_dir: RunDir, config: RunConfig) -> str:
    """``new`` (nothing trained yet), ``resume`` (a checkpoint before the last epoch, or exports not
    written) or ``done`` (the weights of the last epoch, committed). A :class:`RunDirError` for a run of
    another recipe, seed or data, or trained beyond the protocol's epochs."""
    if not run_dir.config.is_file():
        return "new"
    saved = run_dir.read_config()
    if saved.recipe() != config.recipe():
        raise RunDirError(
            f"{run_dir} holds a run of another recipe, seed or data than this study's; delete it to train it again, "
            "or choose another --output"
        )
    if not run_dir.checkpoint.exists():
        return "new"
    committed, weights = run_dir.checkpoint_record(), run_dir.weights_record()
    if committed is not None and committed.epoch > config.epochs:
        raise RunDirError(
            f"{run_dir} has trained {committed.epoch} epochs, more than this study's {config.epochs}; delete it to "
            "train it again, or choose another --output"
        )
    if committed is not None and committed == weights and committed.epoch == config.epochs:
        return "done"
    return "resume"


def measured(run_dir: RunDir, sampler: str, protocol: Protocol, seed: int) -> bool:
    """Whether ``sampler``'s results of the run are there, of its current weights and the protocol's
    samples, seed and test images, with the strip of its samples."""
    current = run_dir.weights_record()
    diagnosis = load_results(run_dir.figures / DIAGNOSTICS)[0]["samplers"].get(sampler)
    evaluation = load_results(run_dir.figures / EVALUATION)[0]["samplers"].get(sampler)
    for result in (diagnosis, evaluation):
        if not isinstance(result, dict) or result_weights(result) != current or current is None:
            return False
        if result.get("samples") != protocol.samples or result.get("seed") != seed:
            return False
    assert isinstance(evaluation, dict)
    return evaluation.get("test_images") == protocol.test_images and (run_dir.figures / strip_name(sampler)).is_file()


# ---------------------------------------------------------------- the folder and its files


def check_study_folder(output: Path, protocol: Protocol) -> None:
    """A one-line error unless ``output`` may hold this study: it is new or empty, or holds ``study.json``
    of the same protocol (the number of seeds aside: more seeds add runs, fewer leave some out)."""
    check_folder_possible(output, RunDirError, "choose another --output")
    if not output.is_dir() or not any(output.iterdir()):
        return
    record = output / STUDY_FILE
    try:
        saved = read_json(record, MB, "a study.json")
    except FileNotFoundError:
        raise RunDirError(
            f"{output} holds files but no {STUDY_FILE}, so it is not a study's folder; choose another --output"
        ) from None
    except FileProblem as problem:
        raise RunDirError(f"{record} {problem}; move the folder away, or choose another --output") from None
    if not isinstance(saved, dict) or saved.get("format") != STUDY_FORMAT:
        raise RunDirError(f"{record} was not written by vaelab study; choose another --output")
    wanted = {**protocol.to_dict(), "seeds": None}
    had = {key: saved.get(key) for key in wanted} | {"seeds": None}
    if had != wanted:
        differences = ", ".join(sorted(key for key in wanted if had.get(key) != wanted[key]))
        raise RunDirError(
            f"{output} holds a study of another protocol ({had.get('name')}: {differences} differ); continue it with "
            f"the command that started it, or choose another --output"
        )


def write_outputs(
    output: Path, protocol: Protocol, runs: Sequence[PlannedRun], log: Callable[[str], None]
) -> list[Path]:
    """The study's files from its runs' results (see the module docstring): the figures first, then the
    page and the Markdown table, the CSV tables last (removed first, so that one present is complete and
    belongs to the table beside it); returns their paths."""
    measured_rows, run_rows = collect(output, runs, log)
    rows = aggregate(measured_rows)
    title = f"Which model fixes which problem: the {protocol.name} study ({protocol.seeds} seeds)"
    samples_folder = make_folder(output / "samples", RunDirError, "choose another --output")
    written, sample_pngs = [], []
    for preset, figure in family_samples(runs):
        png = figure_png(figure)
        path = samples_folder / f"{preset}.png"
        _write_bytes(path, png)
        written.append(path)
        sample_pngs.append((preset, png))
    summary_png = figure_png(plot_study_summary(rows, title))
    summary = output / SUMMARY_FILE
    _write_bytes(summary, summary_png)
    page = study_page(
        title=title,
        protocol=protocol.lines(),
        commands=[rerun_command(protocol, output)],
        summary_png=summary_png,
        study_table=formatted(rows),
        metrics=METRICS,
        samples=sample_pngs,
        runs_table=compare.formatted(run_rows),
        runs_legend=compare.LEGEND,
    )
    report, markdown, table, runs_table = (output / name for name in (REPORT_FILE, MARKDOWN_FILE, CSV_FILE, RUNS_FILE))
    for path in (table, runs_table):
        try:
            path.unlink(missing_ok=True)
        except OSError as exc:
            raise WriteError.of(path, exc) from None
    atomic_write_text(report, page)
    atomic_write_text(markdown, as_markdown(rows))
    atomic_write_text(table, as_csv(rows))
    atomic_write_text(runs_table, compare.as_csv(run_rows))
    return [summary, *written, report, markdown, table, runs_table]


def _write_bytes(path: Path, data: bytes) -> None:
    atomic_write(path, lambda tmp: tmp.write_bytes(data))


def collect(
    output: Path, runs: Sequence[PlannedRun], log: Callable[[str], None]
) -> tuple[list[MeasuredRow], list[dict[str, Any]]]:
    """Each run's rows of its samplers (``compare``'s, with the run's training seconds), as the study's
    :class:`MeasuredRow` and as ``compare`` rows named by their folder under ``output``."""
    measured_rows, run_rows = [], []
    for run in runs:
        run_dir = RunDir(run.path)
        seconds = math.fsum(float(row.get("seconds", 0.0)) for row in run_dir.read_metrics())
        for row in compare.collect_rows([run.path], warn=log):
            if row["sampler"] not in run.samplers or not _current(row["weights"]):
                continue
            row["run"] = run.path.relative_to(output).as_posix()
            run_rows.append(row)
            values = {**row, "train seconds": seconds}
            measured_rows.append(MeasuredRow(run.group, run.setting, run.preset, row["sampler"], run.seed, values))
    return measured_rows, run_rows


def _current(weights: str) -> bool:
    """Whether a ``compare`` row's weights column names the run's current weights (``epoch 5``, not
    ``epoch 4 (not current)`` or ``unknown``)."""
    return weights.startswith("epoch ") and not weights.endswith("(not current)")


def family_samples(runs: Sequence[PlannedRun]) -> list[tuple[str, Any]]:
    """Per preset, the figure of its first seed's strips, a row per setting and sampler."""
    figures = []
    for preset in dict.fromkeys(run.preset for run in runs):
        strips = []
        for run in (r for r in runs if r.preset == preset and r.seed == 0):
            config = RunDir(run.path).read_config()
            for sampler in run.samplers:
                path = RunDir(run.path).figures / strip_name(sampler)
                try:
                    images = read_sample_strip(path, config.model.image_channels, config.model.image_size)
                except (FileNotFoundError, FileProblem):
                    continue
                strips.append((f"{run.setting}\n{sampler}", images))
        if strips:
            figures.append(
                (preset, plot_family_samples(f"{preset}: samples (seed 0), a row per setting and sampler", strips))
            )
    return figures


def rerun_command(protocol: Protocol, output: Path) -> str:
    """The command that runs (or continues) this study; for a protocol of the Python API's own, the call."""
    seeds = f" --seeds {protocol.seeds}" if protocol.seeds != FULL.seeds else ""
    if protocol == replace(FULL, seeds=protocol.seeds):
        return f"vaelab study{seeds} --output {output}"
    if protocol == replace(QUICK, seeds=protocol.seeds):
        return f"vaelab study --quick{seeds} --output {output}"
    return f"run_study({str(output)!r}, protocol=...) with the protocol of {output / STUDY_FILE} (the Python API)"
