"""The gates' own guards: the import-layer contract covers the whole package and agrees with the
architecture page; nothing reaches a higher layer through the package root's lazy re-exports; and
every silenced type error says which one and why.

The gates themselves (ruff, mypy, lint-imports) run in `make lint`, before the tests.
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

import pytest

import vaelab

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    tomllib = pytest.importorskip("tomli")

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "vaelab"


def _contract() -> dict:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["importlinter"]
    (contract,) = [c for c in config["contracts"] if c["type"] == "layers"]
    assert config["root_package"] == "vaelab" and contract["containers"] == ["vaelab"]
    return contract


def _layers() -> list[list[str]]:
    """The contract's layers, top to bottom, each as its module names."""
    return [[name.strip() for name in re.split(r"[:|]", layer)] for layer in _contract()["layers"]]


def _top_level_names() -> set[str]:
    """Every module and package directly under src/vaelab, but the package's own __init__."""
    names = {path.stem for path in PACKAGE.glob("*.py") if path.name != "__init__.py"}
    return names | {path.name for path in PACKAGE.iterdir() if (path / "__init__.py").is_file()}


def _source_files() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def test_the_layer_contract_names_every_top_level_module_and_package_once():
    named = [name for layer in _layers() for name in layer]
    assert len(named) == len(set(named)), "a module in two layers"
    assert set(named) == _top_level_names(), "each module or package under src/vaelab needs its layer in pyproject.toml"
    assert _contract().get("exhaustive") is True  # lint-imports refuses a module left out, too


def test_the_layer_contract_keeps_the_designed_order():
    layers = _layers()
    assert [layer[0] for layer in layers[:-1]] == [
        "__main__",
        "cli",
        "workflows",
        "presentation",
        "evaluation",
        "latent",
        "training",
        "models",
        "data",
    ]
    assert "errors" in layers[-1] and all(not (PACKAGE / name).is_dir() for name in layers[-1])
    assert ":" in _contract()["layers"][-1], "the shared modules may import each other"


def test_the_architecture_page_lists_the_layers_in_the_contract_order():
    """docs/architecture.md's layer table, top to bottom, is the contract read bottom up."""
    page = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    folders = [line.split("|")[2] for line in page.splitlines() if re.match(r"\| \w+ \| `", line)]
    table = [set(re.findall(r"`(\w+)(?:\.py|/)`", cell)) for cell in folders]
    assert table == [set(layer) for layer in reversed(_layers()) if layer != ["__main__"]]


def test_no_module_imports_the_lazy_api_of_the_package_root():
    """``vaelab/__init__.py`` re-exports functions of higher layers on first use (importlib, which
    lint-imports does not see); a module that took them from the root would import upward unseen.
    Modules may take ``__version__`` and submodules from the root, nothing else."""
    allowed = {"__version__"} | _top_level_names()
    found = []
    for path in _source_files():
        if path == PACKAGE / "__init__.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module == "vaelab" and node.level == 0:
                found += [f"{path.name}: {a.name}" for a in node.names if a.name not in allowed]
            elif isinstance(node, ast.Import):
                found += [f"{path.name}: import vaelab" for a in node.names if a.name == "vaelab"]
    assert not found


def test_the_root_exports_spelled_out_are_its_lazy_names():
    assert set(vaelab.__all__) == {"__version__", *vaelab._LAZY}
    assert len(vaelab.__all__) == len(set(vaelab.__all__))


def test_every_silenced_type_error_names_its_code_and_says_why():
    """``# type: ignore[code]`` with a reason on its line or the line above, never bare."""
    bare = []
    for path in _source_files():
        lines = path.read_text(encoding="utf-8").splitlines()
        for number, line in enumerate(lines):
            match = re.search(r"#\s*type:\s*ignore(\[[\w\-, ]+\])?(.*)", line)
            if not match:
                continue
            reason_after = re.match(r"\s*#\s*\S", match.group(2))
            reason_above = number > 0 and lines[number - 1].strip().startswith("#")
            if match.group(1) is None or not (reason_after or reason_above):
                bare.append(f"{path.relative_to(ROOT)}:{number + 1}")
    assert not bare
