"""Started by tests/test_study.py under torchrun: one process of a tiny study.

Every process calls :func:`vaelab.workflows.study.run_study` exactly as ``vaelab study`` does, on the small
synthetic sets of tests/conftest.py and with the tiny judge saved in JUDGE_DIR; the processes train each
run together and rank 0 alone measures and writes. Each process writes ``RANK.json`` into REPORT_DIR: what
the study returned to it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import replace
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))

from synthetic import synthetic_images
from test_study import TINY
from vaelab.evaluation.judge import load_judge
from vaelab.workflows.study import run_study

#: The tests' tiny study at latent 2 only: small enough for two processes on a busy 2-core machine.
PROTOCOL = replace(TINY, name="torchrun", latent_dims=(2,))


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("output")
    parser.add_argument("judge_dir")
    parser.add_argument("report_dir")
    args = parser.parse_args()
    torch.set_num_threads(1)
    result = run_study(
        args.output,
        protocol=PROTOCOL,
        train_set=synthetic_images(240, seed=0),
        test_set=synthetic_images(80, seed=1),
        judge=load_judge("cpu", args.judge_dir),
        device="cpu",
        progress=False,
    )
    report = {"is_main": result.is_main, "written": [str(p) for p in result.written], "skipped": result.skipped}
    Path(args.report_dir, f"{os.environ['RANK']}.json").write_text(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
