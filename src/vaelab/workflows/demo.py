"""``vaelab demo``: train the book's models on the real data and write every figure."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from vaelab.errors import RunDirError
from vaelab.folders import check_folder_possible
from vaelab.presentation.attribute_report import write_attribute_tour
from vaelab.presentation.report import write_all
from vaelab.training import RunDir, load_run, prepare_config, train

#: The presets the demo trains, in order.
DEMO_PRESETS = ("book-ae", "book-vae", "book-dae")

#: Latent arithmetic and morphing the demo shows, per preset: (attribute class, against class).
DEMO_ATTRIBUTES = {"book-vae": ("Sneaker", "Sandal")}


def run_demo(
    output: str | Path = "runs/demo",
    *,
    data_dir: str | None = None,
    device: str = "auto",
    epochs: int | None = None,
    limit_train: int | None = None,
    limit_test: int | None = None,
    progress: bool = True,
    log: Callable[[str], None] = print,
) -> dict[str, list[Path]]:
    """Train each demo preset in ``output/<preset>`` and write its figures (for book-vae also
    the Sneaker − Sandal attribute vector, its arithmetic grid and a Sandal → Sneaker morph).

    A run already there is resumed (so an interrupted demo continues and a finished one only
    redraws its figures). Returns the files written, per preset.
    """
    check_folder_possible(output, RunDirError, "choose another --output")
    written: dict[str, list[Path]] = {}
    for preset in DEMO_PRESETS:
        started = time.perf_counter()
        run_dir = RunDir(Path(output) / preset)
        resume = run_dir.checkpoint.exists()
        overrides = {"epochs": epochs, "device": device, "data_dir": data_dir}
        if resume:
            check_same_data(run_dir, limit_train, limit_test)
        else:
            overrides |= {"limit_train": limit_train, "limit_test": limit_test}
        config = prepare_config(run_dir, preset, resume, **overrides)
        log(f"{preset}: {'resuming' if resume else 'training'} in {run_dir} ({config.epochs} epochs)")
        train(config, run_dir, resume=resume, progress=progress, log=log)
        run = load_run(run_dir.path, device)
        test_set = run.test_set(data_dir)
        written[preset] = write_all(run, test_set)
        if preset in DEMO_ATTRIBUTES:
            written[preset] += write_attribute_tour(run, test_set, *DEMO_ATTRIBUTES[preset], data_dir=data_dir)
        log(f"{preset}: done in {time.perf_counter() - started:.0f} s; figures in {run_dir.figures}")
    return written


def check_same_data(run_dir: RunDir, limit_train: int | None, limit_test: int | None) -> None:
    """A RunDirError unless the run in ``run_dir`` was trained on the data this demo asks for
    (the same ``--limit-train`` and ``--limit-test``; ``None`` is the full split), so that a quick
    look with limits is never passed off as the full demo, nor the other way round."""
    saved = run_dir.read_config()
    had, asked = _data_words(saved.limit_train, saved.limit_test), _data_words(limit_train, limit_test)
    if had != asked:
        raise RunDirError(
            f"{run_dir} holds a demo run trained on {had}, but this demo asks for {asked}; pass another "
            f"--output, or delete {run_dir.path.parent} to start afresh"
        )


def _data_words(limit_train: int | None, limit_test: int | None) -> str:
    train = "all training images" if limit_train is None else f"the first {limit_train:,} training images"
    test = "all test images" if limit_test is None else f"the first {limit_test:,} test images"
    return f"{train} and {test}"
