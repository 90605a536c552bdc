"""The largest (and a few smallest) values vaelab accepts for its counts, sizes and seeds.

Upper bounds keep each figure readable and each command finishing in minutes rather than
hanging or running out of memory; every one is stated in its flag's ``--help``, checked by the
flag's type on the command line and by :func:`check_range` in the Python function it reaches, so a
caller of the API meets the same bounds. This module imports nothing but :mod:`vaelab.errors`, so
the command line can read it without loading PyTorch.
"""

from __future__ import annotations

from typing import Any

from vaelab.errors import ConfigError


def check_range(flag: str, value: Any, low: int, high: int) -> None:
    """A :class:`~vaelab.errors.ConfigError` naming ``flag`` unless ``value`` is an integer from
    ``low`` to ``high`` (``None``, a default to be chosen later, passes)."""
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConfigError(f"{flag} must be an integer from {low:,} to {high:,}, got {value!r}")


#: Seeds reach ``torch.manual_seed`` (up to 2**64 − 1), numpy's ``default_rng`` (any size) and
#: scikit-learn's ``random_state`` (t-SNE; up to 2**32 − 1): the smallest bound of these.
MAX_SEED = 2**32 - 1

#: ``train --threads``: far above any machine's core count.
MAX_THREADS = 1024

#: ``train --latent-dim``: the figures show the latent space in a plane, which needs two
#: dimensions (a model itself works with one, and runs trained before this limit still load).
MIN_LATENT_DIM = 2
MAX_LATENT_DIM = 1024

#: ``train``/``data --image-size`` for celeba and image-folder (the book: 32; a decoded CelebA
#: at 256×256 already takes about 40 GB).
MAX_IMAGE_SIZE = 256

#: A model's image channels (1 grey, 3 RGB; 4 leaves room for RGBA), stride-2 convolutions (8 halve
#: 256 pixels to 1) and channels per convolution (the book's widest is 128), as a config.json may
#: state them: beyond these a file is damaged or hostile, and building the model would exhaust memory.
MAX_IMAGE_CHANNELS = 4
MAX_ENCODER_LAYERS = 8
MAX_CHANNELS = 1024
#: Classes a conditional model is conditioned on (Fashion-MNIST has 10, CelebA 40 attributes).
MAX_CONDITIONS = 1024
#: ``train --k``: z drawn per image by an importance-weighted model (``iwae``). Burda et al. (2016)
#: train with up to 50; every draw is a decoder pass, so 1,000 draws of a batch of 100 decode
#: 100,000 images per step, which already takes seconds on a GPU and minutes on a CPU.
MAX_IWAE_SAMPLES = 1000
#: ``train --pseudo-inputs``: the VampPrior's learnt pseudo-inputs (``vamp``). Tomczak and Welling
#: (2018) use 500 or 1,000; every step encodes all of them, so 5,000 cost 50 batches of 100 images
#: per step, and each is an image's worth of parameters (5,000 × 1,024 for Fashion-MNIST).
MAX_PSEUDO_INPUTS = 5000
#: Codes in a VQ-VAE's codebook (``vq-vae``): van den Oord et al. (2017) use 512; the codebook is
#: K × D numbers and every step measures each code's distance to every position of the batch.
MAX_CODEBOOK_SIZE = 8192

#: Images in one figure: ``reconstruct --count``, ``generate --count``, ``grid --size`` (per
#: side), ``morph --steps``, ``arithmetic --images`` (rows) and ``--factors`` (columns).
MAX_RECONSTRUCTIONS = 50
MAX_GENERATED = 60
MAX_GRID_SIZE = 30
MAX_MORPH_STEPS = 50
MAX_ARITHMETIC_IMAGES = 50
MAX_FACTORS = 101
#: ``arithmetic``: decoded images in one figure, ``--images`` × factors (each is a subplot, and
#: drawing a thousand of them already takes a while: README, "Speed").
MAX_ARITHMETIC_CELLS = 1000

#: ``arithmetic --factors``: the largest |f|, a distance in latent space (the book's −4…4
#: already leaves a 2-D space's data far behind).
MAX_ABS_FACTOR = 1000.0

#: ``study --seeds``: every seed trains every run again (the study needs at least 2 to show a spread).
MAX_STUDY_SEEDS = 10

#: ``evaluate``/``diagnose --num-samples`` and ``evaluate -k`` (papers use k = 1000–5000).
MAX_METRIC_SAMPLES = 50_000
MAX_IMPORTANCE_SAMPLES = 5000

# Issue 11: a bound on every count that had none (each stated in its flag's --help).

#: ``train --epochs``, ``demo --epochs``, ``judge train --epochs`` and the epochs a checkpoint may
#: record: the book trains 3 to 10 epochs and papers a few hundred; 10,000 epochs of book-ae take days
#: on a CPU (an epoch's time: README, "Speed"), so a larger number is a typo, not a plan.
MAX_EPOCHS = 10_000

#: ``train --batch-size``: 2**16 = 65,536 images, more than Fashion-MNIST's whole training set
#: (60,000), so that an epoch can be one step; a larger batch only exhausts memory.
MAX_BATCH_SIZE = 65_536

#: Counts of a split's images — ``--limit-train`` and ``--limit-test`` (train, demo, denoise,
#: diagnose, evaluate), ``attribute``/``arithmetic --count``, ``evaluate --likelihood-images`` —
#: and, less one, ``morph --from``/``--to`` (indices). Ten million is 50 times CelebA (202,599
#: images) and 8 times ImageNet-1k's training set: it only catches a count with stray digits before
#: anything loads; the split's own size, checked once it is found, is the real bound.
MAX_DATASET_IMAGES = 10_000_000

#: ``embed --count`` and ``explore --points``: points in one scatter. 50,000 is five times
#: Fashion-MNIST's test set and 2.5 times CelebA's (19,962); beyond it a scatter is a solid blot,
#: the explorer's page receives every point as JSON, and t-SNE, already slow for 5,000 points (README,
#: "Speed"), takes more than ten times as long.
MAX_EMBEDDED_POINTS = 50_000

#: ``--noise-amount`` of the gaussian corruption (σ; images lie in [0, 1]): at σ = 10 more than 95 %
#: of the pixels clip to 0 or 1 whatever they were, so a larger σ leaves nothing to denoise (and
#: one beyond float32's range, such as 1e300, is infinite and turns pixels into NaN). The other
#: corruptions take a fraction of the pixels, at most 1.
MAX_NOISE_SIGMA = 10.0

#: ``train --tensorboard-every``: global steps between two points of TensorBoard's training curves. A
#: million steps is 16 epochs of Fashion-MNIST at batch size 1: a larger interval draws no curve at all.
MAX_TENSORBOARD_EVERY = 1_000_000

#: ``explore --port``: the largest TCP port number.
MAX_PORT = 65_535
