"""``tune()``: the driver loop that joins Optuna (ask/tell), an executor and the MLflow tracker.

The driver alone asks Optuna for trials and tells it the results, so the study storage stays
the single source of truth for trial state. Executors only run trials; the tracker only writes.
"""

from __future__ import annotations

import logging
import math
import os
import signal
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, cast

from hpo._exceptions import (
    AllTrialsFailedError,
    ConfigError,
    StudyNotFoundError,
    TrackingError,
)
from hpo._executors import Executor, ExecutorLike, TrialJob, make_executor
from hpo._searchers import (
    PrunerLike,
    SearcherLike,
    make_pruner,
    make_sampler,
    pruner_name,
    rehearse,
    validate_searcher,
)
from hpo._space import Space
from hpo._ownership import Owner, SharedBudget, live_owners, mark_interrupted, recover_interrupted
from hpo._storage import check_storage, open_storage
from hpo._study import ERROR, Study, count_states, n_ended, trial_state
from hpo._summary import summary, yaml_text
from hpo._tracking import DEFAULT, Tracker, check_reachable, resolve_tracking_uri
from hpo._trial import (
    COMPLETE,
    FAILED,
    INTERRUPTED,
    PRUNED,
    StudyRun,
    TrialResult,
    as_two_argument,
)

if TYPE_CHECKING:
    import optuna

__all__ = ["StudyPlan", "plan_study", "run_plan", "tune"]

_logger = logging.getLogger("hpo")

Callback = Callable[[Study, "optuna.trial.FrozenTrial"], None]


class Terminated(KeyboardInterrupt):
    """SIGTERM, delivered as an interrupt so the study ends its runs before exiting."""


@contextmanager
def _sigterm_as_interrupt() -> Any:
    # Only where we may (main thread) and where the user has not set a handler of their own.
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGTERM)
    if previous not in (signal.SIG_DFL, None):
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        raise Terminated("SIGTERM")

    signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextmanager
def _quiet_optuna() -> Any:
    # Optuna logs a line per trial at INFO and each failure at WARNING; hpo says it instead.
    import optuna

    level = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    try:
        yield
    finally:
        optuna.logging.set_verbosity(level)


class _Driver:
    """Holds the running Optuna trials; the inline executor's ``Reporter``."""

    def __init__(self, study: optuna.study.Study, tracker: Tracker | None) -> None:
        self.study = study
        self.tracker = tracker
        self.running: dict[int, optuna.trial.Trial] = {}

    def report(self, number: int, value: float, step: int) -> bool:
        trial = self.running[number]
        trial.report(value, step)
        if self.tracker is not None:
            self.tracker.log_metrics(number, {"intermediate_value": value}, step)
        return trial.should_prune()

    def should_prune(self, number: int) -> bool:
        return self.running[number].should_prune()

    def log_metrics(self, number: int, metrics: Mapping[str, float], step: int | None) -> None:
        if self.tracker is not None:
            self.tracker.log_metrics(number, metrics, step)

    def log_artifact(self, number: int, path: str, artifact_path: str | None) -> None:
        if self.tracker is not None:
            self.tracker.log_artifact(number, path, artifact_path)

    def set_user_attr(self, number: int, key: str, value: Any) -> None:
        self.running[number].set_user_attr(key, value)


def _check_seconds(value: Any, key: str) -> float | None:
    if value is not None and (
        isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0 or value == math.inf
    ):
        raise ConfigError(key=key, message=f"expected a positive number of seconds, got {value!r}")
    return value


def _check_n_trials(n_trials: Any, searcher: str, space: Space, timeout: Any) -> int | None:
    if n_trials is not None and (
        isinstance(n_trials, bool) or not isinstance(n_trials, int) or n_trials < 1
    ):
        raise ConfigError(key="n_trials", message=f"expected a positive integer, got {n_trials!r}")
    _check_seconds(timeout, "timeout")
    if searcher == "grid":
        size = space.grid_size()
        if n_trials is None:
            return size
        if n_trials > size:
            raise ConfigError(
                key="n_trials",
                message=f"{n_trials} exceeds the {size} points of the grid; "
                "the grid searcher runs each point once"
            )
        return n_trials
    if n_trials is None and timeout is None:
        raise ConfigError(key="n_trials", message=f"required for searcher {searcher!r} unless a timeout is given")
    return n_trials


def _check_plots(plots: Any) -> bool:
    if plots is None:
        value = os.environ.get("HPO_PLOTS", "1").strip().lower()
        if value not in ("0", "1", "true", "false", "yes", "no", "on", "off"):
            raise ConfigError(key="HPO_PLOTS", message=f"expected 0 or 1, got {os.environ['HPO_PLOTS']!r}")
        return value in ("1", "true", "yes", "on")
    if not isinstance(plots, bool):
        raise ConfigError(key="plots", message=f"expected true or false, got {plots!r}")
    return plots


def _check_direction(direction: Any, objective: Any) -> str:
    if direction is None:
        direction = getattr(objective, "direction", None) or "minimize"
    if direction not in ("minimize", "maximize"):
        raise ConfigError(key="direction", message=f"expected 'minimize' or 'maximize', got {direction!r}")
    return direction


def _check_catch(catch: Any) -> tuple[type[BaseException], ...]:
    if isinstance(catch, type):
        catch = (catch,)
    catch = tuple(catch)
    for exc in catch:
        if not (isinstance(exc, type) and issubclass(exc, Exception)):
            raise ConfigError(key="catch", message=f"expected Exception subclasses, got {exc!r}")
    return catch


def as_space(space: Any) -> Space:
    """A :class:`Space` from a Space, a mapping, or the name of a ready-made space."""
    if isinstance(space, Space):
        return space
    if isinstance(space, str):
        from hpo import search_spaces

        return search_spaces.load(space)
    if isinstance(space, Mapping):
        return Space.from_dict(space)
    raise ConfigError(key="space", message=f"expected a Space, a mapping or a search_spaces name, got {space!r}")


def _failure_summary(study: optuna.study.Study) -> str:
    errors: dict[str, int] = {}
    failed = [t for t in study.get_trials(deepcopy=False) if trial_state(t) == "failed"]
    for t in failed:
        error = t.user_attrs.get(ERROR, "unknown error")
        errors[error] = errors.get(error, 0) + 1
    lines = [f"All {len(failed)} trials of study {study.study_name!r} failed."]
    lines.append("Below are more details about the failures:")
    for error, n in sorted(errors.items(), key=lambda kv: -kv[1]):
        lines.append("-" * 40)
        lines.append(f"{n} trial{'s' if n > 1 else ''} failed with the error:\n{error}")
    return "\n".join(lines)


def tune(
    objective: Callable[..., Any],
    space: Space | Mapping[str, Any] | str,
    *,
    n_trials: int | None = None,
    direction: str | None = None,
    searcher: SearcherLike = "tpe",
    pruner: PrunerLike = "median",
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
) -> Study:
    """Search ``space`` for the hyperparameters that optimize ``objective``.

    Args:
        objective: ``objective(params, trial) -> float`` (or ``objective(params)``). ``params``
            is a dict; ``trial.report(value, step)`` reports intermediate values and raises
            :class:`hpo.TrialPruned` when the pruner stops the trial. A trainer is such a callable.
        space: A :class:`Space`, its dict form, or the name of a ready-made space in
            ``search_spaces``.
        n_trials: Trials to end on their own (complete, pruned or failed) -- counted over the
            whole study, so running the same call on a persistent storage again resumes it.
            Optional for ``grid`` (defaults to the grid size) or with a ``timeout``.
        direction: ``"minimize"`` or ``"maximize"``; by default the objective's own
            ``direction`` attribute (trainers have one), else ``"minimize"``.
        searcher: ``"tpe"``, ``"random"``, ``"grid"``, ``{"name": ..., **options}`` with options
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

    Returns:
        The :class:`Study`.

    Raises:
        ConfigError: A bad argument; nothing was run or written.
        AllTrialsFailedError: Every trial failed (``err.study`` holds them).
    """
    plan = plan_study(
        objective,
        space,
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
    )
    return run_plan(plan, callbacks=callbacks)


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


def plan_study(
    objective: Callable[..., Any],
    space: Any,
    *,
    n_trials: int | None = None,
    direction: str | None = None,
    searcher: SearcherLike = "tpe",
    pruner: PrunerLike = "median",
    seed: int | None = None,
    storage: Any = None,
    study_name: str | None = None,
    tracking: Any = DEFAULT,
    executor: ExecutorLike = "inline",
    timeout: float | None = None,
    trial_timeout: float | None = None,
    catch: Any = (Exception,),
    plots: Any = None,
) -> StudyPlan:
    """Validate the arguments of :func:`tune` without creating or writing anything.

    Raises:
        ConfigError: One line naming the argument and its value.
        TrackingError: The tracking store plainly cannot be reached.
    """
    if not callable(objective):
        raise ConfigError(key="objective", message=f"expected a callable, got {objective!r}")
    space = as_space(space)
    searcher_label = validate_searcher(searcher, space)
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**32):
        raise ConfigError(key="seed", message=f"expected an integer from 0 to 2**32 - 1, got {seed!r}")
    if study_name is not None and (not isinstance(study_name, str) or not study_name.strip()):
        raise ConfigError(key="study_name", message=f"expected a non-empty string, got {study_name!r}")
    plots = _check_plots(plots)
    plan = StudyPlan(
        objective=objective,
        space=space,
        direction=_check_direction(direction, objective),
        searcher=searcher,
        searcher_label=searcher_label,
        pruner=pruner,
        pruner_label=pruner_name(pruner),
        n_trials=_check_n_trials(n_trials, searcher_label, space, timeout),
        seed=seed,
        storage=check_storage(storage),
        study_name=study_name or f"study-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:4]}",
        tracking_uri=resolve_tracking_uri(tracking),
        executor=make_executor(executor),
        timeout=timeout,
        catch=_check_catch(catch),
        trial_timeout=_check_seconds(trial_timeout, "trial_timeout"),
        plots=plots,
    )
    check_space = getattr(objective, "check_space", None)
    if callable(check_space):  # e.g. a trainer: are these its model's parameters?
        check_space(space)
    # Build the sampler and pruner once here so that bad options fail before anything runs;
    # options given as a mapping are also tried on throwaway trials (Optuna checks most late).
    sampler, built_pruner = make_sampler(searcher, space, seed=seed), make_pruner(pruner)
    if isinstance(searcher, Mapping) or isinstance(pruner, Mapping):
        with _quiet_optuna():
            rehearse(sampler, built_pruner, space)
    if plan.tracking_uri is not None:
        check_reachable(plan.tracking_uri)
    return plan


def run_plan(
    plan: StudyPlan,
    *,
    callbacks: Iterable[Callback] = (),
    texts: Mapping[str, str] | None = None,
    on_start: Callable[[Study, int], None] | None = None,
) -> Study:
    """Run a planned study to its end.

    Args:
        plan: From :func:`plan_study`.
        callbacks: ``callback(study, frozen_trial)`` after each trial ends.
        texts: Extra text artifacts of the parent run, ``{artifact_file: text}``.
        on_start: ``on_start(study, n_already_ended)`` once the study is loaded.
    """
    # Start the MLflow writer first: its imports take seconds and overlap our set-up.
    tracker = Tracker(plan.tracking_uri) if plan.tracking_uri is not None else None
    try:
        study, remaining, existing, others = _open_study(plan)
    except BaseException:
        if tracker is not None:
            tracker.abort()
        raise
    # On a persistent storage other processes may run this study too: claim our trials, beat.
    owner = Owner(study) if plan.storage is not None else None
    budget = SharedBudget(study, plan.n_trials) if owner is not None and plan.n_trials is not None else None
    executor = plan.executor
    space = plan.space
    with _quiet_optuna():
        if tracker is not None:
            _start_tracking(tracker, plan, study, texts)
            if existing and not others:
                # (With another process running the study, its writer may not have written
                # what it ran yet: reconciling now could double those runs.)
                tracker.reconcile(study.get_trials(deepcopy=False))
        result = Study(study, n_trials=plan.n_trials, tracking_uri=plan.tracking_uri)
        status = "FAILED"
        try:
            if on_start is not None:  # inside the try: whatever it raises, the runs still end
                on_start(result, n_ended(count_states(study.get_trials(deepcopy=False))))
            with _sigterm_as_interrupt():
                _loop(
                    study,
                    result,
                    plan.objective,
                    space,
                    executor,
                    tracker,
                    remaining,
                    plan.timeout,
                    plan.catch,
                    callbacks,
                    owner,
                    budget,
                    plan.trial_timeout,
                )
            counts = count_states(study.get_trials(deepcopy=False))
            all_failed = counts["failed"] > 0 and counts["complete"] + counts["pruned"] == 0
            status = "FAILED" if all_failed else "FINISHED"
            hook = getattr(plan.objective, "on_study_end", None)
            if callable(hook) and counts["complete"]:
                # E.g. a trainer refits the best configuration and logs it as the study's model.
                # The study itself succeeded: a failure here is reported, not raised.
                try:
                    hook(result, StudyRun(tracker))
                except Exception as err:
                    _logger.warning("on_study_end of the objective failed: %s: %s", type(err).__name__, err)
        except KeyboardInterrupt:
            status = "KILLED"
            raise
        finally:
            executor.shutdown()
            if owner is not None:
                owner.stop()
            if tracker is not None:
                _close_tracking(tracker, status, result)
    if status == "FAILED":
        raise AllTrialsFailedError(_failure_summary(study), study=result)
    return result


def _start_tracking(tracker: Tracker, plan: StudyPlan, study: optuna.study.Study, texts: Mapping[str, str] | None) -> None:
    """Open (or reopen) the study's parent run."""
    tracker.start(
        experiment=plan.study_name,
        study_uid=study.user_attrs["hpo:uid"],
        run_name=plan.study_name,
        params={
            "searcher": plan.searcher_label,
            "pruner": plan.pruner_label,
            "seed": plan.seed,
            "direction": plan.direction,
            "n_trials": plan.n_trials,
            "executor": plan.executor.name,
            **{f"space.{k}": repr(v) for k, v in plan.space.items()},
        },
        tags={"hpo.study": plan.study_name},
        texts={"space.yaml": yaml_text(plan.space.to_dict()), **(texts or {})},
        model_flavor=getattr(plan.objective, "model_flavor", None),
        plots=plan.plots,
    )


def _close_tracking(tracker: Tracker, status: str, result: Study) -> None:
    """End the parent run with ``status``; note its ids and what MLflow lacks on ``result``."""
    info = tracker.close(status, summary(result))
    result.mlflow_run_id = info.get("parent_run_id")
    result.mlflow_experiment_id = info.get("experiment_id")
    result.unrecorded_trials = info.get("unrecorded", [])
    for warning in tracker.warnings:
        _logger.warning("%s", warning)


def sync_plan(plan: StudyPlan, *, texts: Mapping[str, str] | None = None) -> Study:
    """Write to MLflow whatever of a stored study it lacks (after a tracking outage).

    The study storage is the source of truth and is only read: every ended trial gets its
    child run (or its run the state the storage knows), and the parent run ends.

    Raises:
        StudyNotFoundError: The storage has no such study.
        TrackingError: Tracking is off, or the store cannot be opened.
    """
    import optuna

    if plan.tracking_uri is None:
        raise TrackingError("tracking: sync needs a tracking URI, got none")
    storage = open_storage(plan.storage)
    if storage is None:
        raise ConfigError(key="storage", message="sync reads the study from its storage, got none (in memory)")
    try:
        with _quiet_optuna():
            study = optuna.load_study(study_name=plan.study_name, storage=storage)
    except KeyError:
        raise StudyNotFoundError(f"study {plan.study_name!r} not found in {str(plan.storage)!r}") from None
    result = Study(study, n_trials=plan.n_trials, tracking_uri=plan.tracking_uri)
    tracker = Tracker(plan.tracking_uri)
    _start_tracking(tracker, plan, study, texts)
    tracker.reconcile(study.get_trials(deepcopy=False))
    counts = count_states(study.get_trials(deepcopy=False))
    status = "FINISHED" if counts["complete"] + counts["pruned"] else "FAILED"
    _close_tracking(tracker, status, result)
    return result


def _open_study(plan: StudyPlan) -> tuple[optuna.study.Study, float, int, set[str]]:
    """Create or load the Optuna study, recover trials a crash left running.

    Returns:
        The study, the number of trials still to end, how many trials it had already, and the
        other processes running it now.
    """
    import optuna

    executor = plan.executor
    space = plan.space
    sampler = make_sampler(
        plan.searcher, space, seed=plan.seed, concurrent=executor.concurrency > 1
    )
    with _quiet_optuna():
        # Create or load the Optuna study; refuse one whose space or direction differ.
        study = optuna.create_study(
            storage=open_storage(plan.storage),
            sampler=sampler,
            pruner=make_pruner(plan.pruner),
            study_name=plan.study_name,
            direction=cast(Literal["minimize", "maximize"], plan.direction),
            load_if_exists=True,
        )
        attrs = study.user_attrs
        if "hpo:uid" in attrs:
            if attrs.get("hpo:space") != space.to_dict():
                raise ConfigError(
                    key="study_name",
                    message=f"study {plan.study_name!r} already exists in this storage with "
                    "another search space; use a new study_name"
                )
            if study.direction.name.lower() != plan.direction:
                raise ConfigError(
                    key="direction",
                    message=f"study {plan.study_name!r} exists with direction "
                    f"{study.direction.name.lower()!r}, got {plan.direction!r}"
                )
        else:
            study.set_user_attr("hpo:uid", uuid.uuid4().hex)
            study.set_user_attr("hpo:space", space.to_dict())
        existing = len(study.get_trials(deepcopy=False))
        if existing and plan.seed is not None and plan.searcher_label in ("random", "tpe"):
            # A resumed study must not replay the sampler's sequence from the start (that would
            # run the first configurations again): seed it from the seed and the trials so far.
            # Not the grid: its seed fixes the order that maps trial numbers to grid points.
            study.sampler = make_sampler(
                plan.searcher,
                space,
                seed=_resume_seed(plan.seed, existing),
                concurrent=executor.concurrency > 1,
            )

        # Resume: trials a crash left running are failed as interrupted and queued again; those
        # another live process runs are its own.
        others = live_owners(study) if plan.storage is not None else set()
        recovered = recover_interrupted(study, others)
        if recovered:
            _logger.warning(
                "study %r: trial(s) %s were left running by an earlier crash; marked failed "
                "(interrupted) and queued again",
                plan.study_name,
                ", ".join(str(t.number) for t in recovered),
            )
        counts = count_states(study.get_trials(deepcopy=False))
        remaining = math.inf if plan.n_trials is None else max(0, plan.n_trials - n_ended(counts))
    return study, remaining, existing, others


def _loop(
    study: optuna.study.Study,
    result: Study,
    objective: Any,
    space: Space,
    executor: Executor,
    tracker: Tracker | None,
    remaining: float,
    timeout: float | None,
    catch: tuple[type[BaseException], ...],
    callbacks: Iterable[Callback],
    owner: Owner | None = None,
    budget: SharedBudget | None = None,
    trial_timeout: float | None = None,
) -> None:
    """Ask, run, tell until ``remaining`` trials have ended or the timeout has passed.

    With a ``budget`` (a study other processes may share) it decides instead, from the storage,
    whether ``n_trials`` still has room.
    """
    from optuna.trial import TrialState

    driver = _Driver(study, tracker)
    on_kept = getattr(objective, "on_trial_kept", None)
    executor.start(as_two_argument(objective), driver, catch)
    distributions = space.to_optuna()
    deadline = math.inf if timeout is None else time.monotonic() + timeout
    maximize = study.direction.name == "MAXIMIZE"
    complete = [
        t.value
        for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        if t.value is not None
    ]
    best = (max if maximize else min)(complete) if complete else None
    asked = 0
    try:
        while True:
            while (
                len(driver.running) < executor.concurrency
                and (asked < remaining if budget is None else budget.may_ask(driver.running))
                and time.monotonic() < deadline
            ):
                trial = study.ask(distributions)
                if owner is not None:
                    owner.claim(trial._trial_id)
                if budget is not None and not budget.fits(trial.number):
                    # Another process asked for the last slot at the same moment, and first.
                    mark_interrupted(study, trial._trial_id, trial.number, dict(trial.params), reason="surplus")
                    continue
                driver.running[trial.number] = trial
                if tracker is not None:
                    tracker.trial_started(trial.number, trial.params)
                executor.submit(TrialJob(trial.number, dict(trial.params), trial_timeout))
                asked += 1
            if not driver.running:
                return
            for res in executor.wait():
                trial = driver.running.pop(res.number)
                frozen = _tell(study, trial, res)
                if res.kept is not None and on_kept is not None:
                    on_kept(res.number, res.kept)
                value = res.value if res.state == COMPLETE else None
                improved = value is not None and (
                    best is None or (value > best if maximize else value < best)
                )
                if improved:
                    best = value
                if tracker is not None:
                    tracker.trial_finished(res.number, res.state, res.value, res.error)
                    if improved and value is not None:
                        tracker.best(res.number, value)
                if res.state == FAILED:
                    _logger.warning("trial %d failed: %s", res.number, res.error)
                for callback in callbacks:
                    callback(result, frozen)
                if res.exception is not None:
                    raise res.exception
                if tracker is not None:
                    tracker.check()
    except BaseException:
        # Whatever stopped the loop (Ctrl-C, SIGTERM, an uncaught objective error, a tracking
        # failure), trials still running are interrupted: failed, and queued to run again.
        for number, trial in list(driver.running.items()):
            mark_interrupted(study, trial._trial_id, number, dict(trial.params))
            if tracker is not None:
                tracker.trial_finished(number, INTERRUPTED, None, None)
        driver.running.clear()
        raise


def _tell(study: optuna.study.Study, trial: optuna.trial.Trial, res: TrialResult) -> Any:
    from optuna.trial import TrialState

    if res.state == COMPLETE:
        return study.tell(trial, res.value)
    if res.state == PRUNED:
        return study.tell(trial, state=TrialState.PRUNED)
    trial.set_user_attr(ERROR, res.error)
    return study.tell(trial, state=TrialState.FAIL)


def _resume_seed(seed: int, n_existing: int) -> int:
    """A seed for a resumed study: deterministic, and different for each resume point."""
    return (seed * 1_000_003 + n_existing) % 2**32
