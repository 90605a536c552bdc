"""The book's autoencoder in Keras against ``vaelab train --preset book-ae``, whole process against whole
process, on the same images (a benchmark, not a test; TensorFlow is optional and outside ``make test``).

    PYTHONPATH=src python benchmarks/keras_book_ae.py --tf-python /path/to/venv-with-tf/bin/python
        [--train-images 12000] [--epochs 3] [--repeats 2] [--vaelab-args "--precision auto"]
        [--output results.json]

The Keras model is the one of *Generative Deep Learning* (2nd ed., ch. 3), written out here from the
book's description: Conv2D 32, 64, 128 (3×3, stride 2, "same", ReLU) → Flatten → Dense 2; Dense 2048
→ Reshape 4×4×128 → Conv2DTranspose 128, 64, 32 (3×3, stride 2, "same", ReLU) → Conv2D 1 (3×3,
"same", sigmoid); Adam (learning rate 1e-3), binary cross-entropy, batch 100, validated on the 10,000
test images every epoch. The data are prepared as the book does: the first ``--train-images`` of
Fashion-MNIST's training images, padded 28→32, in [0, 1], with a channel axis, read from the IDX files
the Debian package ``dataset-fashion-mnist`` installs.

Each repeat runs, in turn, two fresh processes and times each from start to exit (imports, data,
model building, training and validation included, as a user waits for them):

* ``TF_PYTHON keras_book_ae.py --keras …``: the Keras model (``TF_PYTHON``: an interpreter with
  TensorFlow; ``--tf-python``, default this one);
* ``python -m vaelab train --preset book-ae --limit-train N --epochs E`` in a temporary run folder.

It prints both times, their medians and the ratio (the issue-18 target: vaelab at least 2× Keras), and
each side's own report of its training speed in images per second. ``--keras`` alone runs only the
Keras side and prints its JSON line.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

DATA = Path("/usr/share/datasets/fashion-mnist")
RESULT_MARK = "KERAS-RESULT "


def idx_images(path: Path, count: int | None = None) -> np.ndarray:
    """The uint8 images of a gzip-compressed IDX3 file (magic 2051), the first ``count`` of them."""
    with gzip.open(path, "rb") as stream:
        data = stream.read()
    magic, n, rows, cols = (int.from_bytes(data[i : i + 4], "big") for i in range(0, 16, 4))
    if magic != 2051:
        raise SystemExit(f"{path} is not an IDX image file (magic {magic}); reinstall dataset-fashion-mnist")
    images = np.frombuffer(data, np.uint8, offset=16).reshape(n, rows, cols)
    return images[:count] if count else images


def book_images(images: np.ndarray) -> np.ndarray:
    """The book's preparation: [0, 1] floats, padded 28→32 with zeros, a trailing channel axis."""
    x = images.astype("float32") / 255.0
    return np.pad(x, ((0, 0), (2, 2), (2, 2)), constant_values=0.0)[..., None]


def run_keras(args: argparse.Namespace) -> dict:
    """Train the book's Keras autoencoder and return its timings (runs in the TensorFlow process)."""
    started = time.perf_counter()
    import tensorflow as tf
    from tensorflow import keras
    from tensorflow.keras import layers

    imported = time.perf_counter()
    x_train = book_images(idx_images(args.data / "train-images-idx3-ubyte.gz", args.train_images))
    x_test = book_images(idx_images(args.data / "t10k-images-idx3-ubyte.gz"))
    keras.utils.set_random_seed(0)

    encoder_input = layers.Input(shape=(32, 32, 1))
    x = encoder_input
    for filters in (32, 64, 128):
        x = layers.Conv2D(filters, 3, strides=2, activation="relu", padding="same")(x)
    encoder_output = layers.Dense(2)(layers.Flatten()(x))
    x = layers.Reshape((4, 4, 128))(layers.Dense(2048)(encoder_output))
    for filters in (128, 64, 32):
        x = layers.Conv2DTranspose(filters, 3, strides=2, activation="relu", padding="same")(x)
    decoder_output = layers.Conv2D(1, 3, strides=1, activation="sigmoid", padding="same")(x)
    autoencoder = keras.Model(encoder_input, decoder_output)
    autoencoder.compile(optimizer=keras.optimizers.Adam(1e-3), loss="binary_crossentropy")

    epoch_seconds: list[float] = []

    class EpochTimer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()

        def on_test_begin(self, logs=None):
            epoch_seconds.append(time.perf_counter() - self.start)  # training only, as vaelab reports

    history = autoencoder.fit(
        x_train,
        x_train,
        epochs=args.epochs,
        batch_size=100,
        shuffle=True,
        validation_data=(x_test, x_test),
        callbacks=[EpochTimer()],
        verbose=0,
    )
    return {
        "tensorflow": tf.__version__,
        "parameters": int(autoencoder.count_params()),
        "import_seconds": imported - started,
        "epoch_train_seconds": epoch_seconds,
        "images_per_second": statistics.median(len(x_train) / s for s in epoch_seconds),
        "val_loss": float(history.history["val_loss"][-1]),
    }


def timed(command: list[str], env: dict[str, str] | None = None) -> tuple[float, str]:
    """Wall seconds of ``command`` from start to exit, and its output; exits with its error if it fails."""
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-8:]) or "(no output)"
        raise SystemExit(f"{' '.join(command[:4])} … failed (exit {done.returncode}); its last lines:\n{tail}")
    return seconds, done.stdout + done.stderr


def vaelab_speed(output: str) -> float | None:
    """The median images/s of ``vaelab train``'s epoch lines."""
    speeds = [float(part.split()[0]) for part in output.split("s, ")[1:] if part.split()[1:2] == ["images/s)"]]
    return statistics.median(speeds) if speeds else None


def compare(args: argparse.Namespace) -> dict:
    """Alternate the two whole processes ``--repeats`` times; their times, medians and ratio."""
    here = Path(__file__).resolve()
    src = here.parents[1] / "src"
    env = os.environ | {"PYTHONPATH": os.pathsep.join(filter(None, [str(src), os.environ.get("PYTHONPATH")]))}
    keras_runs, vaelab_runs = [], []
    for repeat in range(args.repeats):
        keras_command = [args.tf_python, str(here), "--keras", "--train-images", str(args.train_images)]
        keras_command += ["--epochs", str(args.epochs), "--data", str(args.data)]
        seconds, output = timed(keras_command)
        report = json.loads(output.split(RESULT_MARK, 1)[1].splitlines()[0])
        keras_runs.append(report | {"process_seconds": seconds})
        with tempfile.TemporaryDirectory(prefix="keras-vs-vaelab-") as folder:
            vaelab_command = [sys.executable, "-m", "vaelab", "train", "--preset", "book-ae", "--run-dir", folder]
            vaelab_command += ["--limit-train", str(args.train_images), "--epochs", str(args.epochs), "--no-progress"]
            vaelab_command += ["--data-dir", str(args.data), *args.vaelab_args.split()]
            seconds, output = timed(vaelab_command, env)
        vaelab_runs.append({"process_seconds": seconds, "images_per_second": vaelab_speed(output)})
        print(
            f"repeat {repeat + 1}/{args.repeats}: Keras {keras_runs[-1]['process_seconds']:.1f} s "
            f"({keras_runs[-1]['images_per_second']:.0f} images/s in training), vaelab {seconds:.1f} s "
            f"({vaelab_runs[-1]['images_per_second'] or float('nan'):.0f} images/s)",
            flush=True,
        )
    keras_median = statistics.median(r["process_seconds"] for r in keras_runs)
    vaelab_median = statistics.median(r["process_seconds"] for r in vaelab_runs)
    return {
        "vaelab_args": args.vaelab_args,
        "train_images": args.train_images,
        "epochs": args.epochs,
        "keras": keras_runs,
        "vaelab": vaelab_runs,
        "keras_median_seconds": keras_median,
        "vaelab_median_seconds": vaelab_median,
        "ratio": keras_median / vaelab_median,
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tf-python", default=sys.executable, help="a Python with TensorFlow (default: this one)")
    parser.add_argument("--train-images", type=int, default=12_000, help="first N training images (default 12,000)")
    parser.add_argument("--epochs", type=int, default=3, help="epochs, the book's 3 by default")
    parser.add_argument("--repeats", type=int, default=2, help="alternating measurements of each (default 2)")
    parser.add_argument("--data", type=Path, default=DATA, help=f"the Fashion-MNIST IDX files (default {DATA})")
    parser.add_argument(
        "--vaelab-args", default="", help='more options for `vaelab train`, e.g. "--precision auto" (default: none)'
    )
    parser.add_argument("--output", help="write the results as JSON here")
    parser.add_argument("--keras", action="store_true", help="run only the Keras side and print its JSON")
    args = parser.parse_args(argv)
    if not (args.data / "train-images-idx3-ubyte.gz").is_file():
        parser.error(f"no Fashion-MNIST in {args.data}; apt-get install dataset-fashion-mnist, or pass --data")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.keras:
        print(RESULT_MARK + json.dumps(run_keras(args)), flush=True)
        return 0
    results = compare(args)
    print(
        f"median whole process: Keras {results['keras_median_seconds']:.1f} s, vaelab "
        f"{results['vaelab_median_seconds']:.1f} s: vaelab is {results['ratio']:.2f}× Keras "
        f"({args.train_images:,} images, {args.epochs} epochs, validation on 10,000 each epoch)"
    )
    if args.output:
        Path(args.output).write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
