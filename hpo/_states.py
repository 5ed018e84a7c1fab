"""The states of a trial as hpo names them (Optuna's, plus ``interrupted`` and ``infeasible``),
and the parent run's final statuses."""

from __future__ import annotations

COMPLETE, PRUNED, FAILED, INTERRUPTED = "complete", "pruned", "failed", "interrupted"
RUNNING, WAITING = "running", "waiting"
#: A configuration a parameter constraint refused: never run, not counted in ``n_trials``.
INFEASIBLE = "infeasible"
#: A complete trial of an earlier study, told to the searcher by a warm start: never run here,
#: not counted in ``n_trials``, never the best trial.
WARM = "warm"

#: Every state, in the order tables show them.
STATES = (COMPLETE, PRUNED, FAILED, INTERRUPTED, INFEASIBLE, WARM, RUNNING, WAITING)
#: The states of a trial that ended on its own: what ``n_trials`` counts.
ENDED = (COMPLETE, PRUNED, FAILED)
#: The states of a trial that ran to an end of any kind (MLflow holds a run for each).
FINAL = (COMPLETE, PRUNED, FAILED, INTERRUPTED)
