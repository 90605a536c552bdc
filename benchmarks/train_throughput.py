"""Training throughput: vaelab's trainer against a plain PyTorch loop (a benchmark, not a test).

    PYTHONPATH=src python benchmarks/train_throughput.py [--presets book-ae,book-vae,book-faces] [--device cpu|cuda]
        [--steps 50] [--warmup 5] [--batch-size N] [--repeats 3] [--threads N] [--output results.json]

For each preset it times, on the same device, with the same model, batch size and number of steps:

* ``vaelab`` — the step function vaelab's trainer runs (:class:`vaelab.training.trainer.Trainer`
  built as ``vaelab train`` builds it: device-resident uint8 data, the automatic execution
  settings; a CUDA graph on a GPU with ``--cuda-graphs``), fed from the trainer's own shuffled batches, with the
  trainer's running-loss read every ``CHECK_EVERY`` steps;
* ``reference`` — the loop tutorials write: a ``torch.utils.data.DataLoader`` (shuffle=True)
  over a ``TensorDataset`` of float32 images in [0, 1] held on the CPU, ``x.to(device)``,
  ``model(x)``, the loss, ``zero_grad``, ``backward``, ``Adam.step`` (PyTorch's defaults) and
  ``loss.item()`` every step.

Warm-up steps (``--warmup``; they include a CUDA graph's capture) are run first and not timed.
Each measurement runs in a fresh Python process, so neither loop inherits the other's threads,
allocator or peak memory, and the two loops alternate which goes first on every repeat, so a
machine whose load drifts treats them alike. The data are the real Fashion-MNIST training images
when the preset trains on them and they are installed (never downloaded; all 60,000 by default,
so each loop holds the dataset as it would in a real run), otherwise just enough uniform random
images of the shape the preset's ModelSpec says (``synthetic``).

Reported per measurement: images/s, mean step time, images per CPU-second of the process (on a
machine shared with other work, the fair single-thread comparison: waiting for a core does not
count), peak memory — what the loop needs beyond the
uint8 images in host memory: model, optimiser, activations, its copy of the dataset (vaelab's
uint8 copy on the device, the reference's float32 TensorDataset) — as CUDA's
``max_memory_allocated``, or on the CPU as the growth of the peak resident set size (the
kernel's high-water mark is reset first), and per preset the median over repeats and the ratio
vaelab / reference. JSON (``--output``) and a table on stdout.

Adding a preset to the defaults is one entry in :data:`DEFAULT_PRESETS`.
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
from collections.abc import Iterator
from pathlib import Path

import numpy as np

#: Presets measured when --presets is not given (book-faces on synthetic 32×32 RGB images).
DEFAULT_PRESETS = ("book-ae", "book-vae", "book-faces")
LOOPS = ("vaelab", "reference")


# --- data -------------------------------------------------------------------------------------


def image_data(preset_name: str, count: int, real_limit: int, seed: int = 0) -> tuple[np.ndarray, str]:
    """uint8 images [N, C, H, W] of the preset's input shape, and where they came from: the real
    training set (its first ``real_limit`` images, repeated up to ``count`` if fewer), or ``count``
    synthetic ones."""
    from vaelab.data.fashion_mnist import load_fashion_mnist
    from vaelab.errors import DataError
    from vaelab.models import get_preset

    preset = get_preset(preset_name)
    shape = (preset.model.image_channels, preset.model.image_size, preset.model.image_size)
    if preset.dataset == "fashion-mnist":
        try:
            images = load_fashion_mnist("train", limit=real_limit, download=False).images
            if images.shape[1:] == shape:
                return _repeat_to(images, count), "fashion-mnist"
        except DataError:
            pass
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (count, *shape), dtype=np.uint8), "synthetic"


def _repeat_to(images: np.ndarray, count: int) -> np.ndarray:
    if len(images) >= count:
        return images
    return np.concatenate([images] * -(-count // len(images)))[:count]


# --- memory -----------------------------------------------------------------------------------


class PeakMemory:
    """Peak memory added after :meth:`start`: CUDA allocator peak, or growth of the peak RSS on the CPU."""

    def __init__(self, device) -> None:
        self.device = device

    def start(self) -> None:
        import torch

        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
            return
        self.resettable = _reset_peak_rss()
        self.rss_before = _status_kib("VmRSS")
        self.peak_before = _status_kib("VmHWM")

    def stop(self) -> tuple[int, str]:
        """Bytes, and what they are."""
        import torch

        if self.device.type == "cuda":
            return torch.cuda.max_memory_allocated(self.device), "cuda max_memory_allocated"
        peak = _status_kib("VmHWM")
        if self.resettable:
            return max(0, peak - self.rss_before) * 1024, "cpu peak RSS growth"
        return max(0, peak - self.peak_before) * 1024, "cpu peak RSS growth (lifetime peak, not reset)"


def _reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS counter of this process (Linux ``clear_refs``)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def _status_kib(field: str) -> int:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


# --- the two loops (run in a child process) ---------------------------------------------------


def measure(spec: dict) -> dict:
    """Time one loop for one preset as ``spec`` says; returns one result row."""
    import torch

    from vaelab.training.device import resolve_device

    if spec["threads"]:
        torch.set_num_threads(spec["threads"])
    device = resolve_device(spec["device"])
    total = (spec["warmup"] + spec["steps"]) * spec["batch_size"]
    images, source = image_data(spec["preset"], total, spec["max_images"])
    run = measure_vaelab if spec["loop"] == "vaelab" else measure_reference
    _import_everything()
    memory = PeakMemory(device)
    memory.start()
    (seconds, cpu_seconds), data_bytes = run(spec, images, device)
    peak, memory_kind = memory.stop()
    count = spec["steps"] * spec["batch_size"]
    return {
        "preset": spec["preset"],
        "loop": spec["loop"],
        "device": str(device),
        "batch_size": spec["batch_size"],
        "steps": spec["steps"],
        "warmup": spec["warmup"],
        "threads": torch.get_num_threads(),
        "data": source,
        "seconds": seconds,
        "images_per_second": count / seconds,
        "cpu_seconds": cpu_seconds,
        "images_per_cpu_second": count / cpu_seconds,
        "step_ms": 1000 * seconds / spec["steps"],
        "epoch_seconds_60k": 60000 * seconds / count,
        "peak_memory_bytes": peak,
        "memory": memory_kind,
        "dataset_bytes": data_bytes,
        "options": spec["options"],
    }


def _import_everything() -> None:
    """Import what both loops use before memory is measured, so imports do not count."""
    import torch.utils.data  # noqa: F401

    import vaelab.training.trainer  # noqa: F401


class Clock:
    """Wall-clock and process CPU seconds since creation."""

    def __init__(self) -> None:
        self.wall = time.perf_counter()
        self.cpu = time.process_time()

    def stop(self) -> tuple[float, float]:
        return time.perf_counter() - self.wall, time.process_time() - self.cpu


def measure_vaelab(spec: dict, images: np.ndarray, device) -> tuple[tuple[float, float], int]:
    """(wall, CPU) seconds of the timed steps of vaelab's trainer step, and the bytes of its dataset."""
    from vaelab.data.image_set import ImageSet
    from vaelab.training import RunConfig, RunDir
    from vaelab.training.execution import choose_execution, synchronize
    from vaelab.training.monitor import RunningLoss
    from vaelab.training.trainer import CHECK_EVERY, Trainer

    options = spec["options"]
    config = RunConfig.from_preset(
        spec["preset"],
        batch_size=spec["batch_size"],
        device=str(device),
        seed=0,
        precision=options["precision"],
        compile=options["compile"],
        cuda_graphs=options["cuda_graphs"],
    )
    execution = choose_execution(
        device,
        precision=config.precision,
        compile=config.compile,
        cuda_graphs=config.cuda_graphs,
        channels_last=options["channels_last"],
    )
    data = ImageSet(images, None, (), "benchmark")
    with tempfile.TemporaryDirectory() as tmp:
        trainer = Trainer(config, RunDir(tmp), data, data.head(1), progress=False, execution=execution)
        batches = _trainer_batches(trainer, spec["batch_size"])
        for _ in range(spec["warmup"]):
            trainer.step(next(batches))
        synchronize(device)
        running = RunningLoss(trainer.step.sums)
        clock = Clock()
        for step in range(1, spec["steps"] + 1):
            trainer.step(next(batches))
            if step % CHECK_EVERY == 0:
                running.read(step * spec["batch_size"])
        synchronize(device)
        return clock.stop(), images.nbytes


def _trainer_batches(trainer, batch_size: int) -> Iterator:
    """The trainer's batches, epoch after epoch (a new permutation each), full-size only."""
    while True:
        order = trainer.train_data.permutation(trainer.shuffle)
        for batch in trainer.train_data.batches(batch_size, order):
            if batch.shape[0] == batch_size:
                yield batch


def measure_reference(spec: dict, images: np.ndarray, device) -> tuple[tuple[float, float], int]:
    """(wall, CPU) seconds of the timed steps of the tutorial loop, and the bytes of its dataset."""
    import torch
    from torch.utils.data import DataLoader, TensorDataset

    from vaelab.models import build_model, get_preset
    from vaelab.training.batch import Batch
    from vaelab.training.execution import synchronize
    from vaelab.training.objectives import make_objective

    preset = get_preset(spec["preset"])
    torch.manual_seed(0)
    model = build_model(preset.model).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=preset.lr)
    objective = make_objective(preset.objective, preset.objective_params)
    corruption = preset.corruption
    dataset = TensorDataset(torch.from_numpy(images).float() / 255.0)
    loader = DataLoader(dataset, batch_size=spec["batch_size"], shuffle=True, drop_last=True)

    def batches():
        while True:
            yield from loader

    stream = batches()

    def step() -> float:
        (x,) = next(stream)
        x = x.to(device)
        x_in = corruption(x) if corruption else x
        loss = objective(model, Batch(x_in, x), model(x_in))["loss"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return loss.item()

    for _ in range(spec["warmup"]):
        step()
    synchronize(device)
    total = 0.0
    clock = Clock()
    for _ in range(spec["steps"]):
        total += step()
    synchronize(device)
    return clock.stop(), dataset.tensors[0].nbytes


# --- the hardware's ceiling ------------------------------------------------------------------


def step_flops(preset_name: str, batch_size: int) -> int:
    """Floating-point operations of one training step of the preset at ``batch_size`` — forward,
    loss and backward — as PyTorch's ``FlopCounterMode`` counts them: convolutions and matrix
    products (their backward passes included); element-wise work and Adam are not counted."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from vaelab.models import build_model, get_preset
    from vaelab.training.batch import Batch
    from vaelab.training.objectives import make_objective

    preset = get_preset(preset_name)
    spec = preset.model
    model = build_model(spec)
    objective = make_objective(preset.objective, preset.objective_params)
    x = torch.rand(batch_size, spec.image_channels, spec.image_size, spec.image_size)
    with FlopCounterMode(display=False) as counter:
        objective(model, Batch(x, x), model(x))["loss"].backward()
    return counter.get_total_flops()


def matmul_peak(spec: dict) -> float:
    """The best GFLOP/s of a large square matrix product in ``spec["dtype"]`` on the device with
    ``spec["threads"]`` threads: what the device's arithmetic can do when nothing else limits it
    (run in a child process, like the loops; :func:`vaelab.training.precision.matmul_peak` at 2048² on
    the CPU, 8192² on a GPU)."""
    import torch

    from vaelab.training.device import resolve_device
    from vaelab.training.precision import matmul_peak as peak

    if spec["threads"]:
        torch.set_num_threads(spec["threads"])
    device = resolve_device(spec["device"])
    dtype = {"fp32": torch.float32, "bf16": torch.bfloat16}[spec["dtype"]]
    return peak(device, dtype, 2048 if device.type == "cpu" else 8192)


def ceilings(
    presets: list[str], batch_sizes: dict[str, int], device: str, threads: int | None, precisions: tuple[str, ...]
) -> dict:
    """FLOPs per step of each preset and the matmul peak of each precision (see the two above)."""
    peaks = {p: run_child({"kind": "peak", "device": device, "threads": threads, "dtype": p}) for p in precisions}
    return {
        "gflop_per_step": {name: step_flops(name, batch_sizes[name]) / 1e9 for name in presets},
        "matmul_peak_gflop_per_second": peaks,
    }


# --- orchestration ----------------------------------------------------------------------------


def run_child(spec: dict):
    """``measure(spec)`` (or ``matmul_peak(spec)``) in a fresh Python process."""
    command = [sys.executable, str(Path(__file__).resolve()), "--child", json.dumps(spec)]
    done = subprocess.run(command, capture_output=True, text=True, env=os.environ.copy())
    if done.returncode != 0:
        what = f"{spec['loop']} {spec['preset']}" if "loop" in spec else f"{spec['dtype']} matmul peak"
        raise SystemExit(f"{what} failed:\n{done.stderr.strip()[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def summarise(rows: list[dict], ceiling: dict, precision: str) -> list[dict]:
    """Per preset: median images/s of each loop over the repeats, their ratio, and how close each
    comes to the device's arithmetic (``ceiling``: FLOPs per step and matmul peaks, see
    :func:`ceilings`; vaelab is held to the peak of its ``precision``, the reference to fp32's)."""
    peaks = ceiling["matmul_peak_gflop_per_second"]
    summary = []
    for preset in dict.fromkeys(row["preset"] for row in rows):
        source = next(r["data"] for r in rows if r["preset"] == preset)
        gflop = ceiling["gflop_per_step"][preset]
        medians = {}
        for loop in LOOPS:
            chosen = [r for r in rows if r["preset"] == preset and r["loop"] == loop]
            step_ms = statistics.median(r["step_ms"] for r in chosen)
            peak = peaks[precision if loop == "vaelab" else "fp32"]
            medians[loop] = {
                "images_per_second": statistics.median(r["images_per_second"] for r in chosen),
                "images_per_cpu_second": statistics.median(r["images_per_cpu_second"] for r in chosen),
                "step_ms": step_ms,
                "peak_memory_bytes": max(r["peak_memory_bytes"] for r in chosen),
                "epoch_seconds_60k": statistics.median(r["epoch_seconds_60k"] for r in chosen),
                "gflop_per_second": gflop / (step_ms / 1000),
                "fraction_of_matmul_peak": gflop / (step_ms / 1000) / peak,
            }
        fastest_ms = 1000 * gflop / peaks[precision]
        summary.append(
            {
                "preset": preset,
                "data": source,
                "gflop_per_step": gflop,
                **{f"{loop}": medians[loop] for loop in LOOPS},
                "ratio": medians["vaelab"]["images_per_second"] / medians["reference"]["images_per_second"],
                "cpu_time_ratio": (
                    medians["vaelab"]["images_per_cpu_second"] / medians["reference"]["images_per_cpu_second"]
                ),
                # A step that did nothing but its counted FLOPs, at the matmul peak of vaelab's precision:
                "step_ms_at_peak": fastest_ms,
                "ratio_at_peak": medians["reference"]["step_ms"] / fastest_ms,
            }
        )
    return summary


def machine() -> dict:
    """What the numbers were measured on."""
    import torch

    info = {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "torch_threads_default": torch.get_num_threads(),
    }
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def _cpu_model() -> str:
    from vaelab.training.precision import cpu_name

    return cpu_name()


def load_average() -> list[float] | None:
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return None


def table(summary: list[dict], device: str, peaks: dict[str, float], precision: str) -> str:
    lines = [
        f"{'preset':<12} {'loop':<10} {'images/s':>10} {'step ms':>9} {'60k epoch s':>12} {'peak MiB':>9} "
        f"{'images/cpu-s':>13} {'GFLOP/s':>8} {'% peak':>7}  ratio (cpu-time ratio)",
    ]
    for entry in summary:
        for loop in LOOPS:
            m = entry[loop]
            ratio = f"{entry['ratio']:.2f}× ({entry['cpu_time_ratio']:.2f}×)" if loop == "vaelab" else ""
            lines.append(
                f"{entry['preset']:<12} {loop:<10} {m['images_per_second']:>10.0f} {m['step_ms']:>9.2f} "
                f"{m['epoch_seconds_60k']:>12.2f} {m['peak_memory_bytes'] / 2**20:>9.1f} "
                f"{m['images_per_cpu_second']:>13.0f} {m['gflop_per_second']:>8.0f} "
                f"{100 * m['fraction_of_matmul_peak']:>6.0f}%  {ratio}"
            )
    lines.append(
        f"(medians over repeats, on {device}; ratio = vaelab images/s ÷ reference images/s; images/cpu-s counts "
        "the process's CPU time, which other work on a loaded machine does not inflate — for one thread)"
    )
    lines.append(
        "matmul peak: "
        + ", ".join(f"{name} {value:,.0f} GFLOP/s" for name, value in peaks.items())
        + f"; % peak = counted FLOPs per second ÷ the peak of the loop's precision (vaelab: {precision}, "
        "reference: fp32)"
    )
    for entry in summary:
        lines.append(
            f"{entry['preset']}: {entry['gflop_per_step']:.2f} GFLOP per step; at the {precision} matmul peak a step "
            f"would take {entry['step_ms_at_peak']:.1f} ms, {entry['ratio_at_peak']:.2f}× the reference "
            "(the most a loop computing these FLOPs in this precision could gain)"
        )
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--presets", default=",".join(DEFAULT_PRESETS), help="comma-separated presets")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"), help="default: auto")
    parser.add_argument("--steps", type=int, default=50, help="timed steps per measurement (default: 50)")
    parser.add_argument("--warmup", type=int, default=5, help="untimed steps first (default: 5)")
    parser.add_argument("--batch-size", type=int, help="default: each preset's own (book-ae: 100)")
    parser.add_argument("--repeats", type=int, default=3, help="measurements per loop and preset (default: 3)")
    parser.add_argument("--threads", type=int, help="torch.set_num_threads for both loops (default: PyTorch's)")
    parser.add_argument(
        "--max-images",
        type=int,
        default=60000,
        help="real training images used (default: 60000, all); synthetic data has just enough",
    )
    parser.add_argument("--output", help="write the results as JSON here")
    parser.add_argument("--precision", choices=("fp32", "bf16"), default="fp32", help="vaelab's --precision")
    parser.add_argument("--compile", action="store_true", help="vaelab's --compile")
    parser.add_argument(
        "--cuda-graphs",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="vaelab's --cuda-graphs (default: off, as in vaelab)",
    )
    parser.add_argument(
        "--channels-last",
        choices=("auto", "on", "off"),
        default="auto",
        help="vaelab's memory format (auto: channels_last on the CPU only)",
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    for name in ("steps", "repeats"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1")
    if args.warmup < 0:
        parser.error("--warmup must be at least 0")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child:
        spec = json.loads(args.child)
        print(json.dumps(matmul_peak(spec) if spec.get("kind") == "peak" else measure(spec)))
        return 0
    from vaelab.errors import VaelabError
    from vaelab.models import get_preset
    from vaelab.training.device import resolve_device

    presets = [p.strip() for p in args.presets.split(",") if p.strip()]
    try:
        for name in presets:
            get_preset(name)
        device = str(resolve_device(args.device))
    except VaelabError as exc:
        print(f"train_throughput: error: {exc}", file=sys.stderr)
        return 1
    options = {
        "precision": args.precision,
        "compile": args.compile,
        "cuda_graphs": args.cuda_graphs,
        "channels_last": {"auto": None, "on": True, "off": False}[args.channels_last],
    }
    load_before = load_average()
    rows = []
    for repeat in range(args.repeats):
        for name in presets:
            for loop in LOOPS if repeat % 2 == 0 else LOOPS[::-1]:
                spec = {
                    "preset": name,
                    "loop": loop,
                    "device": device,
                    "steps": args.steps,
                    "warmup": args.warmup,
                    "batch_size": args.batch_size or get_preset(name).batch_size,
                    "threads": args.threads,
                    "max_images": args.max_images,
                    "options": options,
                }
                row = run_child(spec)
                rows.append(row)
                print(f"  {name} {loop}: {row['images_per_second']:.0f} images/s", file=sys.stderr, flush=True)
    batch_sizes = {name: args.batch_size or get_preset(name).batch_size for name in presets}
    precisions = tuple(dict.fromkeys(("fp32", args.precision)))
    ceiling = ceilings(presets, batch_sizes, device, args.threads, precisions)
    summary = summarise(rows, ceiling, args.precision)
    result = {
        "machine": machine(),
        "load_average": {"before": load_before, "after": load_average()},
        "settings": {k: v for k, v in vars(args).items() if k != "child"},
        "ceiling": ceiling,
        "summary": summary,
        "measurements": rows,
    }
    print(table(summary, device, ceiling["matmul_peak_gflop_per_second"], args.precision))
    if args.output:
        Path(args.output).write_text(json.dumps(result, indent=2) + "\n")
        print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
