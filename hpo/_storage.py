"""Optuna storages: a storage spec checked without opening it, and opened.

Who runs which trial of a shared study (ownership, heartbeat, recovery) is ``hpo._ownership``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from hpo._exceptions import ConfigError

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
                key="storage",
                message=f"expected a storage URL or a journal file path, got {storage!r}"
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
            key="storage",
            message="expected an RDB URL (sqlite:///PATH.db, postgresql://...) or a journal "
            f"file path ending in .journal, got {storage!r}"
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
    if not path.parent.is_dir():
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
        raise ConfigError(key="storage", message=f"the database driver for {url.split(':', 1)[0]!r} is not installed ({err})") from None
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


def open_storage(storage: Any) -> optuna.storages.BaseStorage | str | None:
    """Open a spec checked by :func:`check_storage` for :func:`optuna.create_study`."""
    if isinstance(storage, Path):
        # Append-only journal: safe for several processes, nothing lost on a crash.
        from optuna.storages import JournalStorage
        from optuna.storages.journal import JournalFileBackend

        return JournalStorage(JournalFileBackend(str(storage)))
    return storage
