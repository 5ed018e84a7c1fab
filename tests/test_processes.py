"""hpo._processes.run_group: a command's whole process group ends with it, whatever ends it."""

from __future__ import annotations

import signal
import sys
import time

import pytest

from tests.conftest import descendants, wait_gone

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")

# A parent that runs a shell whose background child outlives it unless its group is ended.
DRIVER = """
import sys
from hpo._processes import run_group
print("code", run_group(["sh", "-c", sys.argv[1]], grace=1), flush=True)
"""


def _default_signals() -> None:
    """In the driver: SIGINT and SIGHUP as a terminal would leave them, whatever pytest inherited."""
    for signum in (signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, signal.SIG_DFL)


def _driver(spawn, workdir, script):
    (workdir / "driver.py").write_text(DRIVER)
    return spawn([sys.executable, "driver.py", script], cwd=workdir, preexec_fn=_default_signals)


def _wait_started(proc, n):
    """The driver's descendants once ``n`` of them run ``sleep 300``."""
    deadline = time.monotonic() + 60
    while True:
        found = descendants(proc.pid)
        if sum(p.args == "sleep 300" for p in found) >= n:
            return found
        assert time.monotonic() < deadline and proc.poll() is None, proc.communicate()
        time.sleep(0.05)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_a_signal_to_the_parent_alone_ends_the_whole_group(workdir, spawn, signum):
    proc = _driver(spawn, workdir, "sleep 300 & sleep 300")
    started = _wait_started(proc, 2)
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0 and out == f"code {128 + signum}\n", err
    assert wait_gone(started, 30) == []


def test_what_the_command_leaves_running_ends_with_it(workdir, spawn):
    proc = _driver(spawn, workdir, "sleep 300 & sleep 0.5; exit 3")
    started = _wait_started(proc, 1)
    out, err = proc.communicate(timeout=60)
    assert out == "code 3\n", err
    assert wait_gone(started, 30) == []


def test_a_command_that_ignores_sigterm_is_killed_after_the_grace(workdir, spawn):
    proc = _driver(spawn, workdir, "trap '' TERM; sleep 300 & sleep 300")
    started = _wait_started(proc, 2)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert out == "code 143\n", err
    assert wait_gone(started, 30) == []
