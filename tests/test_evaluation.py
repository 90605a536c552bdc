"""diagnose / evaluate / compare end to end on synthetic data with a synthetic judge."""

import json

import numpy as np
import pytest
import torch

from vaelab.evaluation import save_judge, train_judge
from vaelab.evaluation.diagnostics import diagnose
from vaelab.evaluation.run_measures import write_evaluation
from vaelab.evaluation.sampling import draw_samples
from vaelab.presentation.compare import LEGEND, as_csv, as_markdown, collect_rows, write_comparison
from vaelab.presentation.diagnostics_report import write_diagnostics
from vaelab.training import RunConfig, load_run, train


@pytest.fixture(scope="module")
def judge(tmp_path_factory, train_images, test_images):
    torch.set_num_threads(1)
    result = train_judge(
        train_images, test_images, epochs=2, batch_size=24, seed=0, device="cpu", progress=False, log=lambda s: None
    )
    return save_judge(result.model, result.accuracy, folder=tmp_path_factory.mktemp("judge"))


@pytest.fixture(scope="module")
def vae_run(tmp_path_factory, train_images, test_images):
    torch.set_num_threads(1)
    config = RunConfig.from_preset("book-vae", epochs=2, batch_size=20, lr=2e-3, seed=0, device="cpu")
    run_dir = tmp_path_factory.mktemp("runs") / "vae"
    train(config, run_dir, train_set=train_images, test_set=test_images, progress=False, log=lambda s: None)
    return load_run(run_dir, "cpu")


def test_samples_are_drawn_from_the_training_embeddings(trained_run, train_images):
    samples = draw_samples(trained_run.model, train_images, "uniform-box", 50, seed=0)
    assert samples.train_z.shape == (len(train_images), 2)
    assert samples.points.shape == (50, 2) and samples.images.shape == (50, 1, 32, 32)
    assert (samples.points >= samples.train_z.min(0)).all() and (samples.points <= samples.train_z.max(0)).all()
    assert samples.sampler["sampler"] == "uniform-box"


def test_diagnose_reports_the_three_problems(trained_run, train_images, judge):
    samples = draw_samples(trained_run.model, train_images, "uniform-box", 300, seed=0)
    diagnosis = diagnose(samples, train_images, judge, region_samples=2000)
    summary = diagnosis.summary
    assert summary["judge"]["hash"] == judge.hash and summary["judge"]["accuracy"] == judge.accuracy
    shares = summary["p1_crowding"]["class_shares"]
    assert sum(shares.values()) == pytest.approx(1.0)
    assert 0 <= summary["p1_crowding"]["kl_from_uniform"] <= np.log(10) + 1e-9
    assert len(summary["p1_crowding"]["latent_region"]["region_share"]) == 10
    assert summary["p2_centring"]["kl_gaussian_to_standard"] >= 0
    holes = summary["p3_holes"]
    assert holes["unconfident_fraction"] == pytest.approx(diagnosis.unconfident.mean())
    assert holes["hole_fraction"] == pytest.approx(diagnosis.far.mean())
    json.dumps(summary)  # JSON-ready


@pytest.mark.slow
def test_write_and_compare_for_two_runs_and_samplers(tmp_path, trained_run, vae_run, train_images, test_images, judge):
    for sampler in ("uniform-box", "gmm"):
        png, data = write_diagnostics(trained_run, train_images, judge, sampler, num_samples=200)
        assert png.name == f"diagnostics-{sampler}.png" and png.read_bytes()[:4] == b"\x89PNG"
        write_evaluation(trained_run, train_images, test_images, judge, sampler, num_samples=200, progress=False)
    assert set(json.loads(data.read_text())["samplers"]) == {"uniform-box", "gmm"}
    write_diagnostics(vae_run, train_images, judge, None, num_samples=200)
    (evaluation,) = write_evaluation(
        vae_run,
        train_images,
        test_images,
        judge,
        None,
        num_samples=200,
        importance_samples=4,
        likelihood_images=20,
        progress=False,
    )
    result = json.loads(evaluation.read_text())["samplers"]["prior"]
    assert result["likelihood"]["importance_samples"] == 4 and result["likelihood"]["images"] == 20
    assert result["likelihood"]["iw_nll_nats"] <= result["likelihood"]["neg_elbo_nats"] + 5  # a bound, up to noise
    assert 0 <= result["precision"] <= 1 and 0 <= result["recall"] <= 1
    assert result["frechet_distance_judge"] >= 0

    rows = collect_rows([trained_run.dir.path, vae_run.dir.path])
    assert [(r["preset"], r["sampler"]) for r in rows] == [
        ("book-ae", "uniform-box"),
        ("book-ae", "gmm"),
        ("book-vae", "prior"),
    ]
    assert rows[0]["IW NLL nats"] is None and rows[2]["IW k"] == 4
    markdown = as_markdown(rows)
    assert markdown.startswith("<!-- written by vaelab compare") and markdown.count("\n") == 6 + len(rows)
    assert markdown.endswith("\n\n" + LEGEND + "\n") and "\n" not in LEGEND
    assert "| book-vae | prior | epoch 2 |" in markdown
    assert as_csv(rows).splitlines()[0].startswith("run,preset,sampler,")
    table, paths = write_comparison([trained_run.dir.path, vae_run.dir.path], tmp_path)
    assert "Fréchet (judge)" in table and all(p.exists() for p in paths)


def test_diagnose_and_evaluate_rewrite_a_damaged_results_file(
    capsys, tmp_path, trained_run, train_images, test_images, judge
):
    import shutil

    run = load_run(shutil.copytree(trained_run.dir.path, tmp_path / "run"), "cpu")
    damaged = {"diagnostics.json": b"[1, 2]", "evaluation.json": b'{"samplers": 5}'}
    for name, content in damaged.items():
        run.dir.figure_path(name).write_bytes(content)
    capsys.readouterr()
    write_diagnostics(run, train_images, judge, "uniform-box", num_samples=100)
    write_evaluation(run, train_images, test_images, judge, "uniform-box", num_samples=100, progress=False)
    warnings = capsys.readouterr().err.strip().splitlines()
    assert [line.split(" ", 2)[1] for line in warnings] == [str(run.dir.figures / name) for name in damaged]
    assert all(line.endswith("writing it afresh with the uniform-box results only") for line in warnings)
    weights = run.dir.weights_record().to_dict()
    assert weights["epoch"] == 2
    for name in damaged:
        samplers = json.loads((run.dir.figures / name).read_text())["samplers"]
        assert list(samplers) == ["uniform-box"] and samplers["uniform-box"]["weights"] == weights
