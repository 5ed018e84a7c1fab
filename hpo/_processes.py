"""Child processes that end with the process that started them, whatever ends it.

A server started by a command (``hpo ui`` runs ``mlflow ui``, which runs uvicorn and its
workers) is a group of processes. Ctrl-C in a terminal reaches the whole foreground group, but
``kill``, a supervisor's SIGTERM or a closed terminal's SIGHUP reach one process only: the
others would keep the port. :func:`run_group` runs the command in a session of its own and
turns each of these signals into ending the whole group.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

#: The niceness of hpo's background processes (the tracking writer, the plotter).
BACKGROUND_NICENESS = 19


def yield_cpu_to_trials(niceness: int = BACKGROUND_NICENESS) -> None:
    """Run this process (and those it starts) on the CPU the trials leave. Best effort.

    ``os.nice`` alone does not do it where the kernel groups processes by session (scheduler
    autogroups, on by default on desktop and many server kernels): a process in a session of
    its own, as the tracking writer is, forms a group that gets an equal share of the CPU with
    the trials' group whatever its niceness. So the session's group is lowered too.
    """
    with contextlib.suppress(OSError):
        os.nice(max(0, niceness - os.nice(0)))
    with contextlib.suppress(OSError):
        Path("/proc/self/autogroup").write_text(str(niceness))


# The signals that end a foreground command: Ctrl-C, kill or a supervisor, a closed terminal.
ENDING_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
GRACE_S = 10.0


def run_group(
    command: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: str | Path | None = None,
    grace: float = GRACE_S,
) -> int:
    """Run ``command`` in a process group of its own; whatever ends it or us ends the group.

    SIGINT, SIGTERM and SIGHUP sent to this process (unless it ignores them, as under
    ``nohup``) end the whole group: SIGTERM to every process of it, SIGKILL to those still
    there ``grace`` seconds later. Once the command's own process has exited, on its own or so,
    what is left of its group is ended the same way, so nothing it started keeps running.

    Args:
        command: The program and its arguments.
        env: Its environment (default: ours).
        cwd: Its working folder (default: ours).
        grace: Seconds between SIGTERM and SIGKILL.

    Returns:
        The command's exit code (``-N`` when signal N ended it on its own), or ``128 + N`` when
        signal N sent to this process ended it.
    """
    received: list[int] = []
    group: list[int] = []  # its id, once started

    def handler(signum: int, frame: Any) -> None:
        if not received:
            received.append(signum)
            if group:  # SIGTERM whatever came: the command may ignore SIGINT (set by our parent)
                _signal_group(group[0], signal.SIGTERM)

    previous: dict[int, Any] = {}
    if threading.current_thread() is threading.main_thread():  # handlers live in the main thread
        for signum in ENDING_SIGNALS:
            if signal.getsignal(signum) is not signal.SIG_IGN:
                previous[signum] = signal.signal(signum, handler)
    try:
        if received:  # ended before it started
            return 128 + received[0]
        proc = subprocess.Popen(command, env=None if env is None else dict(env), cwd=cwd, start_new_session=True)
        group.append(proc.pid)  # the leader of its own session and group
        if received:
            _signal_group(proc.pid, signal.SIGTERM)
        try:
            kill_at = None
            while not _exited(proc):  # not reaped yet: its pid keeps naming the group
                if received and kill_at is None:
                    kill_at = time.monotonic() + grace
                if kill_at is not None and time.monotonic() >= kill_at:
                    _signal_group(proc.pid, signal.SIGKILL)
                time.sleep(0.05 if received else 0.2)
        finally:
            end_group(proc.pid, grace)  # the rest of the group, also when we are interrupted here
            proc.wait()
    finally:
        for number, old in previous.items():
            signal.signal(number, old)
    return 128 + received[0] if received else proc.returncode


def end_group(pgid: int, grace: float = GRACE_S) -> None:
    """End every process of group ``pgid``: SIGTERM, then SIGKILL after ``grace`` seconds.

    Call it before its leader is reaped (a zombie leader keeps the group's id from being
    reused), or once the group is known to be gone.
    """
    if not _signal_group(pgid, signal.SIGTERM):
        return
    deadline = time.monotonic() + grace
    while _group_alive(pgid) and time.monotonic() < deadline:
        time.sleep(0.05)
    _signal_group(pgid, signal.SIGKILL)


def _signal_group(pgid: int, signum: int) -> bool:
    """Send ``signum`` to group ``pgid``; whether the group still existed."""
    try:
        os.killpg(pgid, signum)
    except ProcessLookupError:
        return False
    except PermissionError:  # a member that changed its user: the others got the signal
        pass
    return True


def _exited(proc: subprocess.Popen[Any]) -> bool:
    """Whether ``proc`` has exited, left a zombie (not waited for) where the system allows."""
    if not hasattr(os, "waitid"):  # macOS: reaped, and its group's id may then be reused
        return proc.poll() is not None
    return os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None


def _group_alive(pgid: int) -> bool:
    """Whether group ``pgid`` has a process that is not a zombie."""
    proc = Path("/proc")
    if not (proc / "self" / "stat").exists():  # no procfs: a zombie leader counts as alive
        return _signal_group(pgid, 0)
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            # "pid (comm) state ppid pgrp ...": comm may hold spaces and parentheses.
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):  # ended meanwhile
            continue
        if int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
            return True
    return False
