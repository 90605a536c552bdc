"""Issue 11, strict inputs: numbers in flags are plain ASCII forms, every count flag has an upper
bound (found by walking the parser, so a new flag cannot forget one), explicit --limit-train and
--limit-test beyond the split are refused with its size, and corruption amounts are checked before
any data loads."""

from __future__ import annotations

import argparse
import math
import re
from collections.abc import Iterator

import pytest

from cli_run import assert_one_line_error, run_cli
from idx_fixtures import install_fake_fashion_mnist, isolate_data_locations
from vaelab import limits
from vaelab.cli import build_parser
from vaelab.cli.app import Parser
from vaelab.data import fashion_mnist as fm
from vaelab.data.corruption import Corruption
from vaelab.data.registry import load_dataset
from vaelab.data.selection import AtMost
from vaelab.errors import ConfigError
from vaelab.latent.arithmetic import parse_factors
from vaelab.numbers import plain_float, plain_int
from vaelab.presentation import report
from vaelab.training import RunConfig

# ---- walking the parser ------------------------------------------------------------------------------


Option = tuple[tuple[str, ...], argparse.Action]


def _options(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> Iterator[Option]:
    """(subcommand path, action) of every option of every subcommand, nested ones included."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _options(sub, (*path, name))
        elif action.option_strings:
            yield path, action


def _typed_options() -> list[Option]:
    return [(path, action) for path, action in _options(build_parser()) if action.type is not None]


def _numeric(kind) -> list[Option]:
    return [(path, action) for path, action in _typed_options() if getattr(action.type, "number", None) is kind]


def _id(item: Option) -> str:
    path, action = item
    return " ".join((*path, action.option_strings[-1]))


INT_OPTIONS = _numeric(plain_int)
FLOAT_OPTIONS = _numeric(plain_float)


def test_the_walk_finds_the_flags_of_every_command():
    names = {_id(item) for item in INT_OPTIONS}
    for expected in (
        "train --epochs",
        "train --batch-size",
        "train --limit-train",
        "train --limit-test",
        "judge train --epochs",
        "attribute --count",
        "embed --count",
        "explore --points",
        "demo --epochs",
        "morph --from",
        "evaluate --likelihood-images",
        "explore --port",
    ):
        assert expected in names
    assert {"train --lr", "train --noise-amount", "arithmetic --factors"} <= {_id(i) for i in FLOAT_OPTIONS}


@pytest.mark.parametrize("item", _typed_options(), ids=_id)
def test_every_typed_flag_uses_a_strict_number_parser(item):
    _, action = item
    assert action.type not in (int, float)  # Python's own accept "1_0", " 10 ", "١٠" and "nan"
    assert getattr(action.type, "number", None) in (plain_int, plain_float), "use a cli.arguments.NumberType"


@pytest.mark.parametrize("item", INT_OPTIONS, ids=_id)
def test_every_integer_flag_has_an_upper_bound_stated_in_its_help(item):
    _, action = item
    high = action.type.high
    assert high is not None and high < math.inf
    assert action.type(str(high)) == high
    with pytest.raises(argparse.ArgumentTypeError, match=f"to {high:,}"):
        action.type(str(high + 1))
    assert f"{high:,}" in action.help


# ---- strict number forms -----------------------------------------------------------------------------

BAD_NUMBERS = [
    "1_0",
    "1_0.5",
    " 10",
    "10 ",
    "1 0",
    "10\n",
    "١٠",
    "１０",
    "٣.٥",
    "０.５",
    "",
    "+",
    ".",
    "e3",
    "nan",
    "NaN",
    "inf",
    "-inf",
    "Infinity",
    "1e999",
    "0x10",
    "½",
    "²",
]
BAD_INTEGERS = ["10.0", "1e1", "1.", "0b1", "1,5"]
BAD_SINGLE_DECIMALS = ["1,5"]  # a decimal comma (but a list of two factors)


def _bad_cases() -> Iterator[tuple[tuple[str, ...], str, str]]:
    for path, action in INT_OPTIONS + FLOAT_OPTIONS:
        extra = BAD_INTEGERS if action.type.number is plain_int else []
        extra += BAD_SINGLE_DECIMALS if action.type.__name__ == "a_positive_number" else []
        for text in BAD_NUMBERS + extra:
            yield path, "/".join(action.option_strings), text


@pytest.fixture(scope="module")
def parser() -> argparse.ArgumentParser:
    return build_parser()


def test_bad_numbers_are_a_one_line_usage_error_for_every_numeric_flag(capsys, parser):
    cases = list(_bad_cases())
    assert len(cases) > 500
    for path, flag, text in cases:
        with pytest.raises(SystemExit) as exit_info:
            parser.parse_args([*path, f"{flag.split('/')[0]}={text}"])
        _, err = capsys.readouterr()
        assert_one_line_error(exit_info.value.code, err, 2, f"argument {flag}: ", repr(text))


def test_a_bad_number_through_the_command_line(capsys, tmp_path):
    code, _, err = run_cli(capsys, "train", "--preset", "book-ae", "--run-dir", str(tmp_path / "r"), "--epochs", "١٠")
    assert_one_line_error(code, err, 2, "vaelab train: error: argument --epochs", "'١٠'")
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("text, value", [("7", 7), ("+7", 7), ("-0", 0), ("007", 7)])
def test_plain_integers(text, value):
    assert plain_int(text) == value


@pytest.mark.parametrize(
    "text, value",
    [("3", 3.0), ("-0.5", -0.5), (".5", 0.5), ("5.", 5.0), ("1e-3", 1e-3), ("2.5E+4", 2.5e4), ("+1.0e0", 1.0)],
)
def test_plain_decimals(text, value):
    assert plain_float(text) == value


@pytest.mark.parametrize(
    "text",
    ["1_0", " -4:4", "-4:4 ", "-2,\t0", "-2 ,0 ", "١:٣", "１,２", "nan", "0:inf", "1_0:2_0", "-4:4:nan", "0:1:1e999"],
)
def test_factors_take_plain_decimals_only(text):
    with pytest.raises(ConfigError, match="--factors"):
        parse_factors(text)


def test_factors_still_take_every_plain_form():
    assert parse_factors("-4:4") == tuple(float(v) for v in range(-4, 5))
    assert parse_factors("-.5,0,1e1,+2.") == (-0.5, 0.0, 10.0, 2.0)
    assert parse_factors("-2, 0 ,2") == (-2.0, 0.0, 2.0)
    assert parse_factors("0:1:.25") == (0.0, 0.25, 0.5, 0.75, 1.0)


# ---- limits beyond the split ---------------------------------------------------------------------


@pytest.mark.parametrize("flag, split, size", [("--limit-test", "test", 20), ("--limit-train", "train", 60)])
def test_train_refuses_a_limit_beyond_the_split(capsys, monkeypatch, tmp_path, flag, split, size):
    install_fake_fashion_mnist(monkeypatch, tmp_path)  # 60 training and 20 test images
    code, _, err = run_cli(
        capsys,
        "train",
        "--preset",
        "book-ae",
        "--run-dir",
        str(tmp_path / "run"),
        flag,
        str(size + 1),
        "--device",
        "cpu",
        "--no-progress",
    )
    assert_one_line_error(
        code,
        err,
        1,
        f"{flag} {size + 1} is more than the {size} images of the fashion-mnist "
        f"{split} split; use {flag} {size} or fewer",
    )
    assert not (tmp_path / "run").exists()


def test_a_limit_equal_to_the_split_and_a_default_that_shrinks(monkeypatch, tmp_path):
    install_fake_fashion_mnist(monkeypatch, tmp_path)
    assert len(load_dataset("fashion-mnist", "test", limit=20)) == 20
    assert len(load_dataset("fashion-mnist", "test", limit=AtMost(5000))) == 20
    with pytest.raises(ConfigError, match="--limit-test 21 is more than the 20 images"):
        load_dataset("fashion-mnist", "test", limit=21)


def test_analyses_refuse_a_limit_beyond_the_split(capsys, monkeypatch, tmp_path, trained_run):
    install_fake_fashion_mnist(monkeypatch, tmp_path)
    code, _, err = run_cli(capsys, "denoise", str(trained_run.dir), "--limit-test", "21", "--device", "cpu")
    assert_one_line_error(code, err, 1, "--limit-test 21 is more than the 20 images", "--limit-test 20")


def test_image_folders_refuse_a_limit_beyond_the_split(celeba_dirs, private_cache):
    from vaelab.data.image_options import ImageOptions

    test_split = load_dataset("celeba", "test", str(celeba_dirs["official"]), None, ImageOptions(8))
    size = len(test_split)
    with pytest.raises(
        ConfigError, match=f"--limit-test {size + 1} is more than the {size} images of the celeba test split"
    ):
        load_dataset("celeba", "test", str(celeba_dirs["official"]), size + 1, ImageOptions(8))
    assert len(load_dataset("celeba", "test", str(celeba_dirs["official"]), AtMost(size + 1), ImageOptions(8))) == size


# ---- corruption amounts ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kind, amount",
    [
        ("gaussian", 1e300),
        ("gaussian", 10.5),
        ("gaussian", math.inf),
        ("gaussian", math.nan),
        ("mask", 1.5),
        ("salt-pepper", 0.0),
        ("salt-pepper", math.nan),
    ],
)
def test_corruption_amounts_out_of_range(kind, amount):
    with pytest.raises(ConfigError, match=re.escape(f"--noise-amount {amount!r} is out of range")) as info:
        Corruption(kind, amount)
    assert "\n" not in str(info.value)
    with pytest.raises(ConfigError, match="--noise-amount"):
        RunConfig.from_preset("book-ae", corruption=kind, noise_amount=amount)


def test_corruption_amounts_at_their_bounds():
    assert Corruption("gaussian", limits.MAX_NOISE_SIGMA).amount == 10.0
    assert Corruption("mask", 1.0).amount == Corruption("salt-pepper", 1.0).amount == 1.0
    with pytest.raises(ConfigError, match="must be a number"):
        Corruption("gaussian", "0.3")


def _no_data(monkeypatch, tmp_path):
    """No Fashion-MNIST anywhere and no network: any data loading would fail naming a file."""
    isolate_data_locations(monkeypatch, tmp_path)

    def offline(*args, **kwargs):
        raise AssertionError("data was loaded before the corruption was checked")

    monkeypatch.setattr(fm, "download_file", offline)
    fm.clear_cache()


@pytest.mark.parametrize(
    "flags, fragment",
    [
        (
            ["--preset", "book-dae", "--noise-amount", "1e300"],
            "the gaussian corruption's σ must be more than 0 and at most 10",
        ),
        (["--preset", "book-ae", "--corruption", "mask", "--noise-amount", "1.5"], "fraction of pixels mask hits"),
    ],
)
def test_train_refuses_a_bad_noise_amount_before_loading_data(capsys, monkeypatch, tmp_path, flags, fragment):
    _no_data(monkeypatch, tmp_path)
    code, _, err = run_cli(capsys, "train", "--run-dir", str(tmp_path / "run"), *flags, "--device", "cpu")
    assert_one_line_error(code, err, 1, "vaelab train: error: --noise-amount", fragment)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("flags", [["--noise-amount", "1e300"], ["--corruption", "salt-pepper", "--noise-amount", "2"]])
def test_denoise_refuses_a_bad_noise_amount_before_loading_data(capsys, monkeypatch, tmp_path, trained_run, flags):
    _no_data(monkeypatch, tmp_path)
    code, _, err = run_cli(capsys, "denoise", str(trained_run.dir), *flags, "--device", "cpu")
    assert_one_line_error(code, err, 1, "vaelab denoise: error: --noise-amount", "is out of range")


def test_the_denoising_api_refuses_at_once(trained_run, test_images):
    with pytest.raises(ConfigError, match="--noise-amount 1e\\+300 is out of range"):
        report.write_denoising(trained_run, test_images, "gaussian", 1e300)


def test_noise_amount_help_states_the_bounds(capsys):
    for command in ("train", "denoise"):
        _, out, _ = run_cli(capsys, command, "--help")
        text = " ".join(out.split())
        assert "at most 10" in text and "at most 1" in text, command


def test_parser_is_the_one_line_parser():
    parser = build_parser()
    subparsers = dict(_subparsers(parser))
    assert ("train",) in subparsers and ("presets",) in subparsers  # the walk finds the commands
    assert isinstance(parser, Parser) and all(isinstance(sub, Parser) for sub in subparsers.values())


def _subparsers(parser, path=()):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield (*path, name), sub
                yield from _subparsers(sub, (*path, name))
