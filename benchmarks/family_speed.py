"""Each model family's training speed relative to book-vae (a benchmark, not a test).

    PYTHONPATH=src python benchmarks/family_speed.py [--presets book-vae,cvae,iwae,...] [--steps 60]
        [--warmup 5] [--repeats 3] [--threads N] [--output results.json]

For every preset it times the step that ``vaelab train`` runs (:class:`vaelab.training.trainer.Trainer`
built as the command builds it, the automatic execution settings, the preset's batch size), fed from
the trainer's own shuffled, labelled batches of the real Fashion-MNIST training images (all 60,000,
never downloaded; uniform random images with random labels if they are not installed). Each
measurement runs in a fresh Python process, and the presets take turns on every repeat (the order
rotates), so a machine whose load drifts treats them alike.

Reported per preset: the median over repeats of images per second and of images per CPU-second of
the process (on a shared machine the fair comparison: waiting for a core does not count), the 60,000-
image epoch time those imply, and both as a ratio to ``--baseline`` (book-vae) — the number
docs/families.md quotes. Validation, checkpoints and metrics are not timed: they are the same for
every family.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

#: Every Fashion-MNIST preset of the model families, the book's VAE first.
DEFAULT_PRESETS = (
    "book-vae",
    "beta-vae",
    "cvae",
    "iwae",
    "vamp",
    "rae",
    "wae-mmd",
    "info-vae",
    "beta-tcvae",
    "book-ae",
)


def training_images(count: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, tuple[str, ...], str]:
    """The first ``count`` real training images and labels (or random ones), their class names and source."""
    from vaelab.data.fashion_mnist import CLASS_NAMES, load_fashion_mnist
    from vaelab.errors import DataError

    try:
        data = load_fashion_mnist("train", limit=count, download=False)
        return data.images, data.labels, data.class_names, "fashion-mnist"
    except DataError:
        rng = np.random.default_rng(seed)
        images = rng.integers(0, 256, (count, 1, 32, 32), dtype=np.uint8)
        return images, rng.integers(0, 10, count).astype(np.int64), CLASS_NAMES, "synthetic"


def measure(spec: dict) -> dict:
    """Time ``spec["steps"]`` training steps of one preset (in a child process); one result row."""
    import torch

    from vaelab.data.image_set import ImageSet
    from vaelab.training import RunConfig, RunDir
    from vaelab.training.execution import choose_execution, synchronize
    from vaelab.training.trainer import Trainer

    if spec["threads"]:
        torch.set_num_threads(spec["threads"])
    images, labels, class_names, source = training_images(spec["images"])
    config = RunConfig.from_preset(spec["preset"], device="cpu", seed=0)
    execution = choose_execution(torch.device("cpu"), precision=config.precision)
    data = ImageSet(images, labels, class_names, "benchmark")
    with tempfile.TemporaryDirectory() as tmp:
        trainer = Trainer(config, RunDir(tmp), data, data.head(1), progress=False, execution=execution)
        batches = labelled_batches(trainer, config.batch_size)
        for _ in range(spec["warmup"]):
            trainer.step(*next(batches))
        synchronize(torch.device("cpu"))
        wall, cpu = time.perf_counter(), time.process_time()
        for _ in range(spec["steps"]):
            trainer.step(*next(batches))
        synchronize(torch.device("cpu"))
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    count = spec["steps"] * config.batch_size
    return {
        "preset": spec["preset"],
        "batch_size": config.batch_size,
        "threads": torch.get_num_threads(),
        "data": source,
        "images_per_second": count / wall,
        "images_per_cpu_second": count / cpu,
        "epoch_seconds_60k": 60000 * wall / count,
    }


def labelled_batches(trainer, batch_size: int):
    """The trainer's (images, labels) batches, epoch after epoch, full-size only."""
    while True:
        order = trainer.train_data.permutation(trainer.shuffle)
        for images, labels in trainer.train_data.labelled_batches(batch_size, order):
            if images.shape[0] == batch_size:
                yield images, labels


def run_child(spec: dict) -> dict:
    """:func:`measure` in a fresh Python process."""
    command = [sys.executable, str(Path(__file__).resolve()), "--child", json.dumps(spec)]
    done = subprocess.run(command, capture_output=True, text=True, env=os.environ.copy())
    if done.returncode != 0:
        raise SystemExit(f"{spec['preset']} failed:\n{done.stderr.strip()[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def summarise(rows: list[dict], baseline: str) -> list[dict]:
    """Per preset: the medians over repeats and their ratios to the baseline preset's."""
    medians = {}
    for preset in dict.fromkeys(r["preset"] for r in rows):
        chosen = [r for r in rows if r["preset"] == preset]
        medians[preset] = {
            key: statistics.median(r[key] for r in chosen)
            for key in ("images_per_second", "images_per_cpu_second", "epoch_seconds_60k")
        }
    base = medians[baseline]
    return [
        {
            "preset": preset,
            **m,
            "time_ratio": base["images_per_second"] / m["images_per_second"],
            "cpu_time_ratio": base["images_per_cpu_second"] / m["images_per_cpu_second"],
        }
        for preset, m in medians.items()
    ]


def table(summary: list[dict], baseline: str) -> str:
    lines = [
        f"| preset | images/s | images per CPU-s | 60k epoch s | epoch time ÷ {baseline} | CPU time ÷ {baseline} |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for s in summary:
        lines.append(
            f"| {s['preset']} | {s['images_per_second']:,.0f} | {s['images_per_cpu_second']:,.0f} | "
            f"{s['epoch_seconds_60k']:.0f} | {s['time_ratio']:.2f} | {s['cpu_time_ratio']:.2f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--presets", default=",".join(DEFAULT_PRESETS), help="comma-separated presets")
    parser.add_argument("--baseline", default="book-vae", help="the preset the ratios divide by (default: book-vae)")
    parser.add_argument("--steps", type=int, default=60, help="timed steps per measurement (default: 60)")
    parser.add_argument("--warmup", type=int, default=5, help="untimed steps first (default: 5)")
    parser.add_argument("--repeats", type=int, default=3, help="measurements per preset (default: 3)")
    parser.add_argument("--images", type=int, default=60000, help="training images held (default: 60000)")
    parser.add_argument("--threads", type=int, help="torch.set_num_threads (default: PyTorch's)")
    parser.add_argument("--output", help="write the results as JSON here")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(measure(json.loads(args.child))))
        return 0
    presets = [p.strip() for p in args.presets.split(",") if p.strip()]
    if args.baseline not in presets:
        parser.error(f"--baseline {args.baseline} must be one of --presets")
    if min(args.steps, args.repeats) < 1 or args.warmup < 0:
        parser.error("--steps and --repeats must be at least 1, --warmup at least 0")
    rows = []
    for repeat in range(args.repeats):
        shift = repeat % len(presets)
        for name in presets[shift:] + presets[:shift]:
            spec = {k: getattr(args, k) for k in ("steps", "warmup", "images", "threads")} | {"preset": name}
            rows.append(run_child(spec))
            print(f"  {name}: {rows[-1]['images_per_second']:.0f} images/s", file=sys.stderr, flush=True)
    summary = summarise(rows, args.baseline)
    print(table(summary, args.baseline))
    if args.output:
        result = {
            "machine": {"processor": platform.processor(), "cpus": os.cpu_count(), "python": platform.python_version()},
            "load_average": os.getloadavg(),
            "settings": {k: v for k, v in vars(args).items() if k != "child"},
            "summary": summary,
            "measurements": rows,
        }
        Path(args.output).write_text(json.dumps(result, indent=2) + "\n")
        print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
