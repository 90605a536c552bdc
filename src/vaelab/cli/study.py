"""``vaelab study``: its parser and its handler (:func:`vaelab.workflows.study.run_study`)."""

from __future__ import annotations

import argparse

from vaelab.cli.arguments import add_device, bounded_int, print_paths
from vaelab.limits import MAX_STUDY_SEEDS


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Add ``study`` to the subcommands ``sub``."""
    p = sub.add_parser(
        "study",
        help="which model fixes which of the chapter's three problems: every family, one protocol, seeds",
        description="Train every family's preset on Fashion-MNIST under one protocol (the same images, epochs, "
        "batch size and seeds; latent 2 and latent 16; the VQ-VAE with its PixelCNN prior), measure each run with "
        "diagnose and evaluate for each of its samplers (its own, gmm, and two-stage from latent 16), and write "
        "into OUTPUT: comparison.md and comparison.csv (each family, setting and sampler as mean ± spread over the "
        "seeds, the best of each metric marked only where the seeds tell it apart), summary.png (families × P1 "
        "crowding, P2 centring, P3 holes, reconstruction, Fréchet distance, recall), samples/<preset>.png, "
        "report.html, runs.csv (every run's row) and study.json (the protocol); the runs are in OUTPUT/runs. "
        "The full study takes under 2 hours on a 2-core CPU, --quick under 15 minutes (docs/study.md: the "
        "protocol, what each number means, the budget). Running it again skips every task already done and "
        "continues a stopped study where it stopped. Under torchrun the processes train together and rank 0 "
        "measures and writes. Needs the judge (`vaelab judge train`).",
    )
    p.add_argument("--output", default="reports/study", help="folder of the study (default: reports/study)")
    p.add_argument(
        "--quick",
        action="store_true",
        help="the same study at reduced data, epochs and samples: a check that it works, not a result",
    )
    p.add_argument(
        "--seeds",
        type=bounded_int(2, MAX_STUDY_SEEDS),
        help=f"seeds 0 … N−1, 2 to {MAX_STUDY_SEEDS} (default: 2); more seeds add runs to a study already there",
    )
    add_device(p)
    p.add_argument("--data-dir", help="folder holding the dataset files (searched first)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars (each task still logs a line)")
    p.set_defaults(handler=cmd_study)


def cmd_study(args: argparse.Namespace) -> None:
    """``vaelab study``: run or continue the study, printing each file written (rank 0)."""
    from vaelab.workflows.study import run_study

    result = run_study(
        args.output,
        quick=args.quick,
        seeds=args.seeds,
        device=args.device,
        data_dir=args.data_dir,
        progress=not args.no_progress,
    )
    print_paths(result.written)
