"""The command line: help, one-line errors with non-zero exit codes, and the commands end to end
on a small stand-in dataset."""

import argparse
import json
import subprocess
import sys
from pathlib import Path

import pytest

from cli_run import assert_one_line_error, run_cli
from idx_fixtures import install_fake_fashion_mnist, isolate_data_locations
from vaelab.cli import build_parser
from vaelab.data import fashion_mnist as fm

README = Path(__file__).parent.parent / "README.md"


def _commands(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every command and subcommand of ``parser``, e.g. ``("train",)`` and ``("judge", "show")``."""
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found += [(*path, name), *_commands(sub, (*path, name))]
    return found


#: Every command the parser has (so a new command cannot be left out of these tests).
COMMANDS = [" ".join(command) for command in _commands(build_parser())]
TOP_LEVEL = [command for command in COMMANDS if " " not in command]


def _tour_commands() -> list[str]:
    """The commands of the README's tour: the first word after ``vaelab`` on each line of its first code block."""
    tour = README.read_text(encoding="utf-8").split("## A tour of the commands", 1)[1]
    block = tour.split("```bash", 1)[1].split("```", 1)[0]
    return [line.split()[1] for line in block.splitlines() if line.startswith("vaelab ")]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(capsys, command):
    code, out, _ = run_cli(capsys, *command.split(), "--help")
    assert code == 0
    assert "usage: vaelab " + command in out


def test_the_command_list_is_complete():
    assert {"train", "attribute", "arithmetic", "morph", "explore", "judge train", "judge show"} <= set(COMMANDS)


def test_every_command_in_the_readme_tour_exists():
    assert set(_tour_commands()) <= set(TOP_LEVEL)


def test_every_command_is_in_the_readme_tour():
    assert set(TOP_LEVEL) <= set(_tour_commands())


@pytest.mark.parametrize(
    "flags, fragment",
    [
        (["--epochs", "0"], "--epochs"),
        (["--epochs", "three"], "--epochs"),
        (["--lr", "-1"], "--lr"),
        (["--lr", "nan"], "--lr"),
        (["--batch-size", "1.5"], "--batch-size"),
        (["--device", "tpu"], "--device"),
        (["--bogus"], "--bogus"),
        (["--corruption", "blur"], "--corruption"),
        (["--noise-amount", "0"], "--noise-amount"),
        (["--beta", "-2"], "--beta"),
        (["--precision", "fp16"], "--precision"),
        (["--threads", "0"], "--threads"),
    ],
)
def test_bad_flag_values(capsys, tmp_path, flags, fragment):
    code, _, err = run_cli(capsys, "train", "--preset", "book-ae", "--run-dir", str(tmp_path / "r"), *flags)
    assert_one_line_error(code, err, 2, fragment)


def test_unknown_preset(capsys, tmp_path):
    code, _, err = run_cli(capsys, "train", "--preset", "book-xyz", "--run-dir", str(tmp_path / "r"))
    assert_one_line_error(code, err, 1, "unknown preset 'book-xyz'", "book-ae")
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("command", ["reconstruct", "embed", "generate", "grid"])
def test_run_dir_that_does_not_exist(capsys, tmp_path, command):
    code, _, err = run_cli(capsys, command, str(tmp_path / "missing"))
    assert_one_line_error(code, err, 1, "does not exist")


def test_folder_that_is_not_a_run(capsys, tmp_path):
    code, _, err = run_cli(capsys, "embed", str(tmp_path))
    assert_one_line_error(code, err, 1, "not a vaelab run directory")


def test_missing_data(capsys, monkeypatch, tmp_path):
    isolate_data_locations(monkeypatch, tmp_path)

    def offline(url, dest, *args, **kwargs):
        from vaelab.errors import DataError

        raise DataError(f"could not download {url}: network unreachable")

    monkeypatch.setattr(fm, "download_file", offline)
    fm.clear_cache()
    code, _, err = run_cli(capsys, "train", "--preset", "book-ae", "--run-dir", str(tmp_path / "r"))
    assert_one_line_error(code, err, 1, "train-images-idx3-ubyte")


def test_data_reports_corrupt_files(capsys, monkeypatch, tmp_path):
    folder = install_fake_fashion_mnist(monkeypatch, tmp_path)
    code, out, err = run_cli(capsys, "data")
    assert code == 0 and out.count(" ok ") == 4
    damaged = folder / "t10k-images-idx3-ubyte.gz"
    damaged.write_bytes(damaged.read_bytes()[:-20])
    code, out, err = run_cli(capsys, "data")
    assert "corrupt" in out
    assert_one_line_error(code, err, 1, "missing or corrupt")


def test_train_analyses_and_resume_end_to_end(capsys, monkeypatch, tmp_path):
    install_fake_fashion_mnist(monkeypatch, tmp_path)
    run = str(tmp_path / "run")
    common = ["--batch-size", "20", "--device", "cpu", "--no-progress"]
    code, out, err = run_cli(capsys, "train", "--preset", "book-ae", "--run-dir", run, "--epochs", "1", *common)
    assert code == 0, err
    assert "validation loss" in out

    code, _, err = run_cli(capsys, "train", "--preset", "book-ae", "--run-dir", run, *common)
    assert_one_line_error(code, err, 1, "already holds a run", "--resume")

    code, out, err = run_cli(capsys, "train", "--run-dir", run, "--resume", "--epochs", "2", *common)
    assert code == 0, err
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2]

    code, out, err = run_cli(capsys, "denoise", run, "--device", "cpu", "--noise-amount", "0.4")
    assert code == 0, err
    assert json.loads((tmp_path / "run" / "figures" / "denoising.json").read_text())["corruption"] == {
        "kind": "gaussian",
        "amount": 0.4,
    }

    for command, figure in [
        ("reconstruct", "reconstructions.png"),
        ("embed", "latent_scatter.png"),
        ("generate", "generated.png"),
        ("grid", "latent_grid.png"),
    ]:
        code, out, err = run_cli(capsys, command, run, "--device", "cpu")
        assert code == 0, err
        assert f"wrote {tmp_path / 'run' / 'figures' / figure}" in out


def test_resume_with_another_preset_is_refused(capsys, monkeypatch, tmp_path):
    install_fake_fashion_mnist(monkeypatch, tmp_path)
    run = tmp_path / "run"
    code, _, err = run_cli(
        capsys,
        "train",
        "--preset",
        "book-ae",
        "--run-dir",
        str(run),
        "--epochs",
        "1",
        "--batch-size",
        "30",
        "--no-progress",
    )
    assert code == 0, err
    config = json.loads((run / "config.json").read_text())
    config["preset"] = "book-vae"  # as if another model had trained here
    (run / "config.json").write_text(json.dumps(config))
    code, _, err = run_cli(capsys, "train", "--preset", "book-ae", "--run-dir", str(run), "--resume")
    assert_one_line_error(code, err, 1, "holds a book-vae run")


def test_resume_changing_the_recipe_is_refused(capsys, monkeypatch, tmp_path):
    install_fake_fashion_mnist(monkeypatch, tmp_path)
    run = str(tmp_path / "run")
    run_cli(
        capsys, "train", "--preset", "book-ae", "--run-dir", run, "--epochs", "1", "--batch-size", "30", "--no-progress"
    )
    code, _, err = run_cli(capsys, "train", "--run-dir", run, "--resume", "--lr", "0.1")
    assert_one_line_error(code, err, 1, "--lr", "cannot change")


def test_console_entry_point_prints_no_traceback(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "vaelab", "train", "--preset", "nope", "--run-dir", str(tmp_path / "r")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().startswith("vaelab train: error: unknown preset")


def test_diagnose_and_evaluate_without_a_judge(capsys, monkeypatch, tmp_path):
    install_fake_fashion_mnist(monkeypatch, tmp_path)
    run = str(tmp_path / "run")
    run_cli(
        capsys, "train", "--preset", "book-ae", "--run-dir", run, "--epochs", "1", "--batch-size", "30", "--no-progress"
    )
    for command in ("diagnose", "evaluate"):
        code, _, err = run_cli(capsys, command, run, "--device", "cpu")
        assert_one_line_error(code, err, 1, "vaelab judge train")
    code, _, err = run_cli(capsys, "compare", run)
    assert_one_line_error(code, err, 1, "vaelab evaluate")
    code, _, err = run_cli(capsys, "compare", str(tmp_path / "nowhere"))
    assert_one_line_error(code, err, 1, "does not exist")


def test_analysis_flags_reach_the_api(capsys, monkeypatch, tmp_path, trained_run):
    """Each analysis command passes its flags on by name, beside the run and test set it opens (a
    type checker doubted it: the handlers spread an untyped pair into calls that also take keywords)."""
    import shutil

    import numpy as np

    install_fake_fashion_mnist(monkeypatch, tmp_path)
    run = tmp_path / "run"
    shutil.copytree(trained_run.dir.path, run)
    figures = run / "figures"
    for argv in (
        ["reconstruct", "--count", "3"],
        ["embed", "--count", "12", "--seed", "1"],
        ["generate", "--count", "4", "--sampler", "prior", "--seed", "2"],
        ["grid", "--size", "3", "--span", "prior"],
    ):
        code, _, err = run_cli(capsys, argv[0], str(run), "--device", "cpu", *argv[1:])
        assert code == 0, err
    with np.load(figures / "reconstructions.npz") as saved:
        assert len(saved["originals"]) == 3
    with np.load(figures / "embeddings.npz") as saved:
        assert len(saved["z"]) == 12
    generated = json.loads((figures / "generated.json").read_text())
    assert generated["sampler"] == "prior" and generated["seed"] == 2 and len(generated["points"]) == 4
    with np.load(figures / "latent_grid.npz") as saved:
        assert saved["images"].shape[:2] == (3, 3) and str(saved["span"]) == "prior"
