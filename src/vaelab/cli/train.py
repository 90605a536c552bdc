"""``vaelab train``: its parser and its handler, which calls :func:`vaelab.training.prepare_config` and
:func:`vaelab.training.train`."""

from __future__ import annotations

import argparse

from vaelab import choices
from vaelab.cli.arguments import (
    EPOCHS_RANGE,
    IMAGES_RANGE,
    SEED_RANGE,
    add_device,
    bounded_int,
    count_up_to,
    epochs_int,
    images_int,
    positive_float,
    seed_int,
)
from vaelab.limits import (
    MAX_BATCH_SIZE,
    MAX_CODEBOOK_SIZE,
    MAX_IMAGE_SIZE,
    MAX_IWAE_SAMPLES,
    MAX_LATENT_DIM,
    MAX_NOISE_SIGMA,
    MAX_PSEUDO_INPUTS,
    MAX_TENSORBOARD_EVERY,
    MAX_THREADS,
    MIN_LATENT_DIM,
)
from vaelab.numbers import counted

#: ``--tensorboard-every``'s default as ``--help`` states it: :data:`vaelab.training.tensorboard.DEFAULT_EVERY`
#: (written out here so that ``--help`` does not load PyTorch; tests/test_tensorboard.py checks they agree).
TENSORBOARD_EVERY = 50


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Add ``train`` to the subcommands ``sub``."""
    p = sub.add_parser(
        "train",
        help="train a model from a preset",
        description=(
            "Train a preset (see `vaelab presets`) into a run directory. Options left out take the "
            "preset's values (the book's). --resume continues an interrupted or finished run, "
            "optionally to a larger --epochs."
        ),
    )
    _add_recipe_options(p)
    _add_data_options(p)
    p.add_argument("--resume", action="store_true", help="continue the run in --run-dir from its checkpoint")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    _add_tensorboard_options(p)
    _add_speed_options(p)
    p.set_defaults(handler=cmd_train)


def _add_recipe_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--preset", help="the model and recipe, e.g. book-ae (required for a new run)")
    p.add_argument("--run-dir", required=True, help="folder for config, weights, metrics, checkpoint and figures")
    p.add_argument("--epochs", type=epochs_int, help=f"number of epochs, {EPOCHS_RANGE} (book-ae: 3)")
    p.add_argument(
        "--batch-size",
        type=count_up_to(MAX_BATCH_SIZE),
        help=f"images per step, 1 to {MAX_BATCH_SIZE:,} (book-ae: 100)",
    )
    p.add_argument("--lr", type=positive_float, help="Adam learning rate (book-ae: 1e-3)")
    p.add_argument(
        "--latent-dim",
        type=bounded_int(MIN_LATENT_DIM, MAX_LATENT_DIM),
        help=(
            f"size of the latent space, from {MIN_LATENT_DIM} (the figures show it in a plane) to {MAX_LATENT_DIM:,} "
            "(book-ae: 2)"
        ),
    )
    p.add_argument(
        "--beta",
        type=positive_float,
        help=(
            'VAE presets only. book-vae: the book\'s "beta", the weight on the per-pixel reconstruction '
            "term (default 500; larger = sharper images, less regular latent space); beta-vae: β, the weight "
            "on the KL term (default 1); book-vae's weight w equals β = 1024/w"
            "; rae: β on ½‖z‖² (0.1); wae-mmd: λ on MMD² (250); info-vae: λ (1000); beta-tcvae: β on TC (6)"
        ),
    )
    p.add_argument(
        "--k",
        type=bounded_int(1, MAX_IWAE_SAMPLES),
        help=(
            f"iwae only: draws of z per image in the importance-weighted bound, 1 to {MAX_IWAE_SAMPLES:,} "
            "(default 5; k = 1 is the ELBO, with the KL estimated at the draw)"
        ),
    )
    p.add_argument(
        "--pseudo-inputs",
        type=bounded_int(1, MAX_PSEUDO_INPUTS),
        help=(
            f"vamp only: learnt pseudo-inputs u_k of the VampPrior p(z) = (1/K) Σ q(z|u_k), 1 to "
            f"{MAX_PSEUDO_INPUTS:,} (default 500)"
        ),
    )
    p.add_argument(
        "--codebook-size",
        type=bounded_int(2, MAX_CODEBOOK_SIZE),
        help=f"vq-vae only: code vectors K in the codebook, 2 to {MAX_CODEBOOK_SIZE:,} (default 256)",
    )
    p.add_argument(
        "--seed", type=seed_int, help=f"random seed for initialisation and shuffling, {SEED_RANGE} (default: 0)"
    )
    add_device(p, default=None, help="auto uses CUDA when present (default: auto)")


def _add_data_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--data-dir",
        help="folder holding the dataset files (searched first); for celeba the folder "
        "with img_align_celeba/ and list_attr_celeba.txt or .csv, for image-folder the folder of images",
    )
    p.add_argument(
        "--dataset",
        choices=choices.DATASETS,
        help=(
            "train on another dataset than the preset's (book-faces, faces-64, faces-128: celeba; the others: "
            "fashion-mnist); the model "
            "takes the dataset's channels and image size. image-folder: every image under --data-dir, with an "
            "optional attributes.csv"
        ),
    )
    p.add_argument(
        "--image-size",
        type=bounded_int(1, MAX_IMAGE_SIZE),
        help=(
            f"celeba and image-folder: resize every image to N×N, at most {MAX_IMAGE_SIZE} (default: the preset's, 32 "
            "for book-faces as in the book, 64 and 128 for faces-64 and faces-128, which need a multiple of 32 and 64; "
            "book-faces a multiple of 16)"
        ),
    )
    p.add_argument(
        "--center-crop",
        action="store_true",
        help="celeba and image-folder: cut the largest centred square first, so the aspect ratio is kept",
    )
    p.add_argument(
        "--on-bad-image",
        choices=choices.BAD_IMAGE_POLICIES,
        help=(
            "celeba and image-folder: an unreadable image file stops training with its name (fail, the default) "
            "or is left out with a warning (skip)"
        ),
    )
    p.add_argument("--limit-train", type=images_int, help=f"train on the first N training images only, {IMAGES_RANGE}")
    p.add_argument("--limit-test", type=images_int, help=f"validate on the first N test images only, {IMAGES_RANGE}")
    p.add_argument(
        "--corruption",
        choices=choices.CORRUPTIONS,
        help="train as a denoising model: corrupt the inputs (book-dae: gaussian); the target stays clean",
    )
    p.add_argument(
        "--noise-amount",
        type=positive_float,
        help=(
            f"σ for gaussian, at most {MAX_NOISE_SIGMA:g} (default 0.3), or the fraction of pixels hit for salt-pepper "
            "(0.2) and mask (0.5), at most 1"
        ),
    )


def _add_tensorboard_options(parser: argparse.ArgumentParser) -> None:
    """Logs for TensorBoard (not saved in config.json: a --resume asks for them again). See docs/training.md."""
    group = parser.add_argument_group("tensorboard", "logs for TensorBoard (needs `pip install 'vaelab[tensorboard]'`)")
    group.add_argument(
        "--tensorboard",
        nargs="?",
        const="",
        metavar="DIR",
        help=(
            "also write TensorBoard's event files into DIR (default: RUN_DIR/tensorboard; a folder of its own per "
            "run): the loss terms every --tensorboard-every steps and per epoch, the validation terms, images/s, "
            "reconstructions and samples once per epoch, the recipe as hyperparameters"
        ),
    )
    group.add_argument(
        "--tensorboard-every",
        type=bounded_int(1, MAX_TENSORBOARD_EVERY),
        metavar="N",
        help=(
            f"training steps between two points of the loss curves, 1 to {MAX_TENSORBOARD_EVERY:,} "
            f"(default: {TENSORBOARD_EVERY})"
        ),
    )


def _add_speed_options(parser: argparse.ArgumentParser) -> None:
    """How `train` executes (saved in config.json; a --resume may change them). See README "Speed"."""
    group = parser.add_argument_group("speed", "how the run executes; none of these changes the recipe")
    group.add_argument(
        "--precision",
        choices=choices.PRECISIONS,
        help=(
            "fp32 (default); bf16: the training forward pass under bfloat16 autocast, on GPUs and on CPUs with "
            "bf16 instructions (the loss, weights, Adam and validation stay float32; the numbers change a little); "
            "auto: bf16 where the device's bf16 matrix speed is at least 1.5x fp32's and the preset's bf16 numbers "
            "were measured to agree with fp32's, else fp32; the log says which and why, config.json records it"
        ),
    )
    group.add_argument(
        "--compile",
        action=argparse.BooleanOptionalAction,
        default=None,
        help='torch.compile the model (default: off; what compiling costs and gains: the README\'s "Speed")',
    )
    group.add_argument(
        "--cuda-graphs",
        action=argparse.BooleanOptionalAction,
        default=None,
        help=(
            "on CUDA, capture each training step as one CUDA graph and replay it (default: off until "
            "benchmarks/gpu_selfcheck.py has passed on a GPU; single process, without --compile; a resumed run keeps "
            "its setting)"
        ),
    )
    group.add_argument(
        "--data-placement",
        choices=choices.DATA_PLACEMENTS,
        help=(
            "where the images wait between batches: device (copied there whole: fastest when it fits), host (read "
            "batch by batch from the memory-mapped image cache by a background thread: one copy per machine, in the "
            "page cache), or auto (default: device when the images take at most a quarter of its free memory)"
        ),
    )
    group.add_argument(
        "--threads",
        type=bounded_int(1, MAX_THREADS),
        help=(
            f"CPU threads for PyTorch, at most {MAX_THREADS:,} (default: PyTorch's choice, one per core); numbers "
            "depend on the thread count"
        ),
    )


def cmd_train(args: argparse.Namespace) -> None:
    """Train (or resume) the run in ``--run-dir``; print where it wrote and the last validation loss."""
    from vaelab.training import RunDir, prepare_config, tensorboard_options, train

    tensorboard = tensorboard_options(args.tensorboard, args.tensorboard_every)

    run_dir = RunDir(args.run_dir)
    config = prepare_config(
        run_dir,
        args.preset,
        args.resume,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        latent_dim=args.latent_dim,
        beta=args.beta,
        k=args.k,
        pseudo_inputs=args.pseudo_inputs,
        codebook_size=args.codebook_size,
        seed=args.seed,
        device=args.device,
        data_dir=args.data_dir,
        limit_train=args.limit_train,
        limit_test=args.limit_test,
        corruption=args.corruption,
        noise_amount=args.noise_amount,
        dataset=args.dataset,
        image_size=args.image_size,
        center_crop=args.center_crop or None,
        on_bad_image=args.on_bad_image,
        precision=args.precision,
        compile=args.compile,
        cuda_graphs=args.cuda_graphs,
        threads=args.threads,
        data_placement=args.data_placement,
    )
    result = train(config, run_dir, resume=args.resume, progress=not args.no_progress, tensorboard=tensorboard)
    if not result.is_main:  # another process of a torchrun job: rank 0 reports
        return
    if result.trained:
        print(f"wrote {run_dir.model}, {run_dir.metrics} and {run_dir.checkpoint}")
    if result.tensorboard:
        folder = result.tensorboard
        print(f"wrote TensorBoard's event files into {folder} (see them: tensorboard --logdir {folder})")
    if result.history:
        last = result.history[-1]
        print(f"after {counted(last['epoch'], 'epoch')}: validation loss {last['val']['loss']:.5f}")
