"""Measuring runs: ``diagnose``, ``evaluate``, ``compare`` and the ``judge`` they score images with.

The handlers call :func:`vaelab.presentation.diagnostics_report.write_diagnostics`,
:func:`vaelab.evaluation.run_measures.write_evaluation`, :func:`vaelab.presentation.compare.write_comparison`
and the judge's functions; those check the request (a run the judge cannot score, too few images,
options that do not apply) and load what is needed.
"""

from __future__ import annotations

import argparse

from vaelab.cli.arguments import (
    EPOCHS_RANGE,
    IMAGES_RANGE,
    Parser,
    add_device,
    add_run_options,
    add_sampler,
    add_seed,
    bounded_int,
    epochs_int,
    images_int,
    print_paths,
)
from vaelab.limits import MAX_DATASET_IMAGES, MAX_IMPORTANCE_SAMPLES, MAX_METRIC_SAMPLES


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Add ``diagnose``, ``evaluate``, ``compare`` and ``judge`` to the subcommands ``sub``."""
    for add in (_add_diagnose, _add_evaluate, _add_compare, _add_judge):
        add(sub)


def _add_diagnose(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "diagnose",
        help="the latent space's three problems as numbers",
        description="Measure the chapter's three problems of a latent space for samples drawn by "
        "--sampler fitted to the training-set embeddings: P1 crowding (the judge's class distribution "
        "of decoded samples against uniform, each class's share of the latent region), P2 centring and "
        "bounds (the embeddings against N(0, I)), P3 holes (samples the judge is unsure of, samples far "
        "from every training embedding). Writes figures/diagnostics.json (per sampler) and "
        "diagnostics-<sampler>.png. Needs the judge (`vaelab judge train`).",
    )
    add_run_options(p)
    add_sampler(p)
    p.add_argument(
        "--num-samples",
        type=bounded_int(1, MAX_METRIC_SAMPLES),
        default=10000,
        help=f"samples to draw, at most {MAX_METRIC_SAMPLES:,} (default: 10000)",
    )
    p.add_argument(
        "--limit-train",
        type=images_int,
        help=(
            f"embed only the first N training images, {IMAGES_RANGE} (at least 2: holes are measured between "
            "neighbours)"
        ),
    )
    add_seed(p, "sampling seed")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (the two-stage sampler's fit)")
    p.set_defaults(handler=cmd_diagnose)


def _add_evaluate(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "evaluate",
        help="reconstruction, likelihood and sample-quality metrics",
        description="Test reconstruction (BCE per pixel, MSE, PSNR); for a VAE the negative ELBO and "
        "an importance-weighted NLL bound (nats per image; k samples, default 1000 on a GPU and 64 "
        "on a CPU, over all test images on a GPU and the first 2,000 on a CPU); the Fréchet distance "
        "between --num-samples generated and the test images in the judge's feature space; precision "
        "and recall (k-NN manifolds); the judge's class coverage. Writes figures/evaluation.json "
        "(per sampler). Needs the judge (`vaelab judge train`).",
    )
    add_run_options(p)
    add_sampler(p)
    p.add_argument(
        "--num-samples",
        type=bounded_int(1, MAX_METRIC_SAMPLES),
        default=10000,
        help=(
            f"samples to generate, from 4 (precision and recall use 3 nearest neighbours) to {MAX_METRIC_SAMPLES:,} "
            "(default: 10000)"
        ),
    )
    p.add_argument(
        "--limit-test", type=images_int, help=f"use the first N test images only, at least 4 and {IMAGES_RANGE}"
    )
    p.add_argument(
        "--limit-train", type=images_int, help=f"embed only the first N training images (samplers' fit), {IMAGES_RANGE}"
    )
    p.add_argument(
        "--importance-samples",
        "-k",
        type=bounded_int(1, MAX_IMPORTANCE_SAMPLES),
        help=(
            f"VAE only: k of the importance-weighted bound, at most {MAX_IMPORTANCE_SAMPLES:,} (papers use 1000-5000; "
            "default: 1000 on a GPU, 64 on a CPU)"
        ),
    )
    p.add_argument(
        "--likelihood-images",
        type=images_int,
        help=(
            f"VAE only: test images for the likelihood bounds, at most {MAX_DATASET_IMAGES:,} and the test set's size "
            "(default: all on a GPU, 2000 on a CPU)"
        ),
    )
    add_seed(p, "sampling seed")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(handler=cmd_evaluate)


def _add_compare(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "compare",
        help="one table of every metric across runs and samplers",
        description="Print one table of the diagnostics and metrics stored in each RUN_DIR (by "
        "`vaelab diagnose` and `vaelab evaluate`), one row per run and sampler, and write it as "
        "comparison.md and comparison.csv into --output (and, with --html, as a page).",
    )
    p.add_argument("run_dirs", metavar="RUN_DIR", nargs="+", help="run directories")
    p.add_argument("--output", default=".", help="folder for comparison.md and comparison.csv (default: .)")
    p.add_argument(
        "--html",
        metavar="FILE",
        help=(
            "also write the comparison as one self-contained HTML file (the table, and each run's recipe, loss "
            "curves and key figures), in an existing folder; new, or a page vaelab wrote"
        ),
    )
    p.set_defaults(handler=cmd_compare)


def _add_judge(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "judge",
        help="the classifier that scores generated images: train it once, show it",
        description="The judge is a Fashion-MNIST classifier (a small CNN) whose class "
        "probabilities and 128-d features the evaluation metrics use. It is trained once and cached in the user cache "
        "($XDG_CACHE_HOME/vaelab/judge or ~/.cache/vaelab/judge) with its test accuracy and hash.",
    )
    judge = p.add_subparsers(dest="judge_command", metavar="JUDGE_COMMAND", parser_class=Parser, required=True)
    q = judge.add_parser(
        "train",
        help="train the judge on Fashion-MNIST and cache it",
        description="Train the judge on the 60,000 training images, report its accuracy on the "
        "10,000 test images after each epoch, and cache it (replacing a cached judge).",
    )
    q.add_argument("--epochs", type=epochs_int, default=8, help=f"number of epochs, {EPOCHS_RANGE} (default: 8)")
    add_seed(q, "random seed")
    add_device(q)
    q.add_argument("--data-dir", help="folder holding the dataset files (searched first)")
    q.add_argument("--no-progress", action="store_true", help="no progress bar")
    q.set_defaults(handler=cmd_judge_train)
    q = judge.add_parser(
        "show",
        help="where the cached judge is, its accuracy and hash",
        description="Show the cached judge's file, test accuracy, hash and training record, "
        "after checking the file against its recorded hash.",
    )
    q.set_defaults(handler=cmd_judge_show)


def cmd_diagnose(args: argparse.Namespace) -> None:
    """``vaelab diagnose``: :func:`~vaelab.presentation.diagnostics_report.write_diagnostics`."""
    from vaelab.presentation.diagnostics_report import write_diagnostics
    from vaelab.training import load_run

    run = load_run(args.run_dir, args.device)
    paths = write_diagnostics(
        run,
        sampler=args.sampler,
        num_samples=args.num_samples,
        seed=args.seed,
        progress=not args.no_progress,
        data_dir=args.data_dir,
        limit_train=args.limit_train,
    )
    print_paths(paths)


def cmd_evaluate(args: argparse.Namespace) -> None:
    """``vaelab evaluate``: :func:`~vaelab.evaluation.run_measures.write_evaluation`."""
    from vaelab.evaluation.run_measures import write_evaluation
    from vaelab.training import load_run

    run = load_run(args.run_dir, args.device)
    paths = write_evaluation(
        run,
        sampler=args.sampler,
        num_samples=args.num_samples,
        importance_samples=args.importance_samples,
        likelihood_images=args.likelihood_images,
        seed=args.seed,
        progress=not args.no_progress,
        data_dir=args.data_dir,
        limit_train=args.limit_train,
        limit_test=args.limit_test,
    )
    print_paths(paths)


def cmd_compare(args: argparse.Namespace) -> None:
    """``vaelab compare``: print the table, then the files written."""
    from vaelab.presentation.compare import write_comparison

    table, paths = write_comparison(args.run_dirs, args.output, html=args.html)
    print(table)
    print_paths(paths)


def cmd_judge_train(args: argparse.Namespace) -> None:
    """``vaelab judge train``: train and cache the judge; print where and its accuracy."""
    from vaelab.evaluation.judge import train_and_save_judge

    judge = train_and_save_judge(
        epochs=args.epochs, seed=args.seed, device=args.device, data_dir=args.data_dir, progress=not args.no_progress
    )
    print_paths([judge.path, judge.record_path])
    print(f"judge test accuracy {judge.accuracy:.2%}, hash {judge.hash}")


def cmd_judge_show(args: argparse.Namespace) -> None:
    """``vaelab judge show``: the cached judge, checked against its hash."""
    from vaelab.evaluation.judge import load_judge
    from vaelab.presentation.tables import judge_lines

    print(judge_lines(load_judge("cpu")))
