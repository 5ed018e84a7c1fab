"""The result of a study: best trial, trials table, MLflow ids, on top of the Optuna study."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

from hpo._exceptions import HPOError
from hpo._states import COMPLETE, ENDED, FAILED, INFEASIBLE, INTERRUPTED, PRUNED, RUNNING, STATES, WAITING, WARM

if TYPE_CHECKING:
    import optuna
    import pandas as pd

    from hpo._objectives import Objectives

FAIL_REASON = "hpo:fail_reason"
#: The user attribute of a trial a warm start added (its value: the source).
WARM_START = "hpo:warm_start"
#: The study user attribute of its seed (a trial's seed derives from it).
SEED = "hpo:seed"
#: Optuna's system attribute of a trial's constraint values (<= 0: met), as its samplers read it.
CONSTRAINTS = "constraints"
ERROR = "hpo:error"
#: The study user attribute holding the held-out test score (``StudyRun.log_test_score``).
TEST_SCORE = "hpo:test"
#: The study user attributes of a multi-objective study's select rule and reference point.
SELECT = "hpo:select"
REFERENCE_POINT = "hpo:reference_point"


def trial_state(trial: optuna.trial.FrozenTrial) -> str:
    """``complete``, ``pruned``, ``failed``, ``interrupted``, ``running`` or ``waiting``.

    ``interrupted`` is a failed trial that a crash or an interrupt cut short, not the
    objective: it does not count towards ``n_trials`` and its configuration is run again. A
    trial dropped before it ran because another process on the study filled ``n_trials`` first
    (``hpo:fail_reason = surplus``) is ``interrupted`` too, and not run again.
    """
    name = trial.state.name
    if WARM_START in trial.user_attrs:
        return WARM
    reason = trial.user_attrs.get(FAIL_REASON)
    if reason == INFEASIBLE:  # (told pruned at no step, so that TPE ranks it among the worst)
        return INFEASIBLE
    if name == "FAIL":
        return INTERRUPTED if reason in (INTERRUPTED, "surplus") else FAILED
    return {"COMPLETE": COMPLETE, "PRUNED": PRUNED, "RUNNING": RUNNING}.get(name, WAITING)


def is_feasible(trial: optuna.trial.FrozenTrial) -> bool:
    """Whether a trial meets its outcome constraints (one without any does)."""
    return all(v <= 0 for v in trial.system_attrs.get(CONSTRAINTS) or ())


def better(value: float, best: float | None, direction: str, margin: float = 0.0) -> bool:
    """Whether ``value`` beats ``best`` (``None``: nothing yet) in ``direction``, by more than
    ``margin``."""
    if best is None:
        return True
    return value > best + margin if direction == "maximize" else value < best - margin


def count_states(trials: list[optuna.trial.FrozenTrial]) -> dict[str, int]:
    """The number of trials in each state, every state listed."""
    counts = Counter(trial_state(t) for t in trials)
    return {state: counts.get(state, 0) for state in STATES}


def n_ended(counts: dict[str, int]) -> int:
    """Trials that ended on their own: what ``n_trials`` counts."""
    return sum(counts[state] for state in ENDED)


def time_spent(trials: list[optuna.trial.FrozenTrial]) -> tuple[float, float] | None:
    """(seconds the ended trials ran in all, seconds from the first start to the last end), or
    ``None`` when no trial has ended."""
    timed = [(t.datetime_start, t.datetime_complete) for t in trials if t.datetime_start and t.datetime_complete]
    if not timed:
        return None
    busy = sum((end - start).total_seconds() for start, end in timed)
    span = (max(end for _, end in timed) - min(start for start, _ in timed)).total_seconds()
    return busy, span


class Study:
    """A finished (or resumable) study.

    Attributes:
        optuna_study: The underlying :class:`optuna.study.Study`, the source of truth.
        n_trials: The number of trials asked for (ended on their own), if one was given.
        tracking_uri: The MLflow tracking URI, or ``None`` when tracking was off.
        mlflow_run_id: The MLflow parent run of the study, or ``None``.
        mlflow_experiment_id: The MLflow experiment of the study, or ``None``.
        unrecorded_trials: Numbers of trials whose MLflow records could not be written.
        missing_study_writes: What the study's MLflow run lacks (``summary.md``, ``plots``,
            ``model``, ``status``, ...): writes that could not be made.
    """

    def __init__(
        self,
        optuna_study: optuna.study.Study,
        *,
        n_trials: int | None = None,
        tracking_uri: str | None = None,
        mlflow_run_id: str | None = None,
        mlflow_experiment_id: str | None = None,
        unrecorded_trials: list[int] | None = None,
    ) -> None:
        self.optuna_study = optuna_study
        self.n_trials = n_trials
        self.tracking_uri = tracking_uri
        self.mlflow_run_id = mlflow_run_id
        self.mlflow_experiment_id = mlflow_experiment_id
        self.unrecorded_trials = unrecorded_trials or []
        self.missing_study_writes: list[str] = []

    @property
    def name(self) -> str:
        """The study name (also its MLflow experiment name)."""
        return self.optuna_study.study_name

    @property
    def direction(self) -> str:
        """``"minimize"`` or ``"maximize"``.

        Raises:
            HPOError: The study has several objectives (see :attr:`directions`).
        """
        if self.multi_objective:
            raise HPOError(f"study {self.name!r} has {len(self.directions)} objectives: read study.directions")
        return self.optuna_study.direction.name.lower()

    @property
    def directions(self) -> list[str]:
        """Each objective's direction, in order (one for a single-objective study)."""
        return [d.name.lower() for d in self.optuna_study.directions]

    @property
    def multi_objective(self) -> bool:
        """Whether the study has several objectives (a Pareto front, no single best trial)."""
        return len(self.optuna_study.directions) > 1

    @property
    def objective_names(self) -> list[str]:
        """The objectives' names, in order: as given (``objectives``), ``values_0, values_1, ...``
        for bare ``directions``, ``["value"]`` for a plain single-objective study."""
        names = self.optuna_study.metric_names
        if names is not None:
            return list(names)
        n = len(self.optuna_study.directions)
        return ["value"] if n == 1 else [f"values_{i}" for i in range(n)]

    @property
    def objectives(self) -> Objectives:
        """The objectives' names and directions, in order."""
        from hpo._objectives import Objectives

        return Objectives(tuple(self.objective_names), tuple(self.directions))

    @property
    def best_trials(self) -> list[optuna.trial.FrozenTrial]:
        """The Pareto front: the complete (and feasible) trials that no other one beats in every
        objective, in order of number. For a single objective, ``[best_trial]`` (or ``[]``)."""
        if not self.multi_objective:
            try:
                return [self.best_trial]
            except HPOError:
                return []
        from hpo._pareto import pareto_front

        return pareto_front(self.trials, self.directions)

    def select(self, rule: Any = None) -> optuna.trial.FrozenTrial:
        """The trial of a multi-objective study that a rule picks (see :class:`hpo.Select`'s
        forms: ``{"maximize": "accuracy", "where": "latency_ms <= 5"}``, or weights).

        Args:
            rule: The rule; by default the one the study ran with (``select``).

        Raises:
            HPOError: No rule given or stored, or no complete trial meets it.
            ConfigError: A bad rule (an unknown objective name, ...).
        """
        from hpo._objectives import Select

        if not self.multi_objective:
            return self.best_trial
        rule = rule if rule is not None else self.optuna_study.user_attrs.get(SELECT)
        if rule is None:
            raise HPOError(
                f"study {self.name!r} has no select rule: give one, e.g. "
                f"study.select({{'maximize': {self.objective_names[0]!r}}})"
            )
        selector = Select(rule, self.objectives)
        complete = [t for t in self.trials if t.state.name == "COMPLETE" and is_feasible(t)]
        picked = selector.pick(complete, (t.number for t in self.best_trials))
        if picked is None:
            raise HPOError(f"study {self.name!r}: no complete trial meets select ({selector.text()})")
        return picked

    @property
    def selected_trial(self) -> optuna.trial.FrozenTrial:
        """The trial a study stands for: the best trial, or with several objectives the one its
        select rule picks (a trainer refits and logs its model)."""
        return self.select() if self.multi_objective else self.best_trial

    @property
    def reference_point(self) -> list[float] | None:
        """The hypervolume's reference point: as given to the study, else the worst value of each
        objective over its complete trials (``None`` before any; and for a single objective)."""
        if not self.multi_objective:
            return None
        stored = self.optuna_study.user_attrs.get(REFERENCE_POINT)
        if stored is not None:
            return [float(v) for v in stored]
        from hpo._pareto import default_reference

        point = default_reference(self.trials, self.directions)
        return None if point is None else list(point)

    def hypervolume(self, reference_point: Any = None) -> float:
        """The hypervolume of the front within ``reference_point`` (a list in the order of the
        objectives, or a mapping by name; by default :attr:`reference_point`).

        Raises:
            HPOError: A single-objective study.
            ConfigError: A reference point of the wrong length.
        """
        from hpo._pareto import check_reference_point, hypervolume

        if not self.multi_objective:
            raise HPOError(f"study {self.name!r} has one objective: a hypervolume needs several")
        point = check_reference_point(reference_point, self.objectives) or self.reference_point
        return 0.0 if point is None else hypervolume(self.trials, self.directions, point)

    @property
    def trials(self) -> list[optuna.trial.FrozenTrial]:
        """Every trial of this study, in order of number (not the warm start's: see
        :attr:`warm_trials`)."""
        return [t for t in self.optuna_study.get_trials(deepcopy=False) if WARM_START not in t.user_attrs]

    def trial_seed(self, trial: optuna.trial.FrozenTrial) -> int | None:
        """The seed ``trial`` ran with (``Trial.seed``; a rerun has the seed of the trial it
        reruns), None when the study has no seed."""
        from hpo._checkpoints import RETRY_OF
        from hpo._reproducible import trial_seed

        number = trial.user_attrs.get(RETRY_OF, trial.number)
        return trial_seed(self.optuna_study.user_attrs.get(SEED), int(number))

    @property
    def warm_trials(self) -> list[optuna.trial.FrozenTrial]:
        """The trials of earlier studies a warm start told the searcher (state ``warm``)."""
        return [t for t in self.optuna_study.get_trials(deepcopy=False) if WARM_START in t.user_attrs]

    def counts(self) -> dict[str, int]:
        """The number of trials in each state (see :func:`trial_state`), ``warm`` included."""
        return count_states(self.optuna_study.get_trials(deepcopy=False))

    @property
    def best_trial(self) -> optuna.trial.FrozenTrial:
        """The best completed trial; with outcome constraints, the best feasible one.

        Raises:
            HPOError: No trial has completed (or none is feasible).
        """
        if self.multi_objective:
            raise HPOError(
                f"study {self.name!r} has {len(self.directions)} objectives ({', '.join(self.objective_names)}): "
                "no single best trial; read study.best_trials (the Pareto front) or pick one with study.select(...)"
            )
        complete = [t for t in self.trials if t.state.name == "COMPLETE"]
        if not complete:
            raise HPOError(f"study {self.name!r} has no completed trial yet")
        feasible = [t for t in complete if is_feasible(t)]
        if not feasible:
            raise HPOError(f"study {self.name!r} has no feasible completed trial: every one breaks a constraint")
        pick = max if self.direction == "maximize" else min
        return pick(feasible, key=lambda t: float(t.value or 0.0))

    def constrained(self) -> bool:
        """Whether the study ran with constraints (some trial infeasible, or judged by outcome
        constraints)."""
        return any(trial_state(t) == INFEASIBLE or CONSTRAINTS in t.system_attrs for t in self.trials)

    def infeasible(self) -> int:
        """Trials a constraint made infeasible: configurations never run (parameter
        constraints) and completed trials whose metrics broke an outcome constraint."""
        return sum(
            1
            for t in self.trials
            if trial_state(t) == INFEASIBLE or (t.state.name == "COMPLETE" and not is_feasible(t))
        )

    @property
    def best_params(self) -> dict[str, Any]:
        """The hyperparameters of the best trial, as its objective received them: for a
        conditional space the active ones by their own names (``{"model": "svc", "C": 1.0}``;
        ``best_trial.params`` has them by path, ``model.svc.C``)."""
        return self.objective_params(self.best_trial.params)

    @property
    def selected_params(self) -> dict[str, Any]:
        """The hyperparameters of :attr:`selected_trial`, as its objective received them."""
        return self.objective_params(self.selected_trial.params)

    def objective_params(self, params: dict[str, Any]) -> dict[str, Any]:
        """A trial's params (by path) as its objective received them (see :attr:`best_params`)."""
        spec = self.optuna_study.user_attrs.get("hpo:space")
        if not (isinstance(spec, dict) and any(isinstance(v, dict) and "choice" in v for v in spec.values())):
            return dict(params)
        from hpo._space import Space

        return Space.from_dict(spec).objective_params(params)

    @property
    def best_value(self) -> float:
        """The objective value of the best trial."""
        value = self.best_trial.value
        assert value is not None
        return value

    @property
    def test_score(self) -> dict[str, Any] | None:
        """The final model's score on the held-out test set, scored once at the end:
        ``{"metric": "test_accuracy", "value": ..., "rows": ..., "trial": ...}`` (``trial``: the
        configuration's trial), or ``None`` when no test set was scored."""
        record = self.optuna_study.user_attrs.get(TEST_SCORE)
        if not isinstance(record, dict) or not {"metric", "value"} <= set(record):
            return None
        return dict(record)

    def trials_df(self) -> pd.DataFrame:
        """One row per trial: number, state, value, one ``params.NAME`` column per
        hyperparameter, duration in seconds, start time and the error of failed trials."""
        import pandas as pd

        rows = []
        multi = self.multi_objective
        names = self.objective_names
        front = {t.number for t in self.best_trials} if multi else set()
        for t in self.trials:
            row: dict[str, Any] = {"number": t.number, "state": trial_state(t)}
            if multi:  # each objective in a column of its own, and whether the trial is on the front
                done = t.state.name == "COMPLETE" and t.values is not None
                row.update({f"values.{n}": (t.values[i] if done else None) for i, n in enumerate(names)})
                row["pareto"] = t.number in front
            else:
                row["value"] = t.value if t.state.name == "COMPLETE" else None
            row.update({f"params.{k}": v for k, v in t.params.items()})
            row["duration_s"] = t.duration.total_seconds() if t.duration else None
            row["datetime_start"] = t.datetime_start
            row["error"] = t.user_attrs.get(ERROR) or t.user_attrs.get(FAIL_REASON)
            rows.append(row)
        df = pd.DataFrame(rows)
        # Every parameter column after value, in order of first use (a conditional space's
        # branch parameters appear only with their branch: NaN in the other rows).
        params = [c for c in df.columns if c.startswith("params.")]
        head = [c for c in df.columns if c in ("number", "state", "value") or c.startswith("values.") or c == "pareto"]
        rest = [c for c in df.columns if c not in head and c not in params]
        return df[head + params + rest]

    def __repr__(self) -> str:
        counts = ", ".join(f"{k}={v}" for k, v in self.counts().items() if v)
        if self.multi_objective:
            return f"Study(name={self.name!r}, objectives={{{self.objectives.text()}}}, {counts})"
        return f"Study(name={self.name!r}, direction={self.direction!r}, {counts})"
