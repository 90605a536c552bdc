import os
import signal

import pytest

import vaelab
from vaelab.training.interrupts import StopRequest


def test_first_ctrl_c_only_requests_a_stop_and_the_second_interrupts():
    # Python's default handler, or SIG_IGN when the tests run as a background job: restored either way.
    before = signal.getsignal(signal.SIGINT)
    with StopRequest() as stop:
        assert not stop
        os.kill(os.getpid(), signal.SIGINT)
        assert stop
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
    assert signal.getsignal(signal.SIGINT) is before


def test_top_level_api_is_lazy_and_complete():
    assert callable(vaelab.load_run) and callable(vaelab.train) and callable(vaelab.encode_images)
    with pytest.raises(AttributeError):
        vaelab.nonexistent  # noqa: B018 (the attribute access is the test)
