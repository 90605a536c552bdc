"""The largest (and a few smallest) values vaelab accepts for its counts, sizes and seeds.

Upper bounds keep each figure readable and each command finishing in minutes rather than
hanging or running out of memory; every one is stated in its flag's ``--help``. This module
imports nothing, so the command line can read it without loading PyTorch.
"""

from __future__ import annotations

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

#: Images in one figure: ``reconstruct --count``, ``generate --count``, ``grid --size`` (per
#: side), ``morph --steps``, ``arithmetic --images`` (rows) and ``--factors`` (columns).
MAX_RECONSTRUCTIONS = 50
MAX_GENERATED = 60
MAX_GRID_SIZE = 30
MAX_MORPH_STEPS = 50
MAX_ARITHMETIC_IMAGES = 50
MAX_FACTORS = 101
#: ``arithmetic``: decoded images in one figure, ``--images`` × factors (each is a subplot;
#: 9 × 101 of them take about half a minute to draw on 2 CPU cores).
MAX_ARITHMETIC_CELLS = 1000

#: ``arithmetic --factors``: the largest |f|, a distance in latent space (the book's −4…4
#: already leaves a 2-D space's data far behind).
MAX_ABS_FACTOR = 1000.0

#: ``evaluate``/``diagnose --num-samples`` and ``evaluate -k`` (papers use k = 1000–5000).
MAX_METRIC_SAMPLES = 50_000
MAX_IMPORTANCE_SAMPLES = 5000

#: ``train --epochs`` and the epochs a checkpoint may record (the book trains 3 to 10; a run of more
#: than 10,000 epochs is a typo or a damaged file).
MAX_EPOCHS = 10_000
