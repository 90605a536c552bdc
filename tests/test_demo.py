"""`vaelab demo` refuses to pass off a run trained on other data (a quick look) as the demo."""

from __future__ import annotations

import pytest

from vaelab.errors import RunDirError
from vaelab.training import RunConfig, RunDir
from vaelab.workflows.demo import DEMO_PRESETS, check_same_data, run_demo


def _saved_run(root, limit_train=None, limit_test=None) -> RunDir:
    run_dir = RunDir(root / DEMO_PRESETS[0])
    run_dir.path.mkdir(parents=True)
    run_dir.write_config(RunConfig.from_preset(DEMO_PRESETS[0], limit_train=limit_train, limit_test=limit_test))
    run_dir.checkpoint.write_bytes(b"")  # only its presence matters: the check comes before loading it
    return run_dir


@pytest.mark.parametrize(
    ("saved", "asked", "words"),
    [
        (
            (300, 100),
            (None, None),
            "the first 300 training images and the first 100 test images, but this demo "
            "asks for all training images and all test images",
        ),
        (
            (None, None),
            (300, None),
            "all training images and all test images, but this demo asks for the first 300 training images",
        ),
        ((300, 100), (300, 50), "the first 50 test images"),
    ],
)
def test_a_run_on_other_data_is_refused(tmp_path, saved, asked, words):
    run_dir = _saved_run(tmp_path, *saved)
    with pytest.raises(RunDirError, match="pass another --output") as caught:
        check_same_data(run_dir, *asked)
    assert words in str(caught.value)
    with pytest.raises(RunDirError):  # run_demo stops before training anything
        run_demo(tmp_path, limit_train=asked[0], limit_test=asked[1], log=lambda _: None)
    assert not run_dir.metrics.exists()


def test_the_same_data_passes(tmp_path):
    check_same_data(_saved_run(tmp_path, 300, 100), 300, 100)
