"""The chapter's analyses of a run: ``reconstruct``, ``embed``, ``generate``, ``grid``, ``denoise``.

Each handler calls one ``write_*`` function of :mod:`vaelab.presentation.report`, which checks its
arguments, and prints the files written.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from vaelab import choices
from vaelab.cli.arguments import (
    IMAGES_RANGE,
    add_run_options,
    add_sampler,
    add_seed,
    bounded_int,
    count_up_to,
    images_int,
    positive_float,
    print_paths,
)
from vaelab.limits import MAX_EMBEDDED_POINTS, MAX_GENERATED, MAX_GRID_SIZE, MAX_NOISE_SIGMA, MAX_RECONSTRUCTIONS

if TYPE_CHECKING:  # imported by the handlers, when a command runs: `vaelab --help` loads no PyTorch
    from vaelab.data.image_set import ImageSet
    from vaelab.training import Run


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Add ``reconstruct``, ``embed``, ``generate``, ``grid`` and ``denoise`` to the subcommands ``sub``."""
    for add in (_add_reconstruct, _add_embed, _add_generate, _add_grid, _add_denoise):
        add(sub)


def _add_reconstruct(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "reconstruct",
        help="test images above their reconstructions",
        description="Reconstruct the first --count test images (figures/reconstructions.png, .npz).",
    )
    add_run_options(p)
    p.add_argument(
        "--count",
        type=bounded_int(1, MAX_RECONSTRUCTIONS),
        help=(
            f"number of test images, at most {MAX_RECONSTRUCTIONS} and the test set's size (default: 10, or all when "
            "fewer)"
        ),
    )
    p.set_defaults(handler=cmd_reconstruct)


def _add_embed(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "embed",
        help="scatter of the test set in latent space",
        description="Embed the first --count test images: figures/latent_scatter.png (by class; PCA plane above "
        "2 dimensions), latent_histograms.png (each dimension against N(0, 1)), for a VAE latent_cdf.png "
        "(z beside Φ(z)), and embeddings.npz (z, labels).",
    )
    add_run_options(p)
    p.add_argument(
        "--count",
        type=count_up_to(MAX_EMBEDDED_POINTS),
        help=(
            f"number of test images, at most {MAX_EMBEDDED_POINTS:,} and the test set's size (default: 5000, or all "
            "when fewer)"
        ),
    )
    p.add_argument(
        "--sampled",
        action="store_true",
        help="VAE only: plot a sampled z = mean + σ·ε (what the book plots) instead of the encoder mean",
    )
    add_seed(p, "seed of ε for --sampled and of t-SNE")
    p.add_argument(
        "--view",
        choices=choices.EMBED_VIEWS,
        default="pca",
        help="how a latent space over 2-D is drawn: its PCA plane (default) or t-SNE (scikit-learn; much slower)",
    )
    p.set_defaults(handler=cmd_embed)


def _add_generate(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "generate",
        help="decode points sampled in latent space",
        description="Sample --count latent points with --sampler and decode them: figures/generated.png, "
        "generated.json (points, sampler), generated.npz (images).",
    )
    add_run_options(p)
    p.add_argument(
        "--count",
        type=bounded_int(1, MAX_GENERATED),
        help=(
            f"number of samples, at most {MAX_GENERATED} so the figure stays readable (default: the book's grid, 18 as "
            "3×6 for Fashion-MNIST, 30 as 3×10 for faces; `vaelab evaluate` and `diagnose` draw thousands)"
        ),
    )
    add_seed(p, "sampling seed")
    add_sampler(p)
    p.add_argument(
        "--class",
        dest="condition",
        metavar="CLASS",
        help="conditional models (cvae): decode every sample as this class, by name (Coat) or index (4) "
        "(default: every class in turn, 6 per class, and figures/generated_classes.png with one row per class); "
        "a vq-vae whose prior is class-conditional: draw every code grid under this class",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar (the two-stage sampler's fit)")
    p.set_defaults(handler=cmd_generate)


def _add_grid(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "grid",
        help="decode a regular grid over the latent space",
        description="Decode a --size × --size grid of latent points (see --span), shown beside "
        "the scatter: figures/latent_grid.png and latent_grid.npz.",
    )
    add_run_options(p)
    p.add_argument(
        "--size",
        type=bounded_int(2, MAX_GRID_SIZE),
        default=15,
        help=f"points per side, from 2 to {MAX_GRID_SIZE} (default: 15, the book's)",
    )
    p.add_argument(
        "--span",
        choices=choices.GRID_SPANS,
        help="embeddings: the embeddings' min–max (default for an autoencoder); prior: open-interval "
        "N(0, 1) quantiles through the inverse normal CDF (default for a VAE)",
    )
    p.add_argument(
        "--class",
        dest="condition",
        metavar="CLASS",
        help="conditional models (cvae) only: decode the grid as this class, by name (Coat) or index (4), into "
        "figures/latent_grid_class<INDEX>.png and .npz (default: one such pair per class)",
    )
    p.set_defaults(handler=cmd_grid)


def _add_denoise(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "denoise",
        help="corrupt test images and measure how well the model restores them",
        description="Corrupt every test image (seeded), reconstruct it, and report the PSNR of the "
        "corrupted and of the restored images against the clean ones: figures/denoising.png "
        "(noisy / denoised / clean rows) and denoising.json. The corruption defaults to the one the "
        "run was trained with (book-dae: gaussian σ=0.3), else gaussian σ=0.3.",
    )
    add_run_options(p)
    p.add_argument("--corruption", choices=choices.CORRUPTIONS, help="kind of corruption (default: the run's)")
    p.add_argument(
        "--noise-amount",
        type=positive_float,
        help=(
            f"its amount, σ at most {MAX_NOISE_SIGMA:g} or a fraction at most 1 (default: the run's, or the kind's "
            "default)"
        ),
    )
    p.add_argument("--limit-test", type=images_int, help=f"use the first N test images only, {IMAGES_RANGE}")
    add_seed(p, "seed of the corruption")
    p.set_defaults(handler=cmd_denoise)


def _open(args: argparse.Namespace) -> tuple[Run, ImageSet]:
    """The run in ``RUN_DIR`` on ``--device`` and its test set (from ``--data-dir``)."""
    from vaelab.training import load_run

    run = load_run(args.run_dir, args.device)
    return run, run.test_set(args.data_dir)


def cmd_reconstruct(args: argparse.Namespace) -> None:
    """``vaelab reconstruct``: :func:`~vaelab.presentation.report.write_reconstructions`."""
    from vaelab.presentation.report import write_reconstructions

    print_paths(write_reconstructions(*_open(args), count=args.count))


def cmd_embed(args: argparse.Namespace) -> None:
    """``vaelab embed``: :func:`~vaelab.presentation.report.write_embedding`."""
    from vaelab.presentation.report import write_embedding

    print_paths(write_embedding(*_open(args), count=args.count, sampled=args.sampled, seed=args.seed, view=args.view))


def cmd_generate(args: argparse.Namespace) -> None:
    """``vaelab generate``: :func:`~vaelab.presentation.report.write_generated`."""
    from vaelab.presentation.report import write_generated

    run, test_set = _open(args)
    paths = write_generated(
        run,
        test_set,
        count=args.count,
        seed=args.seed,
        sampler=args.sampler,
        condition=args.condition,
        progress=not args.no_progress,
    )
    print_paths(paths)


def cmd_grid(args: argparse.Namespace) -> None:
    """``vaelab grid``: :func:`~vaelab.presentation.report.write_grid`."""
    from vaelab.presentation.report import write_grid

    print_paths(write_grid(*_open(args), size=args.size, span=args.span, condition=args.condition))


def cmd_denoise(args: argparse.Namespace) -> None:
    """``vaelab denoise``: :func:`~vaelab.presentation.report.write_denoising` (which checks the
    corruption before any data loads)."""
    from vaelab.presentation.report import write_denoising
    from vaelab.training import load_run

    run = load_run(args.run_dir, args.device)
    paths = write_denoising(
        run,
        kind=args.corruption,
        amount=args.noise_amount,
        seed=args.seed,
        data_dir=args.data_dir,
        limit_test=args.limit_test,
    )
    print_paths(paths)
