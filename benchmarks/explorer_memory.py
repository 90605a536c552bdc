"""The explorer's memory under load: the server's resident set before and after rounds of concurrent requests.

    PYTHONPATH=src python benchmarks/explorer_memory.py [--run-dir DIR] [--requests 1000] [--rounds 2]
        [--points 5000] [--data-dir /usr/share/datasets/fashion-mnist] [--seed 0] [--env NAME=VALUE ...]
        [--output results.json]

It starts the real server (``python -m vaelab explore RUN_DIR --port 0 --device cpu``, uvicorn in its
own process, on a free local port), waits until it answers, reads its resident set size (VmRSS of
``/proc/PID/status``), then fires ``--requests`` requests at once (one asyncio task and one HTTP
connection each) and reads the resident set again once all are answered; ``--rounds`` times, so
that growth (every round adds) can be told from a plateau (later rounds add nothing). Also reported:
the peak resident set (VmHWM), the server's thread count, each round's wall time and the answers'
status codes (all must be 200).

The requests are a fixed mix, drawn with ``--seed``: 40 % ``/api/decode`` at a random point of the
plane, 20 % ``/api/image/{i}`` of a random embedded test image, 15 % ``/api/morph`` between two
random test images (2 to 32 steps, linear or slerp), 15 % ``/api/points``, 10 % ``/api/run``; every
image request has a random ``scale`` among 1, 2, 4, 8 and 16 (the largest answers are a morph strip
of 512 × 16,384 pixels).

Without ``--run-dir`` (or when it holds no model yet) a book-ae run is trained there first (one
epoch on the first 6,000 Fashion-MNIST training images: a few seconds, a real model). ``--env`` sets
variables in the server's environment only, e.g. ``--env MALLOC_ARENA_MAX=2`` to see what glibc's
per-thread malloc arenas contribute. Linux only (``/proc``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

DATA_DIR = "/usr/share/datasets/fashion-mnist"
SCALES = (1, 2, 4, 8, 16)
MIX = (("decode", 40), ("image", 20), ("morph", 15), ("points", 15), ("run", 10))
"""Endpoint kinds and their percentage of the requests."""
SERVER_START_TIMEOUT = 300.0
REQUEST_TIMEOUT = 600.0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run-dir", type=Path, help="run to explore (trained here first when it has no model)")
    parser.add_argument("--requests", type=int, default=1000, help="concurrent requests per round (default 1000)")
    parser.add_argument("--rounds", type=int, default=2, help="rounds of requests (default 2)")
    parser.add_argument("--points", type=int, default=5000, help="test images the server embeds (default 5000)")
    parser.add_argument("--data-dir", default=DATA_DIR, help=f"Fashion-MNIST folder (default {DATA_DIR})")
    parser.add_argument("--train-images", type=int, default=6000, help="images to train a new run on (default 6000)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the request mix (default 0)")
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="environment variable for the server process (repeatable)",
    )
    parser.add_argument("--output", type=Path, help="write the results as JSON here")
    return parser.parse_args(argv)


# --- the run and the server ------------------------------------------------------------------------


def ensure_run(run_dir: Path, data_dir: str, train_images: int) -> None:
    """Train book-ae for one epoch into ``run_dir`` unless it already holds a model."""
    if (run_dir / "model.safetensors").exists():
        return
    from vaelab.data.registry import load_dataset
    from vaelab.training import RunConfig, train

    print(f"training book-ae (1 epoch, {train_images:,} images) into {run_dir} ...", flush=True)
    config = RunConfig.from_preset("book-ae", epochs=1, device="cpu", data_dir=data_dir)
    train_set = load_dataset("fashion-mnist", "train", data_dir, train_images)
    test_set = load_dataset("fashion-mnist", "test", data_dir, 1000)
    train(config, run_dir, train_set=train_set, test_set=test_set, progress=False, log=lambda line: None)


def server_environment(extra: list[str]) -> dict[str, str]:
    environment = dict(os.environ, PYTHONUNBUFFERED="1")
    source = str(Path(__file__).resolve().parents[1] / "src")
    environment["PYTHONPATH"] = os.pathsep.join(filter(None, [source, environment.get("PYTHONPATH")]))
    for item in extra:
        name, _, value = item.partition("=")
        environment[name] = value
    return environment


def start_server(run_dir: Path, points: int, data_dir: str, extra_env: list[str]) -> tuple[subprocess.Popen, str]:
    """The server process and its URL, once it says where it listens."""
    command = [
        sys.executable,
        "-m",
        "vaelab",
        "explore",
        str(run_dir),
        "--port",
        "0",
        "--device",
        "cpu",
        "--points",
        str(points),
        "--data-dir",
        data_dir,
    ]
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=server_environment(extra_env)
    )
    deadline = time.monotonic() + SERVER_START_TIMEOUT
    assert process.stdout is not None
    for line in process.stdout:
        found = re.search(r"at (http://\S+/) ", line)
        if found:
            return process, found.group(1)
        if time.monotonic() > deadline:
            break
    process.kill()
    raise SystemExit(f"the explorer did not start: {line.strip() if 'line' in locals() else 'no output'}")


def memory(pid: int) -> dict[str, int]:
    """The process's resident set (``rss_mb``), its peak (``peak_rss_mb``) and its ``threads``."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return {
        "rss_mb": round(int(fields["VmRSS"].split()[0]) / 1024),
        "peak_rss_mb": round(int(fields["VmHWM"].split()[0]) / 1024),
        "threads": int(fields["Threads"]),
    }


# --- the requests --------------------------------------------------------------------------------


def request_mix(count: int, points: dict[str, Any], rng: random.Random) -> list[str]:
    """``count`` request paths drawn from :data:`MIX` (see the module docstring)."""
    kinds = rng.choices([kind for kind, _ in MIX], weights=[weight for _, weight in MIX], k=count)
    (x0, x1), (y0, y1) = points["bounds"]["x"], points["bounds"]["y"]
    last = points["count"] - 1

    def path(kind: str) -> str:
        scale = rng.choice(SCALES)
        if kind == "decode":
            return f"/api/decode?x={rng.uniform(x0, x1):.4f}&y={rng.uniform(y0, y1):.4f}&scale={scale}"
        if kind == "image":
            return f"/api/image/{rng.randint(0, last)}?scale={scale}"
        if kind == "morph":
            method = rng.choice(("linear", "slerp"))
            return (
                f"/api/morph?start={rng.randint(0, last)}&end={rng.randint(0, last)}"
                f"&steps={rng.randint(2, 32)}&method={method}&scale={scale}"
            )
        return f"/api/{kind}"

    return [path(kind) for kind in kinds]


async def fire(url: str, paths: list[str]) -> Counter:
    """Send every request at once; the count of each status code."""
    limits = httpx.Limits(max_connections=len(paths), max_keepalive_connections=0)
    async with httpx.AsyncClient(base_url=url.rstrip("/"), limits=limits, timeout=REQUEST_TIMEOUT) as client:
        answers = await asyncio.gather(*(client.get(path) for path in paths), return_exceptions=True)
    return Counter(
        answer.status_code if isinstance(answer, httpx.Response) else type(answer).__name__ for answer in answers
    )


def measure(url: str, pid: int, args: argparse.Namespace) -> dict[str, Any]:
    points = httpx.get(url + "api/points", timeout=60).json()
    rng = random.Random(args.seed)
    before = memory(pid)
    print(f"before: {before}", flush=True)
    rounds = []
    for number in range(1, args.rounds + 1):
        started = time.perf_counter()
        statuses = asyncio.run(fire(url, request_mix(args.requests, points, rng)))
        seconds = time.perf_counter() - started
        after = memory(pid)
        rounds.append({"round": number, "seconds": round(seconds, 1), "statuses": dict(statuses), **after})
        print(
            f"round {number}: {args.requests} requests in {seconds:.1f} s, statuses {dict(statuses)}, {after}",
            flush=True,
        )
    time.sleep(2.0)
    idle = memory(pid)
    print(f"2 s later: {idle}", flush=True)
    return {"before": before, "rounds": rounds, "idle_after": idle}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="vaelab-explorer-memory-") as scratch:
        run_dir = args.run_dir or Path(scratch) / "book-ae"
        ensure_run(run_dir, args.data_dir, args.train_images)
        process, url = start_server(run_dir, args.points, args.data_dir, args.env)
        try:
            results = measure(url, process.pid, args)
        finally:
            process.terminate()
            process.wait(timeout=30)
    results.update(
        requests=args.requests,
        points=args.points,
        env=args.env,
        mix=dict(MIX),
        scales=list(SCALES),
        cpus=os.cpu_count(),
    )
    if args.output:
        args.output.write_text(json.dumps(results, indent=2) + "\n")
        print(f"wrote {args.output}")
    failed = sum(count for status, count in results_statuses(results).items() if status != 200)
    return 1 if failed else 0


def results_statuses(results: dict[str, Any]) -> Counter:
    total: Counter = Counter()
    for row in results["rounds"]:
        total.update(row["statuses"])
    return total


if __name__ == "__main__":
    sys.exit(main())
