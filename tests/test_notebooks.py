"""The notebooks of ``notebooks/``, one per part of the chapter: stored clean (no outputs), using only
vaelab's public API (the names of ``vaelab.__all__``) and vaelab's own dependencies, and executed end
to end at tiny limits, so that they never rot.

Each notebook has one cell tagged ``parameters`` near its top. The execution tests insert a cell
after it that sets tiny values (the way papermill injects parameters) and run the notebook with
nbclient in a kernel of this interpreter, in one temporary folder shared by the four (so the fourth
measures the runs the first two trained; run alone, it trains its own). The Fashion-MNIST notebooks
need the real files (``make test`` installs them; skipped otherwise); the faces notebook draws its
own synthetic faces and runs anywhere.
"""

from __future__ import annotations

import ast
import json
import os
import re
import sys
from pathlib import Path
from typing import Any

import nbformat
import pytest

import vaelab

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
NAMES = ("01-autoencoder", "02-vae", "03-faces", "04-three-problems")
FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
NEEDS_FASHION_MNIST = ("01-autoencoder", "02-vae", "04-three-problems")

#: The parameters cell must be among the first cells (a title, a note, then the parameters).
PARAMETERS_WITHIN = 3
#: Top-level modules a notebook may import besides the standard library: vaelab and its dependencies.
ALLOWED_MODULES = {"vaelab", "numpy", "matplotlib", "PIL"}

_FASHION = {"DATA_DIR": str(FASHION_MNIST), "LIMIT_TRAIN": 400, "LIMIT_TEST": 200, "DEVICE": "cpu"}
#: The tiny values each notebook runs with here (every name must be one of its parameters).
TINY: dict[str, dict[str, Any]] = {
    "01-autoencoder": {**_FASHION, "EPOCHS": 1},
    "02-vae": {**_FASHION, "EPOCHS": 1},
    "03-faces": {"SYNTHETIC_FACES": 200, "EPOCHS": 1, "DEVICE": "cpu"},
    "04-three-problems": {
        **_FASHION,
        "AE_EPOCHS": 1,
        "VAE_EPOCHS": 1,
        "JUDGE_DIR": "runs/judge",
        "JUDGE_EPOCHS": 1,
        "JUDGE_LIMIT": 400,
        "NUM_SAMPLES": 300,
    },
}
#: Files each notebook must leave in its working folder.
WRITES = {
    "01-autoencoder": ["runs/notebook-ae/model.safetensors", "runs/notebook-ae/metrics.jsonl"],
    "02-vae": ["runs/notebook-vae/model.safetensors", "runs/notebook-vae/metrics.jsonl"],
    "03-faces": [
        "runs/synthetic-celeba/list_attr_celeba.txt",
        "runs/notebook-faces/model.safetensors",
        "runs/notebook-faces/metrics.jsonl",
    ],
    "04-three-problems": [
        "runs/judge/fashion-mnist-judge.json",
        "runs/notebook-ae/figures/diagnostics.json",
        "runs/notebook-vae/figures/diagnostics.json",
    ],
}
#: Figures each notebook shows (one PNG per `plt.show()` of a figure).
FIGURES = {"01-autoencoder": 6, "02-vae": 5, "03-faces": 6, "04-three-problems": 2}
#: Seconds a cell may take before the run fails.
CELL_TIMEOUT = 600


def _read(name: str) -> nbformat.NotebookNode:
    return nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)


def _code_cells(notebook: nbformat.NotebookNode) -> list[nbformat.NotebookNode]:
    return [cell for cell in notebook.cells if cell.cell_type == "code"]


def _parameters_index(notebook: nbformat.NotebookNode) -> int:
    tagged = [i for i, cell in enumerate(notebook.cells) if "parameters" in cell.metadata.get("tags", [])]
    assert len(tagged) == 1, "one cell tagged 'parameters'"
    return tagged[0]


def _parameters(notebook: nbformat.NotebookNode) -> dict[str, Any]:
    """The parameters cell's names and values (it holds only assignments of literals)."""
    values: dict[str, Any] = {}
    for statement in ast.parse(notebook.cells[_parameters_index(notebook)].source).body:
        assert isinstance(statement, ast.Assign), f"only assignments in the parameters cell: {ast.unparse(statement)}"
        value = ast.literal_eval(statement.value)
        (target,) = statement.targets
        if isinstance(target, ast.Tuple):
            values.update({t.id: v for t, v in zip(target.elts, value, strict=True) if isinstance(t, ast.Name)})
        else:
            assert isinstance(target, ast.Name)
            values[target.id] = value
    return values


def test_the_notebooks_are_the_four_parts_of_the_chapter() -> None:
    """A notebook added to the folder must be added here, and so be executed by the tests below."""
    assert sorted(path.stem for path in NOTEBOOKS.glob("*.ipynb")) == list(NAMES)
    assert set(TINY) == set(WRITES) == set(FIGURES) == set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_a_notebook_is_stored_without_outputs(name: str) -> None:
    """No outputs, no execution counts, no kernel or widget state: a diff shows only what was written."""
    notebook = _read(name)
    nbformat.validate(notebook)
    assert notebook.metadata.kernelspec.name == "python3"
    assert set(notebook.metadata) <= {"kernelspec", "language_info"}
    for cell in _code_cells(notebook):
        assert cell.outputs == [] and cell.execution_count is None, f"cell {cell.id} holds outputs"
        assert set(cell.metadata) <= {"tags"}, f"cell {cell.id} metadata {dict(cell.metadata)}"
    assert all(cell.get("attachments") is None for cell in notebook.cells)


@pytest.mark.parametrize("name", NAMES)
def test_a_notebook_has_one_parameters_cell_at_its_top(name: str) -> None:
    notebook = _read(name)
    assert _parameters_index(notebook) < PARAMETERS_WITHIN
    parameters = _parameters(notebook)
    assert set(TINY[name]) <= set(parameters), "the tests set only the notebook's own parameters"
    assert parameters.get("DEVICE") == "auto"


def _imports(tree: ast.AST) -> list[tuple[str, list[str]]]:
    """Each import as (module, names): ``import a.b`` is ("a.b", []), ``from a import b, c`` ("a", [b, c])."""
    found: list[tuple[str, list[str]]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, []) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0 and node.module is not None
            found.append((node.module, [alias.name for alias in node.names]))
    return found


@pytest.mark.parametrize("name", NAMES)
def test_a_notebook_uses_only_the_public_api(name: str) -> None:
    """vaelab's names come from the package root and are in ``vaelab.__all__`` (no submodule, no
    private name); every other import is the standard library or one of vaelab's dependencies."""
    source = "\n".join(cell.source for cell in _code_cells(_read(name)))
    assert not re.search(r"^\s*[%!]", source, re.MULTILINE), "no IPython magics or shell escapes"
    tree = ast.parse(source)
    imported = _imports(tree)
    assert imported, "the walk found the imports"
    public = set(vaelab.__all__)
    for module, names in imported:
        top = module.split(".")[0]
        assert top in ALLOWED_MODULES or top in sys.stdlib_module_names, f"{name} imports {module}"
        if top == "vaelab":
            assert module == "vaelab", f"{name} imports the submodule {module}; export what it needs from vaelab"
            assert set(names) <= public, f"{name} imports {sorted(set(names) - public)}, not in vaelab.__all__"
    uses = [
        node.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "vaelab"
    ]
    assert set(uses) <= public, f"{name} uses vaelab.{sorted(set(uses) - public)}"
    assert any(module == "vaelab" and names for module, names in imported), f"{name} uses vaelab"


@pytest.mark.parametrize("name", NAMES)
def test_a_notebook_links_only_to_files_that_exist(name: str) -> None:
    links = [
        link
        for cell in _read(name).cells
        if cell.cell_type == "markdown"
        for link in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", cell.source)
    ]
    assert links, "the walk found the links"
    missing = [link for link in links if not link.startswith("http") and not (NOTEBOOKS / link).resolve().exists()]
    assert not missing


def test_the_readme_links_every_notebook() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert [name for name in NAMES if f"](notebooks/{name}.ipynb)" not in readme] == []


# --- execution -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder the notebooks run in, one for the four (``runs/`` inside it)."""
    return tmp_path_factory.mktemp("notebooks")


def _kernel_manager(folder: Path) -> Any:
    """A kernel manager for a kernel of this very interpreter (a ``python3`` kernel spec installed
    elsewhere, for another Python, cannot be picked up by mistake)."""
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import KernelManager

    spec = folder / "kernels" / "vaelab-tests"
    spec.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    (spec / "kernel.json").write_text(json.dumps({"argv": argv, "display_name": "vaelab tests", "language": "python"}))
    specs = KernelSpecManager(kernel_dirs=[str(spec.parent)])
    return KernelManager(kernel_name="vaelab-tests", kernel_spec_manager=specs)


def _kernel_env(folder: Path) -> dict[str, str]:
    """This process's environment, with the vaelab under test importable from any folder, and the
    user's cache (decoded images, the judge) out of reach."""
    env = dict(os.environ)
    package_parent = str(Path(vaelab.__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join([package_parent, *filter(None, [env.get("PYTHONPATH")])])
    env["XDG_CACHE_HOME"] = str(folder / "cache")
    env.pop("MPLBACKEND", None)  # the kernel's own inline backend draws the figures as outputs
    return env


def execute(name: str, folder: Path, parameters: dict[str, Any]) -> nbformat.NotebookNode:
    """The notebook run in ``folder`` with ``parameters`` set after its parameters cell; a
    CellExecutionError (with the cell and its traceback) when a cell fails."""
    from nbclient import NotebookClient

    notebook = _read(name)
    injected = nbformat.v4.new_code_cell("\n".join(f"{key} = {value!r}" for key, value in parameters.items()))
    injected.metadata["tags"] = ["injected-parameters"]
    notebook.cells.insert(_parameters_index(notebook) + 1, injected)
    client = NotebookClient(
        notebook,
        timeout=CELL_TIMEOUT,
        km=_kernel_manager(folder.parent / f"{folder.name}-kernel"),
        resources={"metadata": {"path": str(folder)}},
    )
    client.execute(env=_kernel_env(folder))
    return notebook


def _outputs(notebook: nbformat.NotebookNode) -> list[nbformat.NotebookNode]:
    return [output for cell in _code_cells(notebook) for output in cell.outputs]


@pytest.mark.slow
@pytest.mark.parametrize(
    "name",
    [
        pytest.param(
            name,
            marks=[
                pytest.mark.realdata,
                pytest.mark.skipif(
                    not (FASHION_MNIST / "train-images-idx3-ubyte.gz").exists(),
                    reason="Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist; `make test` does)",
                ),
            ],
        )
        if name in NEEDS_FASHION_MNIST
        else name
        for name in NAMES
    ],
)
def test_a_notebook_runs_at_tiny_limits(name: str, workdir: Path) -> None:
    notebook = execute(name, workdir, TINY[name])
    missing = [path for path in WRITES[name] if not (workdir / path).is_file()]
    assert not missing
    outputs = _outputs(notebook)
    assert not [output for output in outputs if output.output_type == "error"]
    figures = [output for output in outputs if "image/png" in output.get("data", {})]
    assert len(figures) == FIGURES[name]
    warnings = [
        output.text for output in outputs if output.output_type == "stream" and re.search(r"\w+Warning\b", output.text)
    ]
    assert not warnings, "a notebook runs without warnings"
