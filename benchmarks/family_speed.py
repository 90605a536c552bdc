"""Every preset's training speed relative to book-vae, and the PixelCNN prior's (a benchmark, not a test).

    PYTHONPATH=src python benchmarks/family_speed.py [--presets book-vae,cvae,iwae,...] [--steps 60]
        [--warmup 5] [--repeats 3] [--threads N] [--no-prior] [--output results.json]

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
every family. The default is every preset: those on CelebA (book-faces, faces-64, faces-128) train on
uniform random RGB images of their size, and their ratio per image is not comparable with book-vae's
(other images), so it is shown per image but not held to the target. IWAE's k decoder passes per image
are its point: its ratio is also given per decoder pass.

The issue-18 target is each family's step within 2× book-vae's time per image (IWAE's per decoder
pass); the table says which meet it. With the prior (the default), the vq-vae's gated PixelCNN of the
default size (64 channels, 8 layers, kernel 3, 10 classes, 8×8 grids of 256 codes) is timed too:
training steps of 128 grids, and drawing 10,000 grids (target: under a minute). The machine's CPU
name and its matrix-product peaks in fp32 and bf16 (``train_throughput.matmul_peak``) head the output.
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

#: The preset the ratios divide by.
BASELINE = "book-vae"

#: The prior's default size (vaelab.training.prior_dir.PriorConfig) on vq-vae's 8×8 grids of 256 codes.
PRIOR = {"codes": 256, "grid": (8, 8), "channels": 64, "layers": 8, "kernel": 3, "classes": 10}
PRIOR_BATCH = 128
PRIOR_SAMPLES = 10_000


def every_preset() -> tuple[str, ...]:
    """Every preset, book-vae first."""
    from vaelab.models.presets import PRESETS

    return (BASELINE, *(name for name in PRESETS if name != BASELINE))


def training_images(
    count: int, shape: tuple[int, int, int] = (1, 32, 32), seed: int = 0
) -> tuple[np.ndarray, np.ndarray, tuple[str, ...], str]:
    """The first ``count`` real training images and labels (or random ones), their class names and
    source; random images of ``shape`` for a preset not on Fashion-MNIST's 1 × 32 × 32."""
    from vaelab.data.fashion_mnist import CLASS_NAMES, load_fashion_mnist
    from vaelab.errors import DataError

    if shape != (1, 32, 32):
        rng = np.random.default_rng(seed)
        return rng.integers(0, 256, (count, *shape), dtype=np.uint8), np.zeros(count, np.int64), (), "synthetic"
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
    config = RunConfig.from_preset(spec["preset"], device="cpu", seed=0)
    model = config.model
    shape = (model.image_channels, model.image_size, model.image_size)
    count = spec["images"] if shape == (1, 32, 32) else (spec["steps"] + spec["warmup"]) * config.batch_size
    images, labels, class_names, source = training_images(count, shape)
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
        "decoder_passes": max(1, config.model.samples),
        "image_shape": list(shape),
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


def measure_prior(spec: dict) -> dict:
    """Time training steps of the default PixelCNN prior on random code grids, and drawing
    :data:`PRIOR_SAMPLES` grids 1,000 at a time (as ``generate`` does; in a child process)."""
    import torch

    from vaelab.models.pixelcnn import GatedPixelCNN
    from vaelab.models.vq_vae import SAMPLE_BATCH

    if spec["threads"]:
        torch.set_num_threads(spec["threads"])
    torch.manual_seed(0)
    prior = GatedPixelCNN(**PRIOR)
    optimizer = torch.optim.Adam(prior.parameters(), lr=1e-3)
    grids = torch.randint(0, PRIOR["codes"], (PRIOR_BATCH, *PRIOR["grid"]))
    labels = torch.randint(0, PRIOR["classes"], (PRIOR_BATCH,))

    def step() -> None:
        loss = torch.nn.functional.cross_entropy(prior(grids, labels), grids)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    for _ in range(spec["warmup"]):
        step()
    wall = time.perf_counter()
    for _ in range(spec["steps"]):
        step()
    train_seconds = time.perf_counter() - wall
    prior.eval()
    generator = torch.Generator().manual_seed(0)
    wall = time.perf_counter()
    for begin in range(0, PRIOR_SAMPLES, SAMPLE_BATCH):
        size = min(SAMPLE_BATCH, PRIOR_SAMPLES - begin)
        prior.sample(size, torch.arange(size) % PRIOR["classes"], generator)
    return {
        "preset": "pixelcnn-prior",
        "threads": torch.get_num_threads(),
        "grids_per_second": spec["steps"] * PRIOR_BATCH / train_seconds,
        "sampling_seconds_10k": time.perf_counter() - wall,
    }


def machine_peaks(threads: int | None) -> dict:
    """The CPU's name and its fp32 and bf16 matrix-product peaks (GFLOP/s; each in a child process)."""
    from train_throughput import _cpu_model
    from train_throughput import run_child as peak_child

    peaks = {p: peak_child({"kind": "peak", "device": "cpu", "threads": threads, "dtype": p}) for p in ("fp32", "bf16")}
    return {"cpu": _cpu_model(), "cpus": os.cpu_count(), "matmul_peak_gflop_per_second": peaks}


def run_child(spec: dict) -> dict:
    """:func:`measure` (or :func:`measure_prior`) in a fresh Python process."""
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
    first = {r["preset"]: r for r in rows}
    summary = []
    for preset, m in medians.items():
        ratio = base["images_per_second"] / m["images_per_second"]
        passes = first[preset].get("decoder_passes", 1)
        comparable = first[preset].get("image_shape", [1, 32, 32]) == [1, 32, 32]
        summary.append(
            {
                "preset": preset,
                **m,
                "time_ratio": ratio,
                "cpu_time_ratio": base["images_per_cpu_second"] / m["images_per_cpu_second"],
                "decoder_passes": passes,
                "time_ratio_per_pass": ratio / passes,
                "within_2x": (ratio / passes <= 2.0) if comparable else None,
            }
        )
    return summary


def table(summary: list[dict], baseline: str) -> str:
    lines = [
        f"| preset | images/s | images per CPU-s | 60k epoch s | time ÷ {baseline} | CPU time ÷ {baseline} "
        "| per decoder pass | within 2× |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for s in summary:
        within = {True: "yes", False: "**no**", None: "– (other images)"}[s["within_2x"]]
        per_pass = f"{s['time_ratio_per_pass']:.2f} (k = {s['decoder_passes']})" if s["decoder_passes"] > 1 else ""
        lines.append(
            f"| {s['preset']} | {s['images_per_second']:,.0f} | {s['images_per_cpu_second']:,.0f} | "
            f"{s['epoch_seconds_60k']:.0f} | {s['time_ratio']:.2f} | {s['cpu_time_ratio']:.2f} | "
            f"{per_pass} | {within} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--presets", default=",".join(every_preset()), help="comma-separated presets (default: all)")
    parser.add_argument("--baseline", default=BASELINE, help=f"the preset the ratios divide by (default: {BASELINE})")
    parser.add_argument("--no-prior", action="store_true", help="leave out the PixelCNN prior's training and sampling")
    parser.add_argument("--steps", type=int, default=60, help="timed steps per measurement (default: 60)")
    parser.add_argument("--warmup", type=int, default=5, help="untimed steps first (default: 5)")
    parser.add_argument("--repeats", type=int, default=3, help="measurements per preset (default: 3)")
    parser.add_argument("--images", type=int, default=60000, help="training images held (default: 60000)")
    parser.add_argument("--threads", type=int, help="torch.set_num_threads (default: PyTorch's)")
    parser.add_argument("--output", help="write the results as JSON here")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        spec = json.loads(args.child)
        print(json.dumps(measure_prior(spec) if spec["preset"] == "pixelcnn-prior" else measure(spec)))
        return 0
    presets = [p.strip() for p in args.presets.split(",") if p.strip()]
    if args.baseline not in presets:
        parser.error(f"--baseline {args.baseline} must be one of --presets")
    if min(args.steps, args.repeats) < 1 or args.warmup < 0:
        parser.error("--steps and --repeats must be at least 1, --warmup at least 0")
    machine = machine_peaks(args.threads)
    peaks = machine["matmul_peak_gflop_per_second"]
    print(
        f"CPU: {machine['cpu']} ({machine['cpus']} cores); matmul peak fp32 {peaks['fp32']:.0f} GFLOP/s, "
        f"bf16 {peaks['bf16']:.0f} GFLOP/s"
    )
    rows = []
    prior_rows = []
    for repeat in range(args.repeats):
        shift = repeat % len(presets)
        for name in presets[shift:] + presets[:shift]:
            spec = {k: getattr(args, k) for k in ("steps", "warmup", "images", "threads")} | {"preset": name}
            rows.append(run_child(spec))
            print(f"  {name}: {rows[-1]['images_per_second']:.0f} images/s", file=sys.stderr, flush=True)
        if not args.no_prior:
            spec = {k: getattr(args, k) for k in ("steps", "warmup", "threads")} | {"preset": "pixelcnn-prior"}
            prior_rows.append(run_child(spec))
    summary = summarise(rows, args.baseline)
    print(table(summary, args.baseline))
    prior = None
    if prior_rows:
        keys = ("grids_per_second", "sampling_seconds_10k")
        prior = {key: statistics.median(r[key] for r in prior_rows) for key in keys}
        met = "met" if prior["sampling_seconds_10k"] < 60 else "NOT met"
        print(
            f"\nPixelCNN prior (default size): training {prior['grids_per_second']:,.0f} grids/s "
            f"(batch {PRIOR_BATCH}); drawing {PRIOR_SAMPLES:,} grids {prior['sampling_seconds_10k']:.1f} s "
            f"(target under 60 s: {met})"
        )
    if args.output:
        result = {
            "machine": {**machine, "processor": platform.processor(), "python": platform.python_version()},
            "prior": prior,
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
