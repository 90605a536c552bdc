"""Progress bars write sparingly when stderr is a log, and nothing when disabled."""

from __future__ import annotations

import io
import sys

import pytest
import tqdm.std

from vaelab import progress
from vaelab.progress import progress_bar


class FakeStderr(io.StringIO):
    def __init__(self, terminal: bool) -> None:
        super().__init__()
        self.terminal = terminal

    def isatty(self) -> bool:
        return self.terminal


def _updates(terminal: bool, monkeypatch, clock_step: float, enabled: bool = True) -> str:
    """Run a 1,000-step bar whose clock advances ``clock_step`` seconds per step; return what it wrote."""
    fake = FakeStderr(terminal)
    monkeypatch.setattr(sys, "stderr", fake)
    now = [0.0]

    def clock() -> float:
        now[0] += clock_step
        return now[0]

    monkeypatch.setattr(tqdm.std, "time", clock)
    with progress_bar(total=1000, desc="epoch 1/1", unit="batch", enabled=enabled) as bar:
        for _ in range(1000):
            bar.update(1)
    return fake.getvalue()


def test_a_log_gets_an_update_every_half_minute_not_ten_a_second(monkeypatch):
    # 1,000 steps of 0.05 s: 50 s of training.
    log = _updates(terminal=False, monkeypatch=monkeypatch, clock_step=0.05)
    terminal = _updates(terminal=True, monkeypatch=monkeypatch, clock_step=0.05)
    assert log.count("\r") <= 4  # the first draw, at most two timed updates, the final state
    assert "1000/1000" in log
    assert terminal.count("\r") > 100


def test_a_disabled_bar_writes_nothing(monkeypatch):
    assert _updates(terminal=False, monkeypatch=monkeypatch, clock_step=0.05, enabled=False) == ""


@pytest.mark.parametrize("broken", [None, object()])
def test_a_replaced_stderr_counts_as_no_terminal(monkeypatch, broken):
    monkeypatch.setattr(sys, "stderr", broken)
    assert progress._stderr_is_terminal() is False
