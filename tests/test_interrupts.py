import os
import signal
import subprocess
import sys
from pathlib import Path

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


SRC = Path(__file__).resolve().parents[1] / "src"

#: Run in a fresh interpreter: whether torch is imported by ``import vaelab``, and after one lazy name.
LAZY_PROBE = """
import sys
import vaelab
loaded = lambda: sorted(name for name in sys.modules if name == "torch" or name.startswith("torch."))
before = loaded()
vaelab.train
print(before, bool(loaded()), vaelab.__file__)
"""


def test_importing_vaelab_does_not_import_torch_until_a_name_is_used():
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(SRC), os.environ.get("PYTHONPATH")])))
    done = subprocess.run([sys.executable, "-c", LAZY_PROBE], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    before, after, where = done.stdout.split()
    assert before == "[]", f"import vaelab imported {before}"
    assert after == "True" and Path(where).resolve().is_relative_to(SRC)


@pytest.mark.parametrize("name", [name for name in vaelab.__all__ if name != "__version__"])
def test_every_top_level_name_resolves_to_what_it_names(name):
    value = getattr(vaelab, name)
    assert callable(value) and value.__name__ == name


def test_the_top_level_names_are_all_exported_and_no_others():
    namespace = {}
    exec("from vaelab import *", namespace)
    assert set(namespace) - {"__builtins__"} == set(vaelab.__all__)
    assert isinstance(vaelab.__version__, str) and vaelab.__version__[0].isdigit()
    with pytest.raises(AttributeError, match="nonexistent"):
        vaelab.nonexistent  # noqa: B018
