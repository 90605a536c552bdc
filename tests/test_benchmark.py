"""The training-throughput benchmark script: its FLOP count, its summary arithmetic, and one tiny run."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "train_throughput.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("train_throughput", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def book_ae_training_flops_per_image() -> int:
    """book-ae's training FLOPs per image counted by hand from the book's layers (Generative Deep
    Learning, 2nd ed., ch. 3; vaelab builds them in src/vaelab/models/conv_encoder.py and conv_decoder.py).

    Multiply-accumulates of the forward pass per layer (output positions × kernel taps × input
    channels × output channels); training costs 3 forward passes (forward, input gradient, weight
    gradient), 2 FLOPs per MAC, except that the first convolution's input gradient is never needed.
    """
    conv1 = 16 * 16 * 9 * 1 * 32
    forward = (
        conv1
        + 8 * 8 * 9 * 32 * 64  # conv 32 → 64, 16×16 → 8×8
        + 4 * 4 * 9 * 64 * 128  # conv 64 → 128, 8×8 → 4×4
        + 2048 * 2  # dense to the 2-D latent space
        + 2 * 2048  # dense back
        + 4 * 4 * 9 * 128 * 128  # transposed conv 128 → 128, 4×4 → 8×8 (per input position)
        + 8 * 8 * 9 * 128 * 64  # transposed conv 128 → 64, 8×8 → 16×16
        + 16 * 16 * 9 * 64 * 32  # transposed conv 64 → 32, 16×16 → 32×32
        + 32 * 32 * 9 * 32 * 1  # conv 32 → 1 at 32×32
    )
    return 2 * (3 * forward - conv1)


def test_step_flops_match_a_hand_count(bench):
    assert bench.step_flops("book-ae", 4) == 4 * book_ae_training_flops_per_image()


def _row(loop: str, step_ms: float) -> dict:
    return {
        "preset": "book-ae",
        "loop": loop,
        "data": "synthetic",
        "step_ms": step_ms,
        "images_per_second": 100 / (step_ms / 1000),
        "images_per_cpu_second": 50 / (step_ms / 1000),
        "peak_memory_bytes": 2**20,
        "epoch_seconds_60k": 600 * step_ms / 1000,
    }


def test_summary_holds_each_loop_to_its_precisions_peak(bench):
    ceiling = {"gflop_per_step": {"book-ae": 10.0}, "matmul_peak_gflop_per_second": {"fp32": 200.0, "bf16": 400.0}}
    rows = [_row("vaelab", 50.0), _row("vaelab", 40.0), _row("vaelab", 60.0), _row("reference", 100.0)]
    (entry,) = bench.summarise(rows, ceiling, "bf16")
    assert entry["vaelab"]["step_ms"] == 50.0  # the median
    assert entry["ratio"] == pytest.approx(2.0)
    assert entry["vaelab"]["gflop_per_second"] == pytest.approx(200.0)
    assert entry["vaelab"]["fraction_of_matmul_peak"] == pytest.approx(0.5)  # of the bf16 peak
    assert entry["reference"]["fraction_of_matmul_peak"] == pytest.approx(0.5)  # 100 GFLOP/s of fp32's 200
    assert entry["step_ms_at_peak"] == pytest.approx(25.0)
    assert entry["ratio_at_peak"] == pytest.approx(4.0)
    text = bench.table([entry], "cpu", ceiling["matmul_peak_gflop_per_second"], "bf16")
    assert "4.00× the reference" in text


@pytest.mark.slow
def test_a_tiny_run_writes_consistent_json(tmp_path):
    out = tmp_path / "bench.json"
    done = subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            "--presets",
            "book-ae",
            "--steps",
            "2",
            "--warmup",
            "1",
            "--repeats",
            "1",
            "--threads",
            "1",
            "--max-images",
            "300",
            "--output",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(out.read_text())
    (entry,) = result["summary"]
    assert {row["loop"] for row in result["measurements"]} == {"vaelab", "reference"}
    assert entry["ratio"] == pytest.approx(
        entry["vaelab"]["images_per_second"] / entry["reference"]["images_per_second"]
    )
    assert result["ceiling"]["matmul_peak_gflop_per_second"]["fp32"] > 0
    assert 0 < entry["vaelab"]["fraction_of_matmul_peak"] < 1.5
    assert "book-ae" in done.stdout


def test_a_bad_preset_is_one_line(tmp_path):
    done = subprocess.run([sys.executable, str(SCRIPT), "--presets", "no-such"], capture_output=True, text=True)
    assert done.returncode == 1
    assert done.stderr.startswith("train_throughput: error:") and "no-such" in done.stderr


# ---- the explorer's memory benchmark ------------------------------------------------------------

MEMORY_SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "explorer_memory.py"
REAL_TEST_IMAGES = Path("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz")


@pytest.mark.slow
@pytest.mark.realdata
@pytest.mark.skipif(not REAL_TEST_IMAGES.exists(), reason="Fashion-MNIST is not installed (the server embeds it)")
def test_explorer_memory_benchmark_finds_the_server_on_its_few_threads(tmp_path, trained_run):
    """The script starts the real server, fires its mix twice; the server answers everything with
    its few worker threads (before the fix: one of anyio's 40 threads per concurrent request)."""
    from vaelab.presentation.explorer.app import WORKERS

    out = tmp_path / "memory.json"
    done = subprocess.run(
        [
            sys.executable,
            str(MEMORY_SCRIPT),
            "--run-dir",
            str(trained_run.dir.path),
            "--requests",
            "60",
            "--rounds",
            "2",
            "--points",
            "300",
            "--output",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads(out.read_text())
    assert [row["statuses"] for row in result["rounds"]] == [{"200": 60}] * 2
    before = result["before"]
    assert before["rss_mb"] > 50 and before["peak_rss_mb"] >= before["rss_mb"]
    for row in result["rounds"] + [result["idle_after"]]:
        assert row["threads"] <= before["threads"] + WORKERS * (os.cpu_count() or 1) + 2, row
    assert "round 2: 60 requests" in done.stdout


def test_family_speed_times_every_family_it_is_given_against_the_baseline(tmp_path):
    """benchmarks/family_speed.py end to end on four presets (one conditional, IWAE, one on RGB faces):
    every row is measured, the ratios divide by the baseline's own medians, the baseline's ratio is 1,
    IWAE's is also given per decoder pass, and the faces preset is not held to the target; the CPU and
    its peaks head the output."""
    out = tmp_path / "families.json"
    script = SCRIPT.parent / "family_speed.py"
    presets = "book-vae,cvae,iwae,faces-64"
    command = [sys.executable, str(script), "--presets", presets, "--steps", "2", "--warmup", "1", "--no-prior"]
    command += ["--repeats", "1", "--images", "300", "--threads", "1", "--output", str(out)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    result = json.loads(out.read_text())
    assert [row["preset"] for row in result["measurements"]] == presets.split(",")
    base, cvae, iwae, faces = result["summary"]
    assert base["time_ratio"] == pytest.approx(1.0) and base["cpu_time_ratio"] == pytest.approx(1.0)
    assert cvae["time_ratio"] == pytest.approx(base["images_per_second"] / cvae["images_per_second"])
    assert iwae["decoder_passes"] == 5 and iwae["time_ratio_per_pass"] == pytest.approx(iwae["time_ratio"] / 5)
    assert faces["within_2x"] is None and isinstance(cvae["within_2x"], bool)
    assert result["machine"]["matmul_peak_gflop_per_second"]["fp32"] > 0 and result["prior"] is None
    assert "| cvae |" in done.stdout and "(k = 5)" in done.stdout and "matmul peak fp32" in done.stdout


def test_family_speed_refuses_a_baseline_it_does_not_measure():
    script = SCRIPT.parent / "family_speed.py"
    done = subprocess.run(
        [sys.executable, str(script), "--presets", "cvae", "--baseline", "book-vae"], capture_output=True, text=True
    )
    assert done.returncode == 2 and "--baseline book-vae must be one of --presets" in done.stderr


def _script(name: str):
    path = SCRIPT.parent / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_bf16_agreement_holds_the_shift_to_the_fp32_seeds_range():
    bench = _script("bf16_agreement")
    close = bench.verdict([0.2600, 0.2610], [0.2608, 0.2609])  # shift 0.00035, range 0.001
    assert close["agrees"] and close["shift"] == pytest.approx(0.00035) and close["fp32_range"] == pytest.approx(0.001)
    far = bench.verdict([265.0, 265.2], [266.0, 266.4])  # shift 1.1 nats, range 0.2
    assert not far["agrees"] and far["relative_shift"] == pytest.approx(1.1 / 265.1)
    with pytest.raises(SystemExit):
        bench.parse_args(["--seeds", "0"])  # one seed has no spread


def test_keras_comparison_prepares_the_books_images_and_reads_vaelabs_speed(tmp_path):
    import gzip

    import numpy as np

    bench = _script("keras_book_ae")
    images = np.arange(3 * 28 * 28, dtype=np.uint32).reshape(3, 28, 28).astype(np.uint8)
    header = b"".join(v.to_bytes(4, "big") for v in (2051, 3, 28, 28))
    (tmp_path / "images.gz").write_bytes(gzip.compress(header + images.tobytes()))
    read = bench.idx_images(tmp_path / "images.gz", 2)
    assert np.array_equal(read, images[:2])
    x = bench.book_images(read)
    assert x.shape == (2, 32, 32, 1) and x.dtype == np.float32 and x[:, :2].max() == 0.0
    assert np.allclose(x[:, 2:30, 2:30, 0], images[:2] / 255.0)
    (tmp_path / "labels.gz").write_bytes(gzip.compress((2049).to_bytes(4, "big") + bytes(4)))
    with pytest.raises(SystemExit, match="not an IDX image file"):
        bench.idx_images(tmp_path / "labels.gz")
    log = "epoch 1/2: train loss 0.3 (bce_nats 232.4; 5.5 s, 2400 images/s)\nepoch 2/2: … (…; 5.0 s, 2600 images/s)\n"
    assert bench.vaelab_speed(log) == 2500 and bench.vaelab_speed("no epochs") is None
