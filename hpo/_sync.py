"""``hpo sync``: write to MLflow whatever of a stored study it lacks, after a tracking outage."""

from __future__ import annotations

from collections.abc import Mapping

from hpo._exceptions import ConfigError, StudyNotFoundError, TrackingError
from hpo._plan import StudyPlan
from hpo._searchers import quiet_optuna
from hpo._states import COMPLETE, PRUNED
from hpo._storage import open_storage
from hpo._study import Study, count_states
from hpo._tracking import Tracker, close_study_run, open_study_run

__all__ = ["sync_plan"]


def sync_plan(plan: StudyPlan, *, texts: Mapping[str, str] | None = None, source: str | None = None) -> Study:
    """Write to MLflow whatever of a stored study it lacks.

    The study storage is the source of truth and is only read: every ended trial gets its
    child run (or its run the state the storage knows), the parent run its summary artifacts,
    and the parent run ends.

    Raises:
        StudyNotFoundError: The storage has no such study.
        TrackingError: Tracking is off, or the store cannot be opened.
    """
    import optuna

    if plan.tracking_uri is None:
        raise TrackingError("tracking: sync needs a tracking URI, got none")
    storage = open_storage(plan.storage)
    if storage is None:
        raise ConfigError("sync reads the study from its storage, got none (in memory)", key="storage")
    try:
        with quiet_optuna():
            study = optuna.load_study(study_name=plan.study_name, storage=storage)
    except KeyError:
        raise StudyNotFoundError(f"study {plan.study_name!r} not found in {str(plan.storage)!r}") from None
    result = Study(study, n_trials=plan.n_trials, tracking_uri=plan.tracking_uri)
    tracker = Tracker(plan.tracking_uri)
    open_study_run(tracker, plan, study, texts, source)
    tracker.reconcile(study.get_trials(deepcopy=False))
    counts = count_states(study.get_trials(deepcopy=False))
    status = "FINISHED" if counts[COMPLETE] + counts[PRUNED] else "FAILED"
    close_study_run(tracker, status, result)
    return result
