"""The test suite itself: the files its text cites exist, and `make test` runs everything and shows where
the time goes (the markers: pyproject.toml; how to use them: README, "Tests")."""

from __future__ import annotations

import os
import re
import shlex
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = ("benchmarks", "docs", "notebooks", "src", "tests")
#: Any file name of these kinds, in the tests' and benchmarks' text (docstrings, comments, strings).
FILE_NAME = re.compile(r"[\w./-]*\w\.(?:py|md|toml|ipynb)\b")
#: A path from the repository's root, in the package's docstrings, the docs and the README.
REPO_PATH = re.compile(r"\b(?:benchmarks|docs|notebooks|src|tests)/[\w./-]*\w\.(?:py|md|toml|ipynb)\b")
#: Names of files that vaelab writes (not files of the repository), which the tests' text may cite.
WRITTEN = frozenset({"comparison.md"})


def _repository_files() -> set[str]:
    """The repository's files, as paths from its root (the root's own files and those of FOLDERS)."""
    files = {path.name for path in ROOT.iterdir() if path.is_file()}
    for folder in FOLDERS:
        for parent, dirs, names in os.walk(ROOT / folder):
            dirs[:] = [name for name in dirs if name != "__pycache__"]
            files.update((Path(parent) / name).relative_to(ROOT).as_posix() for name in names)
    return files


def _missing(text: str, pattern: re.Pattern, files: set[str], anywhere: bool) -> list[str]:
    """The names ``pattern`` finds in ``text`` that are no file of ``files`` (with ``anywhere``, a bare
    name may be in any folder)."""
    return sorted(
        name
        for name in set(pattern.findall(text))
        if name not in files and name not in WRITTEN and not (anywhere and any(f.endswith("/" + name) for f in files))
    )


def test_every_file_the_tests_and_docs_cite_exists():
    files = _repository_files()
    missing = []
    for path in sorted([*ROOT.glob("tests/*.py"), *ROOT.glob("benchmarks/*.py")]):
        if path.name == Path(__file__).name:  # its own examples of names that do not exist
            continue
        missing += [f"{path.name} cites {name}" for name in _missing(path.read_text(), FILE_NAME, files, True)]
    for path in sorted([*ROOT.glob("src/**/*.py"), *ROOT.glob("docs/*.md"), ROOT / "README.md"]):
        missing += [f"{path.name} cites {name}" for name in _missing(path.read_text(), REPO_PATH, files, False)]
    assert not missing, "\n".join(missing)


def test_the_check_finds_a_cited_file_that_does_not_exist():
    files = _repository_files()
    assert "tests/test_suite.py" in files and "pyproject.toml" in files
    text = "counted from DESIGN.md's layers, as tests/test_suite.py and docs/performance.md say"
    assert _missing(text, FILE_NAME, files, True) == ["DESIGN.md"]
    assert _missing("see docs/missing.md and conftest.py", REPO_PATH, files, False) == ["docs/missing.md"]


def _recipe(makefile: str, target: str) -> str:
    """The commands of ``target`` in a Makefile's text."""
    match = re.search(rf"^{re.escape(target)}:.*\n((?:\t.*\n?)+)", makefile, re.MULTILINE)
    assert match, f"the Makefile has no {target} target"
    return match.group(1)


def test_make_test_runs_every_test_and_prints_the_slowest():
    makefile = (ROOT / "Makefile").read_text()
    full = _pytest_options(_recipe(makefile, "test"))
    assert "-m" not in full and any(option.startswith("--durations=") for option in full), full
    fast = _pytest_options(_recipe(makefile, "test-fast"))
    assert fast[fast.index("-m") + 1] == "not slow" and any(option.startswith("--durations=") for option in fast)


def _pytest_options(recipe: str) -> list[str]:
    """The words after ``pytest`` in the recipe's pytest command."""
    (line,) = [line for line in recipe.splitlines() if " pytest" in line]
    return shlex.split(line.split(" pytest", 1)[1])
