"""Making MLflow agree with the study storage, the source of truth: on resume and ``hpo sync``.

The driver sends a :class:`~hpo._wire.TrialSnapshot` of every ended trial; the writer gives a
run to each trial MLflow lacks (its events never reached the writer: the driver was killed
with them still queued, tracking was off, or the store was another) and repairs a run whose end
differs (the driver died after the trial's start was sent, and the run was ended as KILLED).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from hpo._states import COMPLETE, FAILED, FINAL
from hpo._wire import TrialSnapshot

if TYPE_CHECKING:
    from hpo._mlflow_writes import StudyStore, TrialRecord

__all__ = ["plan_reconcile", "snapshots"]


def snapshots(trials: Iterable[Any]) -> list[TrialSnapshot]:
    """The ended trials of a study (Optuna's frozen trials), as the writer needs them."""
    from hpo._mlflow_writes import now_ms
    from hpo._study import ERROR, trial_state

    out = []
    for t in trials:
        state = trial_state(t)
        if state not in FINAL:
            continue
        start = t.datetime_start or t.datetime_complete
        end = t.datetime_complete or start
        start_ms = int(start.timestamp() * 1000) if start else now_ms()
        end_ms = int(end.timestamp() * 1000) if end else start_ms
        out.append(
            TrialSnapshot(
                number=t.number,
                state=state,
                value=t.value if state == COMPLETE else None,
                error=t.user_attrs.get(ERROR) if state == FAILED else None,
                params=dict(t.params),
                steps=dict(t.intermediate_values),
                start_ms=start_ms,
                end_ms=end_ms,
            )
        )
    return out


def plan_reconcile(
    store: StudyStore, held: Mapping[int, TrialRecord], trials: Iterable[TrialSnapshot]
) -> tuple[list[TrialRecord], list[tuple[int, Callable[[], None]]]]:
    """What to write so that MLflow holds every ended trial as the storage knows it.

    Args:
        store: The study's MLflow store, opened (its child runs are read).
        held: The records the writer holds already (those trials are being written anyway).
        trials: The storage's ended trials.

    Returns:
        New records for trials without a run, and ``(number, repair)`` calls for runs whose
        end differs.
    """
    from hpo._mlflow_writes import STATUS, TrialRecord, state_tags

    recorded = store.recorded_trials()
    new: list[TrialRecord] = []
    repairs: list[tuple[int, Callable[[], None]]] = []
    for snap in trials:
        if snap.number in held:
            continue
        run = recorded.get(snap.number)
        if run is None:
            rec = TrialRecord(snap.number, snap.start_ms, snap.params)
            for step, value in snap.steps.items():
                rec.add_metrics({"intermediate_value": value}, snap.start_ms, step)
            rec.finish(snap.end_ms, snap.state, snap.value, snap.error)
            new.append(rec)
        elif (run.info.status, run.data.tags.get("hpo.state")) != (
            STATUS[snap.state],
            state_tags(snap.state, snap.error)["hpo.state"],
        ):
            repair = functools.partial(store.repair, run, snap.state, snap.value, snap.error, snap.steps, snap.end_ms)
            repairs.append((snap.number, repair))
    return new, repairs
