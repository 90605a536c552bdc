"""``vaelab report RUN_DIR [--output FILE]``: a run as one self-contained HTML page.

The handler calls :func:`vaelab.presentation.html_report.write_report`, which checks the run and the
destination before it writes anything.
"""

from __future__ import annotations

import argparse

from vaelab.cli.arguments import print_paths


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Add ``report`` to the subcommands ``sub``."""
    p = sub.add_parser(
        "report",
        help="a run as one self-contained HTML page: recipe, curves, figures, tables, commands",
        description=(
            "Write one HTML file that shows the run: the model and its parameter counts, the recipe and "
            "config.json, the loss curves and each epoch's numbers, what `vaelab evaluate` and `vaelab diagnose` "
            "measured, a vq-vae's prior, every figure in figures/, and the commands that reproduce the run. "
            "The file opens in any browser, offline: its images are inside it, and it has no script and makes "
            "no request. Nothing is computed: run the analyses first for their figures and tables."
        ),
    )
    p.add_argument("run_dir", metavar="RUN_DIR", help="a run directory written by `vaelab train`")
    p.add_argument(
        "--output",
        metavar="FILE",
        help=(
            "the HTML file to write, in an existing folder; new, or a page vaelab wrote (default: RUN_DIR/report.html)"
        ),
    )
    p.set_defaults(handler=cmd_report)


def cmd_report(args: argparse.Namespace) -> None:
    """``vaelab report``: write the page; print its path."""
    from vaelab.presentation.html_report import write_report

    print_paths([write_report(args.run_dir, args.output)])
