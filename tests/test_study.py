"""``vaelab study`` (issue 17): the spread over seeds and "no difference within the spread", the table and
the summary figure, one run measured with several samplers giving the numbers of ``diagnose`` and
``evaluate``, and the study end to end at tiny limits (synthetic images, a tiny judge): its files, a stop
in training (Ctrl-C) and one in the measuring, then the same command skipping what was done and ending
with the files of a study never stopped."""

from __future__ import annotations

import csv
import io
import json
import os
import signal
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from threadpoolctl import threadpool_limits

from cli_run import assert_one_line_error, run_cli
from vaelab.choices import FAMILIES
from vaelab.errors import ConfigError, RunDirError
from vaelab.evaluation import save_judge, train_judge
from vaelab.evaluation.run_measures import diagnose_run, measure_run, write_evaluation
from vaelab.evaluation.spread import BEST, NONE, TIED, OverSeeds, best_marks, over_seeds
from vaelab.models.presets import PRESETS
from vaelab.presentation.images import figure_png
from vaelab.presentation.study_figure import plot_study_summary, rank_scores
from vaelab.presentation.study_table import (
    HEADLINE,
    MARKDOWN_MARKER,
    MeasuredRow,
    aggregate,
    as_csv,
    as_markdown,
    csv_header,
)
from vaelab.training import RunConfig, TrainingInterrupted, load_run, train
from vaelab.workflows.study import (
    FULL,
    QUICK,
    STUDY_FILE,
    STUDY_PRESETS,
    Clock,
    Protocol,
    Task,
    duration,
    plan_runs,
    run_study,
)

QUIET = {"progress": False, "log": lambda s: None}

# ---------------------------------------------------------------- the spread over seeds


def test_mean_and_spread_are_half_the_range():
    number = OverSeeds((0.25, 0.27))
    assert number.mean == pytest.approx(0.26) and number.spread == pytest.approx(0.01)
    assert number.format(".3f") == "0.260 ± 0.010"
    three = OverSeeds((1.0, 4.0, 2.0))
    assert three.mean == pytest.approx(7 / 3) and three.spread == pytest.approx(1.5)
    assert OverSeeds((5.0,)).spread == 0
    assert over_seeds([None, 1.0, float("nan"), 3]) == OverSeeds((1.0, 3.0))
    assert over_seeds([None, None]) is None
    with pytest.raises(ValueError):
        OverSeeds(())


def test_a_difference_within_the_spread_is_not_a_difference():
    a, b = OverSeeds((1.0, 3.0)), OverSeeds((3.5, 4.5))  # 2 ± 1 and 4 ± 0.5: 2 apart, spreads 1.5 together
    assert a.differs_from(b) and b.differs_from(a)
    c = OverSeeds((2.5, 4.5))  # 3.5 ± 1: 1.5 from a, spreads 2 together
    assert not a.differs_from(c)
    assert not OverSeeds((1.0, 3.0)).differs_from(OverSeeds((3.0, 5.0)))  # touching ranges: 2 apart, spreads 2
    assert OverSeeds((1.0, 3.0)).differs_from(OverSeeds((3.01, 5.0)))


def test_the_best_is_marked_only_beyond_the_spread():
    low, middle, high = OverSeeds((1.0, 1.2)), OverSeeds((2.0, 2.2)), OverSeeds((3.0, 3.2))
    assert best_marks([middle, low, high], higher_is_better=False) == [NONE, BEST, NONE]
    assert best_marks([middle, low, high], higher_is_better=True) == [NONE, NONE, BEST]
    close = OverSeeds((1.1, 1.5))  # within the spread of low
    assert best_marks([middle, low, close, None], higher_is_better=False) == [NONE, TIED, TIED, NONE]
    assert best_marks([low, None], higher_is_better=False) == [NONE, NONE]  # nothing to compare
    same = OverSeeds((2.0, 2.0))
    assert best_marks([same, OverSeeds((2.0, 2.0))], higher_is_better=False) == [TIED, TIED]


def _row(preset, sampler, seed, setting="latent 2", **values):
    return MeasuredRow(setting if setting != "8×8 codes" else "latent 16", setting, preset, sampler, seed, values)


def test_aggregate_over_seeds_and_marks_per_group():
    rows = [
        _row("book-ae", "uniform-box", 0, **{"P3 in holes": 0.50, "recon BCE/px": 0.250}),
        _row("book-ae", "uniform-box", 1, **{"P3 in holes": 0.56, "recon BCE/px": 0.252}),
        _row("book-ae", "gmm", 0, **{"P3 in holes": 0.030, "recon BCE/px": 0.250}),
        _row("book-ae", "gmm", 1, **{"P3 in holes": 0.034, "recon BCE/px": 0.252}),
        _row("book-vae", "prior", 0, **{"P3 in holes": 0.10, "recon BCE/px": 0.260}),
        _row("book-vae", "prior", 1, **{"P3 in holes": 0.12, "recon BCE/px": 0.262}),
        _row("book-ae", "gmm", 0, setting="latent 16", **{"P3 in holes": 0.9, "recon BCE/px": 0.1}),
    ]
    study = aggregate(rows, HEADLINE)
    assert [(r.group, r.preset, r.sampler, r.seeds) for r in study] == [
        ("latent 2", "book-ae", "uniform-box", (0, 1)),
        ("latent 2", "book-ae", "gmm", (0, 1)),
        ("latent 2", "book-vae", "prior", (0, 1)),
        ("latent 16", "book-ae", "gmm", (0,)),
    ]
    ae_box, ae_gmm, vae, other_group = study
    assert ae_box.numbers["P3 holes"] == OverSeeds((0.50, 0.56))
    assert ae_gmm.marks["P3 holes"] == BEST and ae_box.marks["P3 holes"] == vae.marks["P3 holes"] == NONE
    # the reconstruction is the run's, whatever the sampler: compared between runs, both samplers marked
    assert ae_box.marks["reconstruction"] == ae_gmm.marks["reconstruction"] == BEST
    assert vae.marks["reconstruction"] == NONE
    assert other_group.marks["P3 holes"] == NONE  # alone in its group
    assert ae_box.numbers["P2 centring"] is None


def test_the_table_in_markdown_and_csv():
    rows = aggregate(
        [_row("book-ae", "gmm", s, **{"P3 in holes": 0.03 + s / 100}) for s in (0, 1)]
        + [_row("book-vae", "prior", s, **{"P3 in holes": 0.10 + s / 100}) for s in (0, 1)],
        HEADLINE,
    )
    markdown = as_markdown(rows, HEADLINE)
    assert markdown.startswith(MARKDOWN_MARKER + "\n")
    assert "| latent 2 | latent 2 | book-ae | gmm | 0 1 | – | – | **0.035 ± 0.005 ★** |" in markdown
    assert "half the range" in markdown and "* **recall** (higher is better)" in markdown
    table = list(csv.reader(io.StringIO(as_csv(rows, HEADLINE))))
    assert table[0] == csv_header(HEADLINE)
    line = dict(zip(table[0], table[1], strict=True))
    assert float(line["P3 holes mean"]) == pytest.approx(0.035) and line["P3 holes mark"] == BEST
    assert line["P2 centring mean"] == ""


# ---------------------------------------------------------------- the summary figure


def test_rank_scores():
    assert rank_scores([3.0, 1.0, None, 2.0, 1.0], lower_is_better=True) == [0.0, 1.0, None, 0.5, 1.0]
    assert rank_scores([3.0, 1.0], lower_is_better=False) == [1.0, 0.0]
    assert rank_scores([None], lower_is_better=True) == [None]
    assert rank_scores([7.0], lower_is_better=True) == [1.0]


def test_the_summary_figure_is_written_and_readable(tmp_path):
    rng = np.random.default_rng(0)
    measured = []
    for group, presets in (("latent 2", ["book-ae", "book-vae", "rae"]), ("latent 16", ["book-ae", "vq-vae"])):
        for preset in presets:
            setting = "8×8 codes" if preset == "vq-vae" else group
            for sampler in ("prior", "gmm"):
                for seed in (0, 1):
                    values = {m.column: float(rng.uniform(0.1, 1)) for m in HEADLINE}
                    if preset == "vq-vae":
                        values["P2 KL(N(0,I))"] = None
                    measured.append(MeasuredRow(group, setting, preset, sampler, seed, values))
    rows = aggregate(measured, HEADLINE)
    data = figure_png(plot_study_summary(rows, "a test study"))
    path = tmp_path / "summary.png"
    path.write_bytes(data)
    with Image.open(path) as picture:
        width, height = picture.size
        assert picture.format == "PNG"
        assert 1500 < width < 4000 and 300 < height < 2000  # two panels side by side, readable at 120 dpi
        colours = {tuple(pixel) for pixel in np.asarray(picture.convert("RGB")).reshape(-1, 3)[::7]}
    assert len(colours) > 20  # cells of several colours, text


# ---------------------------------------------------------------- one run, several samplers


@pytest.fixture(scope="module")
def judge(tmp_path_factory, train_images, test_images):
    torch.set_num_threads(1)
    result = train_judge(train_images, test_images, epochs=1, batch_size=40, seed=0, device="cpu", **QUIET)
    return save_judge(result.model, result.accuracy, folder=tmp_path_factory.mktemp("judge"))


@pytest.fixture(scope="module", autouse=True)
def _one_blas_thread():
    """One BLAS thread (scikit-learn's mixture), as torch has: fast on a busy machine, and the same numbers."""
    import sklearn.mixture  # noqa: F401

    with threadpool_limits(1):
        yield


def test_measure_run_gives_the_numbers_of_diagnose_and_evaluate(tmp_path, train_images, test_images, judge):
    config = RunConfig.from_preset("book-vae", epochs=1, batch_size=40, seed=0, device="cpu")
    for name in ("one", "two"):
        train(config, tmp_path / name, train_set=train_images, test_set=test_images, **QUIET)
    one, two = load_run(tmp_path / "one", "cpu"), load_run(tmp_path / "two", "cpu")
    settings = {"importance_samples": 3, "likelihood_images": 10, "seed": 1, "progress": False}
    measured = measure_run(one, [None, "gmm"], train_images, test_images, judge, num_samples=40, **settings)
    assert [m.diagnosis.sampler for m in measured] == ["prior", "gmm"]
    for sampler in ("prior", "gmm"):
        diagnose_run(two, train_images, judge, sampler, 40, settings["seed"], False)
        write_evaluation(two, train_images, test_images, judge, sampler, 40, 3, 10, settings["seed"], False)
    for name in ("diagnostics.json", "evaluation.json"):
        assert (tmp_path / "one/figures" / name).read_text() == (tmp_path / "two/figures" / name).read_text()
    evaluation = json.loads((tmp_path / "one/figures/evaluation.json").read_text())["samplers"]["gmm"]
    assert evaluation["sampler"]["fit_seed"] == 1  # --seed seeds the fit too


# ---------------------------------------------------------------- the study end to end

TINY = Protocol(
    name="tiny",
    train_images=200,
    test_images=60,
    epochs=2,
    samples=60,
    importance_samples=2,
    likelihood_images=10,
    prior_epochs=1,
    two_stage_steps=20,
    batch_size=40,
    seeds=2,
    latent_dims=(2, 16),
    presets=("book-ae", "book-vae", "vq-vae"),
)

#: The study's files, beside its runs.
FILES = ["comparison.csv", "comparison.md", "report.html", "runs.csv", "samples", "study.json", "summary.png"]


def _study(output, train_images, test_images, judge, **options):
    return run_study(
        output, protocol=TINY, train_set=train_images, test_set=test_images, judge=judge, device="cpu", **options
    )


@pytest.fixture(scope="module")
def straight(tmp_path_factory, train_images, test_images, judge):
    """The tiny study, never stopped, and what it logged."""
    torch.set_num_threads(1)
    lines: list[str] = []
    output = tmp_path_factory.mktemp("straight") / "study"
    result = _study(output, train_images, test_images, judge, progress=False, log=lines.append)
    return output, result, lines


def test_the_plan(tmp_path):
    runs = plan_runs(TINY, tmp_path)
    assert [(r.preset, r.setting, r.seed, r.samplers) for r in runs if r.seed == 0] == [
        ("book-ae", "latent 2", 0, ("uniform-box", "gmm")),
        ("book-vae", "latent 2", 0, ("prior", "gmm")),
        ("book-ae", "latent 16", 0, ("uniform-box", "gmm", "two-stage")),
        ("book-vae", "latent 16", 0, ("prior", "gmm", "two-stage")),
        ("vq-vae", "8×8 codes", 0, ("prior",)),
    ]
    vq = [r for r in runs if r.preset == "vq-vae"]
    assert len(vq) == 2 and all(r.learns_prior and r.group == "latent 16" and r.latent_dim is None for r in vq)
    assert runs[0].path == tmp_path / "runs/book-ae/latent-2/seed-0"
    assert plan_runs(FULL, tmp_path) and {r.preset for r in plan_runs(QUICK, tmp_path)} == set(FULL.presets)
    assert len(plan_runs(FULL, tmp_path)) == 2 * (2 * (len(FULL.presets) - 1) + 1)


def test_the_study_writes_its_files(straight):
    output, result, lines = straight
    assert sorted(p.name for p in output.iterdir()) == sorted([*FILES, "runs"])
    assert result.written[-3:] == [output / "comparison.md", output / "comparison.csv", output / "runs.csv"]
    assert all(path.is_file() for path in result.written)
    assert sorted(p.name for p in (output / "samples").iterdir()) == ["book-ae.png", "book-vae.png", "vq-vae.png"]
    assert json.loads((output / STUDY_FILE).read_text())["train_images"] == TINY.train_images
    table = list(csv.DictReader(io.StringIO((output / "comparison.csv").read_text())))
    assert len(table) == 2 + 2 + 3 + 3 + 1  # (setting, preset, sampler) rows
    assert {row["seeds"] for row in table} == {"0 1"}
    runs = list(csv.DictReader(io.StringIO((output / "runs.csv").read_text())))
    assert len(runs) == 2 * len(table) and runs[0]["run"] == "runs/book-ae/latent-2/seed-0"
    page = (output / "report.html").read_text()
    assert page.startswith("<!DOCTYPE html>") and "Every family, setting and sampler over seeds" in page
    assert f"the first {TINY.train_images} Fashion-MNIST training images" in page
    for path in [output / "summary.png", *(output / "samples").iterdir()]:
        with Image.open(path) as picture:
            assert picture.format == "PNG" and picture.size[0] > 500
    assert lines[0].startswith("the tiny study in") and lines[-1].startswith("[")
    assert any(line.startswith("[10/22] done training vq-vae, 8×8 codes, seed 1") for line in lines), lines
    assert not result.skipped


def _without_times(text: str) -> list[list[str]]:
    table = list(csv.reader(io.StringIO(text)))
    keep = [i for i, name in enumerate(table[0]) if not name.startswith("train seconds")]
    return [[row[i] for i in keep] for row in table]


def test_a_stopped_study_continues_and_ends_as_one_never_stopped(tmp_path, straight, train_images, test_images, judge):
    output = tmp_path / "study"
    epochs_seen: list[str] = []

    def ctrl_c_in_the_second_run(line: str) -> None:  # Ctrl-C as the second run's first epoch ends
        if line.startswith("epoch "):
            epochs_seen.append(line)
            if len(epochs_seen) == TINY.epochs + 1:
                os.kill(os.getpid(), signal.SIGINT)

    with pytest.raises(TrainingInterrupted, match="the same command continues the study") as stopped:
        _study(output, train_images, test_images, judge, progress=False, log=ctrl_c_in_the_second_run)
    assert stopped.value.exit_code == 130 and "training book-ae, latent 2, seed 1" in str(stopped.value)
    second = output / "runs/book-ae/latent-2/seed-1"
    assert json.loads((second / "metrics.jsonl").read_text().splitlines()[0])["epoch"] == 1

    measures: list[str] = []

    def stop_after_the_first_measure(task) -> None:
        if task.kind == "measure":
            measures.append(task.run.name)
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _study(output, train_images, test_images, judge, **QUIET, after_task=stop_after_the_first_measure)
    assert measures == ["book-ae, latent 2, seed 0"]

    lines: list[str] = []
    result = _study(output, train_images, test_images, judge, progress=False, log=lines.append)
    assert len(result.skipped) == 10 + 1  # every run trained, the first run measured
    assert result.skipped[0] == "training book-ae, latent 2, seed 0: trained already (2 epochs)"
    assert "measuring book-ae, latent 2, seed 0: measured already (uniform-box, gmm)" in result.skipped
    assert any("skipped training book-ae, latent 2, seed 1: trained already" in line for line in lines)

    reference = straight[0]
    for name in ("comparison.csv", "runs.csv"):
        assert _without_times((output / name).read_text()) == _without_times((reference / name).read_text()), name
    for run in ("runs/book-ae/latent-2/seed-1", "runs/vq-vae/codes/seed-0"):
        for name in ("model.safetensors", "figures/evaluation.json", "figures/diagnostics.json"):
            assert (output / run / name).read_bytes() == (reference / run / name).read_bytes(), (run, name)
    assert (output / "runs/vq-vae/codes/seed-0/prior/model.safetensors").read_bytes() == (
        reference / "runs/vq-vae/codes/seed-0/prior/model.safetensors"
    ).read_bytes()

    again: list[str] = []
    result = _study(output, train_images, test_images, judge, progress=False, log=again.append)
    assert len(result.skipped) == 10 + 2 + 10  # everything: the runs, the priors, the measures


# ---------------------------------------------------------------- refusals


def test_a_folder_of_other_files_or_another_protocol_is_refused(tmp_path, train_images, test_images, judge):
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    with pytest.raises(RunDirError, match=r"holds files but no study\.json, so it is not a study's folder"):
        _study(foreign, train_images, test_images, judge, **QUIET)
    assert sorted(p.name for p in foreign.iterdir()) == ["notes.txt"]
    other = tmp_path / "other"
    other.mkdir()
    (other / STUDY_FILE).write_text(json.dumps({"format": "vaelab-study", **QUICK.to_dict()}))
    with pytest.raises(RunDirError, match=r"holds a study of another protocol \(quick: .*train_images.*differ\)"):
        _study(other, train_images, test_images, judge, **QUIET)
    assert sorted(p.name for p in other.iterdir()) == [STUDY_FILE]


def test_the_command_line_refuses_in_one_line(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "no-judge-here"))
    code, _, err = run_cli(capsys, "study", "--output", str(tmp_path / "s"), "--data-dir", str(tmp_path / "no-data"))
    assert code == 1 and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not (tmp_path / "s").exists()
    code, _, err = run_cli(capsys, "study", "--seeds", "1")
    assert_one_line_error(code, err, 2, "--seeds", "2 to 10")


def test_the_study_covers_every_family():
    """A family added later without a preset in the study fails here."""
    assert {PRESETS[preset].model.kind for preset in STUDY_PRESETS} == set(FAMILIES)
    assert all(PRESETS[preset].dataset == "fashion-mnist" for preset in STUDY_PRESETS)  # what the judge scores


def test_a_protocol_is_checked():
    with pytest.raises(ConfigError, match="the protocol's epochs must be an integer from 1"):
        Protocol(**{**TINY.to_dict(), "epochs": 0})
    with pytest.raises(ConfigError, match="unknown preset 'gan'"):
        Protocol(**{**TINY.to_dict(), "presets": ("gan",)})


def test_the_time_left_follows_the_tasks_done(tmp_path):
    runs = plan_runs(TINY, tmp_path)
    tasks = [Task("train", run, 10.0) for run in runs[:3]] + [Task("measure", run, 5.0) for run in runs[:2]]
    clock = Clock(tasks)
    assert clock.left() == pytest.approx(40.0)
    clock.finish(tasks[0], 20.0)  # training takes twice its estimate: so will the others, and measuring too
    assert clock.left() == pytest.approx(2 * 20 + 2 * 10)
    clock.finish(tasks[3], 2.5)  # measuring half its estimate
    assert clock.left() == pytest.approx(2 * 20 + 2.5)
    clock.finish(tasks[1], None)  # skipped: no time
    assert clock.left() == pytest.approx(20 + 2.5) and clock.done == 3
    shown = [duration(s) for s in (4.4, 59.6, 61, 3600, 3661 + 30 * 60)]
    assert shown == ["4 s", "1 min", "1 min", "1 h 00 min", "1 h 31 min"]


def test_the_protocols_fit_their_budgets():
    """The full study and --quick differ only in size, and --quick is the smaller in every count."""
    full, quick = FULL.to_dict(), QUICK.to_dict()
    assert full.keys() == quick.keys()
    assert full["presets"] == quick["presets"] and full["latent_dims"] == quick["latent_dims"]
    for key in ("train_images", "test_images", "epochs", "samples", "prior_epochs", "two_stage_steps"):
        assert quick[key] < full[key], key
    assert FULL.seeds == QUICK.seeds == 2


# ---------------------------------------------------------------- under torchrun


@pytest.mark.slow
def test_the_study_under_torchrun(tmp_path, judge):
    """Two gloo processes train every run together; rank 0 alone measures and writes; the same command
    under torchrun then skips everything."""
    from test_distributed import torchrun

    worker = Path(__file__).parent / "study_worker.py"
    output, reports = tmp_path / "study", tmp_path / "reports"
    reports.mkdir()
    done = torchrun(output, judge.path.parent, reports, worker=worker, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    main, other = (json.loads((reports / f"{rank}.json").read_text()) for rank in (0, 1))
    assert main["is_main"] and not other["is_main"] and not other["written"]
    assert [Path(p).name for p in main["written"][-3:]] == ["comparison.md", "comparison.csv", "runs.csv"]
    assert sorted(p.name for p in output.iterdir()) == sorted([*FILES, "runs"])
    table = list(csv.DictReader(io.StringIO((output / "comparison.csv").read_text())))
    assert [(row["preset"], row["sampler"], row["seeds"]) for row in table] == [
        ("book-ae", "uniform-box", "0 1"),
        ("book-ae", "gmm", "0 1"),
        ("book-vae", "prior", "0 1"),
        ("book-vae", "gmm", "0 1"),
        ("vq-vae", "prior", "0 1"),
    ]
    for run in ("book-ae/latent-2/seed-1", "vq-vae/codes/seed-0"):
        rows = [json.loads(line) for line in (output / "runs" / run / "metrics.jsonl").read_text().splitlines()]
        assert [row["epoch"] for row in rows] == [1, 2]
    again = torchrun(output, judge.path.parent, reports, worker=worker, timeout=600)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    main = json.loads((reports / "0.json").read_text())
    assert len(main["skipped"]) == 6 + 2 + 6 and json.loads((reports / "1.json").read_text())["skipped"] == [
        f"training {preset}, {setting}, seed {seed}: trained already (2 epochs)"
        for preset, setting in (("book-ae", "latent 2"), ("book-vae", "latent 2"), ("vq-vae", "8×8 codes"))
        for seed in (0, 1)
    ]
