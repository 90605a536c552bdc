"""vaelab's CUDA path, checked on this machine's GPU in one command (a script, not a test).

    PYTHONPATH=src python3 benchmarks/gpu_selfcheck.py [--skip compile,benchmark] [--device cpu]

Each check runs a CUDA feature of vaelab's training and compares its numbers with a computation
already trusted: the device batches with the host's images; the eager step on CUDA (full fp32, no
TF32) with the same step on the CPU; fused Adam with foreach Adam; the CUDA-graph step
(``--cuda-graphs``) with the eager step, in fp32 and in bf16; bf16 autocast with fp32; the no-wait
loss monitor with synchronous reads; ``torch.compile`` with eager; one epoch of training plus a
resumed epoch with two straight epochs (bit for bit), eager and with CUDA graphs; DistributedDataParallel
in one process (NCCL) with no DDP. The models are the book's (book-ae, book-vae), the data synthetic,
a few steps each (:data:`STEPS` full batches of :data:`BATCH` and one short batch). One line per check:
PASS, FAIL or SKIP, the numbers compared and the tolerance. Then ``benchmarks/train_throughput.py``
measures book-ae briefly, eager and with ``--cuda-graphs``, and its tables are printed.

Exit status: 0 when every check passed (or was skipped), 1 when one failed, 2 when PyTorch sees no
CUDA device (nothing is checked). ``--device cpu`` runs the checks that apply to a CPU — a dry run
of this script, which says nothing about CUDA. Needs PyTorch (2.11 or later on GPUs is what it is
meant for) and numpy; not vaelab installed (it imports ``src/`` beside it), nor the internet.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import importlib.util
import json
import math
import os
import socket
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))  # runnable from a checkout, without vaelab installed

#: Full-size training steps per comparison, each of BATCH images, then one batch of SHORT images
#: (CUDA graphs: 3 eager warm-up steps, the capture, replays, and the short batch eagerly).
STEPS, BATCH, SHORT = 7, 100, 50
NO_CUDA_STATUS = 2
#: One unit in the last place of float32 at 1.0: x / 255 on the host against the GPU's x · (1/255).
ONE_ULP = 2.0**-23
CHECK_NAMES = (
    "batches",
    "eager",
    "fused-adam",
    "graphs",
    "bf16",
    "monitor",
    "compile",
    "resume",
    "resume-graphs",
    "ddp",
    "benchmark",
)


@dataclass(frozen=True)
class Tolerance:
    """How far two computations' numbers may be apart after the few steps of a check: the largest
    relative difference of the loss sums, and the largest absolute difference of a weight."""

    sums: float
    weights: float


#: The same kernels (a replayed graph, DDP in one process): only non-deterministic reductions round
#: differently. Adam's steps are at most about lr (1e-3) per weight, so 1e-4 is a tenth of one step.
SAME_KERNELS = Tolerance(sums=1e-5, weights=1e-4)
#: Kernels that round differently (fused against foreach Adam, CUDA against the CPU, compiled
#: against eager): where a gradient is near zero, Adam turns rounding into up to a step of lr.
OTHER_ROUNDING = Tolerance(sums=1e-4, weights=2e-3)
#: bf16 autocast against fp32 (the loss sums only; the weights drift apart by design).
BF16 = Tolerance(sums=0.03, weights=math.inf)


@dataclass(frozen=True)
class Check:
    """One line of the report."""

    name: str
    status: str  # PASS, FAIL or SKIP
    detail: str

    def line(self) -> str:
        return f"{self.status:<5} {self.name:<25} {self.detail}"  # two spaces at least after a name


@dataclass
class Outcome:
    """What a few training steps left: the loss sums (Σ term × images, float64) and the weights, on the host."""

    sums: torch.Tensor
    weights: dict[str, torch.Tensor]


# --- building and running a few training steps ----------------------------------------------------


def synthetic_images(count: int, seed: int = 0) -> np.ndarray:
    """uint8 images [count, 1, 32, 32]: a bright rectangle of random place, size and brightness on a
    dark background with a little noise (something for the book's models to learn)."""
    rng = np.random.default_rng(seed)
    top, left = rng.integers(2, 18, (2, count, 1, 1, 1))
    height, width = rng.integers(6, 14, (2, count, 1, 1, 1))
    rows, cols = np.arange(32).reshape(1, 1, 32, 1), np.arange(32).reshape(1, 1, 1, 32)
    inside = (rows >= top) & (rows < top + height) & (cols >= left) & (cols < left + width)
    brightness = rng.integers(120, 256, (count, 1, 1, 1))
    noise = rng.integers(0, 30, (count, 1, 32, 32))
    return np.clip(inside * brightness + noise, 0, 255).astype(np.uint8)


def device_batches(device: torch.device, seed: int = 0) -> list[torch.Tensor]:
    """STEPS full batches and one short one, uint8 on ``device``, as vaelab's trainer batches them."""
    from vaelab.data.batching import DeviceImages

    data = DeviceImages(synthetic_images(STEPS * BATCH + SHORT, seed), None, device)
    return list(data.batches(BATCH))


def make_optimizer(kind: str, model: torch.nn.Module, lr: float, device: torch.device) -> torch.optim.Optimizer:
    """vaelab's Adam (``"vaelab"``: fused on CUDA, foreach on the CPU) or Adam as ``foreach``/``fused``."""
    from vaelab.training.optimizer import make_adam

    if kind == "vaelab":
        return make_adam(model.parameters(), lr, device)
    return torch.optim.Adam(model.parameters(), lr=lr, **{kind: True})


def build_step(
    preset: str,
    device: torch.device,
    *,
    adam: str = "vaelab",
    precision: str = "fp32",
    graphs: bool = False,
    compile: bool = False,
    processes=None,
    log: Callable[[str], None] = print,
):
    """(training step, model) of ``preset`` as vaelab's trainer builds them, the weights initialised
    from seed 0 on the host (so every device starts from the same ones), NCHW on every device."""
    from vaelab.models import build_model
    from vaelab.training import RunConfig
    from vaelab.training.cuda_graph import GraphedStep
    from vaelab.training.execution import choose_execution
    from vaelab.training.objectives import make_objective
    from vaelab.training.step import TrainStep

    config = RunConfig.from_preset(preset, batch_size=BATCH, device="cpu")
    execution = choose_execution(device, precision=precision, cuda_graphs=graphs, channels_last=False)
    torch.manual_seed(0)  # the weights, and the random draws of the steps (CPU and CUDA generators)
    model = execution.prepare_model(build_model(config.model))
    forward = processes.wrap(model) if processes else model
    model = getattr(forward, "module", model)  # DDP may have converted BatchNorm layers, as in the trainer
    optimizer = make_optimizer(adam, model, config.lr, device)
    if compile:
        forward = torch.compile(forward)
    objective = make_objective(config.objective, config.objective_params)
    shard = {"shard": processes.shard, "world_size": processes.world_size} if processes else {}
    step = TrainStep(forward, optimizer, objective, execution, config.corruption, model=model, **shard)
    return (GraphedStep(step, BATCH, log) if execution.cuda_graphs else step), model


def run_steps(step, model: torch.nn.Module, batches: list[torch.Tensor]) -> Outcome:
    """Train on ``batches``; the loss sums and the weights afterwards, copied to the host."""
    for batch in batches:
        step(batch)
    return Outcome(step.sums.detach().cpu().clone(), weights_of(model))


def weights_of(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The model's weights (and buffers) as float32 copies on the host."""
    return {name: tensor.detach().float().cpu().clone() for name, tensor in model.state_dict().items()}


def few_steps(preset: str, device: torch.device, **options) -> tuple[Outcome, object]:
    """(what :func:`run_steps` leaves, the step) for a step built by :func:`build_step` with ``options``."""
    step, model = build_step(preset, device, **options)
    return run_steps(step, model, device_batches(device)), step


@contextlib.contextmanager
def full_fp32() -> Iterator[None]:
    """cuDNN convolutions and CUDA matrix products in full fp32 (no TF32) inside the block."""
    conv = getattr(torch.backends.cudnn, "conv", None)
    if conv is not None and hasattr(conv, "fp32_precision"):  # PyTorch 2.9 and later
        settings = [torch.backends.cudnn.conv, torch.backends.cudnn.rnn, torch.backends.cuda.matmul]
        saved = [setting.fp32_precision for setting in settings]
        for setting in settings:
            setting.fp32_precision = "ieee"
        try:
            yield
        finally:
            for setting, value in zip(settings, saved, strict=True):
                setting.fp32_precision = value
        return
    saved_flags = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved_flags


# --- comparing ------------------------------------------------------------------------------------


def differences(a: Outcome, b: Outcome) -> tuple[float, float]:
    """(largest relative difference of the loss sums, largest absolute difference of a weight)."""
    sums = ((a.sums - b.sums).abs() / b.sums.abs().clamp_min(1e-30)).max().item()
    return sums, largest_difference(a.weights, b.weights)


def largest_difference(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    """The largest absolute difference between two sets of weights of the same names and shapes."""
    if a.keys() != b.keys() or any(a[k].shape != b[k].shape for k in b):
        return math.inf
    return max((a[k] - b[k]).abs().max().item() for k in b)


def compare(name: str, a: Outcome, b: Outcome, tolerance: Tolerance, what: str) -> Check:
    """PASS when ``a`` is within ``tolerance`` of ``b`` (and every number is finite)."""
    sums, weights = differences(a, b)
    finite = all(math.isfinite(v) for v in (*a.sums.tolist(), *b.sums.tolist()))
    passed = finite and sums <= tolerance.sums and weights <= tolerance.weights
    detail = f"{what}: loss sums differ by {sums:.1e} relative (at most {tolerance.sums:.0e})"
    if math.isfinite(tolerance.weights):
        detail += f", weights by {weights:.1e} (at most {tolerance.weights:.0e})"
    detail += f", after {STEPS + 1} steps" + ("" if finite else "; a loss is not finite")
    return Check(name, "PASS" if passed else "FAIL", detail)


def skip(name: str, why: str) -> Check:
    return Check(name, "SKIP", why)


# --- the checks -----------------------------------------------------------------------------------


def check_batches(device: torch.device) -> Check:
    from vaelab.data.batching import DeviceImages
    from vaelab.data.preprocess import to_unit_float

    images = synthetic_images(STEPS * BATCH + SHORT)
    data = DeviceImages(images, None, device)
    order = data.permutation(torch.Generator().manual_seed(0))
    batches = list(data.batches(BATCH, order))
    expected = images[order.cpu().numpy()]
    kept = all(b.dtype == torch.uint8 and b.device.type == device.type for b in batches)
    same = np.array_equal(torch.cat(batches).cpu().numpy(), expected)
    floats = max((to_unit_float(b).cpu() - to_unit_float(b.cpu())).abs().max().item() for b in batches)
    passed = kept and same and floats <= ONE_ULP
    detail = (
        f"{len(batches)} shuffled batches, uint8 on {batches[0].device}: "
        f"{'equal to' if same else 'NOT equal to'} the host's images; as floats in [0, 1]: "
        f"largest difference from the host's {floats:.1e} (at most {ONE_ULP:.1e})"
    )
    return Check("device batches", "PASS" if passed else "FAIL", detail)


def check_eager(device: torch.device) -> Check:
    with full_fp32():
        mine, _ = few_steps("book-ae", device, adam="foreach")
    host, _ = few_steps("book-ae", torch.device("cpu"), adam="foreach")
    return compare(
        "eager step", mine, host, OTHER_ROUNDING, f"book-ae on {device.type} (fp32, no TF32) against the CPU"
    )


def check_fused_adam(device: torch.device) -> Check:
    fused, _ = few_steps("book-ae", device, adam="fused")
    foreach, _ = few_steps("book-ae", device, adam="foreach")
    return compare("fused Adam", fused, foreach, OTHER_ROUNDING, f"book-ae on {device.type}, fused against foreach")


def check_graphs(device: torch.device, preset: str = "book-vae", precision: str = "fp32") -> Check:
    name = f"CUDA-graph step {precision}"
    if device.type != "cuda":
        return skip(name, "needs CUDA")
    notes: list[str] = []
    graphed, step = few_steps(preset, device, graphs=True, precision=precision, log=notes.append)
    eager, _ = few_steps(preset, device, precision=precision)
    if step.graph is None or step.failed:
        return Check(name, "FAIL", f"{preset}: no graph was captured and replayed ({'; '.join(notes) or 'no note'})")
    what = f"{preset}, captured after {step.warm} eager steps and replayed, against eager"
    return compare(name, graphed, eager, SAME_KERNELS, what)


def check_bf16(device: torch.device) -> list[Check]:
    bf16, _ = few_steps("book-ae", device, precision="bf16")
    fp32, _ = few_steps("book-ae", device)
    check = compare("bf16 autocast", bf16, fp32, BF16, f"book-ae on {device.type}, bf16 against fp32")
    if torch.equal(bf16.sums, fp32.sums):
        check = Check(check.name, "FAIL", "bf16 gave fp32's loss sums exactly: the forward pass was not autocast")
    return [check, check_graphs(device, "book-ae", "bf16")]


def monitor_reads(device: torch.device, every: int = 2) -> tuple[list[float | None], list[float]]:
    """What :class:`RunningLoss` returned at each check of a few steps, and the mean loss read
    synchronously right after each of those checks."""
    from vaelab.training.monitor import RunningLoss

    step, _ = build_step("book-ae", device)
    running = RunningLoss(step.sums)
    values, synchronous = [], []
    for number, batch in enumerate(device_batches(device)[:STEPS], 1):
        step(batch)
        if number % every == 0:
            values.append(running.read(number * BATCH))
            synchronous.append(step.sums[0].item() / (number * BATCH))
    return values, synchronous


def check_monitor(device: torch.device) -> Check:
    values, synchronous = monitor_reads(device)
    lag = 1 if device.type == "cuda" else 0  # on a GPU, each read returns the previous check's copy
    expected = [None] * lag + synchronous[: len(synchronous) - lag]
    passed = values == expected
    detail = (
        f"{len(values)} reads during book-ae steps on {device.type}: "
        + ("each equals" if passed else "NOT equal to")
        + (" the synchronous read of the check before (the first: none)" if lag else " the synchronous read")
        + ("" if passed else f" (read {values}, expected {expected})")
    )
    return Check("no-wait loss monitor", "PASS" if passed else "FAIL", detail)


def check_compile(device: torch.device) -> Check:
    if device.type != "cuda":
        return skip("torch.compile", "not in a dry run on the CPU (compiling takes tens of seconds there)")
    if importlib.util.find_spec("triton") is None:
        return skip("torch.compile", "triton is not installed (torch.compile's GPU backend)")
    started = time.perf_counter()
    compiled, _ = few_steps("book-ae", device, compile=True)
    seconds = time.perf_counter() - started
    eager, _ = few_steps("book-ae", device)
    what = f"book-ae compiled (in {seconds:.0f} s) against eager"
    return compare("torch.compile", compiled, eager, OTHER_ROUNDING, what)


def check_resume(device: torch.device, graphs: bool = False) -> Check:
    name = "train + resume" + (" (graphs)" if graphs else "")
    if graphs and device.type != "cuda":
        return skip(name, "needs CUDA")
    notes: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        straight = _train(Path(tmp, "straight"), device, graphs, notes)
        _train(Path(tmp, "resumed"), device, graphs, notes, epochs=1)
        resumed = _train(Path(tmp, "resumed"), device, graphs, notes, resume=True)
        rows = [(row["train"], row["val"]) for row in resumed.history]
        same_rows = rows == [(row["train"], row["val"]) for row in straight.history]
        weights = largest_difference(weights_of(resumed.model), weights_of(straight.model))
        detail = f"book-vae on {device.type}, 1 epoch + 1 resumed against 2 straight: "
        if same_rows and weights == 0:
            return Check(name, "PASS", detail + "the same metrics and weights, bit for bit" + _noted(notes))
        again = _train(Path(tmp, "again"), device, graphs, notes)
        noise = largest_difference(weights_of(again.model), weights_of(straight.model))
    detail += f"metrics {'equal' if same_rows else 'differ'}, weights differ by up to {weights:.1e}"
    detail += f"; two straight runs differ by {noise:.1e}" + (" (non-deterministic kernels)" if noise else "")
    return Check(name, "FAIL", detail + _noted(notes))


def _train(run_dir: Path, device: torch.device, graphs: bool, notes: list[str], epochs: int = 2, resume=False):
    from vaelab.data.image_set import ImageSet
    from vaelab.training import RunConfig, train

    config = RunConfig.from_preset("book-vae", epochs=epochs, device=device.type, cuda_graphs=graphs, seed=0)
    images = synthetic_images(STEPS * BATCH + SHORT, seed=1)
    train_set = ImageSet(images, None, (), "synthetic")
    test_set = ImageSet(synthetic_images(2 * BATCH, seed=2), None, (), "synthetic")
    return train(
        config, run_dir, resume=resume, train_set=train_set, test_set=test_set, progress=False, log=notes.append
    )


def _noted(notes: list[str]) -> str:
    failed = [note for note in notes if "capture failed" in note]
    return f" ({failed[0]})" if failed else ""


def check_ddp(device: torch.device) -> Check:
    import torch.distributed as dist

    backend = "nccl" if device.type == "cuda" else "gloo"
    if not dist.is_available() or (backend == "nccl" and not dist.is_nccl_available()):
        return skip("DDP, 1 process", f"this PyTorch has no {backend} backend")
    command = [sys.executable, str(Path(__file__).resolve()), "--ddp-child", "--device", device.type]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    except subprocess.TimeoutExpired:
        return Check("DDP, 1 process", "FAIL", f"{backend}: no answer within 300 s")
    if done.returncode != 0 or not done.stdout.strip():
        return Check("DDP, 1 process", "FAIL", f"{backend}: the child process failed: {_last_line(done.stderr)}")
    return Check(**json.loads(done.stdout.strip().splitlines()[-1]))


def ddp_child(device: torch.device) -> Check:
    """In a process of its own: book-ae in DistributedDataParallel with one process against no DDP."""
    from vaelab.training.distributed import ProcessGroup

    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    group = ProcessGroup(0, 1, 0)
    device = group.device_for(device)
    group.join(device)
    try:
        ddp, _ = few_steps("book-ae", device, processes=group)
    finally:
        group.close(True)
    single, _ = few_steps("book-ae", device)
    backend = "nccl" if device.type == "cuda" else "gloo"
    return compare("DDP, 1 process", ddp, single, SAME_KERNELS, f"book-ae, {backend}, against no DDP")


def run_benchmark(device: torch.device, graphs: bool) -> Check:
    """benchmarks/train_throughput.py, briefly (book-ae); prints its table."""
    name = "benchmark" + (" --cuda-graphs" if graphs else "")
    script = Path(__file__).resolve().parent / "train_throughput.py"
    command = [sys.executable, str(script), "--device", device.type, "--presets", "book-ae", "--steps", "200"]
    command += ["--warmup", "10", "--repeats", "1", "--max-images", "30000"]
    command += ["--cuda-graphs"] if graphs else []
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT / "src"), os.environ.get("PYTHONPATH")])))
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=400, env=env)
    except subprocess.TimeoutExpired:
        return Check(name, "FAIL", "no result within 400 s")
    print(f"\n$ {' '.join(command[1:])}\n{done.stdout.rstrip()}\n", flush=True)
    if done.returncode != 0:
        return Check(name, "FAIL", _last_line(done.stderr))
    return Check(name, "PASS", "measured; its table is above")


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "(nothing on stderr)"


# --- running them ---------------------------------------------------------------------------------


def checks_for(device: torch.device, skipped: set[str]) -> Iterator[tuple[str, Callable[[], Check | list[Check]]]]:
    """(name, check) in the order they run, leaving out ``skipped``."""
    plan = {
        "batches": lambda: check_batches(device),
        "eager": lambda: check_eager(device),
        "fused-adam": lambda: check_fused_adam(device),
        "graphs": lambda: check_graphs(device),
        "bf16": lambda: check_bf16(device),
        "monitor": lambda: check_monitor(device),
        "compile": lambda: check_compile(device),
        "resume": lambda: check_resume(device),
        "resume-graphs": lambda: check_resume(device, graphs=True),
        "ddp": lambda: check_ddp(device),
        "benchmark": lambda: (
            [run_benchmark(device, graphs=False), run_benchmark(device, graphs=True)]
            if device.type == "cuda"
            else skip("benchmark", "not in a dry run on the CPU")
        ),
    }
    return ((name, plan[name]) for name in CHECK_NAMES if name not in skipped)


def run_checks(device: torch.device, skipped: set[str]) -> list[Check]:
    """Every check, each printed as it finishes; an exception is that check's FAIL (traceback on stderr)."""
    results = []
    for name, check in checks_for(device, skipped):
        try:
            outcome = check()
        except Exception as exc:  # a crash of a feature is its failure; the other checks still run
            traceback.print_exc()
            outcome = Check(name, "FAIL", f"{type(exc).__name__}: {_last_line(str(exc)) if str(exc) else ''}")
        for result in outcome if isinstance(outcome, list) else [outcome]:
            print(result.line(), flush=True)
            results.append(result)
    return results


def summary(results: list[Check]) -> str:
    counts = {status: sum(r.status == status for r in results) for status in ("PASS", "FAIL", "SKIP")}
    text = f"{len(results)} checks: {counts['PASS']} passed, {counts['FAIL']} failed, {counts['SKIP']} skipped"
    graphs = [r for r in results if r.name.startswith("CUDA-graph") or r.name == "train + resume (graphs)"]
    if graphs and all(r.status == "PASS" for r in graphs):
        text += "\nCUDA graphs gave the eager step's numbers here: `vaelab train --cuda-graphs` may be used (opt-in)"
    return text


def describe(device: torch.device) -> str:
    python = ".".join(map(str, sys.version_info[:3]))
    if device.type != "cuda":
        return f"dry run on the CPU (nothing about CUDA is checked), PyTorch {torch.__version__}, Python {python}"
    props = torch.cuda.get_device_properties(device)
    return (
        f"{props.name} ({device}, compute capability {props.major}.{props.minor}, "
        f"{props.total_memory / 2**30:.0f} GiB), PyTorch {torch.__version__}, CUDA {torch.version.cuda}, "
        f"Python {python}"
    )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--device", choices=("cuda", "cpu"), default="cuda", help="cuda (default), or cpu for a dry run of the script"
    )
    parser.add_argument("--skip", default="", help=f"comma-separated checks to leave out, of: {', '.join(CHECK_NAMES)}")
    parser.add_argument("--ddp-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.skip = {name.strip() for name in args.skip.split(",") if name.strip()}
    unknown = args.skip - set(CHECK_NAMES)
    if unknown:
        parser.error(f"--skip: unknown checks {', '.join(sorted(unknown))}; known: {', '.join(CHECK_NAMES)}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        print(
            f"gpu_selfcheck: no CUDA device: PyTorch {torch.__version__} sees no GPU (torch.cuda.is_available() "
            f"is False; CUDA build: {torch.version.cuda or 'none'}); nothing was checked"
        )
        return NO_CUDA_STATUS
    device = torch.device("cuda", torch.cuda.current_device()) if args.device == "cuda" else torch.device("cpu")
    if args.ddp_child:
        print(json.dumps(dataclasses.asdict(ddp_child(device))))
        return 0
    print(f"vaelab GPU self-check: {describe(device)}", flush=True)
    started = time.perf_counter()
    results = run_checks(device, args.skip)
    print(f"\n{summary(results)} ({time.perf_counter() - started:.0f} s)")
    return 1 if any(r.status == "FAIL" for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
