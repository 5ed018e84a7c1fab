"""Optuna storages: a storage spec checked without opening it, and opened.

Who runs which trial of a shared study (ownership, heartbeat, recovery) is ``hpo._ownership``.
"""

from __future__ import annotations

import copy
import datetime
import functools
import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hpo._exceptions import ConfigError

if TYPE_CHECKING:
    import optuna

_logger = logging.getLogger("hpo")

#: How long a storage call keeps retrying while its database server does not answer (a
#: restart, a fail-over), and the longest pause between tries.
RETRY_S = 120.0
RETRY_MAX_PAUSE_S = 5.0
CONNECT_TIMEOUT_S = 5  # a database server that does not answer by then is an error, not a hang

_JOURNAL_SUFFIXES = (".journal", ".log", ".jsonl")
_RDB_SCHEMES = ("sqlite", "postgresql", "mysql", "oracle", "mssql")


def check_storage(storage: Any, *, new_folder_ok: bool = False) -> Any:
    """Validate a storage spec without opening it; returns it normalized.

    Args:
        storage: ``None`` (in memory), an Optuna storage object, an RDB URL
            (``sqlite:///study.db``, ``postgresql://...``), or the path of an Optuna journal
            file (``*.journal``, ``*.log``), also as ``journal:///path``.
        new_folder_ok: Whether a journal's folder may be missing (the caller creates it).

    Returns:
        ``None``, the storage object, an RDB URL, or a :class:`~pathlib.Path` of a journal file.
    """
    if storage is None or not isinstance(storage, (str, Path)):
        if storage is not None and type(storage).__module__.split(".")[0] != "optuna":
            raise ConfigError(key="storage", message=f"expected a storage URL or a journal file path, got {storage!r}")
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
            key="storage",
            message="expected an RDB URL (sqlite:///PATH.db, postgresql://...) or a journal "
            f"file path ending in .journal, got {storage!r}",
        )
    try:
        path = path.expanduser().resolve()
    except (ValueError, RuntimeError, OSError) as err:  # a NUL byte, ~unknown-user
        raise ConfigError(key="storage", message=f"bad journal path {str(path)!r}: {err}") from None
    if path.is_dir():
        raise ConfigError(key="storage", message=f"{str(path)!r} is a folder, expected a journal file")
    if path.is_file() and path.stat().st_size:
        import json

        with open(path, "rb") as file:
            first = file.readline()
        try:
            json.loads(first)
        except ValueError:
            raise ConfigError(key="storage", message=f"{str(path)!r} is not an Optuna journal file") from None
    if not path.parent.is_dir() and not (new_folder_ok and not path.parent.exists()):
        raise ConfigError(key="storage", message=f"folder {str(path.parent)!r} does not exist")
    return path


def _check_rdb(url: str) -> str:
    """An RDB URL Optuna can open: the sqlite file's folder exists and the file is a database;
    another database's driver is installed."""
    if url.startswith("sqlite:///"):
        path = Path(url[len("sqlite:///") :])
        if not path.parent.is_dir():
            raise ConfigError(key="storage", message=f"folder {str(path.parent)!r} of {url!r} does not exist")
        if not is_sqlite_file(path):
            raise ConfigError(key="storage", message=f"{str(path)!r} exists and is not a sqlite database")
        return url
    try:
        from sqlalchemy.engine import make_url

        make_url(url).get_dialect().import_dbapi()
    except ImportError as err:
        scheme = url.split(":", 1)[0]
        message = f"the database driver for {scheme!r} is not installed ({err})"
        if scheme.startswith("postgresql"):
            message += ": pip install 'hpo[postgres]' and write postgresql+psycopg://..."
        raise ConfigError(key="storage", message=message) from None
    except Exception as err:  # sqlalchemy's ArgumentError for a URL it cannot parse
        raise ConfigError(key="storage", message=f"cannot use {url!r}: {err}") from None
    reason = database_unreachable(url)
    if reason is not None:
        raise ConfigError(key="storage", message=reason)
    return url


def shown_url(url: str) -> str:
    """A database URL as messages show it: its password masked."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return url.split("@", 1)[-1]  # unparsable: at least no credentials


def database_unreachable(url: str) -> str | None:
    """Why the database server of an RDB URL (not sqlite) refuses a login, in one line; None when
    it accepts one (checked before any trial runs: a wrong password, a server down, a missing
    database)."""
    if url.startswith("sqlite"):
        return None
    from sqlalchemy import create_engine
    from sqlalchemy.pool import NullPool

    connect_args = {"connect_timeout": CONNECT_TIMEOUT_S} if url.startswith(("postgresql", "mysql")) else {}
    try:
        with create_engine(url, poolclass=NullPool, connect_args=connect_args).connect():
            pass  # (NullPool: the connection closes here, nothing is left to dispose of)
    except Exception as err:
        detail = " ".join(str(getattr(err, "orig", None) or err).split())  # one line
        return f"cannot connect to {shown_url(url)!r}: {detail}"
    return None


def is_sqlite_file(path: Path) -> bool:
    """Whether ``path`` can be a sqlite database: missing, empty, or with sqlite's header."""
    if not path.exists():
        return True
    if not path.is_file():
        return False
    with open(path, "rb") as file:
        header = file.read(16)
    return not header or header == b"SQLite format 3\x00"


def open_storage(storage: Any) -> optuna.storages.BaseStorage | None:
    """Open a spec checked by :func:`check_storage` for :func:`optuna.create_study`.

    Returns:
        ``None`` (in memory), the storage object given, a journal storage, or an
        :class:`~optuna.storages.RDBStorage` whose tables exist.
    """
    if isinstance(storage, Path):
        # Append-only journal: safe for several processes, nothing lost on a crash.
        from optuna.storages import JournalStorage
        from optuna.storages.journal import JournalFileBackend

        return JournalStorage(JournalFileBackend(str(storage)))
    if isinstance(storage, str):
        return _open_rdb(storage)
    return storage


_CREATION_RETRIES = 8
# What a concurrent creation of the same schema raises besides an IntegrityError (a row or a
# table another process inserted first): sqlite's "database is locked", PostgreSQL's
# "relation ... already exists" and "duplicate key", MySQL's "Table ... already exists" and
# deadlocks. Anything else (a wrong password, a host down) is raised at once.
_CONCURRENT = ("already exists", "locked", "duplicate", "deadlock")


def _open_rdb(url: str) -> optuna.storages.RDBStorage:
    """An RDB storage, its tables created if need be, safe against processes doing it at once.

    Optuna creates the schema of a new database (tables, version row, alembic stamp) in steps
    that race: of several processes opening a new database at once, some fail with
    ``IntegrityError: UNIQUE constraint failed: alembic_version.version_num``. Every step is
    skipped once done, so a failed creation is retried (with jitter), which works for any
    database; for a sqlite file a lock file beside it also puts the creators in a row.
    """
    import random

    from sqlalchemy.exc import DBAPIError, IntegrityError

    # A server's pooled connections die with a restart: checked before use, then replaced.
    engine_kwargs = {} if url.startswith("sqlite") else {"pool_pre_ping": True}
    delay = 0.05
    for attempt in range(_CREATION_RETRIES):
        try:
            with _sqlite_lock(url):
                storage: optuna.storages.RDBStorage = retrying_rdb_storage()(url, engine_kwargs=engine_kwargs)
                return storage
        except DBAPIError as err:
            message = str(err.orig).lower()
            concurrent = isinstance(err, IntegrityError) or any(s in message for s in _CONCURRENT)
            if not concurrent or attempt == _CREATION_RETRIES - 1:
                raise
        time.sleep(delay * random.uniform(0.5, 1.5))  # jitter: the racers do not meet again
        delay = min(delay * 2, 1.0)
    raise AssertionError("unreachable")


def _connection_lost(err: BaseException) -> bool:
    """Whether a storage error means the database server did not answer (restarting, down)
    rather than a refused statement."""
    from sqlalchemy.exc import DBAPIError, OperationalError

    for e in (err, err.__cause__):
        if isinstance(e, OperationalError) or (isinstance(e, DBAPIError) and e.connection_invalidated):
            return True
    return False


_retry_state = threading.local()  # whether this thread is inside a retried call already


def _retrying(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def call(self: Any, *args: Any, **kwargs: Any) -> Any:
        if getattr(_retry_state, "active", False):  # (a retried call calling another: one loop)
            return method(self, *args, **kwargs)
        deadline, pause, warned, lost = time.monotonic() + RETRY_S, 0.1, False, False
        while True:
            _retry_state.active = True
            try:
                return method(self, *args, **kwargs) if not lost else self._after_lost_reply(method, args, kwargs)
            except Exception as err:
                if not _connection_lost(err) or time.monotonic() + pause > deadline:
                    raise
                lost = True
                if not warned:
                    detail = " ".join(str(getattr(err.__cause__, "orig", None) or err).split())
                    _logger.warning(
                        "storage: the database does not answer, retrying for up to %g s: %s", RETRY_S, detail
                    )
                    warned = True
            finally:
                _retry_state.active = False
            time.sleep(pause)
            pause = min(pause * 2, RETRY_MAX_PAUSE_S)

    return call


#: The trial system attribute a new trial is created with: a call whose reply was lost (the
#: server committed, then the connection dropped) finds its trial by it instead of making another.
CREATED = "hpo:created"


def retrying_rdb_storage() -> type:
    """The class ``RetryingRDBStorage`` (below), made once on first use."""
    cls = globals().get("RetryingRDBStorage")
    if cls is None:
        cls = globals()["RetryingRDBStorage"] = _make_retrying_rdb_storage()
    return cls


def _make_retrying_rdb_storage() -> type:
    from optuna.exceptions import UpdateFinishedTrialError
    from optuna.storages import BaseStorage, RDBStorage
    from optuna.storages._rdb.storage import _create_scoped_session
    from optuna.trial import FrozenTrial, TrialState

    class _Base(RDBStorage):
        def _create_new_trial(self, study_id: int, template_trial: FrozenTrial | None = None) -> FrozenTrial:
            if template_trial is None:  # what RDBStorage makes without one: a running trial, started now
                template_trial = FrozenTrial(
                    number=-1,
                    state=TrialState.RUNNING,
                    value=None,
                    datetime_start=datetime.datetime.now(),
                    datetime_complete=None,
                    params={},
                    distributions={},
                    user_attrs={},
                    system_attrs={},
                    intermediate_values={},
                    trial_id=-1,
                )
            else:
                template_trial = copy.copy(template_trial)
            # (The token is made once, before the retries, so that a retry can look for it.)
            template_trial.system_attrs = {**template_trial.system_attrs, CREATED: uuid.uuid4().hex}
            return self._create_with_token(study_id, template_trial)

        def _create_with_token(self, study_id: int, template_trial: FrozenTrial) -> FrozenTrial:
            # RDBStorage._create_new_trial's own retries (on any storage error) would make a
            # second trial after a lost reply: one try here, the retries are the wrapper's.
            from optuna.storages._rdb import models

            with _create_scoped_session(self.scoped_session) as session:
                # (The lock: the trial's number counts the trials before it.)
                models.StudyModel.find_or_raise_by_id(study_id, session, for_update=True)
                trial = self._get_prepared_new_trial(study_id, template_trial, session)
                frozen = copy.deepcopy(template_trial)
                frozen.number, frozen.datetime_start = int(trial.number), trial.datetime_start
                frozen._trial_id = int(trial.trial_id)
            return frozen

        def _after_lost_reply(self, method: Callable[..., Any], args: tuple, kwargs: dict[str, Any]) -> Any:
            """Call ``method`` again after a try whose reply was lost: it may have been done."""
            name = method.__name__
            if name == "_create_with_token":
                done = self._trial_created(args[1].system_attrs[CREATED])
                if done is not None:
                    return done
            try:
                return method(self, *args, **kwargs)
            except UpdateFinishedTrialError:
                if name != "set_trial_state_values":
                    raise
                # Finished by the try that lost its reply? Then this call is done.
                trial_id, state = args[0], args[1] if len(args) > 1 else kwargs["state"]
                values = args[2] if len(args) > 2 else kwargs.get("values")
                trial = self.get_trial(trial_id)
                if trial.state != state or (values is not None and list(trial.values or ()) != list(values)):
                    raise
                return True

        def _trial_created(self, token: str) -> FrozenTrial | None:
            from optuna.storages._rdb import models

            with _create_scoped_session(self.scoped_session) as session:
                row = (
                    session.query(models.TrialSystemAttributeModel)
                    .filter_by(key=CREATED, value_json=json.dumps(token))
                    .first()
                )
                trial_id = None if row is None else int(row.trial_id)
            return None if trial_id is None else self.get_trial(trial_id)

    # Every storage call the study, its sampler and pruner, and hpo's ownership make, also the
    # private ones Optuna's cache calls (creating a trial, setting a parameter).
    names = [n for n in dir(BaseStorage) if not n.startswith("__") and callable(getattr(RDBStorage, n, None))]
    names += ["record_heartbeat", "_get_stale_trial_ids", "_get_trials", "_set_trial_param", "_get_best_trial_id"]
    names = [n for n in names if n != "create_new_trial"] + ["_create_with_token"]  # (it calls the one below)
    methods = {n: _retrying(getattr(_Base, n)) for n in sorted(set(names)) if hasattr(_Base, n)}
    doc = """An Optuna RDB storage whose calls wait for a database server that stopped answering
    (a restart, a fail-over): each retries, pausing up to ``RETRY_MAX_PAUSE_S`` between tries,
    for up to ``RETRY_S`` seconds, then raises. Statements the server refuses raise at once.
    A retry after a lost reply does not do twice what the server did once: a new trial carries
    a token to find it by, and a trial already finished as asked is not an error."""
    return type("RetryingRDBStorage", (_Base,), {**methods, "__doc__": doc, "__module__": __name__})


def __getattr__(name: str) -> Any:
    # The class derives from Optuna's, which `import hpo` must not import: made on first use
    # (also when pickle looks it up by name).
    if name == "RetryingRDBStorage":
        return retrying_rdb_storage()
    raise AttributeError(name)


@contextmanager
def _sqlite_lock(url: str) -> Iterator[None]:
    """Hold an exclusive lock on ``DB.lock`` beside the sqlite file of ``url`` while it is new.

    Nothing for another database, an in-memory one, a database file with content already (no
    lock file beside every database), or where the lock file cannot be made (a read-only
    folder, no ``fcntl``): the retries of :func:`_open_rdb` are enough there. A lock file of
    its own: locks on the database file would mix with sqlite's.
    """
    try:
        import fcntl
    except ImportError:  # Windows
        yield
        return
    path = url[len("sqlite:///") :].split("?", 1)[0] if url.startswith("sqlite:///") else ""
    if path in ("", ":memory:") or path.startswith("file:") or _has_content(path):
        yield
        return
    try:
        fd = os.open(f"{path}.lock", os.O_RDWR | os.O_CREAT, 0o666)
    except OSError:
        yield
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # released when fd closes, also if this process dies
        yield
    finally:
        os.close(fd)


def _has_content(path: str) -> bool:
    """Whether the file at ``path`` exists and is not empty."""
    try:
        return os.path.getsize(path) > 0
    except OSError:  # no such file yet
        return False
