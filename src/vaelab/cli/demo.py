"""``vaelab demo``: its parser and its handler (:func:`vaelab.workflows.demo.run_demo`)."""

from __future__ import annotations

import argparse

from vaelab.cli.arguments import EPOCHS_RANGE, IMAGES_RANGE, add_device, epochs_int, images_int, print_paths


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Add ``demo`` to the subcommands ``sub``."""
    p = sub.add_parser(
        "demo",
        help="train book-ae, book-vae and book-dae on Fashion-MNIST and write every figure",
        description="Train the book's models on the full Fashion-MNIST, each into OUTPUT/<preset>: book-ae "
        "(3 epochs), book-vae (5 epochs) and book-dae (3 epochs), and write all of their figures, for "
        "book-vae also the Sneaker − Sandal attribute vector, its arithmetic grid and a Sandal → Sneaker "
        "morph. "
        "Re-running resumes an interrupted demo or only redraws.",
    )
    p.add_argument("--output", default="runs/demo", help="folder for the demo's runs (default: runs/demo)")
    p.add_argument("--epochs", type=epochs_int, help=f"override the presets' epochs, {EPOCHS_RANGE}")
    p.add_argument("--limit-train", type=images_int, help=f"train on the first N images (quick look), {IMAGES_RANGE}")
    p.add_argument("--limit-test", type=images_int, help=f"validate on the first N test images, {IMAGES_RANGE}")
    add_device(p)
    p.add_argument("--data-dir", help="folder holding the dataset files")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(handler=cmd_demo)


def cmd_demo(args: argparse.Namespace) -> None:
    """``vaelab demo``: train and draw everything, printing each file written."""
    from vaelab.workflows.demo import run_demo

    written = run_demo(
        args.output,
        data_dir=args.data_dir,
        device=args.device,
        epochs=args.epochs,
        limit_train=args.limit_train,
        limit_test=args.limit_test,
        progress=not args.no_progress,
    )
    for paths in written.values():
        print_paths(paths)
