"""The ``vaelab`` command line: argument parsing and dispatch to the Python API.

Each handler turns parsed arguments into one API call and prints where results went. Problems a
user can fix arrive as :class:`~vaelab.errors.VaelabError` and are printed as one line on stderr
with a non-zero exit status.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NoReturn

from vaelab import __version__
from vaelab.errors import ConfigError, DataError, VaelabError, describe_os_error
from vaelab.limits import (
    MAX_ABS_FACTOR,
    MAX_ARITHMETIC_CELLS,
    MAX_ARITHMETIC_IMAGES,
    MAX_BATCH_SIZE,
    MAX_DATASET_IMAGES,
    MAX_EMBEDDED_POINTS,
    MAX_EPOCHS,
    MAX_FACTORS,
    MAX_GENERATED,
    MAX_GRID_SIZE,
    MAX_IMAGE_SIZE,
    MAX_IMPORTANCE_SAMPLES,
    MAX_LATENT_DIM,
    MAX_METRIC_SAMPLES,
    MAX_MORPH_STEPS,
    MAX_NOISE_SIGMA,
    MAX_PORT,
    MAX_RECONSTRUCTIONS,
    MAX_SEED,
    MAX_THREADS,
    MIN_LATENT_DIM,
)
from vaelab.numbers import plain_float, plain_int

EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors are one line."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


def _number_type(
    convert: Callable[[str], float], accept: Callable[[float], bool], what: str, high: float | None = None
):
    """An argparse type converting with ``convert`` (:func:`~vaelab.numbers.plain_int` or
    :func:`~vaelab.numbers.plain_float`: plain ASCII forms only) and keeping values for which
    ``accept`` holds. The type records ``number`` (the converter) and ``high`` (its upper bound, or
    None), so that tests can check every numeric flag."""

    def parse(text: str):
        try:
            value = convert(text)
        except ValueError:
            value = None
        if value is None or not accept(value):
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
        return value

    parse.__name__ = what.replace(" ", "_")
    parse.number = convert
    parse.high = high
    return parse


def bounded_int(low: int, high: int):
    """An argparse type for integers from ``low`` to ``high`` (both included)."""
    return _number_type(plain_int, lambda v: low <= v <= high, f"an integer from {low:,} to {high:,}", high)


def count_up_to(high: int):
    """An argparse type for counts from 1 to ``high``."""
    return bounded_int(1, high)


positive_float = _number_type(plain_float, lambda v: v > 0, "a positive number")
port_number = bounded_int(0, MAX_PORT)
epochs_int = count_up_to(MAX_EPOCHS)
images_int = count_up_to(MAX_DATASET_IMAGES)
image_index = bounded_int(0, MAX_DATASET_IMAGES - 1)

EPOCHS_RANGE = f"1 to {MAX_EPOCHS:,}"
IMAGES_RANGE = f"at most {MAX_DATASET_IMAGES:,} and the split's size"

seed_int = bounded_int(0, MAX_SEED)
SEED_RANGE = f"0 to {MAX_SEED:,}"

DEVICE_CHOICES = ("auto", "cpu", "cuda")
CORRUPTIONS = ("gaussian", "salt-pepper", "mask")
DATASETS = ("fashion-mnist", "celeba", "image-folder")
BAD_IMAGE_POLICIES = ("fail", "skip")
MORPH_METHODS = ("linear", "slerp")


def factors_type(text: str) -> tuple[float, ...]:
    """argparse type for --factors (START:STOP[:STEP] or a list), via the latent layer's parser."""
    from vaelab.latent.arithmetic import parse_factors

    try:
        return parse_factors(text)
    except VaelabError as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix("--factors ")) from None


factors_type.__name__ = "factors"
factors_type.number = plain_float  # a list or range of them
factors_type.high = MAX_ABS_FACTOR


def _add_run_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", metavar="RUN_DIR", help="a run directory written by `vaelab train`")
    parser.add_argument("--data-dir", help="folder with the dataset (default: where the run found it)")
    parser.add_argument("--device", default="auto", choices=DEVICE_CHOICES, help="where to compute (default: auto)")


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


def _add_speed_options(parser: argparse.ArgumentParser) -> None:
    """How `train` executes (saved in config.json; a --resume may change them). See README "Speed"."""
    group = parser.add_argument_group("speed", "how the run executes; none of these changes the recipe")
    group.add_argument(
        "--precision",
        choices=("fp32", "bf16"),
        help=(
            "fp32 (default), or bf16: the training forward pass under bfloat16 autocast, on GPUs and on CPUs with "
            "bf16 instructions (the loss, weights, Adam and validation stay float32; the numbers change a little)"
        ),
    )
    group.add_argument(
        "--compile",
        action=argparse.BooleanOptionalAction,
        default=None,
        help=(
            "torch.compile the model (default: off; compiling takes tens of seconds and paid 5-10%% on a 2-core CPU)"
        ),
    )
    group.add_argument(
        "--cuda-graphs",
        action=argparse.BooleanOptionalAction,
        default=None,
        help=(
            "on CUDA, capture each training step as one CUDA graph and replay it (default: on; single process, "
            "without --compile)"
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


def build_parser() -> argparse.ArgumentParser:
    """The full ``vaelab`` argument parser."""
    parser = Parser(
        prog="vaelab",
        description="Autoencoders and VAEs after Generative Deep Learning (2nd ed.), chapter 3.",
        epilog="Start with `vaelab demo`, or `vaelab train --preset book-ae --run-dir runs/ae`.",
    )
    parser.add_argument("--version", action="version", version=f"vaelab {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser, required=True)

    p = sub.add_parser(
        "train",
        help="train a model from a preset",
        description=(
            "Train a preset (see `vaelab presets`) into a run directory. Options left out take the "
            "preset's values (the book's). --resume continues an interrupted or finished run, "
            "optionally to a larger --epochs."
        ),
    )
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
        ),
    )
    p.add_argument(
        "--seed", type=seed_int, help=f"random seed for initialisation and shuffling, {SEED_RANGE} (default: 0)"
    )
    p.add_argument("--device", choices=DEVICE_CHOICES, help="auto uses CUDA when present (default: auto)")
    p.add_argument(
        "--data-dir",
        help="folder holding the dataset files (searched first); for celeba the folder "
        "with img_align_celeba/ and list_attr_celeba.txt or .csv, for image-folder the folder of images",
    )
    p.add_argument(
        "--dataset",
        choices=DATASETS,
        help=(
            "train on another dataset than the preset's (book-faces: celeba; the others: fashion-mnist); the model "
            "takes the dataset's channels and image size. image-folder: every image under --data-dir, with an "
            "optional attributes.csv"
        ),
    )
    p.add_argument(
        "--image-size",
        type=bounded_int(1, MAX_IMAGE_SIZE),
        help=(
            f"celeba and image-folder: resize every image to N×N, at most {MAX_IMAGE_SIZE} (default 32, the book's; "
            "book-faces needs a multiple of 16, e.g. 64)"
        ),
    )
    p.add_argument(
        "--center-crop",
        action="store_true",
        help="celeba and image-folder: cut the largest centred square first, so the aspect ratio is kept",
    )
    p.add_argument(
        "--on-bad-image",
        choices=BAD_IMAGE_POLICIES,
        help=(
            "celeba and image-folder: an unreadable image file stops training with its name (fail, the default) "
            "or is left out with a warning (skip)"
        ),
    )
    p.add_argument("--limit-train", type=images_int, help=f"train on the first N training images only, {IMAGES_RANGE}")
    p.add_argument("--limit-test", type=images_int, help=f"validate on the first N test images only, {IMAGES_RANGE}")
    p.add_argument(
        "--corruption",
        choices=CORRUPTIONS,
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
    p.add_argument("--resume", action="store_true", help="continue the run in --run-dir from its checkpoint")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    _add_speed_options(p)
    p.set_defaults(handler=cmd_train)

    p = sub.add_parser(
        "reconstruct",
        help="test images above their reconstructions",
        description="Reconstruct the first --count test images (figures/reconstructions.png, .npz).",
    )
    _add_run_options(p)
    p.add_argument(
        "--count",
        type=bounded_int(1, MAX_RECONSTRUCTIONS),
        help=(
            f"number of test images, at most {MAX_RECONSTRUCTIONS} and the test set's size (default: 10, or all when "
            "fewer)"
        ),
    )
    p.set_defaults(handler=cmd_reconstruct)

    p = sub.add_parser(
        "embed",
        help="scatter of the test set in latent space",
        description="Embed the first --count test images: figures/latent_scatter.png (by class; PCA plane above "
        "2 dimensions), latent_histograms.png (each dimension against N(0, 1)), for a VAE latent_cdf.png "
        "(z beside Φ(z)), and embeddings.npz (z, labels).",
    )
    _add_run_options(p)
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
    p.add_argument(
        "--seed", type=seed_int, default=0, help=f"seed of ε for --sampled and of t-SNE, {SEED_RANGE} (default: 0)"
    )
    p.add_argument(
        "--view",
        choices=("pca", "tsne"),
        default="pca",
        help="how a latent space over 2-D is drawn: its PCA plane (default) or t-SNE (scikit-learn, "
        "about a minute for 5,000 points on 2 cores)",
    )
    p.set_defaults(handler=cmd_embed)

    p = sub.add_parser(
        "generate",
        help="decode points sampled in latent space",
        description="Sample --count latent points with --sampler and decode them: figures/generated.png, "
        "generated.json (points, sampler), generated.npz (images).",
    )
    _add_run_options(p)
    p.add_argument(
        "--count",
        type=bounded_int(1, MAX_GENERATED),
        help=(
            f"number of samples, at most {MAX_GENERATED} so the figure stays readable (default: the book's grid, 18 as "
            "3×6 for Fashion-MNIST, 30 as 3×10 for faces; `vaelab evaluate` and `diagnose` draw thousands)"
        ),
    )
    p.add_argument("--seed", type=seed_int, default=0, help=f"sampling seed, {SEED_RANGE} (default: 0)")
    p.add_argument(
        "--sampler",
        choices=("uniform-box", "prior", "gmm"),
        help="uniform-box: uniform in the embeddings' bounding box; prior: N(0, I); gmm: a 10-component "
        "Gaussian mixture fitted to the training set's embeddings (default: uniform-box for an "
        "autoencoder, prior for a VAE, as the book)",
    )
    p.set_defaults(handler=cmd_generate)

    p = sub.add_parser(
        "grid",
        help="decode a regular grid over the latent space",
        description="Decode a --size × --size grid of latent points (see --span), shown beside "
        "the scatter: figures/latent_grid.png and latent_grid.npz.",
    )
    _add_run_options(p)
    p.add_argument(
        "--size",
        type=bounded_int(2, MAX_GRID_SIZE),
        default=15,
        help=f"points per side, from 2 to {MAX_GRID_SIZE} (default: 15, the book's)",
    )
    p.add_argument(
        "--span",
        choices=("embeddings", "prior"),
        help="embeddings: the embeddings' min–max (default for an autoencoder); prior: open-interval "
        "N(0, 1) quantiles through the inverse normal CDF (default for a VAE)",
    )
    p.set_defaults(handler=cmd_grid)

    p = sub.add_parser(
        "denoise",
        help="corrupt test images and measure how well the model restores them",
        description="Corrupt every test image (seeded), reconstruct it, and report the PSNR of the "
        "corrupted and of the restored images against the clean ones: figures/denoising.png "
        "(noisy / denoised / clean rows) and denoising.json. The corruption defaults to the one the "
        "run was trained with (book-dae: gaussian σ=0.3), else gaussian σ=0.3.",
    )
    _add_run_options(p)
    p.add_argument("--corruption", choices=CORRUPTIONS, help="kind of corruption (default: the run's)")
    p.add_argument(
        "--noise-amount",
        type=positive_float,
        help=(
            f"its amount, σ at most {MAX_NOISE_SIGMA:g} or a fraction at most 1 (default: the run's, or the kind's "
            "default)"
        ),
    )
    p.add_argument("--limit-test", type=images_int, help=f"use the first N test images only, {IMAGES_RANGE}")
    p.add_argument("--seed", type=seed_int, default=0, help=f"seed of the corruption, {SEED_RANGE} (default: 0)")
    p.set_defaults(handler=cmd_denoise)

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
    _add_run_options(p)
    _add_attribute_options(p)
    p.set_defaults(handler=cmd_attribute)

    p = sub.add_parser(
        "arithmetic",
        help="test images moved along an attribute vector, decoded",
        description="Encode --images test images, add f × the unit attribute vector for each of "
        "--factors and decode: figures/arithmetic-NAME.png (a row per image: the original, then each "
        "factor; f = 0 is the reconstruction) and .npz. Uses the vector saved by `vaelab attribute` "
        "when it matches the attribute, --against and the run's weights; computes and saves it "
        "otherwise.",
    )
    _add_run_options(p)
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
        choices=("first", "lacking"),
        default="first",
        help="first: the first test images; lacking: the first test images without the attribute "
        "(or of the --against class), so adding it shows (default: first)",
    )
    p.set_defaults(handler=cmd_arithmetic)
    # "--factors -4:4": argparse (before Python 3.13) takes "-4:4" for an option because it only
    # knows plain negative numbers; here anything that starts like a negative number is a value.
    p._negative_number_matcher = re.compile(r"^-\.?\d")

    p = sub.add_parser(
        "morph",
        help="decode the path between two test images' latent codes",
        description="Encode test images --from and --to and decode --steps points between their codes, "
        "both endpoints included (so the first and last are their reconstructions): "
        "figures/morph-I-J-METHOD.png (the originals at both ends) and .npz.",
    )
    _add_run_options(p)
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
        choices=MORPH_METHODS,
        default="linear",
        help="linear: z0·(1−f) + z1·f (the book's); slerp: along the great circle, keeping the norm (default: linear)",
    )
    p.set_defaults(handler=cmd_morph)

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
    _add_run_options(p)
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
    p.add_argument("--device", default="auto", choices=DEVICE_CHOICES, help="where to compute (default: auto)")
    p.add_argument("--data-dir", help="folder holding the dataset files")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(handler=cmd_demo)

    samplers = ("uniform-box", "prior", "gmm")
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
    _add_run_options(p)
    p.add_argument("--sampler", choices=samplers, help="default: uniform-box for an autoencoder, prior for a VAE")
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
    p.add_argument("--seed", type=seed_int, default=0, help=f"sampling seed, {SEED_RANGE} (default: 0)")
    p.set_defaults(handler=cmd_diagnose)

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
    _add_run_options(p)
    p.add_argument("--sampler", choices=samplers, help="default: uniform-box for an autoencoder, prior for a VAE")
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
    p.add_argument("--seed", type=seed_int, default=0, help=f"sampling seed, {SEED_RANGE} (default: 0)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(handler=cmd_evaluate)

    p = sub.add_parser(
        "compare",
        help="one table of every metric across runs and samplers",
        description="Print one table of the diagnostics and metrics stored in each RUN_DIR (by "
        "`vaelab diagnose` and `vaelab evaluate`), one row per run and sampler, and write it as "
        "comparison.md and comparison.csv into --output.",
    )
    p.add_argument("run_dirs", metavar="RUN_DIR", nargs="+", help="run directories")
    p.add_argument("--output", default=".", help="folder for comparison.md and comparison.csv (default: .)")
    p.set_defaults(handler=cmd_compare)

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
    q.add_argument("--seed", type=seed_int, default=0, help=f"random seed, {SEED_RANGE} (default: 0)")
    q.add_argument("--device", default="auto", choices=DEVICE_CHOICES, help="where to compute (default: auto)")
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
    p.add_argument("--dataset", choices=DATASETS, default="fashion-mnist", help="default: fashion-mnist")
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
    return parser


def _print_paths(paths: Sequence[Path]) -> None:
    for path in paths:
        print(f"wrote {path}")


def cmd_train(args: argparse.Namespace) -> None:
    from vaelab.training import RunDir, prepare_config, train

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
    )
    result = train(config, run_dir, resume=args.resume, progress=not args.no_progress)
    if not result.is_main:  # another process of a torchrun job: rank 0 reports
        return
    if result.trained:
        print(f"wrote {run_dir.model}, {run_dir.metrics} and {run_dir.checkpoint}")
    if result.history:
        last = result.history[-1]
        print(f"after {last['epoch']} epochs: validation loss {last['val']['loss']:.5f}")


def _open(args: argparse.Namespace):
    from vaelab.training import load_run

    run = load_run(args.run_dir, args.device)
    return run, run.test_set(args.data_dir)


def cmd_reconstruct(args: argparse.Namespace) -> None:
    from vaelab.presentation.report import write_reconstructions

    _print_paths(write_reconstructions(*_open(args), count=args.count))


def cmd_embed(args: argparse.Namespace) -> None:
    from vaelab.presentation.report import write_embedding

    _print_paths(write_embedding(*_open(args), count=args.count, sampled=args.sampled, seed=args.seed, view=args.view))


def cmd_generate(args: argparse.Namespace) -> None:
    from vaelab.presentation.report import write_generated

    _print_paths(write_generated(*_open(args), count=args.count, seed=args.seed, sampler=args.sampler))


def cmd_grid(args: argparse.Namespace) -> None:
    from vaelab.presentation.report import write_grid

    _print_paths(write_grid(*_open(args), size=args.size, span=args.span))


def cmd_denoise(args: argparse.Namespace) -> None:
    from vaelab.presentation.report import corruption_for, write_denoising
    from vaelab.training import load_run

    run = load_run(args.run_dir, args.device)
    corruption = corruption_for(run.config.corruption, args.corruption, args.noise_amount)  # before any data loads
    test_set = run.test_set(args.data_dir, args.limit_test)
    paths = write_denoising(run, test_set, corruption.kind, corruption.amount, seed=args.seed)
    _print_paths(paths)


def cmd_attribute(args: argparse.Namespace) -> None:
    from vaelab.presentation.attribute_report import attribute_training_set, write_attribute
    from vaelab.training import load_run

    run = load_run(args.run_dir, args.device)
    train_set = attribute_training_set(run, args.data_dir, args.count)
    vector, paths = write_attribute(run, train_set, args.attribute, args.against, args.count)
    print(
        f"{vector.describe()}: {vector.count_with:,} and {vector.count_without:,} of {vector.images_scanned:,} "
        f"training images; norm before normalising {vector.norm:.4g}"
    )
    _print_paths(paths)


def cmd_arithmetic(args: argparse.Namespace) -> None:
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
    _print_paths(paths)


def cmd_morph(args: argparse.Namespace) -> None:
    from vaelab.presentation.attribute_report import write_morph

    _print_paths(write_morph(*_open(args), args.start, args.end, args.steps, args.method))


def cmd_explore(args: argparse.Namespace) -> None:
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


def cmd_demo(args: argparse.Namespace) -> None:
    from vaelab.presentation.demo import run_demo

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
        _print_paths(paths)


def cmd_diagnose(args: argparse.Namespace) -> None:
    from vaelab.evaluation.diagnostics import check_diagnosis_request
    from vaelab.evaluation.judge import check_judge_applies, load_judge
    from vaelab.latent.samplers import check_fit_size
    from vaelab.presentation.evaluation_report import write_diagnostics
    from vaelab.training import load_run

    run = load_run(args.run_dir, args.device)
    check_judge_applies(run.config.dataset)
    train_set = run.train_set(args.data_dir, args.limit_train)
    check_diagnosis_request(run.config.model.latent_dim, len(train_set))
    check_fit_size(args.sampler, len(train_set))
    judge = load_judge(str(run.device))
    _print_paths(write_diagnostics(run, train_set, judge, args.sampler, args.num_samples, args.seed))


def cmd_evaluate(args: argparse.Namespace) -> None:
    from vaelab.evaluation.judge import check_judge_applies, load_judge
    from vaelab.evaluation.metrics import check_evaluation_request
    from vaelab.latent.samplers import check_fit_size
    from vaelab.presentation.evaluation_report import write_evaluation
    from vaelab.training import load_run

    run = load_run(args.run_dir, args.device)
    check_judge_applies(run.config.dataset)
    train_set = run.train_set(args.data_dir, args.limit_train)
    test_set = run.test_set(args.data_dir, args.limit_test)
    check_evaluation_request(
        run.config.model.kind, args.num_samples, len(test_set), args.importance_samples, args.likelihood_images
    )
    check_fit_size(args.sampler, len(train_set))
    judge = load_judge(str(run.device))
    _print_paths(
        write_evaluation(
            run,
            train_set,
            test_set,
            judge,
            args.sampler,
            args.num_samples,
            args.importance_samples,
            args.likelihood_images,
            args.seed,
            progress=not args.no_progress,
        )
    )


def cmd_compare(args: argparse.Namespace) -> None:
    from vaelab.presentation.compare import write_comparison

    table, paths = write_comparison(args.run_dirs, args.output)
    print(table)
    _print_paths(paths)


def cmd_judge_train(args: argparse.Namespace) -> None:
    from vaelab.evaluation.judge import train_and_save_judge

    judge = train_and_save_judge(
        epochs=args.epochs, seed=args.seed, device=args.device, data_dir=args.data_dir, progress=not args.no_progress
    )
    _print_paths([judge.path, judge.record_path])
    print(f"judge test accuracy {judge.accuracy:.2%}, hash {judge.hash}")


def cmd_judge_show(args: argparse.Namespace) -> None:
    from vaelab.evaluation.judge import load_judge
    from vaelab.presentation.tables import judge_lines

    print(judge_lines(load_judge("cpu")))


def cmd_presets(args: argparse.Namespace) -> None:
    from vaelab.presentation.tables import presets_table

    print(presets_table())


def cmd_data(args: argparse.Namespace) -> None:
    if args.dataset == "fashion-mnist":
        _check_fashion_mnist(args)
    else:
        _check_image_dataset(args)


def _check_image_dataset(args: argparse.Namespace) -> None:
    from vaelab.data.image_dataset_check import check_image_dataset, has_problems
    from vaelab.data.image_options import ImageOptions
    from vaelab.presentation.tables import checks_table

    if args.download:
        raise ConfigError(
            f"--download fetches Fashion-MNIST only; {args.dataset} cannot be downloaded by vaelab: get it "
            'yourself (see the README, "Faces: CelebA") and pass its folder as --data-dir'
        )
    options = ImageOptions(image_size=args.image_size, center_crop=args.center_crop)
    checks = check_image_dataset(args.dataset, args.data_dir, options)
    print(checks_table(checks))
    if has_problems(checks):
        raise DataError(f"{args.dataset} has problems that would stop training: see the rows marked bad above")


def _check_fashion_mnist(args: argparse.Namespace) -> None:
    from vaelab.data.fashion_mnist import check_all, download_missing
    from vaelab.presentation.tables import data_table

    if args.download:
        _print_paths(download_missing(args.data_dir))
    reports = check_all(args.data_dir)
    print(data_table(reports))
    bad = [r for r in reports if r.status != "ok"]
    if bad:
        raise VaelabError(
            f"{len(bad)} of {len(reports)} Fashion-MNIST files are missing or corrupt; install the Debian "
            "package dataset-fashion-mnist, run `vaelab data --download`, or pass --data-dir"
        )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    if hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(line_buffering=True)
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Callable[[argparse.Namespace], None] = args.handler
    command = " ".join(filter(None, [args.command, getattr(args, "judge_command", None)]))
    try:
        handler(args)
    except VaelabError as exc:
        print(f"vaelab {command}: error: {exc}", file=sys.stderr)
        return getattr(exc, "exit_code", EXIT_ERROR)
    except OSError as exc:  # an environmental fault (disk, permissions, a folder in the way): one line too
        print(f"vaelab {command}: error: {describe_os_error(exc)}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print(f"vaelab {command}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    return 0
