"""Started by tests/test_distributed.py under torchrun: one process of a data-parallel training run.

It calls :func:`vaelab.training.train` exactly as ``vaelab train`` does, on the small synthetic
sets of tests/conftest.py (so a single-process run in the test can be compared with it), and
saves this process's final weights to ``WEIGHTS_DIR/rank<r>.safetensors`` so the test can check
that the ranks agree. ``--stop-rank R --stop-after N`` makes rank R alone "press Ctrl-C" at its
N-th poll of the stop flag, to test that all processes agree to stop at the same step.
``--tensorboard`` logs the run for TensorBoard into RUN_DIR/tensorboard, as ``train --tensorboard`` does.
``--placement host`` maps the sets from files (one per process) and reads batches from them, as a run on
the image cache with ``--data-placement host`` does.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file

sys.path.insert(0, str(Path(__file__).parent))

from synthetic import synthetic_images
from vaelab.training import RunConfig, TensorBoardOptions, TrainingInterrupted, train
from vaelab.training import trainer as trainer_module


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("run_dir")
    parser.add_argument("weights_dir")
    parser.add_argument("--preset", default="book-ae")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--check-every", type=int, default=trainer_module.CHECK_EVERY)
    parser.add_argument("--stop-rank", type=int)
    parser.add_argument("--stop-after", type=int)
    parser.add_argument("--tensorboard", action="store_true")
    parser.add_argument("--placement", default="auto")
    args = parser.parse_args()
    torch.set_num_threads(1)
    rank = int(os.environ["RANK"])
    trainer_module.CHECK_EVERY = args.check_every
    if args.stop_rank == rank:
        polls = {"n": 0}

        def stop_requested(self):
            polls["n"] += 1
            return polls["n"] >= args.stop_after

        trainer_module.StopRequest.__bool__ = stop_requested
    config = RunConfig.from_preset(
        args.preset,
        epochs=args.epochs,
        batch_size=20,
        lr=2e-3,
        seed=0,
        device="cpu",
        data_placement=args.placement,
    )
    train_set, test_set = synthetic_images(240, seed=0), synthetic_images(80, seed=1)
    if args.placement == "host":
        train_set, test_set = (
            _mapped(s, Path(args.weights_dir) / f"{s.name}-{n}-rank{rank}.u8")
            for n, s in enumerate((train_set, test_set))
        )
    try:
        result = train(
            config,
            args.run_dir,
            resume=args.resume,
            train_set=train_set,
            test_set=test_set,
            progress=False,
            log=print,
            tensorboard=TensorBoardOptions(every=4) if args.tensorboard else None,
        )
    except TrainingInterrupted as exc:
        print(f"rank {rank}: {exc}")
        return 130
    weights = {k: v.detach().contiguous() for k, v in result.model.state_dict().items()}
    Path(args.weights_dir).mkdir(parents=True, exist_ok=True)
    save_file(weights, str(Path(args.weights_dir) / f"rank{rank}.safetensors"))
    print(f"rank {rank}: done, main={result.is_main}, epochs in history: {len(result.history)}")
    return 0


def _mapped(images, path: Path):
    """``images`` with its array written to ``path`` and memory-mapped back read-only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    images.images.tofile(path)
    mapped = np.memmap(path, dtype=np.uint8, mode="r", shape=images.images.shape)
    return dataclasses.replace(images, images=mapped)


if __name__ == "__main__":
    sys.exit(main())
