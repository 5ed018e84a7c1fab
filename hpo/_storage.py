"""Optuna storages: resolution of a storage spec, and recovery of trials a crash left running."""

from __future__ import annotations

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
            return storage
    elif storage.endswith(_JOURNAL_SUFFIXES):
        path = Path(storage)
    if path is None:
        raise ConfigError(
            "storage: expected an RDB URL (sqlite:///PATH.db, postgresql://...) or a journal "
            f"file path ending in .journal, got {storage!r}"
        )
    path = path.expanduser().resolve()
    if not path.parent.is_dir():
        raise ConfigError(f"storage: folder {str(path.parent)!r} does not exist")
    return path


def open_storage(storage: Any) -> optuna.storages.BaseStorage | str | None:
    """Open a spec checked by :func:`check_storage` for :func:`optuna.create_study`."""
    if isinstance(storage, Path):
        # Append-only journal: safe for several processes, nothing lost on a crash.
        from optuna.storages import JournalStorage
        from optuna.storages.journal import JournalFileBackend

        return JournalStorage(JournalFileBackend(str(storage)))
    return storage


def recover_interrupted(study: optuna.study.Study) -> list[optuna.trial.FrozenTrial]:
    """Fail the trials a crash left running, and queue their configurations again.

    Each such trial becomes FAIL with the user attribute ``hpo:fail_reason = interrupted``
    (so it does not count towards ``n_trials``) and its parameters are enqueued, so the
    configuration is run again instead of being skipped.

    Returns:
        The trials recovered, as they were before.
    """
    from optuna.trial import TrialState

    recovered = []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        mark_interrupted(study, trial._trial_id, trial.number, trial.params)
        recovered.append(trial)
    return recovered


def mark_interrupted(
    study: optuna.study.Study, trial_id: int, number: int, params: dict[str, Any]
) -> None:
    """Fail one running trial as interrupted and enqueue its configuration again."""
    from optuna.trial import TrialState

    storage = study._storage
    storage.set_trial_user_attr(trial_id, FAIL_REASON, "interrupted")
    if storage.set_trial_state_values(trial_id, TrialState.FAIL) and params:
        study.enqueue_trial(params, user_attrs={"hpo:retry_of": number})
