"""Optuna storages: a storage spec checked without opening it, and opened.

Who runs which trial of a shared study (ownership, heartbeat, recovery) is ``hpo._ownership``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hpo._exceptions import ConfigError

if TYPE_CHECKING:
    import optuna

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
        raise ConfigError(key="storage", message=message) from None
    except Exception as err:  # sqlalchemy's ArgumentError for a URL it cannot parse
        raise ConfigError(key="storage", message=f"cannot use {url!r}: {err}") from None
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

    from optuna.storages import RDBStorage
    from sqlalchemy.exc import DBAPIError, IntegrityError

    delay = 0.05
    for attempt in range(_CREATION_RETRIES):
        try:
            with _sqlite_lock(url):
                return RDBStorage(url)
        except DBAPIError as err:
            message = str(err.orig).lower()
            concurrent = isinstance(err, IntegrityError) or any(s in message for s in _CONCURRENT)
            if not concurrent or attempt == _CREATION_RETRIES - 1:
                raise
        time.sleep(delay * random.uniform(0.5, 1.5))  # jitter: the racers do not meet again
        delay = min(delay * 2, 1.0)
    raise AssertionError("unreachable")


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
