"""The command line against the Python API: the same choices both ways, the same refusals in the same
words, and a parser that does not load PyTorch."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections.abc import Callable, Iterator

import numpy as np
import pytest

from cli_run import assert_one_line_error, run_cli
from idx_fixtures import install_fake_fashion_mnist, isolate_data_locations
from vaelab import choices
from vaelab.cli import build_parser
from vaelab.errors import ConfigError, VaelabError


def _choice_actions(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> Iterator[tuple[str, argparse.Action]]:
    """(command, action) for every option or argument with ``choices``, in every subcommand."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _choice_actions(sub, (*path, name))
        elif action.choices is not None:
            yield " ".join(path), action


def _api_names() -> dict[str, tuple[str, ...]]:
    """For each option's ``dest``, the names the owning module of the API knows (its registry or list)."""
    from vaelab.data import corruption, image_options, registry
    from vaelab.latent import samplers
    from vaelab.latent.morph import METHODS
    from vaelab.presentation import attribute_report
    from vaelab.training import placement, precision

    return {
        "device": choices.DEVICES,
        "precision": precision.PRECISIONS,
        "data_placement": placement.PLACEMENTS,
        "dataset": tuple(registry.DATASETS),
        "on_bad_image": image_options.BAD_IMAGE_POLICIES,
        "corruption": tuple(corruption.DEFAULT_AMOUNTS),
        "sampler": tuple(samplers.SAMPLERS),
        "method": METHODS,
        "span": choices.GRID_SPANS,
        "view": choices.EMBED_VIEWS,
        "pick": attribute_report.PICKS,
    }


def _acceptors(run, test_set) -> dict[str, Callable[[str], object]]:
    """For each option's ``dest``, a call of the API that takes the value, or refuses it with a ConfigError."""
    from vaelab.data.corruption import Corruption
    from vaelab.data.image_options import ImageOptions
    from vaelab.data.registry import dataset_info
    from vaelab.latent.morph import interpolate
    from vaelab.latent.samplers import make_sampler
    from vaelab.presentation import attribute_report, report
    from vaelab.training import RunConfig

    z0, z1 = np.zeros(2, np.float32), np.ones(2, np.float32)
    return {
        "device": lambda v: RunConfig.from_preset("book-ae", device=v),
        "precision": lambda v: RunConfig.from_preset("book-ae", precision=v),
        "data_placement": lambda v: RunConfig.from_preset("book-ae", data_placement=v),
        "dataset": dataset_info,
        "on_bad_image": lambda v: ImageOptions(on_bad_image=v),
        "corruption": Corruption.of,
        "sampler": make_sampler,
        "method": lambda v: interpolate(z0, z1, 3, v),
        "span": lambda v: report.write_grid(run, test_set, size=2, span=v),
        "view": lambda v: report.write_embedding(run, test_set, count=20, view=v),
        "pick": lambda v: attribute_report.pick_images(test_set, 1, v, test_set.class_names[0], None),
    }


def test_every_option_with_choices_offers_exactly_what_its_owner_knows():
    names = _api_names()
    seen = set()
    for command, action in _choice_actions(build_parser()):
        assert action.dest in names, f"vaelab {command} {action.option_strings}: add its owner to this test"
        assert tuple(action.choices) == names[action.dest], (command, action.dest)
        seen.add(action.dest)
    assert seen == set(names)


def test_every_choice_is_accepted_by_the_api_and_nothing_else(trained_run, test_images):
    offered: dict[str, set[str]] = {}
    for _, action in _choice_actions(build_parser()):
        offered.setdefault(action.dest, set()).update(action.choices)
    accept = _acceptors(trained_run, test_images)
    assert set(accept) == set(offered)
    for dest, values in offered.items():
        for value in sorted(values):
            accept[dest](value)  # no error
        with pytest.raises(ConfigError):
            accept[dest]("no-such-" + dest.replace("_", "-"))


def test_the_choices_module_and_the_command_line_load_no_torch():
    script = (
        "import sys, contextlib, io\n"
        "from vaelab.cli.app import build_parser, main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    for argv in (['--help'], ['train', '--help'], ['judge', 'train', '--help']):\n"
        "        try:\n"
        "            main(argv)\n"
        "        except SystemExit:\n"
        "            pass\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'numpy', 'matplotlib')))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


# The API refuses what the command line refuses, in the same words ------------------------------------


def _same_refusal(capsys, argv: list[str], api_call: Callable[[], object], fragment: str = "") -> None:
    """``vaelab argv`` fails with one line, ``vaelab COMMAND: error: `` and the message the API
    raises (which holds ``fragment``)."""
    code, _, err = run_cli(capsys, *argv)
    assert_one_line_error(code, err, 1, fragment)
    with pytest.raises(VaelabError) as refused:
        api_call()
    assert err.strip() == f"vaelab {argv[0]}: error: {refused.value}"


@pytest.mark.parametrize(
    "flags, call, fragment",
    [
        (["-k", "5"], {"importance_samples": 5}, "-k/--importance-samples sets the likelihood bound of a VAE"),
        (["--likelihood-images", "5"], {"likelihood_images": 5}, "--likelihood-images sets the likelihood"),
        (["--limit-test", "3"], {"limit_test": 3}, "evaluate needs at least 4 test images"),
        (["--num-samples", "2"], {"num_samples": 2}, "--num-samples must be at least 4"),
        (["--sampler", "gmm", "--limit-train", "5"], {"sampler": "gmm", "limit_train": 5}, "needs at least 10"),
    ],
)
def test_write_evaluation_refuses_what_evaluate_refuses(
    capsys, monkeypatch, tmp_path, trained_run, flags, call, fragment
):
    from vaelab.evaluation.run_measures import write_evaluation

    install_fake_fashion_mnist(monkeypatch, tmp_path)
    argv = ["evaluate", str(trained_run.dir), "--device", "cpu", *flags]
    _same_refusal(capsys, argv, lambda: write_evaluation(trained_run, **call), fragment)


@pytest.mark.parametrize(
    "flags, call, fragment",
    [
        (["--limit-train", "1"], {"limit_train": 1}, "diagnose needs at least 2 training images"),
        (["--sampler", "gmm", "--limit-train", "5"], {"sampler": "gmm", "limit_train": 5}, "needs at least 10"),
    ],
)
def test_write_diagnostics_refuses_what_diagnose_refuses(
    capsys, monkeypatch, tmp_path, trained_run, flags, call, fragment
):
    from vaelab.presentation.diagnostics_report import write_diagnostics

    install_fake_fashion_mnist(monkeypatch, tmp_path)
    argv = ["diagnose", str(trained_run.dir), "--device", "cpu", *flags]
    _same_refusal(capsys, argv, lambda: write_diagnostics(trained_run, **call), fragment)


def test_the_api_refuses_a_run_the_judge_cannot_score_before_anything_else():
    from types import SimpleNamespace

    from vaelab.errors import JudgeError
    from vaelab.evaluation.run_measures import diagnose_run, write_evaluation

    faces_run = SimpleNamespace(config=SimpleNamespace(dataset="image-folder"))  # nothing else is read
    for call in (diagnose_run, write_evaluation):
        with pytest.raises(JudgeError, match="this run trained on image-folder"):
            call(faces_run)


def test_write_denoising_refuses_what_denoise_refuses_before_any_data(capsys, monkeypatch, tmp_path, trained_run):
    from vaelab.presentation.report import write_denoising

    isolate_data_locations(monkeypatch, tmp_path)  # no data anywhere: the refusal must come first
    flags = ["--corruption", "salt-pepper", "--noise-amount", "2"]
    _same_refusal(
        capsys,
        ["denoise", str(trained_run.dir), "--device", "cpu", *flags],
        lambda: write_denoising(trained_run, kind="salt-pepper", amount=2),
        "--noise-amount",
    )


def test_check_dataset_refuses_what_data_refuses(capsys, tmp_path):
    from vaelab.data.dataset_check import check_dataset

    _same_refusal(
        capsys,
        ["data", "--dataset", "celeba", "--download", "--data-dir", str(tmp_path)],
        lambda: check_dataset("celeba", str(tmp_path), download=True),
        "--download fetches Fashion-MNIST only",
    )


def test_check_dataset_reports_what_data_reports(capsys, monkeypatch, tmp_path):
    from vaelab.data.dataset_check import check_dataset

    folder = install_fake_fashion_mnist(monkeypatch, tmp_path)
    damaged = folder / "t10k-labels-idx1-ubyte.gz"
    damaged.write_bytes(damaged.read_bytes()[:-5])
    _same_refusal(capsys, ["data"], lambda: check_dataset().raise_problem(), "1 of 4 Fashion-MNIST files")


@pytest.mark.parametrize("command", ["generate", "grid"])
def test_a_class_for_a_model_that_takes_none_is_refused_as_the_api_refuses_it(
    capsys, monkeypatch, tmp_path, trained_run, command
):
    from vaelab.presentation import report

    install_fake_fashion_mnist(monkeypatch, tmp_path)
    call = {"generate": report.write_generated, "grid": report.write_grid}[command]
    _same_refusal(
        capsys,
        [command, str(trained_run.dir), "--device", "cpu", "--class", "Coat"],
        lambda: call(trained_run, trained_run.test_set(), condition="Coat"),
        "--class chooses the class a conditional model (cvae) decodes under; this run's ae model takes no class",
    )


@pytest.mark.parametrize(
    "command, value, fragment",
    [
        ("generate", "Cot", "--class: unknown class 'Cot'; did you mean Coat?"),
        ("grid", "10", "--class 10 is out of range: the model has 10 classes (0 to 9)"),
    ],
)
def test_a_class_the_data_do_not_have_is_refused_as_the_api_refuses_it(
    capsys, monkeypatch, tmp_path, cvae_run, command, value, fragment
):
    from vaelab.presentation import report

    install_fake_fashion_mnist(monkeypatch, tmp_path)
    call = {"generate": report.write_generated, "grid": report.write_grid}[command]
    _same_refusal(
        capsys,
        [command, str(cvae_run.dir), "--device", "cpu", "--class", value],
        lambda: call(cvae_run, cvae_run.test_set(), condition=value),
        fragment,
    )


def test_generate_by_class_on_the_command_line(capsys, monkeypatch, tmp_path, cvae_run):
    install_fake_fashion_mnist(monkeypatch, tmp_path)
    argv = ["generate", str(cvae_run.dir), "--device", "cpu", "--class", "Coat", "--count", "4"]
    code, out, err = run_cli(capsys, *argv)
    assert code == 0, err
    written = [line.rsplit("/", 1)[-1] for line in out.splitlines()]
    assert written == ["generated.png", "generated.json", "generated.npz"]
    data = json.loads(cvae_run.dir.figure_path("generated.json").read_text())
    assert data["classes"] == [4] * 4 and data["class_names"][4] == "Coat"
