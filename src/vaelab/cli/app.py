"""The ``vaelab`` command line: the top-level parser, built from the command modules, and :func:`main`.

Each command's parser sits beside its handler in one module of :mod:`vaelab.cli` (``train``,
``prior``, ``analyses``, ``attributes``, ``explore``, ``demo``, ``study``, ``measures``, ``export``, ``report``,
``info``). A handler turns parsed arguments into one API call and prints where results went; the API
checks the request. Problems a user can fix arrive as :class:`~vaelab.errors.VaelabError` and are
printed here as one line on stderr with a non-zero exit status.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence

from vaelab import __version__
from vaelab.cli import analyses, attributes, demo, explore, export, info, measures, prior, report, study, train
from vaelab.cli.arguments import Parser
from vaelab.errors import VaelabError, describe_os_error

EXIT_ERROR = 1
EXIT_INTERRUPTED = 130

#: The modules that add the subcommands, in the order ``vaelab --help`` lists them.
COMMAND_MODULES = (train, prior, analyses, attributes, explore, demo, study, measures, export, report, info)

__all__ = ["Parser", "build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    """The full ``vaelab`` argument parser."""
    parser = Parser(
        prog="vaelab",
        description="Autoencoders and VAEs after Generative Deep Learning (2nd ed.), chapter 3.",
        epilog="Start with `vaelab demo`, or `vaelab train --preset book-ae --run-dir runs/ae`.",
    )
    parser.add_argument("--version", action="version", version=f"vaelab {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser, required=True)
    for module in COMMAND_MODULES:
        module.add_parsers(sub)
    return parser


def draw_off_screen() -> None:
    """The command line draws figures into files, never on a screen: matplotlib's Agg backend, whatever
    the desktop offers. Chosen through ``MPLBACKEND`` so that matplotlib is not imported for nothing
    (``--help`` loads neither it nor PyTorch), or switched to when it is imported already. The library
    itself chooses no backend, so that a notebook shows its figures."""
    if "matplotlib" in sys.modules:
        import matplotlib

        matplotlib.use("Agg")
    else:
        os.environ["MPLBACKEND"] = "Agg"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    if hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(line_buffering=True)
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Callable[[argparse.Namespace], None] = args.handler
    draw_off_screen()
    subcommand = getattr(args, "judge_command", None) or getattr(args, "prior_command", None)
    command = " ".join(filter(None, [args.command, subcommand]))
    try:
        handler(args)
    except VaelabError as exc:
        print(f"vaelab {command}: error: {exc}", file=sys.stderr)
        return getattr(exc, "exit_code", EXIT_ERROR)
    except OSError as exc:  # an environmental fault (disk, permissions, a folder in the way): one line too
        print(f"vaelab {command}: error: {describe_os_error(exc)}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt as exc:  # a second Ctrl-C or SIGTERM during training says which (SignalAbort)
        signum = getattr(exc, "signum", None)
        print(f"vaelab {command}: {exc or 'interrupted'}", file=sys.stderr)
        return EXIT_INTERRUPTED if signum is None else 128 + signum
    return 0
