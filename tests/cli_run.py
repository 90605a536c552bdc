"""Running the `vaelab` command line in-process from tests, and checking its one-line errors."""

from __future__ import annotations

from vaelab.cli.app import main


def run_cli(capsys, *argv):
    """(exit code, stdout, stderr) of ``vaelab argv``."""
    try:
        code = main(list(argv))
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code, err, expected_code, *fragments):
    """The command exited with ``expected_code`` and wrote one line, no traceback, holding each fragment."""
    assert code == expected_code
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
