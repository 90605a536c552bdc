"""Which precision a run computes in (``train --precision fp32|bf16|auto``), and the machine facts
that decide it and that the run records.

``fp32`` and ``bf16`` are taken as asked. ``auto`` picks bf16 only when all three hold, and
otherwise fp32, and says which test decided:

1. the device has bf16 arithmetic (a GPU that supports it; a CPU whose oneDNN has bf16 kernels:
   AVX512-BF16 or AMX);
2. bf16 pays on it: the measured matrix-multiply peak in bf16 is at least :data:`BF16_MIN_GAIN`
   times the fp32 one (:func:`measure_peaks`, a fraction of a second, once per process);
3. the preset is in :data:`BF16_AGREES`: its bf16 runs were measured to end, in validation, within
   the spread of two fp32 seeds (``benchmarks/bf16_agreement.py``; the numbers are in
   ``docs/performance.md``). A preset that was not measured, or that drifted further, stays fp32.

Whatever the choice, :class:`MachineFacts` (the CPU's name, the device's, the peaks, the precision
computed in) goes into the run's ``config.json`` and each epoch's record in ``metrics.jsonl`` names
the precision and the device, so numbers from different machines are never mixed up.
"""

from __future__ import annotations

import functools
import platform
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from vaelab.choices import PRECISIONS
from vaelab.errors import ConfigError
from vaelab.training.execution import synchronize

#: ``auto`` takes bf16 only when its matrix-multiply peak is at least this multiple of fp32's: below
#: it the rounding is not worth the little it gains.
BF16_MIN_GAIN = 1.5

#: The presets whose validation numbers in bf16 were measured to stay within the spread of two fp32
#: seeds (``benchmarks/bf16_agreement.py``; ``docs/performance.md`` has the numbers). Only these may
#: run in bf16 under ``auto``.
BF16_AGREES: frozenset[str] = frozenset({"book-ae", "book-dae", "beta-vae", "cvae", "wae-mmd", "vq-vae"})

#: The side of the square matrices of the peak measurement: large enough to reach the kernels'
#: speed, small enough to take well under a second on two CPU cores.
PEAK_SIZE = {"cpu": 1024, "cuda": 8192}


@dataclass(frozen=True)
class MachineFacts:
    """What a run was computed on: the CPU's name, the device's (the GPU's name on CUDA, else
    ``cpu``), the torch version and thread count, and the measured matrix-multiply peaks in
    GFLOP/s by precision (empty when not measured: ``fp32`` and ``bf16`` are taken as asked
    without measuring)."""

    cpu: str
    device: str
    torch: str
    threads: int
    peaks_gflops: dict[str, float]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def describe(self) -> str:
        """``AMD EPYC (cpu)``, ``Intel(R) Xeon(R) … (NVIDIA H200)``: the CPU and the device."""
        return f"{self.cpu} ({self.device})"


@dataclass(frozen=True)
class PrecisionChoice:
    """The precision a run computes in, what was asked for, why, and the machine it was decided on."""

    precision: str
    requested: str
    reason: str
    machine: MachineFacts

    def describe(self) -> str:
        """One line for the run's log."""
        if self.requested == self.precision:
            return f"precision {self.precision}"
        return f"precision {self.precision} (--precision {self.requested}: {self.reason})"

    def to_dict(self) -> dict[str, Any]:
        """The record ``config.json`` keeps under ``"machine"``."""
        return {"precision": self.precision, "requested": self.requested, "reason": self.reason} | (
            self.machine.to_dict()
        )


def check_precision(value: object) -> None:
    """A :class:`ConfigError` unless ``value`` is one of :data:`PRECISIONS`."""
    if value not in PRECISIONS:
        raise ConfigError(f"--precision must be one of {', '.join(PRECISIONS)}, got {value!r}")


def choose_precision(requested: str, preset: str, device: torch.device) -> PrecisionChoice:
    """The precision of a run of ``preset`` on ``device`` (see the module docstring)."""
    check_precision(requested)
    if requested != "auto":
        return PrecisionChoice(requested, requested, "asked for", machine_facts(device, measure=False))
    bf16 = has_bf16(device)
    machine = machine_facts(device, measure=bf16)  # the peaks only where bf16 is possible at all
    if not bf16:
        return PrecisionChoice("fp32", requested, f"{machine.device} has no bf16 arithmetic", machine)
    gain = machine.peaks_gflops["bf16"] / machine.peaks_gflops["fp32"]
    if gain < BF16_MIN_GAIN:
        return PrecisionChoice(
            "fp32", requested, f"bf16 multiplies matrices only {gain:.1f}× as fast as fp32 here", machine
        )
    if preset not in BF16_AGREES:
        return PrecisionChoice(
            "fp32",
            requested,
            f"{preset}'s numbers in bf16 are not known to stay within the spread of fp32 seeds",
            machine,
        )
    return PrecisionChoice(
        "bf16", requested, f"{gain:.1f}× fp32's matrix speed, and {preset}'s numbers agree with fp32's", machine
    )


def has_bf16(device: torch.device) -> bool:
    """Whether ``device`` has bf16 arithmetic that PyTorch uses: a GPU that supports it, or a CPU whose
    oneDNN has bf16 kernels (AVX512-BF16 or AMX)."""
    if device.type == "cuda":
        return bool(torch.cuda.is_bf16_supported())
    if device.type != "cpu":
        return False
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def machine_facts(device: torch.device, measure: bool) -> MachineFacts:
    """The facts :class:`MachineFacts` holds, with the peaks when ``measure``."""
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else device.type
    peaks = measure_peaks(device, torch.get_num_threads()) if measure else {}
    return MachineFacts(cpu_name(), name, torch.__version__, torch.get_num_threads(), dict(peaks))


def cpu_name() -> str:
    """The CPU's model name (``/proc/cpuinfo`` on Linux), or ``unknown``."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


@functools.cache
def measure_peaks(device: torch.device, threads: int) -> dict[str, float]:
    """The best GFLOP/s of a square matrix product in fp32 and in bf16 on ``device`` with ``threads``
    threads (measured once per process and device)."""
    return {name: round(matmul_peak(device, dtype, PEAK_SIZE[device.type]), 1) for name, dtype in _DTYPES.items()}


_DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}


def matmul_peak(device: torch.device, dtype: torch.dtype, size: int, trials: int = 5, products: int = 4) -> float:
    """The best GFLOP/s of ``products`` products of two ``size``² matrices in ``dtype``, over ``trials``
    timed trials after one warm-up: what the device's arithmetic does when nothing else limits it."""
    generator = torch.Generator().manual_seed(0)
    a = torch.randn(size, size, generator=generator).to(device=device, dtype=dtype)
    b = torch.randn(size, size, generator=generator).to(device=device, dtype=dtype)
    best = float("inf")
    for trial in range(trials + 1):
        synchronize(device)
        start = time.perf_counter()
        for _ in range(products):
            torch.mm(a, b)
        synchronize(device)
        if trial:  # the first trial warms the kernels up
            best = min(best, (time.perf_counter() - start) / products)
    return 2 * size**3 / best / 1e9
