"""Every preset works everywhere (issue 13): one suite, parametrised over the preset registry.

Each preset of :data:`vaelab.models.PRESETS` (a preset added later is covered without changing this
file, and ``test_the_suite_covers_every_preset_family_and_dataset`` fails when one cannot be) is
trained once, at tiny limits, through the Python API: Fashion-MNIST presets on synthetic in-memory
images, the CelebA presets (``book-faces``, ``faces-64``, ``faces-128``) on synthetic faces in CelebA's
layout read through ``data_dir`` and ``limit_train``/``limit_test``, each at its own image size. The
presets of :data:`SLOW_PRESETS` (``faces-128``) are marked ``slow`` in every test. Then, for each preset:

* training writes a complete run directory whose every loss term is finite;
* 1 epoch, then ``resume`` to 2, is the 2-epoch run: the same bytes of ``model.safetensors`` and
  ``config.json``, the same checkpoint (weights, Adam, RNG states) and metrics, timings aside;
* every analysis runs and writes its files: reconstruct, embed, generate (the default sampler and
  ``gmm``), grid, diagnose and evaluate (with a tiny judge; refused in one line for a dataset the
  judge cannot score; for a family with discrete codes, the grid and the samplers of continuous points:
  :func:`refusal`; its run is analysed with a tiny prior learnt over its codes, and its diagnosis holds
  code usage and one-line reasons where continuous numbers have no meaning), the explorer (FastAPI's
  TestClient: facts, points, decode, with ``class`` for a conditional model, reconstruction, morph,
  samples from the default sampler, the codebook for discrete codes only), and, at the end,
  ``compare`` across all runs;
* (slow) 2 processes under ``torchrun`` (gloo, CPU) train it: the processes agree, a resume under
  torchrun is exact, and a deterministic family gets the single-process weights.

And a run directory as vaelab 0.5 wrote it still loads, analyses and resumes exactly.
"""

from __future__ import annotations

import json
import math
import shutil
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from threadpoolctl import threadpool_limits

from synthetic import synthetic_images
from vaelab.data.image_set import ImageSet
from vaelab.errors import ConfigError, JudgeError, RunDirError
from vaelab.evaluation import save_judge, train_judge
from vaelab.evaluation.judge import Judge
from vaelab.evaluation.metrics import has_likelihood
from vaelab.evaluation.run_measures import write_evaluation
from vaelab.latent.samplers import SAMPLERS, default_sampler
from vaelab.models import PRESETS
from vaelab.models.families import FAMILIES
from vaelab.presentation import report
from vaelab.presentation.compare import collect_rows, write_comparison
from vaelab.presentation.diagnostics_report import write_diagnostics
from vaelab.training import RunConfig, RunDir, load_run, train
from vaelab.training.objectives import make_objective
from vaelab.training.prior import prepare_prior_config, train_prior
from vaelab.training.run import Run

#: Every preset, in the registry's order.
PRESET_NAMES = tuple(PRESETS)

#: Presets too slow for the quick part at the tiny limits, each marked ``slow`` in every test (its
#: training serves them all): faces-128's step at 128×128 takes about 1.3 s on one CPU thread
#: (faces-64's, the same network one stage shorter, 0.2 s), so its tests take about 20 s.
SLOW_PRESETS = frozenset({"faces-128"})

#: The suite's parameters: every preset, those of :data:`SLOW_PRESETS` marked ``slow``.
PRESET_PARAMS = [pytest.param(p, marks=pytest.mark.slow) if p in SLOW_PRESETS else p for p in PRESET_NAMES]

#: The tiny limits: images, batch (so an epoch is 4 steps), epochs.
TRAIN_IMAGES, TEST_IMAGES, BATCH, EPOCHS = 160, 40, 40, 2
#: The prior learnt over a run's discrete codes: a tiny PixelCNN, one epoch.
TINY_PRIOR = {"channels": 8, "layers": 2, "kernel": 3, "batch_size": BATCH}
SETTINGS = {"batch_size": BATCH, "lr": 2e-3, "seed": 0, "device": "cpu"}

#: Where each dataset's images come from in this suite: synthetic stand-ins.
DATASETS = {
    "fashion-mnist": "synthetic shapes of 10 classes, in memory (tests/synthetic.py)",
    "celeba": "synthetic faces in CelebA's official layout, read through data_dir (tests/face_fixtures.py)",
}

#: The files a run directory holds after training, and the timings of its metrics rows.
RUN_FILES = ["checkpoint.safetensors", "config.json", "metrics.jsonl", "model.safetensors"]
TIMINGS = ("seconds", "train_seconds", "images_per_second")

#: Families whose training draws nothing at random and sees each image alone: two processes then
#: train the single process's run, up to the order of float additions.
DETERMINISTIC_FAMILIES = {"ae", "rae"}

QUIET: dict[str, Any] = {"progress": False, "log": lambda s: None}


def tiny_config(preset: str, celeba_dir: str | Path | None = None, epochs: int = EPOCHS) -> RunConfig:
    """``preset`` at the suite's tiny limits (its model and objective as the registry has them)."""
    settings: dict[str, Any] = {**SETTINGS, "epochs": epochs}
    if PRESETS[preset].dataset == "celeba":
        settings.update(data_dir=str(celeba_dir), limit_train=TRAIN_IMAGES, limit_test=TEST_IMAGES)
    return RunConfig.from_preset(preset, **settings)


@cache
def _fashion_sets() -> tuple[ImageSet, ImageSet]:
    return synthetic_images(TRAIN_IMAGES, seed=0), synthetic_images(TEST_IMAGES, seed=1)


def training_sets(preset: str) -> tuple[ImageSet | None, ImageSet | None]:
    """The sets ``train`` is given for ``preset``: in-memory ones, or None where the run reads its
    dataset itself (CelebA, through the config's ``data_dir`` and limits)."""
    return _fashion_sets() if PRESETS[preset].dataset == "fashion-mnist" else (None, None)


def tiny_likelihood(run: Run) -> dict[str, int]:
    """``evaluate``'s likelihood bounds at tiny limits, for a model that has them."""
    return {"importance_samples": 3, "likelihood_images": 10} if has_likelihood(run.model) else {}


def refusal(run: Run, analysis: str, sampler: str | None = None) -> str | None:
    """Why ``analysis`` (``grid``, or ``sample``: generate, diagnose, evaluate with ``sampler``, None
    for the model's default) does not apply to the run's model, as a pattern of its one-line refusal;
    None where it applies. A family with discrete codes (``vq-vae``) has no plane to span with a grid,
    no sampler of continuous points, and no sampler at all until a prior over its codes has been learnt
    (a separate step after training: :class:`Lab` learns one)."""
    model = run.model
    if model.continuous_codes:
        return None
    if analysis == "grid":
        return "a latent grid decodes evenly spaced points of a continuous latent space"
    if not model.has_prior:
        return "codes are discrete"
    if sampler is not None and SAMPLERS[sampler].continuous_only:
        return "draws points of a continuous latent space, and the .* family's codes are discrete; use --sampler prior"
    return None


def measurable(preset: str) -> bool:
    """Whether ``diagnose`` and ``evaluate`` can measure the preset here: a Fashion-MNIST run (what the
    judge scores; :class:`Lab` gives a run with discrete codes a prior to sample)."""
    return PRESETS[preset].dataset == "fashion-mnist"


def measured_samplers(run: Run) -> list[str | None]:
    """The samplers :meth:`Lab.measure` measures the run with: the default (None) and ``gmm``, where it applies."""
    return [sampler for sampler in (None, "gmm") if refusal(run, "sample", sampler) is None]


def assert_refused(call: Callable[[], object], pattern: str) -> None:
    """``call`` raises a one-line :class:`ConfigError` matching ``pattern``."""
    with pytest.raises(ConfigError, match=pattern) as refused:
        call()
    assert "\n" not in str(refused.value)


def _finite(values: dict[str, float]) -> bool:
    return all(isinstance(v, float) and math.isfinite(v) for v in values.values())


def _without_timings(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if k not in TIMINGS}


def _png(path: Path) -> None:
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", path


def _checkpoint(run_dir: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """The checkpoint's tensors, and its metadata with the state parsed and timings left out."""
    with safe_open(str(run_dir / "checkpoint.safetensors"), "pt") as handle:
        metadata: dict[str, Any] = dict(handle.metadata())
    state = json.loads(metadata.pop("state"))
    state["history"] = [_without_timings(row) for row in state["history"]]
    metadata["state"] = state
    metadata.pop("sha256", None)  # covers the tensors, compared one by one
    return load_file(run_dir / "checkpoint.safetensors"), metadata


def assert_same_run(run_dir: Path, reference: Path) -> None:
    """``run_dir`` holds the run of ``reference``: the same files, the same bytes of config.json, and
    the same training (:func:`assert_same_training`)."""
    assert sorted(p.name for p in run_dir.iterdir()) == sorted(p.name for p in reference.iterdir())
    assert (run_dir / "config.json").read_bytes() == (reference / "config.json").read_bytes(), "config.json differs"
    assert_same_training(run_dir, reference)


def assert_same_training(run_dir: Path, reference: Path) -> None:
    """The same bytes of model.safetensors, the same checkpoint (tensors and metadata) and metrics,
    timings aside."""
    assert (run_dir / "model.safetensors").read_bytes() == (reference / "model.safetensors").read_bytes()
    rows, expected_rows = ([_without_timings(row) for row in RunDir(d).read_metrics()] for d in (run_dir, reference))
    assert rows == expected_rows, "metrics.jsonl differs"
    tensors, metadata = _checkpoint(run_dir)
    expected_tensors, expected_metadata = _checkpoint(reference)
    assert metadata == expected_metadata, "the checkpoints' metadata differ"
    assert tensors.keys() == expected_tensors.keys()
    different = [k for k in tensors if not torch.equal(tensors[k], expected_tensors[k])]
    assert not different, f"checkpoint tensors differ: {different[:5]}"


# ---------------------------------------------------------------- every preset trained once


@dataclass
class Trained:
    """A preset trained at the tiny limits: straight for 2 epochs, and 1 epoch then resumed to 2; the
    run analysed (``run``, in ``analysed``) is the straight one, or for a family with discrete codes a
    copy of it with a prior learnt over its codes."""

    preset: str
    straight: Path
    resumed: Path
    analysed: Path
    run: Run
    train_set: ImageSet
    test_set: ImageSet
    measured: list[Path] = field(default_factory=list)

    @property
    def family(self) -> str:
        return self.run.config.model.kind


class Lab:
    """Trains each preset the first time a test asks for it, and keeps it for the module."""

    def __init__(self, root: Path, celeba_dir: Path, judge: Callable[[], Judge]) -> None:
        self.root, self.celeba_dir, self.judge = root, celeba_dir, judge
        self.trained: dict[str, Trained] = {}

    def __getitem__(self, preset: str) -> Trained:
        if preset not in self.trained:
            self.trained[preset] = self._train(preset)
        return self.trained[preset]

    def _train(self, preset: str) -> Trained:
        torch.set_num_threads(1)
        folder = self.root / preset
        train_set, test_set = training_sets(preset)
        data = {"train_set": train_set, "test_set": test_set, **QUIET}
        train(tiny_config(preset, self.celeba_dir), folder / "straight", **data)
        train(tiny_config(preset, self.celeba_dir, epochs=1), folder / "resumed", **data)
        train(tiny_config(preset, self.celeba_dir), folder / "resumed", resume=True, **data)
        run = load_run(folder / "straight", "cpu")
        if train_set is None or test_set is None:  # read as training read them
            train_set, test_set = run.train_set(limit=TRAIN_IMAGES), run.test_set(limit=TEST_IMAGES)
        analysed = folder / "straight"
        if not run.model.continuous_codes:  # samples need a prior over the codes: learn a tiny one
            analysed = folder / "with-prior"
            shutil.copytree(folder / "straight", analysed)
            run = load_run(analysed, "cpu")
            config = prepare_prior_config(run, epochs=1, seed=0, **TINY_PRIOR)
            train_prior(run, config, train_set=train_set, test_set=test_set, log=QUIET["log"])
            run = load_run(analysed, "cpu")
            assert run.model.has_prior
        return Trained(preset, folder / "straight", folder / "resumed", analysed, run, train_set, test_set)

    def measure(self, preset: str) -> list[Path]:
        """``diagnose`` (default sampler and gmm) and ``evaluate`` of the preset's run, once."""
        trained = self[preset]
        if not trained.measured:
            run, train_set, test_set = trained.run, trained.train_set, trained.test_set
            for sampler in measured_samplers(run):
                trained.measured += write_diagnostics(run, train_set, self.judge(), sampler, num_samples=60)
            trained.measured += write_evaluation(
                run, train_set, test_set, self.judge(), None, num_samples=60, progress=False, **tiny_likelihood(run)
            )
        return trained.measured


@pytest.fixture(scope="module")
def lab(tmp_path_factory, celeba_dirs, image_cache_home):
    """Every preset's runs, trained on first use (CelebA's decoded images cached in the tests' cache)."""
    judges: list[Judge] = []

    def judge() -> Judge:  # a tiny judge, trained once, on the first diagnose or evaluate
        if not judges:
            train_set, test_set = _fashion_sets()
            result = train_judge(train_set, test_set, epochs=1, batch_size=40, seed=0, device="cpu", **QUIET)
            judges.append(save_judge(result.model, result.accuracy, folder=tmp_path_factory.mktemp("judge")))
        return judges[0]

    # One BLAS thread, as torch has (conftest): on a busy 2-core machine OpenBLAS's threads make the
    # gmm sampler's fit of 2-D points take seconds instead of a tenth of one. The limit reaches only
    # the libraries loaded when it is set: scikit-learn's mixture loads SciPy's BLAS.
    import sklearn.mixture  # noqa: F401

    with pytest.MonkeyPatch.context() as patch, threadpool_limits(1):
        patch.setenv("XDG_CACHE_HOME", str(image_cache_home))
        patch.delenv("VAELAB_DATA", raising=False)
        yield Lab(tmp_path_factory.mktemp("every-preset"), celeba_dirs["official"], judge)


def test_the_suite_covers_every_preset_family_and_dataset():
    """The parameters are the registry's presets; each preset's family and dataset is one this suite can run."""
    assert PRESET_NAMES, "no presets"
    families = {preset.model.kind for preset in PRESETS.values()}
    assert families == set(FAMILIES), f"families without a preset, so untested here: {set(FAMILIES) - families}"
    datasets = {preset.dataset for preset in PRESETS.values()}
    assert datasets <= set(DATASETS), f"presets on datasets this suite has no stand-in for: {datasets - set(DATASETS)}"
    assert set(FAMILIES).issuperset(DETERMINISTIC_FAMILIES)


@pytest.mark.parametrize("preset", PRESET_PARAMS)
def test_training_writes_a_complete_run_with_finite_terms(lab, preset):
    trained = lab[preset]
    assert sorted(p.name for p in trained.straight.iterdir()) == RUN_FILES
    run_dir = RunDir(trained.straight)
    assert run_dir.read_config() == tiny_config(preset, lab.celeba_dir)
    rows = run_dir.read_metrics()
    assert [row["epoch"] for row in rows] == [1, 2]
    terms = set(make_objective(PRESETS[preset].objective).terms)
    for row in rows:
        for part in ("train", "val"):
            assert set(row[part]) == terms and _finite(row[part]), (part, row[part])
        assert row["seconds"] > 0 and row["images_per_second"] > 0
    assert run_dir.weights_record() is not None and run_dir.weights_record() == run_dir.checkpoint_record()
    assert run_dir.weights_record().epoch == EPOCHS
    run = trained.run
    assert run.model.family == PRESETS[preset].model.kind and not run.model.training
    assert all(torch.isfinite(t).all() for t in run.model.state_dict().values() if t.is_floating_point())


@pytest.mark.parametrize("preset", PRESET_PARAMS)
def test_resume_continues_exactly(lab, preset):
    trained = lab[preset]
    assert_same_run(trained.resumed, trained.straight)


@pytest.mark.parametrize("preset", PRESET_PARAMS)
def test_reconstruct_and_embed(lab, preset):
    trained = lab[preset]
    run, test_set = trained.run, trained.test_set
    channels, size = run.config.model.image_channels, run.config.model.image_size
    figure, data = report.write_reconstructions(run, test_set, 5)
    _png(figure)
    with np.load(data) as saved:
        assert saved["reconstructions"].shape == saved["originals"].shape == (5, channels, size, size)
        assert saved["reconstructions"].min() >= 0 and saved["reconstructions"].max() <= 1
    written = report.write_embedding(run, test_set, 30)
    names = [p.name for p in written]
    assert names[:2] == ["latent_scatter.png", "latent_histograms.png"] and names[-1] == "embeddings.npz"
    assert ("latent_cdf.png" in names) == (run.model.has_prior and run.model.standard_normal_prior)
    for png in written[:-1]:
        _png(png)
    with np.load(written[-1]) as saved:
        # z is the model's latent point: for discrete codes, the grid of code vectors, flattened
        assert saved["z"].shape == (30, run.model.latent_dim) and np.all(np.isfinite(saved["z"]))


@pytest.mark.parametrize("sampler", ["default", "gmm"])
@pytest.mark.parametrize("preset", PRESET_PARAMS)
def test_generate(lab, preset, sampler):
    trained = lab[preset]
    run = trained.run
    chosen = None if sampler == "default" else sampler
    if (why := refusal(run, "sample", chosen)) is not None:
        assert_refused(lambda: report.write_generated(run, trained.test_set, 10, sampler=chosen), why)
        return
    written = report.write_generated(run, trained.test_set, 10, seed=1, sampler=chosen, train_set=trained.train_set)
    names = [p.name for p in written]
    by_class = ["generated_classes.png"] if run.model.conditional else []
    assert names == ["generated.png", *by_class, "generated.json", "generated.npz"]
    for png in written[: 1 + len(by_class)]:
        _png(png)
    generated = json.loads(written[-2].read_text())
    assert generated["sampler"] == (chosen or default_sampler(run.model))
    with np.load(written[-1]) as saved:
        shape = (run.config.model.image_channels, run.config.model.image_size, run.config.model.image_size)
        assert saved["images"].shape == (10, *shape)
        assert np.all(np.isfinite(saved["points"])) and saved["points"].shape == (10, run.model.latent_dim)
        if run.model.conditional:  # every class in turn
            assert saved["labels"].tolist() == [k % run.model.condition_dim for k in range(10)]


@pytest.mark.parametrize("preset", PRESET_PARAMS)
def test_grid(lab, preset):
    trained = lab[preset]
    run = trained.run
    if (why := refusal(run, "grid")) is not None:
        assert_refused(lambda: report.write_grid(run, trained.test_set, size=4), why)
        return
    written = report.write_grid(run, trained.test_set, size=4)
    grids = run.model.condition_dim if run.model.conditional else 1  # one grid per class
    assert len(written) == 2 * grids
    for figure, data in zip(written[::2], written[1::2], strict=True):
        _png(figure)
        with np.load(data) as saved:
            assert saved["images"].shape[:2] == (4, 4) and np.all(np.isfinite(saved["latent_points"]))
            prior = run.model.has_prior and run.model.standard_normal_prior
            assert str(saved["span"]) == ("prior" if prior else "embeddings")


@pytest.mark.parametrize("preset", PRESET_PARAMS)
def test_diagnose_and_evaluate(lab, preset):
    trained = lab[preset]
    run = trained.run
    if run.config.dataset != "fashion-mnist":  # the judge is a Fashion-MNIST classifier
        for measure in (write_diagnostics, write_evaluation):
            with pytest.raises(JudgeError, match="measure Fashion-MNIST runs only") as refused:
                measure(run, trained.train_set)
            assert "\n" not in str(refused.value)
        return
    for refused in [s for s in (None, "gmm") if refusal(run, "sample", s) is not None]:
        why = refusal(run, "sample", refused)
        assert why is not None  # refused before a judge is needed
        assert_refused(lambda s=refused: write_diagnostics(run, trained.train_set, None, s), why)
        assert_refused(lambda s=refused: write_evaluation(run, trained.train_set, trained.test_set, None, s), why)
    written = lab.measure(preset)
    names = [p.name for p in written]
    sampler = default_sampler(run.model)
    samplers = [s or sampler for s in measured_samplers(run)]
    diagnosed = [name for s in samplers for name in (f"diagnostics-{s}.png", "diagnostics.json")]
    assert names == [*diagnosed, "evaluation.json"]
    for png in written[0 : len(diagnosed) : 2]:
        _png(png)
    weights = run.dir.weights_record().to_dict()
    diagnostics = json.loads((run.dir.figures / "diagnostics.json").read_text())["samplers"]
    assert set(diagnostics) == set(samplers) and all(d["weights"] == weights for d in diagnostics.values())
    mine = diagnostics[sampler]
    if run.model.continuous_codes:
        assert math.isfinite(mine["p2_centring"]["kl_gaussian_to_standard"])
    else:  # the continuous numbers say in one line why they are not there; the codes' numbers are
        for reason in (mine["p2_centring"]["not_applicable"], mine["p1_crowding"]["latent_region"]["not_applicable"]):
            assert "discrete codes" in reason and "\n" not in reason
        usage = mine["p1_crowding"]["code_usage"]
        assert 1 <= usage["overall"]["codes_used"] <= run.model.codebook_size
        assert set(usage["per_class"]) == set(trained.train_set.class_names)
        assert mine["p3_holes"]["distance"] == "hamming" and 0 <= mine["p3_holes"]["hole_fraction"] <= 1
    evaluation = json.loads(written[-1].read_text())["samplers"][sampler]
    assert evaluation["weights"] == weights
    assert 0 <= evaluation["precision"] <= 1 and math.isfinite(evaluation["frechet_distance_judge"])
    assert ("likelihood" in evaluation) == has_likelihood(run.model)
    if has_likelihood(run.model):
        assert math.isfinite(evaluation["likelihood"]["iw_nll_nats"])
    assert ("conditional_accuracy" in evaluation) == (run.model.conditional or run.model.prior_classes > 0)
    assert ("prior_likelihood" in evaluation) == (not run.model.continuous_codes)
    if not run.model.continuous_codes:
        bits = evaluation["prior_likelihood"]["bits_per_code"]
        assert 0 < bits < 2 * math.log2(run.model.codebook_size)


@pytest.fixture(scope="module")
def client_class():
    pytest.importorskip("fastapi")
    pytest.importorskip("httpx")
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*httpx2")
        from fastapi.testclient import TestClient
    return TestClient


@pytest.mark.parametrize("preset", PRESET_PARAMS)
def test_the_explorer(lab, preset, client_class):
    from vaelab.presentation.explorer.app import create_app

    trained = lab[preset]
    run = trained.run
    with client_class(create_app(run, trained.test_set, points=20)) as client:
        facts = client.get("/api/run").json()
        assert (facts["preset"], facts["kind"], facts["conditional"]) == (
            preset,
            run.config.model.kind,
            run.model.conditional,
        )
        assert facts["epochs_trained"] == EPOCHS and _finite(facts["final_val"])
        assert client.get("/api/points").json()["count"] == 20
        decode = {"x": 0.1, "y": -0.2}
        if run.model.conditional:
            assert client.get("/api/decode", params=decode).status_code == 422  # which class?
            decode["class"] = 3
        else:
            assert client.get("/api/decode", params={**decode, "class": 3}).status_code == 422
        images = {
            "/api/decode": decode,
            "/api/image/3": {},
            "/api/morph": {"start": 1, "end": 5, "steps": 3},
            "/api/samples": {"count": 4, "seed": 1},  # a vq-vae's from its prior (tests/test_explorer.py: none yet)
        }
        for path, params in images.items():
            answer = client.get(path, params=params)
            assert answer.status_code == 200 and answer.headers["content-type"] == "image/png", (path, answer.text)
            assert answer.content[:8] == b"\x89PNG\r\n\x1a\n"
        codebook = client.get("/api/codebook")
        assert codebook.status_code == (404 if run.model.continuous_codes else 200), codebook.text


def test_compare_every_run(lab, tmp_path):
    measured = [p for p in PRESET_NAMES if measurable(p)]
    runs = [lab[p].analysed for p in measured]
    for preset in measured:
        lab.measure(preset)
    warned: list[str] = []
    rows = collect_rows(runs, warned.append)
    assert not warned
    expected = [
        (p, s)
        for p in measured
        for s in dict.fromkeys(s or default_sampler(lab[p].run.model) for s in measured_samplers(lab[p].run))
    ]
    assert [(row["preset"], row["sampler"]) for row in rows] == expected
    assert all(row["weights"] == f"epoch {EPOCHS}" for row in rows)
    table, paths = write_comparison(runs, tmp_path / "comparison", warned.append)
    assert all(p.exists() for p in paths) and all(preset in table for preset in measured)
    # (not the slow presets': refusing a run without results needs no run of every size)
    unmeasured = [lab[p].analysed for p in PRESET_NAMES if p not in measured and p not in SLOW_PRESETS]
    for run_dir in unmeasured:
        with pytest.raises(RunDirError, match="no evaluation or diagnostics yet"):
            collect_rows([run_dir])


# ---------------------------------------------------------------- runs written by vaelab 0.5

#: The presets of vaelab 0.5, and the keys of its config.json and ModelSpec, in its order.
PRESETS_0_5 = ("book-ae", "book-vae", "beta-vae", "book-dae", "book-faces")
CONFIG_KEYS_0_5 = (
    "preset",
    "dataset",
    "model",
    "objective",
    "objective_params",
    "epochs",
    "batch_size",
    "lr",
    "seed",
    "device",
    "data_dir",
    "limit_train",
    "limit_test",
    "corruption",
    "data_options",
    "precision",
    "compile",
    "threads",
    "cuda_graphs",
)
#: The keys of config.json that vaelab added after 0.5: settings with a default that 0.5's runs get, and
#: the ``machine`` record (what the run computed on), which 0.5's runs lack and nothing requires.
CONFIG_KEYS_AFTER_0_5 = ("data_placement", "machine")
MODEL_KEYS_0_5 = ("kind", "architecture", "latent_dim", "image_channels", "image_size", "encoder_channels")


def write_as_vaelab_0_5(run_dir: Path) -> None:
    """Rewrite a run trained by this vaelab in the files of vaelab 0.5 (checked against a run that
    0.5 itself trained): ``config.json`` in 0.5's key order, without the ModelSpec fields of the
    model families (``conditions``, ``samples``, ``pseudo_inputs``) and with 0.5's default
    ``cuda_graphs: true``; a checkpoint and weights without weights records (epoch and SHA-256)."""
    config = json.loads((run_dir / "config.json").read_text())
    new = {*CONFIG_KEYS_0_5, *CONFIG_KEYS_AFTER_0_5, "vaelab_version"}
    assert set(config) == new, "a config key 0.5 did not write: add it to CONFIG_KEYS_AFTER_0_5"
    assert set(config["model"]) <= {*MODEL_KEYS_0_5, "conditions", "samples", "pseudo_inputs"}
    old = {key: config[key] for key in CONFIG_KEYS_0_5}
    old["model"] = {key: config["model"][key] for key in MODEL_KEYS_0_5}
    old.update(cuda_graphs=True, vaelab_version="0.5.0")
    (run_dir / "config.json").write_text(json.dumps(old, indent=2) + "\n")

    tensors, metadata = load_file(run_dir / "checkpoint.safetensors"), _metadata(run_dir / "checkpoint.safetensors")
    state = json.loads(metadata["state"])
    del state["weights"]
    metadata = {key: metadata[key] for key in ("format", "recipe", "optim_param_groups", "optim_scalars")}
    save_file(tensors, str(run_dir / "checkpoint.safetensors"), metadata={**metadata, "state": json.dumps(state)})

    metadata = _metadata(run_dir / "model.safetensors")
    old_metadata = {key: metadata[key] for key in ("format", "preset", "kind")}
    save_file(load_file(run_dir / "model.safetensors"), str(run_dir / "model.safetensors"), metadata=old_metadata)


def _metadata(path: Path) -> dict[str, str]:
    with safe_open(str(path), "pt") as handle:
        return dict(handle.metadata())


@pytest.mark.parametrize("preset", PRESETS_0_5)
def test_a_run_written_by_vaelab_0_5_loads_analyses_and_resumes_exactly(lab, preset, tmp_path):
    from vaelab.presentation.explorer.state import build_state
    from vaelab.training.trainer import prepare_config

    trained = lab[preset]  # its straight run: 2 epochs, by this vaelab
    old = tmp_path / "old"
    train_set, test_set = training_sets(preset)
    train(tiny_config(preset, lab.celeba_dir, epochs=1), old, train_set=train_set, test_set=test_set, **QUIET)
    one_epoch = load_run(old, "cpu").model.state_dict()
    write_as_vaelab_0_5(old)
    assert "pseudo_inputs" not in (old / "config.json").read_text()
    run_dir = RunDir(old)
    assert run_dir.weights_record() is None and run_dir.checkpoint_record() is None  # as 0.5 wrote them

    run = load_run(old, "cpu")  # loads ...
    assert run.config.model == PRESETS[preset].model and run.weights is None
    assert all(torch.equal(tensor, one_epoch[name]) for name, tensor in run.model.state_dict().items())
    assert [p.name for p in report.write_reconstructions(run, trained.test_set, 4)] == [
        "reconstructions.png",
        "reconstructions.npz",
    ]
    report.write_generated(run, trained.test_set, 6, train_set=trained.train_set)
    facts = build_state(run, trained.test_set, 10).facts()
    assert facts["epochs_trained"] == 1 and _finite(facts["final_val"])  # the epoch from metrics.jsonl
    if run.config.dataset == "fashion-mnist":
        (evaluation,) = write_evaluation(
            run, trained.train_set, trained.test_set, lab.judge(), None, 60, progress=False, **tiny_likelihood(run)
        )
        result = json.loads(evaluation.read_text())["samplers"][default_sampler(run.model)]
        assert result["weights"] is None  # not recorded: compare says so
        warned: list[str] = []
        assert [row["weights"] for row in collect_rows([old], warned.append)] == ["unknown"] and len(warned) == 1

    # ... and resumes, as `vaelab train --run-dir OLD --resume --epochs 2` does: exactly the 2-epoch run
    config = prepare_config(run_dir, None, True, epochs=EPOCHS)
    logged: list[str] = []
    train(config, old, resume=True, train_set=train_set, test_set=test_set, progress=False, log=logged.append)
    logged = [line for line in logged if not line.startswith("images kept")]  # image files: where they wait
    assert logged[0] == (
        f"wrote {old / 'model.safetensors'} again from the checkpoint of epoch 1 (its header does not record the "
        "epoch it holds, as in runs of vaelab before 0.6)"
    )
    assert_same_training(old, trained.straight)
    saved = json.loads((old / "config.json").read_text())
    assert saved["epochs"] == EPOCHS and saved["cuda_graphs"] is True  # the run's own settings are kept
    assert load_run(old, "cpu").weights == RunDir(trained.straight).weights_record()


# ---------------------------------------------------------------- torchrun: 2 processes, every preset


@pytest.fixture(scope="module")
def two_processes(lab):
    """Every preset trained by one torchrun job of 2 gloo processes (tests/every_preset_worker.py)."""
    from test_distributed import torchrun

    root = lab.root / "torchrun"
    done = torchrun(
        root,
        "--celeba",
        lab.celeba_dir,
        *PRESET_NAMES,
        worker=Path(__file__).parent / "every_preset_worker.py",
        timeout=900,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-5000:]
    return root


@pytest.mark.slow
@pytest.mark.parametrize("preset", PRESET_PARAMS)
def test_two_processes_train_every_preset(two_processes, lab, preset):
    folder = two_processes / preset
    assert sorted(p.name for p in (folder / "straight").iterdir()) == RUN_FILES  # rank 0 alone wrote
    rows = RunDir(folder / "straight").read_metrics()
    assert [row["epoch"] for row in rows] == [1, 2]
    assert all(_finite(row[part]) for row in rows for part in ("train", "val"))
    weights = {
        (name, rank): load_file(folder / "weights" / f"{name}-rank{rank}.safetensors")
        for name in ("straight", "resumed")
        for rank in (0, 1)
    }
    single = lab[preset]
    # The processes hold the same parameters; BatchNorm's running statistics are each process's own on
    # the CPU (no SyncBatchNorm there; rank 0's are the ones written: see vaelab.training.distributed).
    parameters = [name for name, _ in single.run.model.named_parameters()]
    for (name, rank), tensors in weights.items():
        same_rank_straight = weights[("straight", rank)]
        assert all(torch.equal(tensors[k], same_rank_straight[k]) for k in tensors), f"{name}, rank {rank}"
        assert all(torch.equal(tensors[k], weights[("straight", 0)][k]) for k in parameters), f"{name}, rank {rank}"
    assert_same_run(folder / "resumed", folder / "straight")  # a resume under torchrun is exact
    if single.family in DETERMINISTIC_FAMILIES and PRESETS[preset].corruption is None:
        for name, tensor in single.run.model.state_dict().items():
            torch.testing.assert_close(weights[("straight", 0)][name], tensor, rtol=0, atol=2e-3)
        for mine, theirs in zip(rows, RunDir(single.straight).read_metrics(), strict=True):
            for part in ("train", "val"):
                for term, value in theirs[part].items():
                    assert mine[part][term] == pytest.approx(value, rel=1e-5), (part, term)
