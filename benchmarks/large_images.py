"""Image sets larger than memory: the cache build, host against device placement, and memory under
torchrun (a benchmark, not a test).

    PYTHONPATH=src python benchmarks/large_images.py [--folder DIR] [--count 200000] [--size 64]
        [--preset faces-64] [--batch-size 128] [--steps 30] [--warmup 5] [--output results.json]

1. **Images.** Writes ``--count`` synthetic ``--size``-pixel JPEGs into ``--folder`` (default
   ``benchmarks/.large-images/images``, git-ignored; kept for later runs; a marker file says the
   folder is complete), in parallel.
2. **Cache build.** Decodes the folder into vaelab's image cache (a private ``XDG_CACHE_HOME``
   beside the folder, emptied first) exactly as ``vaelab train --dataset image-folder`` does, both
   splits, in a fresh process: the wall time, images/s, and the size of the cache files. Then the
   time to open the finished cache (it hashes every byte).
3. **Training throughput**, each in a fresh process on the CPU: the trainer of ``--preset`` on the
   whole folder, ``--warmup`` steps then ``--steps`` timed steps of ``--batch-size`` images (the
   median of ``--repeats`` processes per placement, in alternating order), with
   ``--data-placement device`` (the set copied into the process) and ``host`` (batches read from the
   memory-mapped cache by the prefetch thread). Also a **baseline** process that trains on 2,560
   images only, for the model's own needs (weights, Adam, activations, PyTorch).
4. **Memory.** Each process reports its peak resident set (``VmHWM``) and, at the end, its anonymous
   and file-backed resident memory; ``fincore`` reports how much of the cache files the page cache
   holds. The machine's memory is then each process's peak RSS less its file-backed pages (the
   shared libraries and the image file, which live in the shared page cache) plus the page cache of
   the image files, counted once. Measured for one process in each
   placement and for 2 torchrun processes (``torchrun --standalone --nproc_per_node 2``, one thread
   each) in host placement (and device placement, for contrast).

Targets (issue 16): host within 10 % of device's throughput; host's peak RSS under 1 GB above the
baseline's while the data is 2.4 GB; 2 torchrun processes in host placement under 1.3× the memory of
one. The table on stdout says which are met; ``--output`` writes every number as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from multiprocessing import Pool
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_HOME = ROOT / "benchmarks" / ".large-images"
MARKER = ".complete"
BASELINE_IMAGES = 2560


# --- 1. the synthetic folder -------------------------------------------------------------------------


def _write_image(job: tuple[Path, int, int]) -> None:
    import numpy as np
    from PIL import Image

    folder, index, size = job
    rng = np.random.default_rng(index)
    coarse = rng.integers(0, 256, (6, 6, 3), dtype=np.uint8)
    smooth = Image.fromarray(coarse).resize((size, size), Image.Resampling.BICUBIC)
    noise = rng.integers(-12, 13, (size, size, 3))
    pixels = np.clip(np.asarray(smooth, dtype=np.int16) + noise, 0, 255).astype(np.uint8)
    Image.fromarray(pixels).save(folder / f"{index:06d}.jpg", quality=90)


def make_folder(folder: Path, count: int, size: int) -> float:
    """Write the images unless the folder already holds them; the seconds it took (0 when kept)."""
    marker = folder / MARKER
    if marker.is_file() and marker.read_text().strip() == f"{count} {size}":
        return 0.0
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    started = time.perf_counter()
    with Pool(os.cpu_count()) as pool:
        for done, _ in enumerate(pool.imap_unordered(_write_image, ((folder, i, size) for i in range(count)), 512)):
            if done % 20000 == 0:
                print(f"  writing images: {done:,} of {count:,}", file=sys.stderr, flush=True)
    marker.write_text(f"{count} {size}\n")
    return time.perf_counter() - started


# --- workers (each in its own process) ----------------------------------------------------------------


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def _memory() -> dict:
    return {
        "peak_rss_mb": _status_kib("VmHWM") / 1024,
        "rss_anon_mb": _status_kib("RssAnon") / 1024,
        "rss_file_mb": _status_kib("RssFile") / 1024,
    }


def worker_build(args: argparse.Namespace) -> dict:
    """Decode both splits into the cache; time it, then time opening the finished cache."""
    from vaelab.data.image_folder import load_image_folder
    from vaelab.data.image_options import ImageOptions

    options = ImageOptions(args.size)
    started = time.perf_counter()
    sets = [load_image_folder(split, args.folder, options=options, progress=True) for split in ("train", "test")]
    built = time.perf_counter() - started
    started = time.perf_counter()
    for split in ("train", "test"):
        load_image_folder(split, args.folder, options=options, progress=False)
    opened = time.perf_counter() - started
    images = sum(len(s) for s in sets)
    return {
        "images": images,
        "build_seconds": built,
        "open_seconds": opened,
        "bytes": sum(s.images.nbytes for s in sets),
    }


def worker_train(args: argparse.Namespace) -> dict:
    """Time training steps of the preset in the asked placement (under torchrun: this rank's)."""
    import tempfile

    import torch
    from family_speed import labelled_batches as _labelled_batches  # this folder's, beside this script

    from vaelab.data.image_folder import load_image_folder
    from vaelab.data.image_options import ImageOptions
    from vaelab.training import RunConfig, RunDir
    from vaelab.training.device import resolve_device
    from vaelab.training.distributed import open_processes
    from vaelab.training.trainer import Trainer

    torch.set_num_threads(args.threads)
    limit = BASELINE_IMAGES if args.baseline else None
    options = ImageOptions(args.size)
    train_set = load_image_folder("train", args.folder, limit, options, progress=False)
    test_set = load_image_folder("test", args.folder, 256 if args.baseline else None, options, progress=False)
    config = RunConfig.from_preset(
        args.preset,
        dataset="image-folder",
        data_dir=str(args.folder),
        image_size=args.size,
        batch_size=args.batch_size,
        device="cpu",
        seed=0,
        data_placement=args.placement,
    )
    processes, device = open_processes(resolve_device("cpu"))
    with tempfile.TemporaryDirectory() as tmp:
        trainer = Trainer(config, RunDir(tmp), train_set, test_set, progress=False, processes=processes, device=device)
        batches = _labelled_batches(trainer, args.batch_size)
        for _ in range(args.warmup):
            trainer.step(*next(batches))
        processes.agree()
        started = time.perf_counter()
        for _ in range(args.steps):
            trainer.step(*next(batches))
        trainer.step.sums.tolist()  # the steps' work is done
        seconds = time.perf_counter() - started
        processes.agree()
        result = {
            "rank": processes.rank,
            "placement": trainer.train_data.placement,
            "images_per_second": args.steps * args.batch_size / seconds,
            "data_bytes": int(train_set.images.nbytes + test_set.images.nbytes),
            **_memory(),
        }
    processes.close(True)
    return result


# --- orchestration ------------------------------------------------------------------------------------


def _environment(args: argparse.Namespace) -> dict:
    return {**os.environ, "XDG_CACHE_HOME": str(args.cache), "PYTHONPATH": str(ROOT / "src")}


def _worker_args(args: argparse.Namespace, **changes) -> list[str]:
    settings = {
        "folder": args.folder,
        "size": args.size,
        "preset": args.preset,
        "batch_size": args.batch_size,
        "steps": args.steps,
        "warmup": args.warmup,
        "threads": args.threads,
        "placement": "device",
        **changes,
    }
    words = []
    for key, value in settings.items():
        words += [f"--{key.replace('_', '-')}", str(value)]
    return words


def _results(output: str) -> list[dict]:
    return [json.loads(line.removeprefix("RESULT ")) for line in output.splitlines() if line.startswith("RESULT ")]


def run_worker(args: argparse.Namespace, kind: str, processes: int = 1, **changes) -> list[dict]:
    """Run a worker (under torchrun for ``processes`` > 1) and collect its results."""
    script = [str(Path(__file__).resolve()), "--worker", kind, *_worker_args(args, **changes)]
    if processes > 1:
        command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}"]
        command += script
    else:
        command = [sys.executable, *script]
    done = subprocess.run(command, env=_environment(args), capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.stderr.write(done.stderr[-4000:])
        raise SystemExit(f"the {kind} worker failed (exit {done.returncode})")
    return _results(done.stdout)


def page_cache_bytes(cache: Path) -> int:
    """Bytes of the cache's image files in the page cache (``fincore``), or -1 without fincore."""
    files = [str(p) for p in (cache / "vaelab" / "images").glob("*.u8")]
    if not files or shutil.which("fincore") is None:
        return -1
    out = subprocess.run(
        ["fincore", "--bytes", "--noheadings", "--output", "RES", *files], capture_output=True, text=True
    )
    return sum(int(line.split()[0]) for line in out.stdout.splitlines() if line.strip())


def machine_memory(rows: list[dict], cached: int) -> float:
    """MB the data and the processes take on the machine: each process's peak RSS less its
    file-backed pages (shared: the image file's and the libraries'), plus the page cache of the
    image files, counted once."""
    own = sum(r["peak_rss_mb"] - r["rss_file_mb"] for r in rows)
    return own + max(cached, 0) / 2**20


def cpu_name() -> str:
    from vaelab.training.precision import cpu_name as name

    return name()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.worker:
        result = worker_build(args) if args.worker == "build" else worker_train(args)
        print("RESULT " + json.dumps(result), flush=True)
        return 0
    report: dict = {"machine": {"cpu": cpu_name(), "cores": os.cpu_count()}, "settings": vars(args).copy()}
    report["settings"] = {k: str(v) for k, v in report["settings"].items()}
    print(f"images: {args.count:,} synthetic {args.size}×{args.size} JPEGs in {args.folder}", file=sys.stderr)
    report["write_seconds"] = make_folder(args.folder, args.count, args.size)
    shutil.rmtree(args.cache, ignore_errors=True)
    print("building the cache ...", file=sys.stderr)
    started = time.perf_counter()
    (build,) = run_worker(args, "build")
    build["process_seconds"] = time.perf_counter() - started
    report["build"] = build
    single = measure_single(args)
    (baseline,) = run_worker(args, "train", placement="device", baseline=1)
    cached = page_cache_bytes(args.cache)
    print("training, 2 torchrun processes ...", file=sys.stderr)
    pair = {p: run_worker(args, "train", 2, placement=p, threads=1) for p in ("host", "device")}
    cached_pair = page_cache_bytes(args.cache)
    report.update(single=single, baseline=baseline, torchrun=pair, page_cache_bytes=[cached, cached_pair])
    report["targets"] = targets(single, baseline, pair, cached, cached_pair)
    print(table(report))
    if args.output:
        Path(args.output).write_text(json.dumps(report, indent=2) + "\n")
    return 0


def measure_single(args: argparse.Namespace) -> dict:
    """One process per placement, ``--repeats`` times in alternating order; each placement's row of
    median throughput (and the memory of its first process)."""
    rows: dict[str, list[dict]] = {"device": [], "host": []}
    for repeat in range(args.repeats):
        for placement in ("device", "host") if repeat % 2 == 0 else ("host", "device"):
            print(f"training, {placement} placement ({repeat + 1} of {args.repeats}) ...", file=sys.stderr)
            (row,) = run_worker(args, "train", placement=placement)
            rows[placement].append(row)
    single = {}
    for placement, measured in rows.items():
        speeds = sorted(r["images_per_second"] for r in measured)
        single[placement] = {**measured[0], "images_per_second": speeds[len(speeds) // 2], "all_speeds": speeds}
    return single


def targets(single: dict, baseline: dict, pair: dict, cached: int, cached_pair: int) -> dict:
    speed = single["host"]["images_per_second"] / single["device"]["images_per_second"]
    above = single["host"]["peak_rss_mb"] - baseline["peak_rss_mb"]
    one = machine_memory([single["host"]], cached)
    two = machine_memory(pair["host"], cached_pair)
    return {
        "host_speed_ratio": {"value": speed, "target": ">= 0.90", "met": speed >= 0.9},
        "host_rss_above_baseline_mb": {"value": above, "target": "< 1024", "met": above < 1024},
        "torchrun_memory_ratio": {"value": two / one, "target": "< 1.3", "met": two / one < 1.3},
        "one_process_machine_mb": one,
        "two_processes_machine_mb": two,
        "two_processes_device_machine_mb": machine_memory(pair["device"], cached_pair),
    }


def table(report: dict) -> str:
    build, single, base = report["build"], report["single"], report["baseline"]
    lines = [
        f"machine: {report['machine']['cpu']}, {report['machine']['cores']} cores",
        f"cache build: {build['images']:,} images, {build['bytes'] / 1e9:.2f} GB, {build['build_seconds']:.1f} s "
        f"({build['images'] / build['build_seconds']:,.0f} images/s); opening it again: {build['open_seconds']:.1f} s",
        "",
        "| process | placement | images/s | peak RSS (MB) | anon RSS at end (MB) | file RSS at end (MB) |",
        "|---|---|---:|---:|---:|---:|",
    ]
    rows = [("one", single["device"]), ("one", single["host"]), (f"baseline ({BASELINE_IMAGES:,} images)", base)]
    for placement in ("host", "device"):
        rows += [(f"torchrun rank {r['rank']} of 2", r) for r in report["torchrun"][placement]]
    for name, r in rows:
        lines.append(
            f"| {name} | {r['placement']} | {r['images_per_second']:,.0f} | {r['peak_rss_mb']:,.0f} | "
            f"{r['rss_anon_mb']:,.0f} | {r['rss_file_mb']:,.0f} |"
        )
    speeds = {p: ", ".join(f"{v:,.0f}" for v in single[p]["all_speeds"]) for p in ("device", "host")}
    lines.append("")
    lines.append(f"images/s of each single process: device {speeds['device']}; host {speeds['host']}")
    lines.append(f"page cache of the image files: {report['page_cache_bytes'][0] / 2**20:,.0f} MB")
    for name, target in report["targets"].items():
        if isinstance(target, dict):
            mark = "met" if target["met"] else "NOT met"
            lines.append(f"{name}: {target['value']:.3f} (target {target['target']}: {mark})")
        else:
            lines.append(f"{name}: {target:,.0f}")
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--folder", type=Path, default=DEFAULT_HOME / "images")
    parser.add_argument("--cache", type=Path, default=DEFAULT_HOME / "cache", help="XDG_CACHE_HOME of the runs")
    parser.add_argument("--count", type=int, default=200_000)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--preset", default="faces-64")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--repeats", type=int, default=3, help="single-process measurements per placement")
    parser.add_argument("--output", type=Path)
    parser.add_argument("--worker", choices=("build", "train"), help=argparse.SUPPRESS)
    parser.add_argument("--placement", default="device", help=argparse.SUPPRESS)
    parser.add_argument("--baseline", type=int, default=0, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


if __name__ == "__main__":
    raise SystemExit(main())
