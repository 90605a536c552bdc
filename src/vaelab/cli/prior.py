"""The learnt prior of a run with discrete codes: ``vaelab prior train``.

The handler calls :func:`vaelab.training.prior.run_prior_training`, which checks the request (a run
whose codes are discrete, a resume with a checkpoint and unchanged settings, no prior in the way)
before any data is read.
"""

from __future__ import annotations

import argparse

from vaelab.cli.arguments import (
    EPOCHS_RANGE,
    IMAGES_RANGE,
    Parser,
    add_device,
    add_seed,
    bounded_int,
    count_up_to,
    epochs_int,
    images_int,
    odd_int,
    positive_float,
    print_paths,
)
from vaelab.limits import MAX_BATCH_SIZE

#: The prior's default settings as ``--help`` states them: :class:`vaelab.training.prior_dir.PriorConfig`'s
#: (written out here so that ``--help`` does not load PyTorch; tests/test_vq_prior.py checks they agree).
DEFAULTS = {"epochs": 8, "batch_size": 128, "lr": 1e-3, "channels": 64, "layers": 8, "kernel": 3}


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Add ``prior`` (with its subcommand ``train``) to the subcommands ``sub``."""
    p = sub.add_parser(
        "prior",
        help="the prior learnt over a VQ-VAE run's codes: train it",
        description="A VQ-VAE's samples come from a gated PixelCNN trained, after the VQ-VAE, on the code grids of "
        "its training images (class-conditional when they have labels). It lives in RUN_DIR/prior/.",
    )
    prior = p.add_subparsers(dest="prior_command", metavar="PRIOR_COMMAND", parser_class=Parser, required=True)
    q = prior.add_parser(
        "train",
        help="train the PixelCNN prior over a VQ-VAE run's code grids",
        description="Encode the run's training and test images to code grids, train a gated PixelCNN on the "
        "training grids and report the test grids' negative log-likelihood in bits per code after each epoch. "
        "Writes RUN_DIR/prior/ (config.json, checkpoint.safetensors, metrics.jsonl, model.safetensors); "
        "`vaelab generate RUN_DIR` then samples from it. Ctrl-C saves a checkpoint; --resume continues it exactly.",
    )
    q.add_argument("run_dir", metavar="RUN_DIR", help="a vq-vae run directory written by `vaelab train`")
    q.add_argument("--resume", action="store_true", help="continue the run's prior from its checkpoint")
    q.add_argument(
        "--epochs", type=epochs_int, help=f"number of epochs, {EPOCHS_RANGE} (default: {DEFAULTS['epochs']})"
    )
    q.add_argument(
        "--batch-size",
        type=count_up_to(MAX_BATCH_SIZE),
        help=f"code grids per step, 1 to {MAX_BATCH_SIZE:,} (default: {DEFAULTS['batch_size']})",
    )
    q.add_argument("--lr", type=positive_float, help=f"Adam's learning rate (default: {DEFAULTS['lr']:g})")
    q.add_argument(
        "--channels",
        type=bounded_int(1, 1024),
        help=f"channels of each layer, 1 to 1,024 (default: {DEFAULTS['channels']})",
    )
    q.add_argument("--layers", type=bounded_int(1, 64), help=f"gated layers, 1 to 64 (default: {DEFAULTS['layers']})")
    q.add_argument("--kernel", type=odd_int(3, 15), help=f"kernel width, odd, 3 to 15 (default: {DEFAULTS['kernel']})")
    add_seed(q, "initialisation and shuffling seed")
    q.set_defaults(seed=None)
    add_device(q)
    q.add_argument("--data-dir", help="folder with the dataset (default: where the run found it)")
    q.add_argument("--limit-train", type=images_int, help=f"use the first N training images, {IMAGES_RANGE}")
    q.add_argument("--limit-test", type=images_int, help=f"use the first N test images, {IMAGES_RANGE}")
    q.add_argument("--no-progress", action="store_true", help="no progress bars (the encoding, each epoch)")
    q.set_defaults(handler=cmd_prior_train)


def cmd_prior_train(args: argparse.Namespace) -> None:
    """``vaelab prior train``: train (or resume) the prior; print the files written."""
    from vaelab.training.prior import run_prior_training

    result = run_prior_training(
        args.run_dir,
        resume=args.resume,
        epochs=args.epochs,
        device=args.device,
        data_dir=args.data_dir,
        limit_train=args.limit_train,
        limit_test=args.limit_test,
        progress=not args.no_progress,
        batch_size=args.batch_size,
        lr=args.lr,
        channels=args.channels,
        layers=args.layers,
        kernel=args.kernel,
        seed=args.seed,
    )
    if result.trained:
        folder = result.dir
        print_paths([folder.config, folder.checkpoint, folder.metrics, folder.model])
