"""Started by tests/test_every_preset.py under torchrun: one process of data-parallel training of every preset.

For each preset named on the command line, at the suite's tiny limits (``tiny_config`` and the data of
tests/test_every_preset.py, so the test can compare with its single-process runs), this process
trains ``ROOT/<preset>/straight`` for 2 epochs, and ``ROOT/<preset>/resumed`` for 1 epoch and then
``--resume`` to 2, exactly as ``vaelab train`` under torchrun does, and saves its final weights of
each to ``ROOT/<preset>/weights/<straight|resumed>-rank<r>.safetensors`` so that the test can check
that the processes agree and that the resumed run is the straight one.

The process group is joined once here, for all the presets (``train`` joins none when one is open),
so one torchrun job covers every preset.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import torch
import torch.distributed as dist
from safetensors.torch import save_file

sys.path.insert(0, str(Path(__file__).parent))

from test_every_preset import tiny_config, training_sets
from vaelab.training import train


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("root")
    parser.add_argument("--celeba", help="the synthetic faces in CelebA's layout (for book-faces)")
    parser.add_argument("presets", nargs="+")
    args = parser.parse_args()
    torch.set_num_threads(1)
    rank = int(os.environ["RANK"])
    dist.init_process_group("gloo")
    try:
        for preset in args.presets:
            folder = Path(args.root) / preset
            train_set, test_set = training_sets(preset)
            data = {"train_set": train_set, "test_set": test_set, "progress": False, "log": print}
            runs = {
                "straight": [tiny_config(preset, args.celeba)],
                "resumed": [tiny_config(preset, args.celeba, epochs=1), tiny_config(preset, args.celeba)],
            }
            for name, configs in runs.items():
                for number, config in enumerate(configs):
                    result = train(config, folder / name, resume=number > 0, **data)
                weights = {k: v.detach().contiguous() for k, v in result.model.state_dict().items()}
                (folder / "weights").mkdir(parents=True, exist_ok=True)
                save_file(weights, str(folder / "weights" / f"{name}-rank{rank}.safetensors"))
            print(f"rank {rank}: {preset} done", flush=True)
    finally:
        dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
