"""The CUDA path gives the eager step's numbers (tests marked ``gpu``: skipped without a CUDA device),
and the GPU self-check script (benchmarks/gpu_selfcheck.py) that checks it on any machine with a GPU.

The steps are built and run by the script's own helpers, so the tests and the script check the same
thing; the tolerances are the script's (see its SAME_KERNELS and OTHER_ROUNDING).
"""

from __future__ import annotations

import importlib.util
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "gpu_selfcheck.py"
CUDA, CPU = torch.device("cuda"), torch.device("cpu")


@pytest.fixture(scope="module")
def selfcheck():
    spec = importlib.util.spec_from_file_location("gpu_selfcheck", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def assert_within(mine, expected, tolerance) -> None:
    """Loss sums within ``tolerance.sums`` relative, every weight within ``tolerance.weights``."""
    torch.testing.assert_close(mine.sums, expected.sums, rtol=tolerance.sums, atol=0)
    assert mine.weights.keys() == expected.weights.keys()
    for name, weights in expected.weights.items():
        torch.testing.assert_close(mine.weights[name], weights, rtol=0, atol=tolerance.weights, msg=name)


# ---- on a GPU ------------------------------------------------------------------------------------


@pytest.mark.gpu
@pytest.mark.parametrize(("preset", "precision"), [("book-ae", "fp32"), ("book-vae", "fp32"), ("book-ae", "bf16")])
def test_the_graphed_step_gives_the_eager_steps_numbers(selfcheck, preset, precision):
    """3 eager warm-up steps, the capture, replays and an eager short batch against eager steps; book-vae's
    random draws come from the graph-safe generator, so they are the eager step's too."""
    graphed, step = selfcheck.few_steps(preset, CUDA, graphs=True, precision=precision, log=pytest.fail)
    eager, _ = selfcheck.few_steps(preset, CUDA, precision=precision)
    assert step.graph is not None and not step.failed
    assert_within(graphed, eager, selfcheck.SAME_KERNELS)


@pytest.mark.gpu
def test_fused_adam_gives_foreach_adams_numbers(selfcheck):
    fused, _ = selfcheck.few_steps("book-ae", CUDA, adam="fused")
    foreach, _ = selfcheck.few_steps("book-ae", CUDA, adam="foreach")
    assert_within(fused, foreach, selfcheck.OTHER_ROUNDING)


@pytest.mark.gpu
def test_the_no_wait_monitor_reads_what_a_synchronous_read_did_one_check_before(selfcheck):
    values, synchronous = selfcheck.monitor_reads(CUDA)
    assert len(values) == 3 and values[0] is None
    assert values[1:] == synchronous[:-1]  # exactly: the same float64 sums, copied without waiting


@pytest.mark.gpu
def test_the_eager_cuda_step_gives_the_cpus_numbers_in_full_fp32(selfcheck):
    with selfcheck.full_fp32():
        mine, _ = selfcheck.few_steps("book-ae", CUDA, adam="foreach")
    host, _ = selfcheck.few_steps("book-ae", CPU, adam="foreach")
    assert_within(mine, host, selfcheck.OTHER_ROUNDING)


@pytest.mark.gpu
@pytest.mark.parametrize("graphs", [False, True])
def test_a_cuda_run_resumes_bit_for_bit(selfcheck, graphs):
    result = selfcheck.check_resume(CUDA, graphs=graphs)
    assert result.status == "PASS", result.detail


# ---- anywhere ------------------------------------------------------------------------------------


def _run_script(*args: str, hide_gpus: bool = False) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS="1")  # steadier on a busy machine; numbers are compared in-process
    if hide_gpus:
        env["CUDA_VISIBLE_DEVICES"] = ""
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, env=env, timeout=600)


def test_without_a_cuda_device_the_selfcheck_says_so_and_exits_2():
    done = _run_script(hide_gpus=True)
    assert done.returncode == 2, done.stdout + done.stderr
    (line,) = done.stdout.strip().splitlines()
    assert line.startswith("gpu_selfcheck: no CUDA device:") and "nothing was checked" in line


def test_an_unknown_check_to_skip_is_a_usage_error():
    done = _run_script("--skip", "graphs,warp-drive", hide_gpus=True)
    assert done.returncode == 2 and "unknown checks warp-drive" in done.stderr


@pytest.mark.slow
def test_a_dry_run_on_the_cpu_passes_what_applies_and_skips_the_rest():
    done = _run_script("--device", "cpu", hide_gpus=True)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    status = {match[2]: match[1] for line in lines if (match := re.match(r"(PASS|FAIL|SKIP) +(.+?) {2,}", line))}
    passed = ["device batches", "eager step", "fused Adam", "bf16 autocast", "no-wait loss monitor"]
    assert all(status[name] == "PASS" for name in [*passed, "train + resume", "DDP, 1 process"]), status
    skipped = ["CUDA-graph step fp32", "CUDA-graph step bf16", "torch.compile", "train + resume (graphs)", "benchmark"]
    assert all(status[name] == "SKIP" for name in skipped), status
    assert lines[-1].startswith("12 checks: 7 passed, 0 failed, 5 skipped")


def test_a_comparison_fails_beyond_its_tolerance(selfcheck):
    tolerance = selfcheck.SAME_KERNELS
    expected = selfcheck.Outcome(torch.tensor([120.0, 2.0], dtype=torch.float64), {"w": torch.zeros(3)})

    def status(sums, weights):
        mine = selfcheck.Outcome(torch.tensor(sums, dtype=torch.float64), {"w": torch.tensor(weights)})
        return selfcheck.compare("x", mine, expected, tolerance, "test").status

    assert status([120.0, 2.0], [0.0, 0.0, 0.0]) == "PASS"
    assert status([120.0 * (1 + tolerance.sums / 2), 2.0], [0.0, tolerance.weights / 2, 0.0]) == "PASS"
    assert status([120.0, 2.0 * (1 + 2 * tolerance.sums)], [0.0, 0.0, 0.0]) == "FAIL"
    assert status([120.0, 2.0], [0.0, 0.0, -2 * tolerance.weights]) == "FAIL"
    assert status([math.nan, 2.0], [0.0, 0.0, 0.0]) == "FAIL"
    assert selfcheck.largest_difference({"w": torch.zeros(3)}, {"w": torch.zeros(4)}) == math.inf


def test_the_monitor_check_fails_for_a_monitor_that_reads_the_wrong_sums(selfcheck, monkeypatch):
    assert selfcheck.check_monitor(CPU).status == "PASS"
    from vaelab.training import monitor

    monkeypatch.setattr(monitor.RunningLoss, "read", lambda self, images: self.sums[0].item() / (images + 1))
    assert selfcheck.check_monitor(CPU).status == "FAIL"
