"""Planning a study: every argument of :func:`hpo.tune` checked, nothing created or written.

:class:`Settings` holds the arguments as given (from Python, or from a config file and the
CLI's overrides); :func:`plan_study` turns them into a :class:`StudyPlan`, or raises a one-line
:class:`~hpo.ConfigError` naming the argument and its value.
"""

from __future__ import annotations

import math
import os
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hpo._constraints import Constraints, OutcomeConstraints, check_feasible
from hpo._exceptions import ConfigError
from hpo._executors import Executor, ExecutorLike, make_executor
from hpo._objectives import Objectives, Select, check_objectives
from hpo._pareto import check_reference_point
from hpo._searchers import (
    DEFAULT_PRUNER,
    PrunerLike,
    SearcherLike,
    make_pruner,
    make_sampler,
    pruner_name,
    quiet_optuna,
    rehearse,
    resolve_searcher,
    validate_searcher,
)
from hpo._space import Space, _names, space_from_spec
from hpo._storage import check_storage
from hpo._tracking import DEFAULT, check_reachable, resolve_tracking_uri
from hpo._trial import signature_problem
from hpo._validation import check_keys, did_you_mean
from hpo._warm_start import WarmStart, check_warm_start

__all__ = ["Settings", "StudyPlan", "as_space", "plan_study"]


@dataclass
class Settings:
    """The settings of a study as given, unchecked: :func:`hpo.tune`'s keyword arguments (see
    there for each), also what a config file holds."""

    n_trials: int | None = None
    direction: str | None = None
    searcher: SearcherLike = "tpe"
    pruner: PrunerLike = DEFAULT_PRUNER
    seed: int | None = None
    storage: Any = None
    study_name: str | None = None
    tracking: Any = DEFAULT
    executor: ExecutorLike = "inline"
    timeout: float | None = None
    trial_timeout: float | None = None
    catch: Any = (Exception,)
    plots: Any = None
    constraints: Any = None
    outcome_constraints: Any = None
    directions: Any = None
    objectives: Any = None
    select: Any = None
    reference_point: Any = None
    prune_on: Any = None
    checkpoint_dir: Any = None
    keep_best: Any = 1
    warm_start: Any = None
    reproducible: Any = None
    resource_metrics: Any = None
    child_runs: Any = None


@dataclass
class StudyPlan:
    """A study's settings, every one validated: running it is all that is left."""

    objective: Callable[..., Any]
    space: Space
    direction: str
    searcher: SearcherLike
    searcher_label: str
    pruner: PrunerLike
    pruner_label: str
    n_trials: int | None
    seed: int | None
    storage: Any
    study_name: str
    tracking_uri: str | None
    executor: Executor
    timeout: float | None
    catch: tuple[type[BaseException], ...]
    trial_timeout: float | None = None
    plots: bool = True
    #: Parameter constraints: an infeasible configuration is never run.
    constraints: Constraints | None = None
    #: Constraints on a trial's logged metrics: the best trial is the best feasible one.
    outcome_constraints: OutcomeConstraints | None = None
    #: The objectives by name, when given (``objectives``, ``directions``, or a trainer's own);
    #: ``None`` for a plain single-objective study. With several, ``direction`` is the first's.
    objectives: Objectives | None = None
    #: Picks the trial of a multi-objective study whose model is refit and logged.
    select: Select | None = None
    #: The hypervolume's reference point, one value per objective (default: the worst of each).
    reference_point: tuple[float, ...] | None = None
    #: The objective of a multi-objective study that the pruner judges.
    prune_on: str | None = None
    #: The folder the study's checkpoint folder goes in (``None``: beside a file storage, see
    #: :func:`hpo._checkpoints.checkpoint_folder`).
    checkpoint_dir: Path | None = None
    #: How many of the best complete trials keep their last checkpoint.
    keep_best: int = 1
    #: What earlier studies tell the searcher, and configurations to run first.
    warm_start: WarmStart | None = None
    #: A reproducible parallel study: each trial asked and judged against a fixed view of the
    #: study, lagging ``lag`` trials (None: the executor's concurrency); see hpo._reproducible.
    reproducible: bool = False
    lag: int | None = None
    #: Seconds between samples of each trial's CPU, memory and GPUs (None: not sampled).
    resource_metrics: float | None = None
    #: Which trials get an MLflow run: "all", "none", or the number of best ones (top_k).
    child_runs: str | int = "all"

    @property
    def multi(self) -> bool:
        """Whether the study has several objectives."""
        return self.objectives is not None and self.objectives.multi


def plan_study(objective: Callable[..., Any], space: Any, settings: Settings | None = None) -> StudyPlan:
    """Validate the arguments of :func:`hpo.tune` without creating or writing anything.

    Args:
        objective: The objective (a function or a trainer).
        space: A :class:`Space`, its dict form, or a ready-made space's name.
        settings: The other arguments; the defaults of :func:`hpo.tune` when omitted.

    Raises:
        ConfigError: One line naming the argument and its value.
        TrackingError: The tracking store plainly cannot be reached.
    """
    s = settings if settings is not None else Settings()
    _check_objective(objective)
    space = as_space(space)
    objectives = check_objectives(s.direction, s.directions, s.objectives, objective)
    n_objectives = len(objectives.names) if objectives is not None else 1
    searcher_label = validate_searcher(s.searcher, space, n_objectives)
    seed = s.seed
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**32):
        raise ConfigError(f"expected an integer from 0 to 2**32 - 1, got {seed!r}", key="seed")
    name = s.study_name
    if name is not None and (not isinstance(name, str) or not name.strip()):
        raise ConfigError(f"expected a non-empty string, got {name!r}", key="study_name")
    plots = _check_plots(s.plots)
    if objectives is None:
        direction = _check_direction(s.direction, objective)
    elif objectives.multi:
        direction = objectives.directions[0]
    else:  # one named objective: as direction, checked against a trainer's own
        direction = _check_direction(objectives.directions[0], objective)
    pruner, prune_on = _check_prune_on(s.pruner, s.prune_on, objectives)
    reported = getattr(objective, "reported_objective", None)  # e.g. a trainer's first scorer
    if prune_on is not None and isinstance(reported, str) and prune_on != reported:
        raise ConfigError(
            key="prune_on",
            message=f"the objective reports the intermediate values of {reported}, got {prune_on!r}: "
            f"use prune_on: {reported}",
        )
    plan = StudyPlan(
        objective=objective,
        space=space,
        direction=direction,
        searcher=s.searcher,
        searcher_label=searcher_label,
        pruner=pruner,
        pruner_label=pruner_name(pruner),
        n_trials=_check_n_trials(s.n_trials, searcher_label, space, s.timeout),
        seed=seed,
        storage=check_storage(s.storage),
        study_name=name or f"study-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:4]}",
        tracking_uri=resolve_tracking_uri(s.tracking),
        executor=make_executor(s.executor),
        timeout=s.timeout,
        catch=_check_catch(s.catch),
        trial_timeout=_check_seconds(s.trial_timeout, "trial_timeout"),
        plots=plots,
    )
    plan.objectives, plan.prune_on = objectives, prune_on
    if s.select is not None:
        if objectives is None or not objectives.multi:
            raise ConfigError(key="select", message="picks a trial of a study of several objectives; this one has one")
        plan.select = Select(s.select, objectives)
    if s.reference_point is not None:
        if objectives is None or not objectives.multi:
            raise ConfigError(
                key="reference_point", message="for the hypervolume of several objectives; this study has one"
            )
        plan.reference_point = check_reference_point(s.reference_point, objectives)
    # auto: the searcher it picks for this space and budget, labelled "auto (gp)".
    plan.searcher, plan.searcher_label = resolve_searcher(plan.searcher, space, plan.n_trials, n_objectives)
    if s.constraints is not None:
        plan.constraints = Constraints(s.constraints, _names(space))
        if plan.searcher_label == "grid":  # each feasible point once: the others never run
            feasible = sum(1 for point in space.grid() if plan.constraints.feasible(space.objective_params(point)))
            if s.n_trials is None or (plan.n_trials or 0) > feasible:
                plan.n_trials = feasible
    if s.outcome_constraints is not None:
        plan.outcome_constraints = OutcomeConstraints(s.outcome_constraints)
    check_space = getattr(objective, "check_space", None)
    if callable(check_space):  # e.g. a trainer: are these its model's parameters?
        check_space(space)
    check_executor = getattr(objective, "check_executor", None)
    if callable(check_executor):  # e.g. a data-parallel trainer: do its trials get their devices?
        check_executor(plan.executor)
    # Build the sampler and pruner once here so that bad options fail before anything runs;
    # options given as a mapping are also tried on throwaway trials (Optuna checks most late).
    sampler = make_sampler(plan.searcher, space, seed=seed, n_objectives=n_objectives)
    built_pruner = make_pruner(pruner)
    if isinstance(s.searcher, Mapping) or isinstance(pruner, Mapping):
        with quiet_optuna():
            rehearse(sampler, built_pruner, space)
    if plan.constraints is not None:  # a space constrained to nothing would run nothing
        check_feasible(plan.constraints, space, seed=seed)
    if plan.tracking_uri is not None:
        check_reachable(plan.tracking_uri)
    plan.reproducible, plan.lag = _check_reproducible(s.reproducible)
    plan.resource_metrics = _check_resource_metrics(s.resource_metrics)
    plan.child_runs = _check_child_runs(s.child_runs, multi=plan.multi)
    plan.checkpoint_dir = _check_folder(s.checkpoint_dir, "checkpoint_dir")
    plan.keep_best = _check_count(s.keep_best, "keep_best")
    if s.warm_start is not None:
        directions = list(objectives.directions) if objectives is not None and objectives.multi else [direction]
        plan.warm_start = check_warm_start(s.warm_start, space, directions, objectives, plan.storage, plan.tracking_uri)
    return plan


def _check_reproducible(value: Any) -> tuple[bool, int | None]:
    """``reproducible``: true, false, or ``{lag: N}`` (how many trials before the one asked it
    does not see end; by default the executor's concurrency)."""
    if value is None or isinstance(value, bool):
        return bool(value), None
    if isinstance(value, Mapping):
        check_keys(value, ("lag",), "reproducible")
        lag = value.get("lag")
        if isinstance(lag, bool) or not isinstance(lag, int) or lag < 0:
            raise ConfigError(f"expected a non-negative integer, got {lag!r}", key="reproducible.lag")
        return True, lag
    raise ConfigError(f"expected true, false or {{lag: N}}, got {value!r}", key="reproducible")


def _check_child_runs(value: Any, multi: bool) -> str | int:
    """``child_runs``: ``all`` (default), ``none``, or ``{top_k: N}``."""
    if value is None or value == "all":
        return "all"
    if value == "none":
        return "none"
    if isinstance(value, Mapping):
        check_keys(value, ("top_k",), "child_runs")
        k = value.get("top_k")
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ConfigError(f"expected a positive integer, got {k!r}", key="child_runs.top_k")
        if multi:
            message = "ranks trials by one value; a study of several objectives takes all or none"
            raise ConfigError(message, key="child_runs.top_k")
        return k
    raise ConfigError(f"expected all, none or {{top_k: N}}, got {value!r}", key="child_runs")


#: Seconds between two samples of a trial's resources, unless ``resource_metrics`` says.
RESOURCE_INTERVAL_S = 10.0


def _check_resource_metrics(value: Any) -> float | None:
    """``resource_metrics``: true (every 10 s), false, or ``{interval: SECONDS}``."""
    if value is None or value is False:
        return None
    if value is True:
        return RESOURCE_INTERVAL_S
    if isinstance(value, Mapping):
        check_keys(value, ("interval",), "resource_metrics")
        interval = value.get("interval", RESOURCE_INTERVAL_S)
        if isinstance(interval, bool) or not isinstance(interval, (int, float)) or not 0 < interval < math.inf:
            raise ConfigError(
                f"expected a positive number of seconds, got {interval!r}", key="resource_metrics.interval"
            )
        return float(interval)
    raise ConfigError(f"expected true, false or {{interval: SECONDS}}, got {value!r}", key="resource_metrics")


def _check_folder(value: Any, key: str) -> Path | None:
    if value is None:
        return None
    if not isinstance(value, (str, Path)) or not str(value).strip():
        raise ConfigError(f"expected a folder path, got {value!r}", key=key)
    try:
        path = Path(value).expanduser()
        is_file = path.exists() and not path.is_dir()
    except (ValueError, OSError, RuntimeError) as err:  # a NUL byte, ~unknown-user, too long
        raise ConfigError(f"bad folder path {str(value)!r}: {err}", key=key) from None
    if is_file:
        raise ConfigError(f"{str(path)!r} is a file, expected a folder", key=key)
    return path


def _check_count(value: Any, key: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigError(f"expected a non-negative integer, got {value!r}", key=key)
    return value


def as_space(space: Any) -> Space:
    """A :class:`Space` from a Space, a mapping, the name of a ready-made space, or
    ``{"preset": NAME, "step": STEP}`` (see :func:`hpo._space.space_from_spec`, shared with configs)."""
    return space_from_spec(space)


def _check_seconds(value: Any, key: str) -> float | None:
    if value is not None and (
        isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0 or value == math.inf
    ):
        raise ConfigError(f"expected a positive number of seconds, got {value!r}", key=key)
    return value


def _check_n_trials(n_trials: Any, searcher: str, space: Space, timeout: Any) -> int | None:
    if n_trials is not None and (isinstance(n_trials, bool) or not isinstance(n_trials, int) or n_trials < 1):
        raise ConfigError(f"expected a positive integer, got {n_trials!r}", key="n_trials")
    _check_seconds(timeout, "timeout")
    if searcher == "grid":
        size = space.grid_size()
        if n_trials is None:
            return size
        if n_trials > size:
            raise ConfigError(
                f"{n_trials} exceeds the {size} points of the grid; the grid searcher runs each point once",
                key="n_trials",
            )
        return n_trials
    if n_trials is None and timeout is None:
        try:  # every parameter a list of values, as in GridSearchCV's param_grid: say so
            hint = f"; or searcher='grid' to run each of this space's {space.grid_size()} points once"
        except ConfigError:
            hint = ""
        raise ConfigError(f"required for searcher {searcher!r} unless a timeout is given{hint}", key="n_trials")
    return n_trials


def _check_plots(plots: Any) -> bool:
    if plots is None:
        value = os.environ.get("HPO_PLOTS", "").strip().lower() or "1"  # empty: unset
        if value not in ("0", "1", "true", "false", "yes", "no", "on", "off"):
            raise ConfigError(f"expected 0 or 1, got {os.environ['HPO_PLOTS']!r}", key="HPO_PLOTS")
        return value in ("1", "true", "yes", "on")
    if not isinstance(plots, bool):
        raise ConfigError(f"expected true or false, got {plots!r}", key="plots")
    return plots


def _check_objective(objective: Any) -> None:
    """Refuse what no trial could call: an estimator, or a signature that takes neither
    ``(params)`` nor ``(params, trial)`` (it would fail every trial)."""
    if not callable(objective):
        if hasattr(objective, "fit") and hasattr(objective, "get_params"):  # a scikit-learn estimator
            shown = " ".join(repr(objective).split())  # a Pipeline's repr spans lines
            shown = shown if len(shown) <= 80 else shown[:77] + "..."
            raise ConfigError(
                f"got the estimator {shown}; wrap it with its data: hpo.trainers.SklearnTrainer(estimator, X, y)",
                key="objective",
            )
        raise ConfigError(f"expected a callable, got {objective!r}", key="objective")
    problem = signature_problem(objective)
    if problem is not None:
        raise ConfigError(problem, key="objective")


def _check_direction(direction: Any, objective: Any) -> str:
    declared = getattr(objective, "direction", None)
    if direction is None:
        direction = declared or "minimize"
    if direction not in ("minimize", "maximize"):
        raise ConfigError(f"expected 'minimize' or 'maximize', got {direction!r}", key="direction")
    if declared in ("minimize", "maximize") and direction != declared:
        # e.g. maximize given for a trainer scoring an error: the study would seek the worst model.
        raise ConfigError(
            f"{direction!r} contradicts the objective's direction {declared!r} ({_describe(objective)}); "
            "leave direction out",
            key="direction",
        )
    return str(direction)


def _describe(objective: Any) -> str:
    """``TorchTrainer, metric val_mse``: the objective and what it scores, for messages."""
    name = getattr(objective, "__name__", None) or type(objective).__name__
    metric = getattr(objective, "metric_name", None)  # a trainer's
    return f"{name}, metric {metric}" if isinstance(metric, str) else name


def _check_prune_on(pruner: Any, prune_on: Any, objectives: Objectives | None) -> tuple[Any, str | None]:
    """The pruner to run and the objective it judges.

    With several objectives Optuna's pruners need one to judge (``prune_on``); the default
    pruner without one prunes nothing (the study has no single intermediate value to compare),
    and a pruner asked for by name without one is an error.
    """
    multi = objectives is not None and objectives.multi
    if prune_on is not None:
        names = list(objectives.names) if objectives is not None else []
        if not multi:
            raise ConfigError(
                key="prune_on",
                message=f"names the objective to prune on in a study of several, got {prune_on!r} for one",
            )
        if prune_on not in names:
            raise ConfigError(
                key="prune_on",
                message=f"unknown objective {prune_on!r}{did_you_mean(str(prune_on), names)}; "
                f"the objectives: {', '.join(names)}",
            )
        return pruner, str(prune_on)
    if not multi:
        return pruner, None
    if pruner is DEFAULT_PRUNER or pruner_name(pruner) == "none":
        return None, None
    assert objectives is not None
    raise ConfigError(
        key="prune_on",
        message=f"required with pruner {pruner_name(pruner)!r} in a study of several objectives: name the one whose "
        f"intermediate values it compares ({objectives.listed()}), or use pruner: none",
    )


def _check_catch(catch: Any) -> tuple[type[BaseException], ...]:
    if isinstance(catch, type):
        catch = (catch,)
    catch = tuple(catch)
    for exc in catch:
        if not (isinstance(exc, type) and issubclass(exc, Exception)):
            raise ConfigError(f"expected Exception subclasses, got {exc!r}", key="catch")
    return catch
