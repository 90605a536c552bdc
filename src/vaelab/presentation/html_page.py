"""Self-contained HTML pages (``vaelab report``, ``vaelab compare --html``): the pieces and the page.

A page is one file that opens anywhere, offline, and asks nothing of the network: its style is in
the page, its images are ``data:`` URIs (PNG in base64), it has no script, and its
Content-Security-Policy (:data:`POLICY`) forbids the browser any other source, so even a stray
address in a run's files could not make it fetch. Every text put into a page goes through
:func:`escape` (or :func:`prose`, which also shows text between backticks as code): a run's path,
preset or a results file cannot inject markup.

A page is written atomically, only into an existing folder, and only over nothing or over a page of
vaelab (its first line is :data:`MARKER`); anything else is refused in one line.
"""

from __future__ import annotations

import base64
import html
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

from vaelab.errors import ConfigError
from vaelab.reading import is_own_file

#: The first line of every page vaelab writes: the doctype, and a comment that says whose it is.
MARKER = "<!DOCTYPE html><!-- written by vaelab, which replaces this file when it runs again -->"

#: What a page may load: nothing but its own inline style and ``data:`` images.
POLICY = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"

#: The style of every page: plain, readable, printable, light and dark.
STYLE = """
:root { color-scheme: light dark; --rule: #c8c8c8; --soft: #f3f3f3; }
@media (prefers-color-scheme: dark) { :root { --rule: #555; --soft: #2a2a2a; } }
body { font: 15px/1.45 system-ui, sans-serif; max-width: 1180px; margin: 2em auto; padding: 0 1.2em; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; }
h2 { font-size: 1.25em; border-bottom: 1px solid var(--rule); padding-bottom: 0.2em; margin-top: 2em; }
h3 { font-size: 1.05em; margin-top: 1.4em; }
table { border-collapse: collapse; margin: 0.6em 0; font-variant-numeric: tabular-nums; }
th, td { border: 1px solid var(--rule); padding: 0.25em 0.6em; text-align: left; vertical-align: top; }
thead th { background: var(--soft); }
td.number { text-align: right; }
.wide { overflow-x: auto; }
.wide td { white-space: nowrap; }
code, pre { font: 13px/1.4 ui-monospace, monospace; }
pre { background: var(--soft); padding: 0.7em; overflow-x: auto; }
figure { display: inline-block; margin: 0.6em 1.2em 0.6em 0; vertical-align: top; }
figure img { max-width: 100%; height: auto; border: 1px solid var(--rule); background: #fff; }
figcaption { font-size: 0.9em; }
.note { font-size: 0.92em; }
.side-by-side { display: flex; flex-wrap: wrap; column-gap: 2.5em; }
.side-by-side > * { flex: 1 1 380px; min-width: 0; }
td code { overflow-wrap: anywhere; }
"""

_CODE = re.compile(r"`([^`]+)`")
_NUMBER = re.compile(r"[-+]?[0-9][0-9,]*(\.[0-9]+)?([eE][-+]?[0-9]+)?")


def escape(value: object) -> str:
    """``value`` as text, HTML-escaped (quotes too, so it is safe in an attribute)."""
    return html.escape(str(value), quote=True)


def prose(text: str) -> str:
    """``text`` escaped, with spans between backticks shown as ``<code>``."""
    return _CODE.sub(lambda match: f"<code>{match.group(1)}</code>", escape(text))


def paragraph(text: str, note: bool = False) -> str:
    """A paragraph of :func:`prose` (``note``: in the smaller print of remarks)."""
    return f'<p class="note">{prose(text)}</p>' if note else f"<p>{prose(text)}</p>"


def table(header: Sequence[str] | None, rows: Iterable[Sequence[object]], wide: bool = False) -> str:
    """A table of cells (:func:`prose`); without ``header``, the first cell of each row is the row's heading,
    and with one, numbers are right-aligned. ``wide`` lets a table wider than the page scroll on its own."""
    head = "<thead><tr>" + "".join(f"<th>{escape(cell)}</th>" for cell in header) + "</tr></thead>" if header else ""
    lines = []
    for row in rows:
        first, *rest = (str(cell) for cell in row)
        lead = f"<td>{escape(first)}</td>" if header else f'<th scope="row">{escape(first)}</th>'
        lines.append("<tr>" + lead + "".join(_cell(cell, bool(header)) for cell in rest) + "</tr>")
    body = f"<table>{head}<tbody>{''.join(lines)}</tbody></table>"
    return f'<div class="wide">{body}</div>' if wide else body


def _cell(text: str, align_numbers: bool) -> str:
    if align_numbers and _NUMBER.fullmatch(text):
        return f'<td class="number">{escape(text)}</td>'
    return f"<td>{prose(text)}</td>"


def png_figure(data: bytes, caption: str) -> str:
    """A PNG image inline (a ``data:`` URI), with ``caption`` under it and as its alternative text."""
    source = "data:image/png;base64," + base64.b64encode(data).decode("ascii")
    alt = escape(caption.replace("`", ""))
    return f'<figure><img src="{source}" alt="{alt}"><figcaption>{prose(caption)}</figcaption></figure>'


def code_block(lines: Iterable[str]) -> str:
    """Lines of code (commands, JSON), escaped, in a ``<pre>``."""
    return "<pre><code>" + escape("\n".join(lines)) + "</code></pre>"


def details(summary: str, body: str) -> str:
    """``body`` folded under a line that opens it."""
    return f"<details><summary>{prose(summary)}</summary>{body}</details>"


def section(title: str, *parts: str, level: int = 2) -> str:
    """A heading of ``level`` and the parts under it."""
    return f"<section><h{level}>{prose(title)}</h{level}>{''.join(parts)}</section>"


def side_by_side(*parts: str) -> str:
    """``parts`` (sections) in columns, one under the other where the page is narrow."""
    return '<div class="side-by-side">' + "".join(parts) + "</div>"


def page(title: str, body: Sequence[str]) -> str:
    """The whole document: :data:`MARKER`, the head (title, :data:`POLICY`, :data:`STYLE`) and ``body``."""
    head = (
        '<meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{escape(POLICY)}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="generator" content="vaelab">'
        f"<title>{escape(title)}</title><style>{STYLE}</style>"
    )
    return f'{MARKER}\n<html lang="en">\n<head>{head}</head>\n<body>\n' + "\n".join(body) + "\n</body>\n</html>\n"


def check_destination(path: str | Path, flag: str) -> Path:
    """``path`` as a :class:`~pathlib.Path` when a page may be written there: a file (not a folder) in an
    existing folder, new or a page vaelab wrote; a :class:`ConfigError` naming ``flag`` otherwise."""
    path = Path(path)
    fix = f"choose another {flag}"
    if path.is_dir():
        raise ConfigError(f"{path} is a folder; give {flag} the name of the file to write, e.g. {path / 'report.html'}")
    folder = path.parent
    if not folder.is_dir():
        what = "is a file, not a folder" if folder.exists() else "does not exist"
        raise ConfigError(f"cannot write {path}: {folder} {what}; create the folder first, or {fix}")
    if not is_own_file(path, (MARKER,)):
        raise ConfigError(f"{path} was not written by vaelab, which would replace it; move it away, or {fix}")
    return path
