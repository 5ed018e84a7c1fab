"""The driver: the ask/run/tell loop that joins Optuna, an executor and the tracker.

The driver alone asks Optuna for trials and tells it the results, so the study storage stays
the single source of truth for trial state. Executors only run trials; the tracker only writes.
Data flows one way: plan -> driver -> executor -> trial -> (result) driver -> tracker.
"""

from __future__ import annotations

import logging
import math
import shutil
import tempfile
import time
import uuid
import warnings
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, cast

from hpo._checkpoints import RETRY_OF, CheckpointStore, checkpoint_folder
from hpo._exceptions import AllTrialsFailedError, ConfigError, HPOError
from hpo._executors import TrialJob
from hpo._objectives import ObjectiveValues
from hpo._ownership import Owner, SharedBudget, live_owners, mark_interrupted, recover_interrupted
from hpo._pareto import INTERMEDIATE, ObjectivePruner
from hpo._plan import StudyPlan
from hpo._reproducible import ReproducibleSampler, pruning_view, trial_seed
from hpo._resources import ResourceMonitor
from hpo._searchers import make_pruner, make_sampler, quiet_optuna, searcher_name
from hpo._signals import sigterm_as_interrupt
from hpo._states import COMPLETE, FAILED, INFEASIBLE, INTERRUPTED, PRUNED
from hpo._storage import open_storage
from hpo._study import (
    CONSTRAINTS,
    ERROR,
    FAIL_REASON,
    REFERENCE_POINT,
    SEED,
    SELECT,
    Study,
    better,
    count_states,
    is_feasible,
    n_ended,
    trial_state,
)
from hpo._tracking import Tracker, close_study_run, open_study_run
from hpo._trial import StudyRun, TrialResult, as_two_argument

if TYPE_CHECKING:
    import optuna

__all__ = ["Callback", "TrialReporter", "run_plan"]

_logger = logging.getLogger("hpo")
#: Infeasible configurations (parameter constraints) in a row that end a study: the searcher is
#: stuck where the constraints forbid, and asking more would not end.
_MAX_INFEASIBLE = 1000

#: How long a process that finds a new, empty study waits for its creator to tag it as hpo's.
CREATION_WAIT_S = 10.0

Callback = Callable[[Study, "optuna.trial.FrozenTrial"], None]


class TrialReporter:
    """Passes a running trial's reports to Optuna's pruner and its records to the tracker.

    The executors' ``Reporter``: the inline executor calls it from the trial itself, the Ray
    executor with what its workers sent.
    """

    def __init__(self, tracker: Tracker | None, pruning: ObjectivePruner | None = None) -> None:
        self.tracker = tracker
        self.running: dict[int, optuna.trial.Trial] = {}
        self.metrics: dict[int, dict[str, float]] = {}  # each running trial's last logged values
        #: A study of several objectives: the pruner judges one (prune_on) in a study of its own.
        self.pruning = pruning
        self.checkpoints: CheckpointStore | None = None
        #: A reproducible study's lag: the pruner judges each trial on the study's view for it.
        self.lag: int | None = None

    def report(self, number: int, value: float, step: int) -> bool:
        trial = self.running[number]
        if trial.study._is_multi_objective():
            # Optuna's Trial.report refuses several objectives (and its TPE fails on a pruned
            # trial that has intermediate values there): the pruner's twin study keeps them.
            prune = self.pruning is not None and self.pruning.report(number, value, step, self.lag)
        else:
            trial.report(value, step)
            prune = self._should_prune(trial)
        if self.tracker is not None:
            self.tracker.log_metrics(number, {"intermediate_value": value}, step)
        return prune

    def should_prune(self, number: int) -> bool:
        trial = self.running[number]
        if trial.study._is_multi_objective():
            return self.pruning is not None and self.pruning.should_prune(number, self.lag)
        return self._should_prune(trial)

    def _should_prune(self, trial: optuna.trial.Trial) -> bool:
        if self.lag is None:
            return trial.should_prune()
        study = trial.study
        frozen = study._storage.get_trial(trial._trial_id)
        return bool(study.pruner.prune(pruning_view(study, trial.number, self.lag), frozen))

    def log_metrics(self, number: int, metrics: Mapping[str, float], step: int | None) -> None:
        self.metrics.setdefault(number, {}).update(metrics)  # what outcome constraints read
        if self.tracker is not None:
            self.tracker.log_metrics(number, metrics, step)

    def log_artifact(self, number: int, path: str, artifact_path: str | None) -> None:
        if self.tracker is not None:
            self.tracker.log_artifact(number, path, artifact_path)

    def set_user_attr(self, number: int, key: str, value: Any) -> None:
        self.running[number].set_user_attr(key, value)

    def set_tag(self, number: int, key: str, value: str) -> None:
        if self.tracker is not None:
            self.tracker.set_tags(number, {key: value})

    def checkpoint(self, number: int, blob: bytes) -> None:
        trial = self.running.get(number)
        if trial is not None and self.checkpoints is not None:  # (a late one of an ended trial: dropped)
            self.checkpoints.save(number, trial.params, blob)

    def restore(self, number: int) -> bytes | None:
        return None  # a trial in this process gets its rerun's checkpoint with its job


def run_plan(
    plan: StudyPlan,
    *,
    callbacks: Iterable[Callback] = (),
    texts: Mapping[str, str] | None = None,
    on_start: Callable[[Study, int], None] | None = None,
    source: str | None = None,
    tracker: Tracker | None = None,
) -> Study:
    """Run a planned study to its end.

    Args:
        plan: From :func:`hpo._plan.plan_study`.
        callbacks: ``callback(study, frozen_trial)`` after each trial ends.
        texts: Extra text artifacts of the parent run, ``{artifact_file: text}``.
        on_start: ``on_start(study, n_already_ended)`` once the study is loaded.
        source: The config file the study runs from, for MLflow's source tags; by default the
            script that runs it.
        tracker: A tracker the caller started ahead, on the plan's tracking URI, so the
            writer's imports overlapped the planning (the CLI's); started here otherwise.

    Raises:
        AllTrialsFailedError: Every trial failed.
    """
    # Start the MLflow writer first: its imports take seconds and overlap our set-up.
    if tracker is not None and tracker.uri != plan.tracking_uri:
        tracker.abort()
        tracker = None
    if tracker is None and plan.tracking_uri is not None:
        tracker = Tracker(plan.tracking_uri)
    try:
        study, existing, others = _open_study(plan)
    except BaseException:
        plan.executor.shutdown()
        if tracker is not None:
            tracker.abort()
        raise
    # On a persistent storage other processes may run this study too: claim our trials, beat.
    owner = Owner(study) if plan.storage is not None else None
    folder = checkpoint_folder(plan.checkpoint_dir, plan.storage, plan.study_name)
    temporary = folder is None  # a study in memory: nothing could resume its checkpoints later
    if folder is None:
        folder = Path(tempfile.mkdtemp(prefix="hpo-checkpoints-"))
    store = CheckpointStore(folder, plan.keep_best, plan.direction)
    result = Study(study, n_trials=plan.n_trials, tracking_uri=plan.tracking_uri)
    status = "FAILED"
    with quiet_optuna():
        try:
            if tracker is not None:
                open_study_run(tracker, plan, study, texts, source, shared=bool(others))
                if existing and not others:
                    # (With another process running the study, its writer may not have written
                    # what it ran yet: reconciling now could double those runs.)
                    tracker.reconcile(study.get_trials(deepcopy=False))
            if on_start is not None:  # inside the try: whatever it raises, the runs still end
                on_start(result, n_ended(count_states(study.get_trials(deepcopy=False))))
            with sigterm_as_interrupt():
                _Loop(plan, study, result, tracker, owner, callbacks, store).run()
            counts = count_states(study.get_trials(deepcopy=False))
            all_failed = counts[FAILED] > 0 and counts[COMPLETE] + counts[PRUNED] == 0
            status = "FAILED" if all_failed else "FINISHED"
            hook = getattr(plan.objective, "on_study_end", None)
            if plan.multi and plan.select is None and callable(hook) and counts[COMPLETE]:
                _logger.info("several objectives and no select rule: no trial is picked to refit")
            elif callable(hook) and counts[COMPLETE]:
                # E.g. a trainer refits the best configuration and logs it as the study's model.
                # The study itself succeeded: a failure here is reported, not raised.
                try:
                    hook(result, StudyRun(tracker, result))
                except Exception as err:
                    _logger.warning("on_study_end of the objective failed: %s: %s", type(err).__name__, err)
        except KeyboardInterrupt:
            status = "KILLED"
            raise
        finally:
            plan.executor.shutdown()
            if temporary:
                shutil.rmtree(folder, ignore_errors=True)
            if owner is not None:
                owner.stop()
            if tracker is not None:
                close_study_run(tracker, status, result)
    if status == "FAILED":
        raise AllTrialsFailedError(_failure_summary(study), study=result)
    return result


class _Loop:
    """Ask, run, tell until ``n_trials`` trials have ended or the timeout has passed."""

    def __init__(
        self,
        plan: StudyPlan,
        study: optuna.study.Study,
        result: Study,
        tracker: Tracker | None,
        owner: Owner | None,
        callbacks: Iterable[Callback],
        checkpoints: CheckpointStore | None = None,
    ) -> None:
        self.plan = plan
        self.study = study
        self.result = result
        self.tracker = tracker
        self.owner = owner
        self.callbacks = list(callbacks)
        pruning = None
        if plan.multi and plan.prune_on is not None and plan.objectives is not None:
            pruning = ObjectivePruner(
                make_pruner(plan.pruner), plan.objectives, plan.prune_on, study.get_trials(deepcopy=False)
            )
        self.reporter = TrialReporter(tracker, pruning)
        self.reporter.checkpoints = checkpoints
        sampler = study.sampler
        self.lag: int | None = sampler.lag if isinstance(sampler, ReproducibleSampler) else None
        self.reporter.lag = self.lag
        # With other processes possibly on the study, the storage decides whether n_trials has
        # room; alone, counting what this process asked is enough.
        self.budget = None
        if owner is not None and plan.n_trials is not None:
            self.budget = SharedBudget(study, plan.n_trials)
        trials = study.get_trials(deepcopy=False)  # one read of the storage for both
        ended = n_ended(count_states(trials))
        self.remaining = math.inf if plan.n_trials is None else max(0, plan.n_trials - ended)
        self.deadline = math.inf if plan.timeout is None else time.monotonic() + plan.timeout
        self.asked = 0
        self.infeasible_in_a_row = 0
        self.best: float | None = None
        for t in trials:
            if trial_state(t) == COMPLETE and t.values is not None and is_feasible(t):
                if checkpoints is not None:  # a resumed study: its best trials' files stay
                    checkpoints.remember(t.number, t.values[0])
                if not plan.multi and better(t.values[0], self.best, plan.direction):
                    self.best = t.values[0]  # (several objectives: a front, no best value)

    def run(self) -> None:
        executor = self.plan.executor
        on_kept = getattr(self.plan.objective, "on_trial_kept", None)
        objective = as_two_argument(self.plan.objective)
        if self.plan.objectives is not None:  # named: the result checked against them in the trial
            objective = ObjectiveValues(objective, self.plan.objectives)
        if self.plan.resource_metrics is not None:  # sampled beside the objective, where it runs
            objective = ResourceMonitor(objective, self.plan.resource_metrics)
        executor.start(objective, self.reporter, self.plan.catch)
        # A flat space is asked with its distributions; a conditional one define-by-run.
        distributions = None if self.plan.space.conditional else self.plan.space.to_optuna()
        try:
            while True:
                while len(self.reporter.running) < executor.concurrency and self._may_ask():
                    self._ask(distributions)
                if not self.reporter.running:
                    return
                for res in executor.wait():
                    self._tell(res, on_kept)
        except BaseException:
            # Whatever stopped the loop (Ctrl-C, SIGTERM, an uncaught objective error, a
            # tracking failure), trials still running are interrupted: failed, and queued to
            # run again.
            for number, trial in list(self.reporter.running.items()):
                mark_interrupted(self.study, trial._trial_id, number, dict(trial.params))
                if self.tracker is not None:
                    self.tracker.trial_finished(number, INTERRUPTED, None, None)
            self.reporter.running.clear()
            raise

    def _may_ask(self) -> bool:
        if time.monotonic() >= self.deadline:
            return False
        if self.lag is not None and not self._view_is_final():
            return False  # (a trial it must see as ended has not: wait for it)
        if self.budget is not None:
            return self.budget.may_ask(self.reporter.running)
        return self.asked < self.remaining

    def _view_is_final(self) -> bool:
        """Whether the next trial's view is final: every trial ``lag`` or more before it ended."""
        assert self.lag is not None
        trials = self.study.get_trials(deepcopy=False)
        waiting = [t.number for t in trials if t.state.name == "WAITING"]
        cutoff = (min(waiting) if waiting else len(trials)) - self.lag
        return all(t.state.is_finished() for t in trials[: max(0, cutoff)])

    def _ask(self, distributions: Mapping[str, Any] | None) -> None:
        space = self.plan.space
        if distributions is None:  # a choice first, then its branch's parameters
            trial = self.study.ask()
            space.suggest(trial)
        else:
            trial = self.study.ask(dict(distributions))
        # The objective gets the active parameters by their own names; Optuna and MLflow keep paths.
        params = space.objective_params(trial.params)
        if self.plan.constraints is not None and not self.plan.constraints.feasible(params):
            # Never run: recorded as infeasible (not a slot of n_trials), and the next is asked.
            _tell_infeasible(self.study, trial)
            self.infeasible_in_a_row += 1
            if self.infeasible_in_a_row >= _MAX_INFEASIBLE:
                raise HPOError(
                    f"constraints: the searcher proposed {_MAX_INFEASIBLE} infeasible configurations in a row "
                    f"({'; '.join(self.plan.constraints.texts())}); loosen them"
                )
            return
        self.infeasible_in_a_row = 0
        if self.owner is not None:
            self.owner.claim(trial._trial_id)
        if self.budget is not None and not self.budget.fits(trial.number):
            # Another process asked for the last slot at the same moment, and first.
            mark_interrupted(self.study, trial._trial_id, trial.number, dict(trial.params), reason="surplus")
            return
        self.reporter.running[trial.number] = trial
        if self.reporter.pruning is not None:
            self.reporter.pruning.start(trial.number)
        if self.tracker is not None:
            self.tracker.trial_started(trial.number, trial.params)
        checkpoint = None
        retry_of = trial.user_attrs.get(RETRY_OF)
        store = self.reporter.checkpoints
        if retry_of is not None and store is not None:  # the rerun of an interrupted trial
            store.move(int(retry_of), trial.number)
            checkpoint = store.load(trial.number, trial.params)
        if retry_of is not None and self.tracker is not None:  # its run links to the one cut short
            tags = {"hpo.retry_of": str(retry_of), "hpo.resumed": "true" if checkpoint is not None else "false"}
            self.tracker.set_tags(trial.number, tags)
        # A rerun has the seed of the trial it reruns: the same randomness as if never cut short.
        seed = trial_seed(self.plan.seed, int(retry_of) if retry_of is not None else trial.number)
        self.plan.executor.submit(TrialJob(trial.number, params, self.plan.trial_timeout, checkpoint, seed))
        self.asked += 1

    def _tell(self, res: TrialResult, on_kept: Any) -> None:
        trial = self.reporter.running.pop(res.number)
        metrics = self.reporter.metrics.pop(res.number, {})
        objectives = self.plan.objectives
        named = {}
        if objectives is not None and res.values is not None:  # each objective under its name
            named = dict(zip(objectives.names, res.values))
            if self.tracker is not None:
                self.tracker.log_metrics(res.number, named, None)
        if self.reporter.pruning is not None:
            reported = self.reporter.pruning.end(res.number, res.state, res.values)
            if reported:  # kept with the trial, for a resumed study's pruner
                trial.set_user_attr(INTERMEDIATE, {str(step): v for step, v in reported.items()})
        feasible = True
        outcome = self.plan.outcome_constraints
        if outcome is not None and res.state == COMPLETE:
            values = outcome.values({**metrics, **named, "value": float(res.value or 0.0)})
            if values is None:  # a metric never logged: the trial cannot show it is feasible
                missing = [m for m in outcome.metrics if m not in metrics and m not in named and m != "value"]
                _logger.warning("trial %d logged no %s: infeasible (outcome_constraints)", res.number, missing)
                values = [math.inf] * len(outcome.texts())
            # Optuna's own key: its samplers built with a constraints_func read it.
            self.study._storage.set_trial_system_attr(trial._trial_id, CONSTRAINTS, values)
            feasible = all(v <= 0 for v in values)
        frozen = _tell(self.study, trial, res)
        if self.reporter.checkpoints is not None:
            first = res.values[0] if res.values else res.value
            self.reporter.checkpoints.ended(res.number, res.state if feasible else FAILED, first)
        if res.kept is not None and on_kept is not None and feasible:
            on_kept(res.number, res.kept)
        improved = (
            feasible
            and not self.plan.multi
            and res.state == COMPLETE
            and res.value is not None
            and better(res.value, self.best, self.plan.direction)
        )
        if improved:
            self.best = res.value
        if self.tracker is not None:
            self.tracker.trial_finished(res.number, res.state, res.value, res.error)
            if improved and res.value is not None:
                self.tracker.best(res.number, res.value)
        if res.state == FAILED:
            _logger.warning("trial %d failed: %s", res.number, res.error)
        for callback in self.callbacks:
            callback(self.result, frozen)
        if res.exception is not None:
            raise res.exception
        if self.tracker is not None:
            self.tracker.check()


def _open_study(plan: StudyPlan) -> tuple[optuna.study.Study, int, set[str]]:
    """Connect the executor, create or load the Optuna study, recover trials a crash left running.

    Returns:
        The study, how many trials it had already, and the other processes running it now.
    """
    import optuna

    executor = plan.executor
    executor.open()  # concurrency is final from here: TPE's constant liar depends on it
    concurrent = executor.concurrency > 1
    space = plan.space
    with quiet_optuna():
        # Create or load the Optuna study; refuse one whose space or direction differ.
        storage = open_storage(plan.storage)
        n_objectives = len(plan.objectives.names) if plan.objectives is not None else 1
        sampler = _with_constraints(
            make_sampler(plan.searcher, space, seed=plan.seed, concurrent=concurrent, n_objectives=n_objectives), plan
        )
        try:
            directions = list(plan.objectives.directions) if plan.multi and plan.objectives else [plan.direction]
            study = optuna.create_study(
                storage=storage,
                sampler=sampler,
                # Several objectives: Optuna's pruners refuse them; hpo's ObjectivePruner judges one.
                pruner=make_pruner(None if plan.multi else plan.pruner),
                study_name=plan.study_name,
                directions=cast(list[Literal["minimize", "maximize"]], directions),
            )
            created = True
        except optuna.exceptions.DuplicatedStudyError:  # another process's, or an earlier run's
            assert storage is not None, "an in-memory study is always new"
            study = optuna.load_study(
                study_name=plan.study_name,
                storage=storage,
                sampler=sampler,
                pruner=make_pruner(None if plan.multi else plan.pruner),
            )
            created = False
        attrs = study.user_attrs if created else _hpo_attrs(study)
        if "hpo:uid" in attrs:
            if attrs.get("hpo:space") != space.to_dict():
                _widen_or_refuse(study, attrs.get("hpo:space"), plan)
            _check_same_objectives(study, plan)
        else:  # ours, just created; or an Optuna study made without hpo, adopted
            if not created:
                _check_same_objectives(study, plan)
            # The space first: a process that sees the uid reads the space next to it.
            study.set_user_attr("hpo:space", space.to_dict())
            if plan.objectives is not None:
                with warnings.catch_warnings():  # experimental since Optuna 3.2, and what it is for
                    warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                    study.set_metric_names(list(plan.objectives.names))
            study.set_user_attr("hpo:uid", uuid.uuid4().hex)
        # How to read the front: this run's choice (a resume may change it).
        if plan.select is not None:
            study.set_user_attr(SELECT, plan.select.spec)
        if plan.reference_point is not None:
            study.set_user_attr(REFERENCE_POINT, list(plan.reference_point))
        if plan.seed is not None:  # the trials' seeds derive from it (Study.trial_seed)
            study.set_user_attr(SEED, plan.seed)
        if created and plan.warm_start is not None:
            plan.warm_start.apply(study, space)
        # (Warm trials count here: a seeded searcher must not replay its source's sequence.)
        existing = len(study.get_trials(deepcopy=False))
        # (qmc is left out: its seed fixes the sequence, and the study stores the position.)
        if existing and plan.seed is not None and searcher_name(plan.searcher) in ("random", "tpe", "gp", "cmaes"):
            # A resumed study must not replay the sampler's sequence from the start (that would
            # run the first configurations again): seed it from the seed and the trials so far.
            # Not the grid: its seed fixes the order that maps trial numbers to grid points.
            seed = _resume_seed(plan.seed, existing)
            study.sampler = _with_constraints(
                make_sampler(plan.searcher, space, seed=seed, concurrent=concurrent, n_objectives=n_objectives), plan
            )

        if plan.reproducible:
            study.sampler = ReproducibleSampler(
                study.sampler, plan.lag if plan.lag is not None else executor.concurrency
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
    return study, existing, others


def _widen_or_refuse(study: optuna.study.Study, stored: Any, plan: StudyPlan) -> None:
    """Go on with a study whose space changed only in its bounds (saying so), else refuse."""
    from hpo._space import Space, bounds_changes

    changes = None
    try:
        changes = bounds_changes(Space.from_dict(stored), plan.space)
    except (ConfigError, TypeError, ValueError):
        pass  # a space stored by another version: not comparable
    if not changes:
        raise ConfigError(
            f"study {plan.study_name!r} already exists in this storage with another search space (only "
            "bounds may change); use a new study_name",
            key="study_name",
        )
    trials = [t for t in study.get_trials(deepcopy=False) if trial_state(t) in (COMPLETE, PRUNED, FAILED)]
    paths = plan.space.paths()
    outside = sum(1 for t in trials if any(p in paths and not paths[p].contains(v) for p, v in t.params.items()))
    _logger.warning(
        "study %r goes on with new bounds (%s); kept its %d trials%s",
        plan.study_name,
        "; ".join(changes),
        len(trials),
        f" ({outside} outside the new bounds still inform the searcher)" if outside else "",
    )
    study.set_user_attr("hpo:space", plan.space.to_dict())


def _check_same_objectives(study: optuna.study.Study, plan: StudyPlan) -> None:
    """Refuse to resume a study with other directions or objective names."""
    stored = [d.name.lower() for d in study.directions]
    wanted = list(plan.objectives.directions) if plan.multi and plan.objectives else [plan.direction]
    key = "direction" if len(wanted) == 1 and len(stored) == 1 else "objectives"
    if stored != wanted:
        shown = stored[0] if len(stored) == 1 else stored
        raise ConfigError(
            f"study {plan.study_name!r} exists with direction{'s' * (len(stored) > 1)} {shown!r}, "
            f"got {wanted[0] if len(wanted) == 1 else wanted!r}",
            key=key,
        )
    names = study.metric_names
    if plan.multi and plan.objectives is not None and names is not None and list(names) != list(plan.objectives.names):
        raise ConfigError(
            f"study {plan.study_name!r} exists with objectives {', '.join(names)}, got {plan.objectives.listed()}",
            key="objectives",
        )


def _hpo_attrs(study: optuna.study.Study, wait: float = CREATION_WAIT_S) -> dict[str, Any]:
    """The user attributes of a study another process created: if it has not tagged the study
    as hpo's yet (it creates, then tags), wait a moment for it, as long as the study is empty."""
    deadline = time.monotonic() + wait
    while True:
        attrs = study.user_attrs
        if "hpo:uid" in attrs or study.get_trials(deepcopy=False) or time.monotonic() >= deadline:
            return attrs
        time.sleep(0.05)


def _tell(study: optuna.study.Study, trial: optuna.trial.Trial, res: TrialResult) -> Any:
    from optuna.trial import TrialState

    if res.state == COMPLETE:
        return study.tell(trial, list(res.values) if res.values is not None else res.value)
    if res.state == PRUNED:
        return study.tell(trial, state=TrialState.PRUNED)
    trial.set_user_attr(ERROR, res.error)
    return study.tell(trial, state=TrialState.FAIL)


def _tell_infeasible(study: optuna.study.Study, trial: optuna.trial.Trial) -> None:
    """End a configuration that breaks a parameter constraint without running it: pruned at no
    step with a violated constraint value, which Optuna's TPE ranks among the worst (a failed
    trial it would ignore, and propose the same region again), tagged ``infeasible`` for hpo."""
    from optuna.trial import TrialState

    study._storage.set_trial_user_attr(trial._trial_id, FAIL_REASON, INFEASIBLE)
    study._storage.set_trial_system_attr(trial._trial_id, CONSTRAINTS, [1.0])
    study.tell(trial, state=TrialState.PRUNED)


def _stored_constraints(trial: Any) -> Any:
    """The constraint values the driver stored on a trial before telling it (outcome_constraints)."""
    return trial.system_attrs.get(CONSTRAINTS, (0.0,))


def _with_constraints(sampler: Any, plan: StudyPlan) -> Any:
    """With outcome constraints, a sampler that can model them (Optuna's TPE, NSGA-II, GP) reads
    the values the driver stores: Optuna reads them only from a sampler with a constraints
    function, which, called after each trial, returns them as stored."""
    if plan.outcome_constraints is not None and getattr(sampler, "_constraints_func", False) is None:
        sampler._constraints_func = _stored_constraints
    return sampler


def _resume_seed(seed: int, n_existing: int) -> int:
    """A seed for a resumed study: deterministic, and different for each resume point."""
    return (seed * 1_000_003 + n_existing) % 2**32


def _failure_summary(study: optuna.study.Study) -> str:
    errors: dict[str, int] = {}
    failed = [t for t in study.get_trials(deepcopy=False) if trial_state(t) == FAILED]
    for t in failed:
        error = t.user_attrs.get(ERROR, "unknown error")
        errors[error] = errors.get(error, 0) + 1
    lines = [f"All {len(failed)} trials of study {study.study_name!r} failed."]
    lines.append("Below are more details about the failures:")
    for error, n in sorted(errors.items(), key=lambda kv: -kv[1]):
        lines.append("-" * 40)
        lines.append(f"{n} trial{'s' if n > 1 else ''} failed with the error:\n{error}")
    return "\n".join(lines)
