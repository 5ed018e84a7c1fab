"""Optuna storages: resolution of a storage spec, recovery of trials a crash left running, and
the heartbeat that lets several processes share one study.

Every process running a study on a persistent storage claims the trials it runs (the trial's
user attribute ``hpo:owner``) and keeps a heartbeat in the study's system attributes. A trial
left running is only taken over (failed as interrupted, its configuration queued again) when its
owner is gone: its process is dead (same machine) or its heartbeat is older than ``GRACE_S``.
Optuna's own heartbeat exists for RDB storages only; this one works on journals too.
"""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from collections.abc import Collection
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hpo._exceptions import ConfigError
from hpo._study import FAIL_REASON

if TYPE_CHECKING:
    import optuna

_JOURNAL_SUFFIXES = (".journal", ".log", ".jsonl")
_RDB_SCHEMES = ("sqlite", "postgresql", "mysql", "oracle", "mssql")


def check_storage(storage: Any) -> Any:
    """Validate a storage spec without opening it; returns it normalized.

    Args:
        storage: ``None`` (in memory), an Optuna storage object, an RDB URL
            (``sqlite:///study.db``, ``postgresql://...``), or the path of an Optuna journal
            file (``*.journal``, ``*.log``), also as ``journal:///path``.

    Returns:
        ``None``, the storage object, an RDB URL, or a :class:`~pathlib.Path` of a journal file.
    """
    if storage is None or not isinstance(storage, (str, Path)):
        if storage is not None and type(storage).__module__.split(".")[0] != "optuna":
            raise ConfigError(
                f"storage: expected a storage URL or a journal file path, got {storage!r}"
            )
        return storage
    storage = str(storage)
    path = None
    if storage.startswith("journal:///"):
        path = Path(storage[len("journal:///") :])
    elif "://" in storage:
        if storage.split("://", 1)[0].split("+", 1)[0] in _RDB_SCHEMES:
            return _check_rdb(storage)
    elif storage.endswith(_JOURNAL_SUFFIXES):
        path = Path(storage)
    if path is None:
        raise ConfigError(
            "storage: expected an RDB URL (sqlite:///PATH.db, postgresql://...) or a journal "
            f"file path ending in .journal, got {storage!r}"
        )
    try:
        path = path.expanduser().resolve()
    except (ValueError, RuntimeError, OSError) as err:  # a NUL byte, ~unknown-user
        raise ConfigError(f"storage: bad journal path {str(path)!r}: {err}") from None
    if path.is_dir():
        raise ConfigError(f"storage: {str(path)!r} is a folder, expected a journal file")
    if path.is_file() and path.stat().st_size:
        import json

        with open(path, "rb") as file:
            first = file.readline()
        try:
            json.loads(first)
        except ValueError:
            raise ConfigError(f"storage: {str(path)!r} is not an Optuna journal file") from None
    if not path.parent.is_dir():
        raise ConfigError(f"storage: folder {str(path.parent)!r} does not exist")
    return path


def _check_rdb(url: str) -> str:
    """An RDB URL Optuna can open: the sqlite file's folder exists and the file is a database;
    another database's driver is installed."""
    if url.startswith("sqlite:///"):
        path = Path(url[len("sqlite:///") :])
        if not path.parent.is_dir():
            raise ConfigError(f"storage: folder {str(path.parent)!r} of {url!r} does not exist")
        if not is_sqlite_file(path):
            raise ConfigError(f"storage: {str(path)!r} exists and is not a sqlite database")
        return url
    try:
        from sqlalchemy.engine import make_url

        make_url(url).get_dialect().import_dbapi()
    except ImportError as err:
        raise ConfigError(f"storage: the database driver for {url.split(':', 1)[0]!r} is not installed ({err})") from None
    except Exception as err:  # sqlalchemy's ArgumentError for a URL it cannot parse
        raise ConfigError(f"storage: cannot use {url!r}: {err}") from None
    return url


def is_sqlite_file(path: Path) -> bool:
    """Whether ``path`` can be a sqlite database: missing, empty, or with sqlite's header."""
    if not path.exists():
        return True
    if not path.is_file():
        return False
    with open(path, "rb") as file:
        header = file.read(16)
    return not header or header == b"SQLite format 3\x00"


def open_storage(storage: Any) -> optuna.storages.BaseStorage | str | None:
    """Open a spec checked by :func:`check_storage` for :func:`optuna.create_study`."""
    if isinstance(storage, Path):
        # Append-only journal: safe for several processes, nothing lost on a crash.
        from optuna.storages import JournalStorage
        from optuna.storages.journal import JournalFileBackend

        return JournalStorage(JournalFileBackend(str(storage)))
    return storage


HEARTBEAT_S = 5.0
GRACE_S = 30.0  # six missed beats: the owner (on another machine) is gone
OWNER = "hpo:owner"
_BEAT = "hpo:heartbeat:"


class Owner:
    """This process's claim on the trials it runs, kept alive by a heartbeat thread.

    Args:
        study: The study, on a persistent storage.
        interval: Seconds between heartbeats.
    """

    def __init__(self, study: optuna.study.Study, interval: float = HEARTBEAT_S) -> None:
        self.id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._storage = study._storage
        self._study_id = study._study_id
        self._interval = interval
        self._stop = threading.Event()
        self._beat(time.time())
        self._thread = threading.Thread(target=self._run, name="hpo-heartbeat", daemon=True)
        self._thread.start()

    def _beat(self, when: float) -> None:
        self._storage.set_study_system_attr(self._study_id, _BEAT + self.id, when)

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self._beat(time.time())
            except Exception:  # a storage hiccup: the next beat tries again
                pass

    def claim(self, trial_id: int) -> None:
        """Mark a trial as run by this process."""
        self._storage.set_trial_user_attr(trial_id, OWNER, self.id)

    def stop(self) -> None:
        """End the heartbeat; a last beat of 0 tells the others at once that this one is gone."""
        self._stop.set()
        self._thread.join()
        try:
            self._beat(0.0)
        except Exception:
            pass


def live_owners(study: optuna.study.Study) -> set[str]:
    """The owners whose heartbeat is fresh and whose process, if on this machine, is alive."""
    now = time.time()
    live = set()
    for key, beat in study._storage.get_study_system_attrs(study._study_id).items():
        if key.startswith(_BEAT) and beat and now - beat < GRACE_S and _process_alive(key[len(_BEAT) :]):
            live.add(key[len(_BEAT) :])
    return live


def _process_alive(owner: str) -> bool:
    host, pid, _ = owner.rsplit(":", 2)
    if host != socket.gethostname():
        return True  # only its heartbeat can tell
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, ValueError):
        return True
    return True


def recover_interrupted(
    study: optuna.study.Study, live: Collection[str] = ()
) -> list[optuna.trial.FrozenTrial]:
    """Fail the trials a crash left running, and queue their configurations again.

    Trials claimed by a ``live`` owner (another process still running them) are left alone.

    Each such trial becomes FAIL with the user attribute ``hpo:fail_reason = interrupted``
    (so it does not count towards ``n_trials``) and its parameters are enqueued, so the
    configuration is run again instead of being skipped.

    Returns:
        The trials recovered, as they were before.
    """
    from optuna.trial import TrialState

    recovered = []
    now = time.time()
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        owner = trial.user_attrs.get(OWNER)
        if owner in live:
            continue
        if owner is None and live and trial.datetime_start and now - trial.datetime_start.timestamp() < GRACE_S:
            continue  # just asked by a live process that has not claimed it yet
        mark_interrupted(study, trial._trial_id, trial.number, trial.params)
        recovered.append(trial)
    return recovered


def mark_interrupted(
    study: optuna.study.Study, trial_id: int, number: int, params: dict[str, Any], *, reason: str = "interrupted"
) -> None:
    """Fail one running trial as interrupted and enqueue its configuration again.

    With ``reason="surplus"`` (another process filled ``n_trials`` first) nothing is enqueued.
    """
    from optuna.trial import TrialState

    storage = study._storage
    storage.set_trial_user_attr(trial_id, FAIL_REASON, reason)
    if storage.set_trial_state_values(trial_id, TrialState.FAIL) and params and reason == "interrupted":
        study.enqueue_trial(params, user_attrs={"hpo:retry_of": number})
