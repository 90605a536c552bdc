"""The command line's own conventions (issue 15, part 5): ``vaelab --version``, and output fit for a log:
no colour and no escape codes when ``NO_COLOR`` is set or the output is not a terminal, and no
carriage-return spam from progress bars in a log."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

import vaelab
from cli_run import run_cli
from vaelab import progress

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    tomllib = pytest.importorskip("tomli")

ROOT = Path(__file__).resolve().parents[1]
ESCAPE = "\x1b"


class FakeStream(io.StringIO):
    def __init__(self, terminal: bool) -> None:
        super().__init__()
        self.terminal = terminal

    def isatty(self) -> bool:
        return self.terminal


def test_version_names_the_package_version(capsys):
    code, out, _ = run_cli(capsys, "--version")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert code == 0 and out == f"vaelab {vaelab.__version__}\n"
    assert vaelab.__version__ == project["version"]


def test_version_loads_no_pytorch():
    script = (
        "import sys\n"
        "from vaelab.cli import main\n"
        "try:\n    main(['--version'])\nexcept SystemExit as exit:\n    assert exit.code == 0\n"
        "assert 'torch' not in sys.modules, 'vaelab --version imported torch'\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=_env(), timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"vaelab {vaelab.__version__}\n"


def _backend_after(script: str) -> str:
    """matplotlib's backend once ``script`` has run in a process whose user chose another (``MPLBACKEND=svg``)."""
    script += "\nimport matplotlib\nprint(matplotlib.get_backend())"
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=_env(MPLBACKEND="svg"), timeout=120
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()[-1].lower()


def test_importing_vaelab_s_figures_keeps_the_backend_chosen_by_its_user():
    """A notebook's inline backend stays, so its figures show (vaelab once forced Agg on import)."""
    assert _backend_after("import vaelab.presentation.images") == "svg"


@pytest.mark.slow
@pytest.mark.parametrize("before", ["", "import matplotlib.pyplot\n"], ids=["first", "imported-before"])
def test_the_command_line_draws_off_screen(before):
    """Agg, chosen before matplotlib is imported or switched to when it already was."""
    script = before + "from vaelab.cli import main\nassert main(['presets']) == 0\nimport matplotlib.pyplot"
    assert _backend_after(script) == "agg"


@pytest.mark.parametrize(
    "terminal, environment, allowed",
    [
        (True, {}, True),
        (True, {"NO_COLOR": "1"}, False),
        (True, {"NO_COLOR": ""}, True),  # no-color.org: set to a non-empty value
        (True, {"TERM": "dumb"}, False),
        (False, {}, False),
    ],
)
def test_colour_only_on_a_terminal_without_no_color(monkeypatch, terminal, environment, allowed):
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm-256color")
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    assert progress.colour_allowed(FakeStream(terminal)) is allowed
    monkeypatch.setattr(sys, "stderr", FakeStream(terminal))
    assert progress.colour_allowed() is allowed


@pytest.mark.parametrize("no_color", [True, False])
def test_the_explorer_s_server_log_honours_no_color(monkeypatch, no_color):
    """uvicorn colours its log on any terminal; the explorer tells it not to under NO_COLOR."""
    uvicorn = pytest.importorskip("uvicorn")
    from vaelab.presentation.explorer.server import Explorer

    configs = []
    monkeypatch.setattr(uvicorn, "Config", lambda app, **options: configs.append(options))
    monkeypatch.setattr(uvicorn, "Server", lambda config: SimpleNamespace(run=lambda sockets: None))
    monkeypatch.setattr(sys, "stderr", FakeStream(terminal=True))
    monkeypatch.setenv("TERM", "xterm-256color")
    if no_color:
        monkeypatch.setenv("NO_COLOR", "1")
    else:
        monkeypatch.delenv("NO_COLOR", raising=False)
    pool = SimpleNamespace(shutdown=lambda: None)
    app = SimpleNamespace(state=SimpleNamespace(workers=pool, file_reads=pool))
    Explorer("http://127.0.0.1:0/", app, SimpleNamespace(close=lambda: None)).run()
    assert configs[0]["use_colors"] is (not no_color)


def _env(**extra: str) -> dict[str, str]:
    """The environment of a ``vaelab`` subprocess: this checkout's sources first, no forced colour."""
    env = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "CLICOLOR_FORCE", "PY_COLORS")}
    sources = str(Path(vaelab.__file__).parents[1])
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [sources, os.environ.get("PYTHONPATH", "")]))
    return {**env, **extra}


def _image_folder(folder: Path, count: int = 60) -> Path:
    """``count`` small random RGB images: a dataset for ``--dataset image-folder``."""
    folder.mkdir()
    rng = np.random.default_rng(0)
    for index in range(count):
        Image.fromarray(rng.integers(0, 256, (24, 24, 3), dtype=np.uint8)).save(folder / f"{index:03d}.png")
    return folder


@pytest.mark.slow
def test_output_to_a_log_under_no_color_has_no_escape_codes_and_no_redraw_spam(tmp_path):
    """train (its bars: the images decoded, the epoch), export and a refusal, with stdout and stderr
    pipes (no terminal) and NO_COLOR set under a colour TERM, in one process: no escape code anywhere,
    and each progress bar drawn at most three times (a terminal would redraw it ten times a second)."""
    data, run, shared = _image_folder(tmp_path / "images"), tmp_path / "run", tmp_path / "shared"
    train = ["train", "--preset", "book-ae", "--dataset", "image-folder", "--data-dir", str(data)]
    commands = [
        [*train, "--run-dir", str(run), "--epochs", "1", "--batch-size", "16", "--device", "cpu"],
        ["export", str(run), str(shared)],
        ["export", str(tmp_path / "nowhere"), str(shared)],
    ]
    script = (
        "import json, sys\n"
        "from vaelab.cli import main\n"
        f"codes = [main(argv) for argv in {commands!r}]\n"
        "print(json.dumps(codes))\n"
    )
    env = _env(NO_COLOR="1", TERM="xterm-256color", XDG_CACHE_HOME=str(tmp_path / "cache"))
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, env=env, timeout=600)
    out, err = result.stdout.decode(), result.stderr.decode()  # bytes: text mode would turn "\r" into "\n"
    assert json.loads(out.splitlines()[-1]) == [0, 0, 1], err
    assert ESCAPE not in out and ESCAPE not in err
    assert "\r" not in out and f"wrote {shared / 'README.md'}" in out
    assert "epoch 1/1" in err and "vaelab export: error:" in err
    draws = Counter(part.split(":")[0] for part in re.split("[\r\n]", err) if "%|" in part)
    assert {"epoch 1/1", "decoding image-folder-train to 32×32"} <= set(draws), err
    assert max(draws.values()) <= 3, draws  # each bar: its first draw, at most one timed update, its final state
