"""Whether a preset's numbers in bf16 agree with fp32's within the spread of fp32 seeds (a benchmark,
not a test): the measurement behind ``vaelab.training.precision.BF16_AGREES``.

    PYTHONPATH=src python benchmarks/bf16_agreement.py [--presets book-ae,book-vae] [--train-images 12000]
        [--epochs 5] [--seeds 0,1] [--threads N] [--output results.json]

For each preset it trains the same recipe on the first ``--train-images`` real Fashion-MNIST training
images (validated on the 10,000 test images, as ``vaelab train`` does) once per seed in fp32 and once
per seed in bf16, with ``vaelab.training.train``, and compares the last epoch's validation loss (the
preset's own loss: binary cross-entropy per pixel for book-ae, the −ELBO in nats for a VAE). The
defaults are the study's protocol (``vaelab study``): 12,000 images, 5 epochs, seeds 0 and 1.

A preset agrees when the distance between the bf16 mean and the fp32 mean is no more than the fp32
seeds' own range (max − min): bf16 then moves the number less than changing the seed does. Only such a
preset may be listed in ``BF16_AGREES``, which ``train --precision auto`` reads. The images per second
of each run's training are printed beside it, with the CPU's name and matrix-multiply peaks.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path


def train_once(preset: str, precision: str, seed: int, args: argparse.Namespace, sets: tuple, folder: Path) -> dict:
    """One run's last validation loss, its training images per second and its wall seconds."""
    from vaelab.training import RunConfig, train

    config = RunConfig.from_preset(
        preset, epochs=args.epochs, seed=seed, precision=precision, device="cpu", threads=args.threads
    )
    started = time.perf_counter()
    result = train(
        config,
        folder / f"{preset}-{precision}-{seed}",
        train_set=sets[0],
        test_set=sets[1],
        progress=False,
        log=lambda line: None,
    )
    last = result.history[-1]
    return {
        "val_loss": last["val"]["loss"],
        "images_per_second": statistics.median(row["images_per_second"] for row in result.history),
        "seconds": time.perf_counter() - started,
    }


def verdict(fp32: list[float], bf16: list[float]) -> dict:
    """The comparison of one preset's final validation losses (see the module docstring)."""
    spread = max(fp32) - min(fp32)
    shift = abs(statistics.fmean(bf16) - statistics.fmean(fp32))
    return {
        "fp32": fp32,
        "bf16": bf16,
        "fp32_mean": statistics.fmean(fp32),
        "bf16_mean": statistics.fmean(bf16),
        "fp32_range": spread,
        "shift": shift,
        "relative_shift": shift / abs(statistics.fmean(fp32)),
        "agrees": shift <= spread,
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--presets", default="book-ae,book-vae", help="comma-separated presets (Fashion-MNIST)")
    parser.add_argument("--train-images", type=int, default=12_000, help="first N training images (default 12,000)")
    parser.add_argument("--epochs", type=int, default=5, help="epochs per run (default 5)")
    parser.add_argument("--seeds", default="0,1", help="comma-separated seeds, at least two (default 0,1)")
    parser.add_argument("--threads", type=int, help="torch threads (default: PyTorch's)")
    parser.add_argument("--output", help="write the results as JSON here")
    args = parser.parse_args(argv)
    args.presets = [p for p in args.presets.split(",") if p]
    args.seeds = [int(s) for s in args.seeds.split(",") if s]
    if len(args.seeds) < 2:
        parser.error("--seeds needs at least two seeds: the fp32 spread is the yardstick")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import torch

    from vaelab.data.registry import load_dataset
    from vaelab.training.precision import cpu_name, has_bf16, measure_peaks

    if args.threads:
        torch.set_num_threads(args.threads)
    if not has_bf16(torch.device("cpu")):
        print("this CPU has no bf16 arithmetic that PyTorch uses; nothing to compare", file=sys.stderr)
        return 1
    peaks = measure_peaks(torch.device("cpu"), torch.get_num_threads())
    print(f"CPU: {cpu_name()}, {torch.get_num_threads()} threads; matmul peaks GFLOP/s: {peaks}")
    sets = (load_dataset("fashion-mnist", "train", None, args.train_images), load_dataset("fashion-mnist", "test"))
    results: dict = {"cpu": cpu_name(), "peaks_gflops": peaks, "protocol": vars(args), "presets": {}}
    with tempfile.TemporaryDirectory(prefix="bf16-agreement-") as folder:
        for preset in args.presets:
            runs = {
                (precision, seed): train_once(preset, precision, seed, args, sets, Path(folder))
                for precision in ("fp32", "bf16")
                for seed in args.seeds
            }
            losses = {p: [runs[(p, s)]["val_loss"] for s in args.seeds] for p in ("fp32", "bf16")}
            speed = {p: statistics.median(runs[(p, s)]["images_per_second"] for s in args.seeds) for p in losses}
            summary = verdict(losses["fp32"], losses["bf16"]) | {"images_per_second": speed}
            results["presets"][preset] = summary
            print(
                f"{preset}: fp32 {summary['fp32_mean']:.5g} (range {summary['fp32_range']:.3g}), "
                f"bf16 {summary['bf16_mean']:.5g}; shift {summary['shift']:.3g} "
                f"({100 * summary['relative_shift']:.2f} %): {'agrees' if summary['agrees'] else 'does NOT agree'}; "
                f"{speed['fp32']:.0f} vs {speed['bf16']:.0f} images/s ({speed['bf16'] / speed['fp32']:.2f}×)",
                flush=True,
            )
    if args.output:
        Path(args.output).write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
