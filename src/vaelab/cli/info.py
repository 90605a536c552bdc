"""What vaelab offers and what it finds: ``presets`` and ``data``."""

from __future__ import annotations

import argparse

from vaelab import choices
from vaelab.cli.arguments import bounded_int, print_paths
from vaelab.limits import MAX_IMAGE_SIZE


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Add ``presets`` and ``data`` to the subcommands ``sub``."""
    p = sub.add_parser("presets", help="list the presets", description="List the model presets and their recipes.")
    p.set_defaults(handler=cmd_presets)

    p = sub.add_parser(
        "data",
        help="find and verify the datasets",
        description="Find a dataset and check it before training. fashion-mnist (the default): "
        "where each file was found and whether it verifies (magic number, shape, count, SHA-256); "
        "searched in order: --data-dir, $VAELAB_DATA, the user cache, "
        "/usr/share/datasets/fashion-mnist. celeba and image-folder: the images, the attribute "
        "and partition files and whether they agree, the train/test split, and whether each split "
        "is already decoded in the cache (nothing is decoded). Exits non-zero if anything would "
        "stop training.",
    )
    p.add_argument("--dataset", choices=choices.DATASETS, default="fashion-mnist", help="default: fashion-mnist")
    p.add_argument("--data-dir", help="folder to search first (image-folder: the folder of images)")
    p.add_argument(
        "--download",
        action="store_true",
        help="fashion-mnist only: download missing files from the official source into the cache",
    )
    p.add_argument(
        "--image-size",
        type=bounded_int(1, MAX_IMAGE_SIZE),
        default=32,
        help=(
            f"celeba and image-folder: the size whose decoded cache is looked for, at most {MAX_IMAGE_SIZE} "
            "(default: 32)"
        ),
    )
    p.add_argument(
        "--center-crop", action="store_true", help="celeba and image-folder: look for the centre-cropped cache"
    )
    p.set_defaults(handler=cmd_data)


def cmd_presets(args: argparse.Namespace) -> None:
    """``vaelab presets``: the presets' table."""
    from vaelab.presentation.tables import presets_table

    print(presets_table())


def cmd_data(args: argparse.Namespace) -> None:
    """``vaelab data``: :func:`~vaelab.data.dataset_check.check_dataset`; print the files downloaded
    and the report, then fail when the dataset would stop training."""
    from vaelab.data.dataset_check import check_dataset
    from vaelab.presentation.tables import dataset_check_table

    result = check_dataset(
        args.dataset,
        args.data_dir,
        download=args.download,
        image_size=args.image_size,
        center_crop=args.center_crop,
    )
    print_paths(result.downloaded)
    print(dataset_check_table(result))
    result.raise_problem()
