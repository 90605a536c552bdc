"""How long the ``two-stage`` sampler's fit takes on Fashion-MNIST-size input (a benchmark, not a test).

    PYTHONPATH=src python benchmarks/two_stage_fit.py [--points 60000] [--dim 2] [--repeats 3]

Fits :class:`vaelab.latent.two_stage.TwoStageSampler` at its default settings (2,000 steps) to
``--points`` random points of a mixture of 10 Gaussians in ``--dim`` dimensions (the size of
Fashion-MNIST's training set embedded), and prints, per repeat, the seconds the fit took (wall
clock and CPU), the learned γ and the final loss, then the median. The fit runs in one thread
(:data:`vaelab.latent.two_stage.THREADS`) whatever the machine has. Its cost does not grow with the
number of points (each step draws a minibatch of 256), only the standardisation's does.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np
import torch

from vaelab.latent.two_stage import DEFAULT_SETTINGS, THREADS, TwoStageSampler


def mixture(points: int, dim: int, seed: int = 0) -> np.ndarray:
    """``points`` draws of 10 Gaussians with random centres (spread 5) and scales (0.3 to 1.5)."""
    rng = np.random.default_rng(seed)
    centres = 5 * rng.standard_normal((10, dim))
    scales = rng.uniform(0.3, 1.5, (10, dim))
    component = rng.integers(0, 10, points)
    return centres[component] + scales[component] * rng.standard_normal((points, dim))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--points", type=int, default=60000)
    parser.add_argument("--dim", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    z = mixture(args.points, args.dim)
    print(
        f"{args.points:,} points in {args.dim}-D, {DEFAULT_SETTINGS.steps:,} steps, fitted in {THREADS} thread "
        f"(the process has {torch.get_num_threads()}, the machine {os.cpu_count()} CPUs)"
    )
    seconds = []
    for repeat in range(args.repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        sampler = TwoStageSampler(progress=False).fit(z)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        seconds.append(wall)
        described = sampler.describe()
        print(
            f"repeat {repeat + 1}: {wall:.1f} s wall, {cpu:.1f} s CPU, gamma {described['gamma']:.3f}, "
            f"final loss {described['final_loss']:.3f} nats"
        )
    print(f"median {statistics.median(seconds):.1f} s")


if __name__ == "__main__":
    main()
