"""``tune()``: the entry point from Python. It plans the study (every argument checked,
``hpo._plan``) and runs the plan (``hpo._driver``)."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from hpo._driver import Callback, run_plan
from hpo._exceptions import ConfigError
from hpo._executors import ExecutorLike
from hpo._plan import Settings, plan_study
from hpo._searchers import DEFAULT_PRUNER, PrunerLike, SearcherLike
from hpo._space import Space
from hpo._study import Study
from hpo._tracking import DEFAULT
from hpo._validation import did_you_mean

__all__ = ["tune"]


class _Required:
    """The default of ``space``: required, but left out when a user from scikit-learn passes
    ``param_grid=`` instead, which then gets a message better than a missing argument's."""

    def __repr__(self) -> str:
        return "<required>"


_REQUIRED: Any = _Required()


def tune(
    objective: Callable[..., Any],
    space: Space | Mapping[str, Any] | str = _REQUIRED,
    *,
    n_trials: int | None = None,
    direction: str | None = None,
    searcher: SearcherLike = "tpe",
    pruner: PrunerLike = DEFAULT_PRUNER,
    seed: int | None = None,
    storage: Any = None,
    study_name: str | None = None,
    tracking: Any = DEFAULT,
    executor: ExecutorLike = "inline",
    timeout: float | None = None,
    trial_timeout: float | None = None,
    catch: Iterable[type[Exception]] | type[Exception] = (Exception,),
    callbacks: Iterable[Callback] = (),
    plots: bool | None = None,
    constraints: str | list[str] | None = None,
    outcome_constraints: str | list[str] | None = None,
    objectives: Mapping[str, str] | None = None,
    directions: list[str] | None = None,
    select: Mapping[str, Any] | None = None,
    reference_point: list[float] | Mapping[str, float] | None = None,
    prune_on: str | None = None,
    checkpoint_dir: str | None = None,
    keep_best: int = 1,
    warm_start: str | Mapping[str, Any] | list[Mapping[str, Any]] | None = None,
    reproducible: bool | Mapping[str, int] | None = None,
    resource_metrics: bool | Mapping[str, float] | None = None,
    child_runs: str | Mapping[str, int] | None = None,
    **unknown: Any,
) -> Study:
    """Search ``space`` for the hyperparameters that optimize ``objective``.

    Args:
        objective: ``objective(params, trial) -> float`` (or ``objective(params)``). ``params``
            is a dict; ``trial.report(value, step)`` reports intermediate values and raises
            :class:`hpo.TrialPruned` when the pruner stops the trial. A trainer is such a callable;
            a scikit-learn estimator is not (wrap it: ``hpo.trainers.SklearnTrainer(est, X, y)``).
        space: A :class:`Space`, its dict form, or the name of a ready-made space in
            ``search_spaces``. Required.
        n_trials: Trials to end on their own (complete, pruned or failed) -- counted over the
            whole study, so running the same call on a persistent storage again resumes it.
            Optional for ``grid`` (defaults to the grid size) or with a ``timeout``.
        direction: ``"minimize"`` or ``"maximize"``; by default the objective's own
            ``direction`` attribute (trainers have one), else ``"minimize"``. One that
            contradicts the objective's is a :class:`ConfigError`.
        searcher: ``"tpe"``, ``"random"``, ``"grid"``, ``"gp"``, ``"cmaes"``, ``"qmc"``, ``"auto"``
            (picks one by the space and ``n_trials``), ``{"name": ..., **options}`` with options
            for the Optuna sampler, or an Optuna sampler.
        pruner: ``"median"``, ``"successive_halving"``, ``"hyperband"``, ``"none"`` (or
            ``None``), a mapping with options, or an Optuna pruner.
        seed: Seed of the searcher.
        storage: Where trials are kept: ``None`` (in memory), an RDB URL, a journal file path,
            or an Optuna storage. With a persistent storage and a ``study_name``, a study that
            exists is resumed.
        study_name: The study's name, also its MLflow experiment; generated when omitted.
        tracking: MLflow tracking URI; by default ``$MLFLOW_TRACKING_URI`` or
            ``sqlite:///mlflow.db`` in the working directory; ``None`` turns tracking off.
        executor: ``"inline"`` (trials one after another in this process), ``"ray"`` or
            ``{"kind": "ray", "workers": N, "address": ..., "cpus_per_trial": ...,
            "gpus_per_trial": ..., "max_retries": ...}`` (trials at once on Ray workers), or an
            :class:`Executor`.
        timeout: Stop starting new trials after this many seconds.
        trial_timeout: Stop a trial that runs longer than this many seconds and fail it
            (``TrialTimeout: ...``); the study goes on.
        catch: Exceptions of the objective that fail the trial and let the study go on; any
            other exception fails the trial and ends the study with it.
        callbacks: ``callback(study, frozen_trial)`` after each trial ends.
        plots: Draw the study's plots into its MLflow parent run at the end (``plots/``:
            history, parameter importances, parallel coordinates, slice, learning curves;
            HTML and PNG), in a process of their own that imports plotly and matplotlib while
            the trials run (~3 s of CPU). Only with tracking on. By default ``$HPO_PLOTS``
            (``0`` or ``1``), else on.
        constraints: Expressions over the parameters (``["n_layers * width <= 4096",
            "n_estimators < 500 or max_depth is None"]``): a configuration that breaks one is
            never run (it is recorded as an ``infeasible`` trial, not counted in ``n_trials``).
            Arithmetic, comparisons, ``and``/``or``/``not``, ``x if c else y`` and ``abs``,
            ``min``, ``max``, ``round``, ``log``, ``exp``, ``sqrt``; nothing else is evaluated.
            An expression that reads a parameter of another branch does not apply.
        outcome_constraints: Comparisons over the metrics the objective logs (its last value
            of each) and ``value`` (``["fit_time_s <= 2"]``), stored as Optuna's constraints: the
            best trial is the best feasible one, and TPE learns to avoid infeasible regions.
            With several objectives, their names are metrics too.
        objectives: Several objectives by name, in order: ``{"accuracy": "maximize",
            "latency_ms": "minimize"}``. The objective returns a dict with those keys (or a
            tuple in that order); each is logged under its name. The study then has a Pareto
            front (``study.best_trials``) instead of a best trial. Instead of ``direction``.
        directions: Several objectives without names (``["maximize", "minimize"]``; they are
            called ``values_0``, ``values_1``): the objective returns a tuple.
        select: How to pick one trial of the front, the one whose model is refit and logged:
            ``{"maximize": "accuracy", "where": "latency_ms <= 5"}`` (or ``minimize``), or
            ``{"weights": {"accuracy": 1, "latency_ms": 0.01}}`` (importances; ``where`` too).
        reference_point: The hypervolume's reference point, a value per objective (a list in
            their order, or a mapping by name); by default the worst value of each objective.
        prune_on: With several objectives, the one whose intermediate values
            (``trial.report``) the pruner compares. Without it the default pruner prunes
            nothing, and a pruner given by name is an error.
        checkpoint_dir: Where the study's trial checkpoints (``trial.checkpoint(state)``) are
            written, in a folder named after the study; by default beside a file storage
            (``checkpoints/NAME/`` next to the journal or sqlite file), else in ``$HPO_HOME`` or
            ``./.hpo``, and for an in-memory study a temporary folder removed at its end.
        keep_best: How many of the best complete trials keep their last checkpoint (pruned,
            failed and other complete trials' are deleted when they end).
        warm_start: Earlier results to start from: a study name (in ``storage``),
            ``{"study": NAME, "storage": URL}``, ``{"mlflow_experiment": NAME}``, and/or
            ``{"enqueue": [{...}, ...]}`` (configurations run first; a list alone means this),
            with ``"defaults"`` for parameters the earlier trials lack. Their complete trials
            that fit ``space`` are told to the searcher (state ``warm``, not counted in
            ``n_trials``); what did not fit is said in one line.
        reproducible: With several trials at once, give the same trials in every run of the
            study with the same ``seed`` and number of workers, whatever order the workers finish
            in: each trial is proposed, and judged by the pruner, from the trials that had ended
            ``lag`` trials before it (``{"lag": N}``; by default the number of trials at once),
            the driver waiting for a late trial when needed. See :mod:`hpo._reproducible`.
        resource_metrics: Log each trial's own CPU, memory and GPUs (those it was given) to its
            MLflow run as ``system/...`` metrics: ``True`` (every 10 s) or ``{"interval": S}``.
            Off by default. See :mod:`hpo._resources`.
        child_runs: Which trials get a run of their own under the study's MLflow run: ``"all"``
            (default), ``{"top_k": N}`` (the N best complete trials: a trial's run is written
            when it ends among them, and deleted when N better ones have ended), or ``"none"``.
            The study run still holds ``trials.csv``, the summary, the plots, ``best_value`` and
            each complete trial's value as ``trial_value`` (step: the trial's number).
        **unknown: No other keyword is accepted: each is a :class:`ConfigError` saying where
            that setting lives in hpo (``n_jobs`` -> ``executor``, ``param_grid`` -> ``space``,
            ``n_iter`` -> ``n_trials``, ``random_state`` -> ``seed``, ``scoring`` and ``cv`` ->
            the trainer), or which keyword was meant.

    Returns:
        The :class:`Study`.

    Raises:
        ConfigError: A bad argument; nothing was run or written.
        AllTrialsFailedError: Every trial failed (``err.study`` holds them).
    """
    if unknown:
        key, value = next(iter(unknown.items()))
        raise ConfigError(_unknown_keyword(key, value), key=key)
    if space is _REQUIRED:
        raise ConfigError("missing; give a Space, its dict form or a ready-made space name", key="space")
    settings = Settings(
        n_trials=n_trials,
        direction=direction,
        searcher=searcher,
        pruner=pruner,
        seed=seed,
        storage=storage,
        study_name=study_name,
        tracking=tracking,
        executor=executor,
        timeout=timeout,
        trial_timeout=trial_timeout,
        catch=catch,
        plots=plots,
        constraints=constraints,
        outcome_constraints=outcome_constraints,
        objectives=objectives,
        directions=directions,
        select=select,
        reference_point=reference_point,
        prune_on=prune_on,
        checkpoint_dir=checkpoint_dir,
        keep_best=keep_best,
        warm_start=warm_start,
        reproducible=reproducible,
        resource_metrics=resource_metrics,
        child_runs=child_runs,
    )
    return run_plan(plan_study(objective, space, settings), callbacks=callbacks)


def _unknown_keyword(key: str, value: Any) -> str:
    """Where the setting another tool (scikit-learn, Optuna, Ray Tune) calls ``key`` lives in hpo,
    or the closest keyword of :func:`tune`."""
    got = " ".join(repr(value).split())  # one line, whatever the value's repr
    got = got if len(got) <= 60 else got[:57] + "..."
    count = value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 20
    workers = value if isinstance(value, int) and not isinstance(value, bool) and value > 1 else 2
    direction = {"max": "'maximize'", "min": "'minimize'"}.get(str(value), "'minimize' or 'maximize'")
    trainer = "the trainer's: hpo.trainers.SklearnTrainer(estimator, X, y, scoring=..., cv=...)"
    elsewhere = {
        "n_jobs": "trials run at once on an executor: executor='ray' (every CPU) or "
        f"executor={{'kind': 'ray', 'workers': {workers}}}",
        "param_grid": "give the grid as space, the second argument, with searcher='grid'",
        "param_distributions": "give the distributions as space, the second argument, e.g. "
        "{'C': hpo.Float(1e-3, 1e3, log=True)}",
        "n_iter": f"use n_trials={count}",
        "num_samples": f"use n_trials={count}",
        "random_state": f"use seed={value if isinstance(value, int) and not isinstance(value, bool) else 0}",
        "scoring": f"scoring is {trainer}",
        "cv": f"cv is {trainer}",
        "metric": "the objective returns the metric; say which way is better with direction='minimize' or "
        "'maximize' (a trainer knows its own)",
        "mode": f"use direction={direction}",  # Ray Tune's mode='min' or 'max'
        "sampler": "use searcher= (an Optuna sampler is taken as it is)",
        "search_alg": "use searcher= ('tpe', 'random', 'grid' or an Optuna sampler)",
        "scheduler": "use pruner= ('median', 'successive_halving', 'hyperband' or an Optuna pruner)",
        "name": f"use study_name={got}",
    }
    if key in elsewhere:
        return f"tune() has no {key} (got {got}); {elsewhere[key]}"
    names = [name for name, p in inspect.signature(tune).parameters.items() if p.kind is not p.VAR_KEYWORD]
    hint = did_you_mean(key, names, f"; its keyword arguments: {', '.join(names[2:])}")
    return f"not a keyword argument of tune(), got {got}{hint}"
