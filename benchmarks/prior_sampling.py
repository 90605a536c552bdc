"""Drawing code grids from a vq-vae's PixelCNN prior: the sampler against whole-network passes (a
benchmark, not a test).

    PYTHONPATH=src python benchmarks/prior_sampling.py [--count 200] [--repeats 3] [--channels 64]
        [--layers 8] [--kernel 3] [--classes 10] [--output results.json]

Times :meth:`vaelab.models.pixelcnn.GatedPixelCNN.sample` (:mod:`vaelab.models.pixelcnn_sampling`: each
layer's vertical stack once per row on that row, its horizontal stack and the head once per position on
that column, from the inputs kept so far) against the plain autoregressive loop it replaces,
H·W passes of the whole network over the rows drawn so far, on a PixelCNN of the prior's default
size over 8×8 grids of 256 codes with random weights (the cost does not depend on them). The two take
turns on every repeat, in one process, so a machine whose load drifts treats them alike; reported:
the median seconds of each, per grid and for 10,000 grids, and their ratio. Both draw from the same
generator seed, and the benchmark checks that they drew the same grids.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch

from vaelab.models.pixelcnn import GatedPixelCNN


@torch.no_grad()
def whole_passes(prior: GatedPixelCNN, count: int, labels: torch.Tensor | None, seed: int) -> torch.Tensor:
    """The plain loop: at each position, the whole network over the rows drawn so far."""
    generator = torch.Generator().manual_seed(seed)
    codes = torch.zeros((count, *prior.grid), dtype=torch.long)
    for i in range(prior.grid[0]):
        for j in range(prior.grid[1]):
            probabilities = torch.softmax(prior(codes[:, : i + 1], labels)[:, :, i, j].float(), dim=1)
            codes[:, i, j] = torch.multinomial(probabilities, 1, generator=generator).squeeze(1)
    return codes


def timed_sampler(
    prior: GatedPixelCNN, count: int, labels: torch.Tensor | None, seed: int
) -> tuple[float, torch.Tensor]:
    """Seconds the sampler takes to draw ``count`` grids from ``seed``, and the grids."""
    start = time.perf_counter()
    with torch.no_grad():
        codes = prior.sample(count, labels, torch.Generator().manual_seed(seed))
    return time.perf_counter() - start, codes


def timed_whole_passes(
    prior: GatedPixelCNN, count: int, labels: torch.Tensor | None, seed: int
) -> tuple[float, torch.Tensor]:
    """Seconds :func:`whole_passes` takes to draw ``count`` grids from ``seed``, and the grids."""
    start = time.perf_counter()
    codes = whole_passes(prior, count, labels, seed)
    return time.perf_counter() - start, codes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=200, help="grids per draw (default 200)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--channels", type=int, default=64)
    parser.add_argument("--layers", type=int, default=8)
    parser.add_argument("--kernel", type=int, default=3)
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--output", help="also write the results as JSON here")
    args = parser.parse_args()
    torch.manual_seed(0)
    prior = GatedPixelCNN(256, (8, 8), args.channels, args.layers, args.kernel, args.classes).eval()
    labels = torch.arange(args.count) % args.classes if args.classes else None
    times: dict[str, list[float]] = {"sampler": [], "whole passes": []}
    for repeat in range(args.repeats):
        seconds, fast = timed_sampler(prior, args.count, labels, repeat)
        times["sampler"].append(seconds)
        seconds, slow = timed_whole_passes(prior, args.count, labels, repeat)
        times["whole passes"].append(seconds)
        agree = float((fast == slow).double().mean())
        print(
            f"repeat {repeat + 1}: sampler {times['sampler'][-1]:.2f} s, whole passes {seconds:.2f} s, "
            f"same codes at {100 * agree:.2f} % of positions"
        )
    median = {name: statistics.median(values) for name, values in times.items()}
    result = {
        "count": args.count,
        "threads": torch.get_num_threads(),
        "prior": {"channels": args.channels, "layers": args.layers, "kernel": args.kernel, "classes": args.classes},
        "median_seconds": median,
        "seconds_per_10000": {name: value * 10000 / args.count for name, value in median.items()},
        "speedup": median["whole passes"] / median["sampler"],
    }
    print(json.dumps(result, indent=2))
    if args.output:
        Path(args.output).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
