"""Data-parallel training: shards, loss scaling, and real 2-process runs under torchrun (gloo, CPU)."""

import itertools
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from conftest import small_config
from vaelab.errors import ConfigError
from vaelab.models import build_model
from vaelab.training import RunDir, train
from vaelab.training.distributed import ProcessGroup, SingleProcess, from_environment
from vaelab.training.execution import choose_execution
from vaelab.training.objectives import make_objective
from vaelab.training.step import TrainStep

WORKER = Path(__file__).parent / "distributed_worker.py"
SRC = Path(__file__).parents[1] / "src"
QUIET = {"progress": False, "log": lambda s: None}


@pytest.mark.parametrize("world_size", [1, 2, 3, 4])
@pytest.mark.parametrize("count", [1, 2, 5, 20, 99, 100])
def test_shards_split_a_global_batch_into_near_equal_contiguous_parts(world_size, count):
    bounds = [ProcessGroup(rank, world_size, rank).shard(count) for rank in range(world_size)]
    assert bounds[0][0] == 0 and bounds[-1][1] == count
    assert all(end == begin for (_, end), (begin, _) in itertools.pairwise(bounds))
    sizes = [end - begin for begin, end in bounds]
    assert max(sizes) - min(sizes) <= 1 and sizes == sorted(sizes, reverse=True)


def test_environment_decides_single_or_several_processes():
    assert isinstance(from_environment({}), SingleProcess)
    assert isinstance(from_environment({"WORLD_SIZE": "1", "RANK": "0"}), SingleProcess)
    group = from_environment({"WORLD_SIZE": "4", "RANK": "2", "LOCAL_RANK": "0"})
    assert (group.rank, group.world_size, group.local_rank, group.is_main) == (2, 4, 0, False)
    with pytest.raises(ConfigError, match="torchrun"):
        from_environment({"WORLD_SIZE": "2"})
    with pytest.raises(ConfigError, match="outside"):
        from_environment({"WORLD_SIZE": "2", "RANK": "2"})


@pytest.mark.parametrize("count", [5, 1])
def test_scaled_shard_steps_average_to_the_global_batch_step(count, train_images):
    """What DDP computes: the mean over ranks of each rank's (scaled) gradient step equals the step
    of one process on the whole batch — also with unequal slices and with an empty one."""
    batch = torch.from_numpy(train_images.images[:count])
    objective = make_objective("bce")
    execution = choose_execution(torch.device("cpu"), channels_last=False)

    def sgd_update(shard, world_size):
        torch.manual_seed(0)
        model = build_model(small_config().model)
        before = [p.detach().clone() for p in model.parameters()]
        step = TrainStep(
            model, torch.optim.SGD(model.parameters(), lr=1.0), objective, execution, shard=shard, world_size=world_size
        )
        step(batch)
        return [p.detach() - b for p, b in zip(model.parameters(), before, strict=True)]

    whole = sgd_update(SingleProcess().shard, 1)
    parts = [sgd_update(ProcessGroup(rank, 2, rank).shard, 2) for rank in range(2)]
    for full, first, second in zip(whole, *parts, strict=True):
        torch.testing.assert_close((first + second) / 2, full, rtol=1e-4, atol=1e-7)


def torchrun(*args, timeout=180, worker=WORKER):
    """Run ``worker`` with ``args`` in 2 processes under torchrun (gloo, CPU); the finished process."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(SRC), os.environ.get("PYTHONPATH")])))
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc-per-node",
        "2",
        str(worker),
        *map(str, args),
    ]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=timeout)


@pytest.fixture(scope="module")
def two_process_run(tmp_path_factory):
    """book-ae, 2 epochs of 12 global batches of 20, trained by 2 gloo processes."""
    root = tmp_path_factory.mktemp("ddp")
    done = torchrun(root / "run", root / "weights")
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    return root


@pytest.mark.slow
def test_two_processes_train_like_one(two_process_run, tmp_path, train_images, test_images):
    root = two_process_run
    rank0, rank1 = (load_file(str(root / "weights" / f"rank{r}.safetensors")) for r in (0, 1))
    assert all(torch.equal(rank0[k], rank1[k]) for k in rank0), "the processes' weights differ"

    single = train(small_config(epochs=2), tmp_path / "single", train_set=train_images, test_set=test_images, **QUIET)
    for name, tensor in single.model.state_dict().items():
        torch.testing.assert_close(rank0[name], tensor, rtol=0, atol=2e-3)  # Adam near zero gradients
    rows = RunDir(root / "run").read_metrics()
    assert [r["epoch"] for r in rows] == [1, 2]
    for mine, theirs in zip(rows, single.history, strict=True):
        for part in ("train", "val"):
            for term, value in theirs[part].items():
                assert mine[part][term] == pytest.approx(value, rel=1e-5), (part, term)
    # Rank 0 alone wrote: the usual files, nothing else.
    assert sorted(p.name for p in (root / "run").iterdir()) == [
        "checkpoint.safetensors",
        "config.json",
        "metrics.jsonl",
        "model.safetensors",
    ]


@pytest.mark.slow
def test_two_processes_in_host_placement_train_as_in_device_placement(two_process_run, tmp_path):
    """Each process reads its batches from a memory-mapped file: the same weights and metrics, bitwise."""
    done = torchrun(tmp_path / "run", tmp_path / "weights", "--placement", "host")
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    assert "images kept on the host" in done.stdout
    for rank in (0, 1):
        mine = load_file(str(tmp_path / "weights" / f"rank{rank}.safetensors"))
        theirs = load_file(str(two_process_run / "weights" / f"rank{rank}.safetensors"))
        assert all(torch.equal(mine[k], theirs[k]) for k in mine), f"rank {rank}"
    strip = lambda rows: [{k: r[k] for k in ("epoch", "train", "val")} for r in rows]  # noqa: E731
    assert strip(RunDir(tmp_path / "run").read_metrics()) == strip(RunDir(two_process_run / "run").read_metrics())


@pytest.mark.slow
def test_all_processes_stop_together_and_resume_exactly(two_process_run, tmp_path):
    straight = two_process_run
    run, weights = tmp_path / "run", tmp_path / "weights"
    # Only rank 1 "presses Ctrl-C", at its 4th look at the flag (checks at batches 4 and 8 of epoch 1, the
    # end of epoch 1, then epoch 2, batch 4); both must stop there.
    cut = torchrun(run, weights, "--check-every", 4, "--stop-rank", 1, "--stop-after", 4)
    assert cut.returncode != 0
    assert "interrupted at epoch 2, batch 4; checkpoint saved" in cut.stdout, cut.stdout[-2000:] + cut.stderr[-2000:]
    assert "rank 1: interrupted at epoch 2, batch 4" in cut.stdout
    assert len(RunDir(run).read_metrics()) == 1

    resumed = torchrun(run, weights, "--resume", "--check-every", 4)
    assert resumed.returncode == 0, resumed.stdout[-2000:] + resumed.stderr[-3000:]
    strip = lambda rows: [{k: r[k] for k in ("epoch", "train", "val")} for r in rows]  # noqa: E731
    assert strip(RunDir(run).read_metrics()) == strip(RunDir(straight / "run").read_metrics())
    for rank in (0, 1):
        mine = load_file(str(weights / f"rank{rank}.safetensors"))
        theirs = load_file(str(straight / "weights" / f"rank{rank}.safetensors"))
        assert all(torch.equal(mine[k], theirs[k]) for k in mine), f"rank {rank}"
    config = json.loads((run / "config.json").read_text())
    assert config["batch_size"] == 20  # the global batch


@pytest.mark.slow
def test_a_stop_at_an_epochs_end_stops_every_process_there_and_resumes_exactly(two_process_run, tmp_path):
    run, weights = tmp_path / "run", tmp_path / "weights"
    # Rank 1's 3rd look at the flag is the end of epoch 1 (after checks at batches 4 and 8).
    cut = torchrun(run, weights, "--check-every", 4, "--stop-rank", 1, "--stop-after", 3)
    assert cut.returncode != 0
    for rank in (0, 1):
        assert f"rank {rank}: interrupted at the end of epoch 1; checkpoint saved" in cut.stdout, cut.stdout[-2000:]
    assert len(RunDir(run).read_metrics()) == 1 and RunDir(run).weights_record().epoch == 1
    resumed = torchrun(run, weights, "--resume", "--check-every", 4)
    assert resumed.returncode == 0, resumed.stdout[-2000:] + resumed.stderr[-3000:]
    for rank in (0, 1):
        mine = load_file(str(weights / f"rank{rank}.safetensors"))
        theirs = load_file(str(two_process_run / "weights" / f"rank{rank}.safetensors"))
        assert all(torch.equal(mine[k], theirs[k]) for k in mine), f"rank {rank}"
