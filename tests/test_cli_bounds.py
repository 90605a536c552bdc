"""Input checks at the edges: seeds, counts and sizes beyond what a command can do, 1-D latent
spaces, folders that cannot be created, and options that do not apply. Each bad value is one line
on stderr (exit 2 for a flag argparse rejects, 1 for a value only the data can refute), given
before any costly work."""

from __future__ import annotations

import dataclasses
import shutil
import sys

import numpy as np
import pytest
import torch

from idx_fixtures import install_fake_fashion_mnist, isolate_data_locations
from test_cli import assert_one_line_error, run_cli
from vaelab import limits
from vaelab.cli import build_parser
from vaelab.errors import ConfigError, RunDirError
from vaelab.evaluation.metrics import evaluate
from vaelab.evaluation.sampling import SampleSet
from vaelab.folders import check_folder_possible, make_folder
from vaelab.latent.arithmetic import parse_factors
from vaelab.latent.projection import fit_projection
from vaelab.presentation import attribute_report, report
from vaelab.training import RunConfig, RunDir, load_run, prepare_config, train


def _vae():
    from vaelab.models import ModelSpec, build_model

    return build_model(ModelSpec(kind="vae"))


HUGE = "18446744073709551616"  # 2**64: beyond every seed consumer


# 1. seeds and threads ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        ["train", "--preset", "book-ae", "--run-dir", "RUN"],
        ["embed", "RUN", "--sampled"],
        ["generate", "RUN"],
        ["denoise", "RUN"],
        ["diagnose", "RUN"],
        ["evaluate", "RUN"],
        ["judge", "train"],
    ],
)
def test_a_seed_beyond_two_to_the_32_is_a_usage_error(capsys, tmp_path, argv):
    argv = [str(tmp_path / "run") if a == "RUN" else a for a in argv]
    code, _, err = run_cli(capsys, *argv, "--seed", HUGE)
    assert_one_line_error(code, err, 2, "--seed", f"0 to {limits.MAX_SEED:,}")
    assert not (tmp_path / "run").exists()


def test_the_largest_seed_is_accepted_by_every_consumer():
    from sklearn.utils import check_random_state

    args = build_parser().parse_args(["train", "--preset", "book-ae", "--run-dir", "r", "--seed", str(limits.MAX_SEED)])
    assert args.seed == 2**32 - 1
    torch.manual_seed(args.seed)
    torch.Generator().manual_seed(args.seed + 1)  # the judge's second generator
    np.random.default_rng(args.seed)
    check_random_state(args.seed)  # t-SNE's random_state
    with pytest.raises(ValueError):
        check_random_state(args.seed + 1)  # so the bound cannot be larger


def test_thread_count_is_bounded(capsys, tmp_path):
    code, _, err = run_cli(
        capsys, "train", "--preset", "book-ae", "--run-dir", str(tmp_path / "r"), "--threads", "99999999999"
    )
    assert_one_line_error(code, err, 2, "--threads", f"1 to {limits.MAX_THREADS:,}")


# 2. one-dimensional latent spaces ---------------------------------------------------------------


def test_latent_dim_1_is_refused_for_a_new_run(capsys, tmp_path):
    code, _, err = run_cli(
        capsys, "train", "--preset", "book-ae", "--run-dir", str(tmp_path / "r"), "--latent-dim", "1"
    )
    assert_one_line_error(code, err, 2, "--latent-dim", "from 2")
    with pytest.raises(ConfigError, match="--latent-dim 1 is too small"):
        prepare_config(RunDir(tmp_path / "r"), "book-vae", False, latent_dim=1)
    assert prepare_config(RunDir(tmp_path / "r"), "book-vae", False, latent_dim=2).model.latent_dim == 2
    assert not (tmp_path / "r").exists()


@pytest.fixture(scope="module")
def one_dim_run(tmp_path_factory, train_images, test_images):
    """A 1-D book-ae (as trained before vaelab refused them), one short epoch on synthetic data."""
    torch.set_num_threads(1)
    config = RunConfig.from_preset("book-ae", latent_dim=1, epochs=1, batch_size=40, device="cpu")
    path = tmp_path_factory.mktemp("runs") / "ae1"
    train(config, path, train_set=train_images, test_set=test_images, progress=False, log=lambda s: None)
    return load_run(path, "cpu")


def test_a_1d_run_still_loads_but_plane_figures_are_a_config_error(one_dim_run, test_images):
    with pytest.raises(ConfigError, match=r"1 dimension.*--latent-dim 2"):
        fit_projection(np.zeros((10, 1)))
    for write in (report.write_embedding, report.write_generated, report.write_grid):
        with pytest.raises(ConfigError, match="latent space has 1 dimension"):
            write(one_dim_run, test_images)
    png, _ = report.write_reconstructions(one_dim_run, test_images)  # needs no plane
    assert png.exists()


def test_cli_on_a_1d_run_says_so_in_one_line(capsys, monkeypatch, tmp_path, one_dim_run):
    install_fake_fashion_mnist(monkeypatch, tmp_path)
    for command in ("embed", "grid", "diagnose"):  # diagnose: before the judge is even looked for
        code, _, err = run_cli(capsys, command, str(one_dim_run.dir), "--device", "cpu")
        assert_one_line_error(code, err, 1, "latent space has 1 dimension")


# 3. minimum sizes of evaluate and diagnose --------------------------------------------------------


@pytest.mark.parametrize(
    "argv, fragments",
    [
        (["evaluate", "--num-samples", "1"], ["--num-samples must be at least 4"]),
        (["evaluate", "--num-samples", "3"], ["--num-samples must be at least 4"]),
        (["evaluate", "--limit-test", "1"], ["at least 4 test images", "has 1", "--limit-test 4"]),
        (["evaluate", "-k", "5"], ["-k/--importance-samples", "ae family has none"]),
        (["evaluate", "--likelihood-images", "5"], ["--likelihood-images", "ae family has none"]),
        (["diagnose", "--limit-train", "1"], ["at least 2 training images", "has 1", "--limit-train 2"]),
        (["diagnose", "--limit-train", "5", "--sampler", "gmm"], ["gmm", "got 5", "--limit-train 10"]),
        (["evaluate", "--limit-train", "9", "--sampler", "gmm"], ["gmm", "got 9", "--limit-train 10"]),
    ],
)
def test_too_small_for_the_metrics_fails_before_any_work(capsys, monkeypatch, tmp_path, trained_run, argv, fragments):
    # No judge exists in the isolated cache: the check must come before the judge is needed.
    install_fake_fashion_mnist(monkeypatch, tmp_path)
    command, *flags = argv
    code, _, err = run_cli(capsys, command, str(trained_run.dir), "--device", "cpu", *flags)
    assert_one_line_error(code, err, 1, *fragments)


def test_evaluate_checks_sizes_before_computing(trained_run, test_images):
    samples = SampleSet(
        np.zeros((5, 2), np.float32),
        np.zeros((10, 2), np.float32),
        np.zeros((10, 1, 32, 32), np.float32),
        {"sampler": "prior"},
        0,
    )
    # judge=None: any computation would fail with an AttributeError; the ConfigError comes first
    with pytest.raises(ConfigError, match="at least 4 test images"):
        evaluate(trained_run.model, samples, test_images.head(3), None)
    with pytest.raises(ConfigError, match="-k/--importance-samples"):
        evaluate(trained_run.model, samples, test_images, None, importance_samples=8)


def test_evaluation_request_limits():
    from vaelab.evaluation.metrics import check_evaluation_request

    check_evaluation_request(_vae(), 4, 4, importance_samples=10, likelihood_images=4)  # the smallest that works
    with pytest.raises(ConfigError, match="--likelihood-images 81 is more than the 80 test images"):
        check_evaluation_request(_vae(), 100, 80, likelihood_images=81)
    with pytest.raises(ConfigError, match="at least 5"):
        check_evaluation_request(_vae(), 4, 100, neighbours=4)


# 4. folders that are files or cannot be created ---------------------------------------------------


def test_run_dir_that_is_a_file(capsys, tmp_path):
    afile = tmp_path / "afile"
    afile.write_text("keep me")
    code, _, err = run_cli(capsys, "train", "--preset", "book-ae", "--run-dir", str(afile))
    assert_one_line_error(code, err, 1, f"{afile} is a file, not a folder", "--run-dir")
    code, _, err = run_cli(capsys, "train", "--preset", "book-ae", "--run-dir", str(afile / "sub"))
    assert_one_line_error(code, err, 1, f"cannot create {afile / 'sub'}: {afile} is a file")
    code, _, err = run_cli(capsys, "reconstruct", str(afile))
    assert_one_line_error(code, err, 1, f"{afile} is a file, not a run directory")
    assert afile.read_text() == "keep me"


def test_compare_output_that_is_a_file(capsys, tmp_path, trained_run):
    run = RunDir(tmp_path / "run")
    run.figures.mkdir(parents=True)
    shutil.copy(trained_run.dir.config, run.config)
    (run.figures / "evaluation.json").write_text('{"samplers": {"uniform-box": {"precision": 0.5}}}')
    afile = tmp_path / "afile"
    afile.write_text("keep me")
    code, _, err = run_cli(capsys, "compare", str(run), "--output", str(afile))
    assert_one_line_error(code, err, 1, f"{afile} is a file, not a folder", "--output")
    assert afile.read_text() == "keep me"
    code, _, err = run_cli(capsys, "compare", str(run), "--output", str(tmp_path / "new" / "out"))
    assert code == 0, err
    assert (tmp_path / "new" / "out" / "comparison.csv").exists()


@pytest.mark.skipif(sys.platform != "linux", reason="needs Linux's /proc")
def test_a_folder_the_system_refuses(tmp_path):
    with pytest.raises(RunDirError, match=r"cannot create /proc/vaelab-test \(no such file or directory\); fix it"):
        make_folder("/proc/vaelab-test", RunDirError, "fix it")
    assert make_folder(tmp_path / "a" / "b", RunDirError, "fix it").is_dir()
    check_folder_possible(tmp_path / "c" / "d", RunDirError, "fix it")  # possible, and nothing created
    assert not (tmp_path / "c").exists()


# 5. counts and sizes ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "argv, flag, high",
    [
        (["reconstruct", "RUN", "--count"], "--count", limits.MAX_RECONSTRUCTIONS),
        (["generate", "RUN", "--count"], "--count", limits.MAX_GENERATED),
        (["grid", "RUN", "--size"], "--size", limits.MAX_GRID_SIZE),
        (["morph", "RUN", "--from", "0", "--to", "1", "--steps"], "--steps", limits.MAX_MORPH_STEPS),
        (["arithmetic", "RUN", "--attribute", "Sneaker", "--images"], "--images", limits.MAX_ARITHMETIC_IMAGES),
        (["evaluate", "RUN", "-k"], "--importance-samples", limits.MAX_IMPORTANCE_SAMPLES),
        (["evaluate", "RUN", "--num-samples"], "--num-samples", limits.MAX_METRIC_SAMPLES),
        (["diagnose", "RUN", "--num-samples"], "--num-samples", limits.MAX_METRIC_SAMPLES),
        (["train", "--preset", "book-ae", "--run-dir", "RUN", "--latent-dim"], "--latent-dim", limits.MAX_LATENT_DIM),
        (["train", "--preset", "iwae", "--run-dir", "RUN", "--k"], "--k", limits.MAX_IWAE_SAMPLES),
        (
            ["train", "--preset", "vamp", "--run-dir", "RUN", "--pseudo-inputs"],
            "--pseudo-inputs",
            limits.MAX_PSEUDO_INPUTS,
        ),
        (
            ["train", "--preset", "vq-vae", "--run-dir", "RUN", "--codebook-size"],
            "--codebook-size",
            limits.MAX_CODEBOOK_SIZE,
        ),
        (
            ["train", "--preset", "book-faces", "--run-dir", "RUN", "--image-size"],
            "--image-size",
            limits.MAX_IMAGE_SIZE,
        ),
        (["data", "--dataset", "celeba", "--image-size"], "--image-size", limits.MAX_IMAGE_SIZE),
        (["study", "--seeds"], "--seeds", limits.MAX_STUDY_SEEDS),
    ],
)
def test_counts_have_a_documented_maximum(capsys, tmp_path, argv, flag, high):
    argv = [str(tmp_path / "run") if a == "RUN" else a for a in argv]
    parser = build_parser()
    assert parser.parse_args([*argv, str(high)])  # the maximum itself is fine
    for value in (high + 1, 99999999999999999999):
        code, _, err = run_cli(capsys, *argv, str(value))
        assert_one_line_error(code, err, 2, flag, f"to {high:,}")
    code, out, _ = run_cli(capsys, argv[0], "--help")
    assert f"{high:,}" in " ".join(out.split())  # stated in --help


@pytest.fixture
def private_run(tmp_path, trained_run):
    """The trained run writing its figures into a folder of this test's own."""
    return dataclasses.replace(trained_run, dir=RunDir(tmp_path / "run"))


def test_counts_of_test_images_are_refused_beyond_the_test_set(private_run, test_images):
    trained_run = private_run
    few = test_images.head(3)
    with pytest.raises(ConfigError, match="--count 4 is more than the 3 test images; use --count 3 or fewer"):
        report.write_reconstructions(trained_run, few, count=4)
    with pytest.raises(ConfigError, match="--count 81 is more than the 80 test images"):
        report.write_embedding(trained_run, test_images, count=81)
    _, data = report.write_reconstructions(trained_run, few)  # the default shrinks to the set
    with np.load(data) as saved:
        assert len(saved["originals"]) == 3
    with pytest.raises(ConfigError, match="--images 4 is more than the 3 test images"):
        attribute_report.pick_images(few, 4, "first", "shape-7", None)
    lacking = int(np.sum(np.array(test_images.class_names)[test_images.labels] == "shape-5"))
    picked = attribute_report.pick_images(test_images, lacking, "lacking", "shape-7", "shape-5")
    assert len(picked) == lacking
    with pytest.raises(ConfigError, match=f"--images {lacking + 1} is more than the {lacking} test images of shape-5"):
        attribute_report.pick_images(test_images, lacking + 1, "lacking", "shape-7", "shape-5")


def test_arithmetic_figure_size_is_bounded(private_run, test_images):
    with pytest.raises(ConfigError, match="10 --images × 101 --factors make 1,010 decoded images"):
        attribute_report.write_arithmetic(private_run, test_images, "shape-7", factors="-50:50", images=10)
    assert not private_run.dir.figures.exists()  # refused before the vector was computed


# 6. factors -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("1e308", "'1e308' goes beyond ±1000"),
        ("1e39", "goes beyond ±1000"),  # finite in float64, infinite in float32
        ("-4,2000", "goes beyond ±1000"),
        ("-1e308:1e308:1e-300", "goes beyond ±1000"),
        ("0:10:0.001", "'0:10:0.001' gives 10,001 factors; use at most 101"),
        ("0:1:1e999", "positive, finite STEP"),
    ],
)
def test_factors_out_of_bounds(capsys, tmp_path, text, fragment):
    with pytest.raises(ConfigError, match="--factors"):
        parse_factors(text)
    code, _, err = run_cli(capsys, "arithmetic", str(tmp_path), "--attribute", "Sneaker", "--factors", text)
    assert_one_line_error(code, err, 2, f"argument --factors: {text!r}", fragment)
    assert err.count("--factors") == 1  # the flag is not repeated


def test_factors_at_the_bounds():
    assert parse_factors("-1000:1000:20") == tuple(float(v) for v in range(-1000, 1001, 20))
    assert parse_factors("-1000,1000") == (-1000.0, 1000.0)


# 7. resuming a finished run writes nothing, and says nothing was written ------------------------------


def test_resuming_a_finished_run_prints_no_wrote_line(capsys, monkeypatch, tmp_path):
    install_fake_fashion_mnist(monkeypatch, tmp_path)
    run = tmp_path / "run"
    common = ["--batch-size", "30", "--device", "cpu", "--no-progress"]
    code, out, err = run_cli(capsys, "train", "--preset", "book-ae", "--run-dir", str(run), "--epochs", "1", *common)
    assert code == 0, err
    assert f"wrote {run / 'model.safetensors'}" in out
    before = {p.name: p.stat().st_mtime_ns for p in run.iterdir()}
    code, out, err = run_cli(capsys, "train", "--run-dir", str(run), "--resume", *common)
    assert code == 0, err
    assert "has already trained 1 epoch;" in out
    assert "wrote" not in out
    assert {p.name: p.stat().st_mtime_ns for p in run.iterdir()} == before


def test_isolated_cache_has_no_judge(monkeypatch, tmp_path):
    """The evaluate/diagnose checks above rely on there being no judge to load."""
    isolate_data_locations(monkeypatch, tmp_path)
    from vaelab.errors import JudgeError
    from vaelab.evaluation.judge import load_judge

    with pytest.raises(JudgeError):
        load_judge("cpu")
