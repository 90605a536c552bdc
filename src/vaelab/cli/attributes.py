"""Moving through the latent space: ``attribute``, ``arithmetic``, ``morph``.

Each handler calls one function of :mod:`vaelab.presentation.attribute_report`, which checks its
arguments, and prints the files written.
"""

from __future__ import annotations

import argparse
import re

from vaelab import choices
from vaelab.cli.arguments import add_run_options, bounded_int, factors_type, image_index, images_int, print_paths
from vaelab.limits import (
    MAX_ABS_FACTOR,
    MAX_ARITHMETIC_CELLS,
    MAX_ARITHMETIC_IMAGES,
    MAX_DATASET_IMAGES,
    MAX_FACTORS,
    MAX_MORPH_STEPS,
)


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Add ``attribute``, ``arithmetic`` and ``morph`` to the subcommands ``sub``."""
    for add in (_add_attribute, _add_arithmetic, _add_morph):
        add(sub)


def _add_attribute_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--attribute",
        required=True,
        help="an attribute (CelebA: e.g. Smiling, Blond_Hair) or a Fashion-MNIST class (e.g. Sneaker)",
    )
    parser.add_argument(
        "--against",
        help=(
            "compare with this attribute or class instead (CelebA default: the images without --attribute; "
            "Fashion-MNIST default: every other class), e.g. --attribute Sneaker --against Sandal"
        ),
    )
    parser.add_argument(
        "--count",
        type=images_int,
        default=20000,
        help=(
            f"training images scanned for the vector, at most {MAX_DATASET_IMAGES:,} (default: 20000; all of them "
            "when the training set is smaller)"
        ),
    )


def _add_attribute(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "attribute",
        help="the latent direction of an attribute (e.g. Smiling), with its convergence",
        description="The mean encoder mean of training images with --attribute minus that of images "
        "without it (or of --against), over the first --count training images, normalised to unit "
        "length: figures/attribute-NAME.json (counts, norm before normalising, weights hash), .npz "
        "(vector, convergence data) and attribute-NAME-convergence.png (distance and cosine to the "
        "final vector as more images are scanned). Attributes are CelebA's (or an image folder's "
        "attributes.csv columns) or, for Fashion-MNIST, class names.",
    )
    add_run_options(p)
    _add_attribute_options(p)
    p.set_defaults(handler=cmd_attribute)


def _add_arithmetic(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "arithmetic",
        help="test images moved along an attribute vector, decoded",
        description="Encode --images test images, add f × the unit attribute vector for each of "
        "--factors and decode: figures/arithmetic-NAME.png (a row per image: the original, then each "
        "factor; f = 0 is the reconstruction) and .npz. Uses the vector saved by `vaelab attribute` "
        "when it matches the attribute, --against and the run's weights; computes and saves it "
        "otherwise.",
    )
    add_run_options(p)
    _add_attribute_options(p)
    p.add_argument(
        "--factors",
        type=factors_type,
        default="-4:4",
        help=(
            f"START:STOP (steps of 1), START:STOP:STEP or a list a,b,c: at most {MAX_FACTORS} factors, each from "
            f"-{MAX_ABS_FACTOR:g} to {MAX_ABS_FACTOR:g} (default: -4:4, the book's 9)"
        ),
    )
    p.add_argument(
        "--images",
        type=bounded_int(1, MAX_ARITHMETIC_IMAGES),
        help=(
            f"number of test images, one row each, at most {MAX_ARITHMETIC_IMAGES} and the number that --pick can "
            f"choose from, with --images × factors at most {MAX_ARITHMETIC_CELLS:,} (default: 5, or all when fewer)"
        ),
    )
    p.add_argument(
        "--pick",
        choices=choices.ARITHMETIC_PICKS,
        default="first",
        help="first: the first test images; lacking: the first test images without the attribute "
        "(or of the --against class), so adding it shows (default: first)",
    )
    p.set_defaults(handler=cmd_arithmetic)
    # "--factors -4:4": argparse (before Python 3.13) takes "-4:4" for an option because it only
    # knows plain negative numbers; here anything that starts like a negative number is a value.
    p._negative_number_matcher = re.compile(r"^-\.?\d")


def _add_morph(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "morph",
        help="decode the path between two test images' latent codes",
        description="Encode test images --from and --to and decode --steps points between their codes, "
        "both endpoints included (so the first and last are their reconstructions): "
        "figures/morph-I-J-METHOD.png (the originals at both ends) and .npz.",
    )
    add_run_options(p)
    p.add_argument(
        "--from",
        dest="start",
        type=image_index,
        required=True,
        help=f"index of the first test image, 0 to {MAX_DATASET_IMAGES - 1:,} (below the test set's size)",
    )
    p.add_argument(
        "--to",
        dest="end",
        type=image_index,
        required=True,
        help=f"index of the second test image, 0 to {MAX_DATASET_IMAGES - 1:,}",
    )
    p.add_argument(
        "--steps",
        type=bounded_int(2, MAX_MORPH_STEPS),
        default=10,
        help=f"images on the path, endpoints included, from 2 to {MAX_MORPH_STEPS} (default: 10)",
    )
    p.add_argument(
        "--method",
        choices=choices.MORPH_METHODS,
        default="linear",
        help="linear: z0·(1−f) + z1·f (the book's); slerp: along the great circle, keeping the norm (default: linear)",
    )
    p.set_defaults(handler=cmd_morph)


def cmd_attribute(args: argparse.Namespace) -> None:
    """``vaelab attribute``: :func:`~vaelab.presentation.attribute_report.write_attribute` over the
    run's training set; prints the vector's counts and norm, then the files written."""
    from vaelab.presentation.attribute_report import attribute_training_set, write_attribute
    from vaelab.training import load_run

    run = load_run(args.run_dir, args.device)
    train_set = attribute_training_set(run, args.data_dir, args.count)
    vector, paths = write_attribute(run, train_set, args.attribute, args.against, args.count)
    print(
        f"{vector.describe()}: {vector.count_with:,} and {vector.count_without:,} of {vector.images_scanned:,} "
        f"training images; norm before normalising {vector.norm:.4g}"
    )
    print_paths(paths)


def cmd_arithmetic(args: argparse.Namespace) -> None:
    """``vaelab arithmetic``: :func:`~vaelab.presentation.attribute_report.write_arithmetic`."""
    from vaelab.presentation.attribute_report import write_arithmetic
    from vaelab.training import load_run

    run = load_run(args.run_dir, args.device)
    paths = write_arithmetic(
        run,
        run.test_set(args.data_dir),
        args.attribute,
        args.against,
        args.factors,
        args.images,
        args.pick,
        count=args.count,
        data_dir=args.data_dir,
    )
    print_paths(paths)


def cmd_morph(args: argparse.Namespace) -> None:
    """``vaelab morph``: :func:`~vaelab.presentation.attribute_report.write_morph`."""
    from vaelab.presentation.attribute_report import write_morph
    from vaelab.training import load_run

    run = load_run(args.run_dir, args.device)
    print_paths(write_morph(run, run.test_set(args.data_dir), args.start, args.end, args.steps, args.method))
