"""``vaelab explore``: its parser and its handler (:func:`vaelab.presentation.explorer.serve`)."""

from __future__ import annotations

import argparse

from vaelab.cli.arguments import add_run_options, count_up_to, port_number
from vaelab.limits import MAX_EMBEDDED_POINTS, MAX_PORT


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Add ``explore`` to the subcommands ``sub``."""
    p = sub.add_parser(
        "explore",
        help="a local web page to see and explore the latent space",
        description="Embed the first --points test images and serve a web page (on this machine, "
        "by default at http://127.0.0.1:8000/) showing them in latent space by class; moving the "
        "mouse decodes the point under it, clicking a point shows that image and its reconstruction, "
        "shift-clicking a second one morphs between them. A latent space over 2-D is shown in the "
        "PCA plane of the embeddings. Needs the explore extra: pip install 'vaelab[explore]'. "
        "Ctrl-C stops the server.",
    )
    add_run_options(p)
    p.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default: 127.0.0.1, this machine only; 0.0.0.0 for every interface)",
    )
    p.add_argument(
        "--port",
        type=port_number,
        default=8000,
        help=f"port to listen on, 0 to {MAX_PORT:,} (default: 8000; 0: any free port)",
    )
    p.add_argument(
        "--points",
        type=count_up_to(MAX_EMBEDDED_POINTS),
        help=(
            f"number of test images embedded and shown, at most {MAX_EMBEDDED_POINTS:,} and the test set's size "
            "(default: 5000, or all when fewer)"
        ),
    )
    p.add_argument("--open", action="store_true", help="open the page in the default web browser")
    p.set_defaults(handler=cmd_explore)


def cmd_explore(args: argparse.Namespace) -> None:
    """``vaelab explore``: serve the explorer until Ctrl-C."""
    from vaelab.presentation.explorer import serve

    serve(
        args.run_dir,
        host=args.host,
        port=args.port,
        points=args.points,
        data_dir=args.data_dir,
        device=args.device,
        open_browser=args.open,
    )
