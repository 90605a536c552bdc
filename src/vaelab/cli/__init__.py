"""The command line (a thin layer over the Python API)."""

from vaelab.cli.app import build_parser, main

__all__ = ["build_parser", "main"]
