"""The trial handle an objective receives, and the one place an objective is run.

``run_objective`` is shared by every executor: wherever a trial runs (inline, on a Ray worker),
its outcome is classified the same way -- complete, pruned, or failed with a reason.
"""

from __future__ import annotations

import contextlib
import inspect
import math
import numbers
import os
import signal
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

__all__ = ["StudyRun", "Trial", "TrialResult"]

from hpo._objectives import Values
from hpo._states import COMPLETE, FAILED, INTERRUPTED, PRUNED  # noqa: F401 -- re-exported
from hpo._validation import first_line


class Reporter(Protocol):
    """Where a trial's reports go: the driver's study and tracker (or a proxy for them).

    Two methods are optional (without them a trial's checkpoints go nowhere):
    ``checkpoint(number, blob)`` keeps the trial's latest checkpoint (encoded bytes), and
    ``restore(number) -> bytes | None`` returns the one an earlier attempt of this same trial
    left (a Ray task run again after its worker died).
    """

    def report(self, number: int, value: float, step: int) -> bool:
        """Record an intermediate value; return whether the pruner stops the trial."""

    def should_prune(self, number: int) -> bool:
        """Whether the pruner would stop the trial now."""

    def log_metrics(self, number: int, metrics: Mapping[str, float], step: int | None) -> None:
        """Log extra metrics to the trial's run."""

    def log_artifact(self, number: int, path: str, artifact_path: str | None) -> None:
        """Log a local file or folder to the trial's run."""

    def set_user_attr(self, number: int, key: str, value: Any) -> None:
        """Store a JSON-serializable attribute with the trial."""

    def set_tag(self, number: int, key: str, value: str) -> None:
        """Set a tag on the trial's MLflow run."""


class Trial:
    """The handle passed to ``objective(params, trial)``.

    Attributes:
        number: The trial's number in the study, from 0.
        params: The hyperparameters of this trial.
        seed: A seed for the trial's own randomness (model initialization, shuffling), derived
            from the study's seed and the trial's number: the same in every run of the study,
            different for each trial (a rerun of an interrupted trial has the seed of the trial
            it reruns). None when the study has no seed.
    """

    def __init__(
        self,
        number: int,
        params: dict[str, Any],
        reporter: Reporter,
        checkpoint: bytes | None = None,
        seed: int | None = None,
    ) -> None:
        self.number = number
        self.params = params
        self.seed = seed
        self._reporter = reporter
        self.last_step: int | None = None
        self.kept: Any = None
        self._initial = checkpoint  # the checkpoint an interrupted run of this configuration left
        self._restored = False
        #: Called before each report or metric, in the trial's thread (the resource monitor's
        #: samples go out then, in order with the trial's own records).
        self._before_records: list[Callable[[], None]] = []

    def report(self, value: float, step: int) -> None:
        """Report an intermediate value (e.g. a fold's score or an epoch's metric).

        It is logged as the MLflow metric ``intermediate_value`` at ``step`` and shown to the
        study's pruner.

        Raises:
            hpo.TrialPruned: The pruner stops this trial; let it propagate.
        """
        import optuna

        value = float(value)
        step = int(step)
        self.last_step = step
        for hook in self._before_records:
            hook()
        if self._reporter.report(self.number, value, step):
            raise optuna.TrialPruned(f"trial {self.number} pruned at step {step}")

    def should_prune(self) -> bool:
        """Whether the pruner would stop this trial after its last report."""
        return self._reporter.should_prune(self.number)

    def log_metric(self, key: str, value: float, step: int | None = None) -> None:
        """Log one extra metric to the trial's MLflow run."""
        self.log_metrics({key: value}, step)

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        """Log several extra metrics to the trial's MLflow run at one step."""
        for hook in self._before_records:
            hook()
        self._reporter.log_metrics(self.number, {k: float(v) for k, v in metrics.items()}, step)

    def log_artifact(self, path: str, artifact_path: str | None = None) -> None:
        """Log a local file or folder to the trial's MLflow run.

        It is copied (from a Ray worker, sent to the driver) when this is called, so it may be
        deleted right after, e.g. with the ``TemporaryDirectory`` it was written in.

        Raises:
            FileNotFoundError: ``path`` is neither a file nor a folder.
        """
        self._reporter.log_artifact(self.number, _existing(path), artifact_path)

    def set_user_attr(self, key: str, value: Any) -> None:
        """Store a JSON-serializable attribute with the trial in the study storage."""
        self._reporter.set_user_attr(self.number, key, value)

    def set_tag(self, key: str, value: Any) -> None:
        """Set a tag on the trial's MLflow run (e.g. a warning found while training)."""
        self._reporter.set_tag(self.number, key, str(value))

    def keep(self, obj: Any) -> None:
        """Hand ``obj`` (e.g. a trained model's weights) to the objective in the driver.

        If the trial completes, the driver calls ``objective.on_trial_kept(number, obj)``, also
        when the trial ran on a Ray worker (``obj`` is then pickled back with the result).
        """
        self.kept = obj

    def checkpoint(self, state: Any) -> None:
        """Save ``state`` (anything picklable, tensors and state dicts included) as this trial's
        latest checkpoint, replacing the one before.

        If the trial is cut short (a crash, an interrupt, a dead Ray worker), the rerun of its
        configuration gets the last state saved from :meth:`restore` and can go on from there.
        It is encoded here and its bytes go to the driver, which writes them under the study's
        checkpoint folder, also from a Ray worker on another machine.
        """
        from hpo._checkpoints import encode

        save = getattr(self._reporter, "checkpoint", None)  # optional (see Reporter)
        if save is not None:
            save(self.number, encode(state))

    def restore(self) -> Any:
        """The state this trial's configuration was saved in by an attempt cut short, or None.

        None on a fresh trial; on the rerun of an interrupted trial (or a Ray task run again
        after its worker died), the last state it saved with :meth:`checkpoint`. It is what this
        attempt starts from, also when asked again later (not what this attempt saved since).
        One that cannot be read is reported in a warning line, and None is returned.
        """
        from hpo._checkpoints import decode

        if not self._restored:  # once: the hub of a Ray task run again holds the dead attempt's
            self._restored = True
            earlier = getattr(self._reporter, "restore", None)
            self._initial = (earlier(self.number) if earlier is not None else None) or self._initial
        if self._initial is None:
            return None
        try:
            return decode(self._initial)
        except Exception as err:  # e.g. a class that no longer exists: start from scratch
            import logging

            logging.getLogger("hpo").warning(
                "trial %d: its checkpoint cannot be read (%s: %s); the trial starts from scratch",
                self.number,
                type(err).__name__,
                first_line(err),
            )
            return None

    def __repr__(self) -> str:
        return f"Trial(number={self.number}, params={self.params!r})"


class StudyRun:
    """What an objective's ``on_study_end(study, run)`` hook may log to the study's parent run.

    Without tracking, logging does nothing (a test score is still stored with the study).

    Args:
        tracker: The study's tracker, or ``None`` when tracking is off.
        study: The :class:`hpo.Study` that ended (where a test score is stored).
    """

    def __init__(self, tracker: Any = None, study: Any = None) -> None:
        self._tracker = tracker
        self._study = study
        self._test_scored = False

    def log_model(
        self, flavor: str, model: Any, input_example: Any = None, params: Mapping[str, Any] | None = None
    ) -> None:
        """Log ``model`` as the MLflow model ``model`` of the study's run.

        Args:
            flavor: The MLflow flavor module, e.g. ``"sklearn"`` or ``"pytorch"``.
            model: The fitted model.
            input_example: A few input rows (raw, as a user would pass them); the model's
                signature is inferred from them.
            params: The hyperparameters the model was trained with (the best trial's), kept
                with the logged model.
        """
        if self._tracker is not None:
            self._tracker.log_model(flavor, model, input_example, dict(params or {}))

    def log_artifact(self, path: str, artifact_path: str | None = None) -> None:
        """Log a local file or folder to the study's run (copied at once)."""
        if self._tracker is not None:
            self._tracker.log_artifact(None, _existing(path), artifact_path)

    def log_test_score(self, metric: str, value: float, *, rows: int, trial: int | None = None) -> None:
        """Record the score of the final model (refit or best) on the held-out test set.

        Stored with the study (the user attribute ``hpo:test``, read back as
        :attr:`hpo.Study.test_score`, by ``hpo show`` and ``hpo compare``), written to
        ``summary.md``, and logged to the study's parent run as the metric ``test_<metric>``
        when the study ends.

        Args:
            metric: The score's name without a prefix (``accuracy``); a leading ``val_`` is
                dropped (``val_mse`` -> ``test_mse``).
            value: The score on the test rows.
            rows: The number of test rows.
            trial: The trial whose configuration the model has; by default the best trial.

        Raises:
            RuntimeError: A second call from the same hook: the test set is scored once.
        """
        if self._test_scored:
            raise RuntimeError("log_test_score: the test set is scored once per study end, and was already")
        self._test_scored = True
        name = "test_" + metric.removeprefix("val_").removeprefix("test_")
        if trial is None and self._study is not None:
            trial = self._study.best_trial.number
        record = {"metric": name, "value": float(value), "rows": int(rows), "trial": trial}
        if self._study is not None:
            from hpo._study import TEST_SCORE

            # In the study storage: hpo show and compare read it without MLflow, and the
            # tracker logs it to the parent run with the study's summary (hpo sync too).
            self._study.optuna_study.set_user_attr(TEST_SCORE, record)


def _existing(path: Any) -> str:
    if not os.path.exists(path):
        raise FileNotFoundError(f"log_artifact: no file or folder {str(path)!r}")
    return str(path)


@dataclass
class TrialResult:
    """How one trial ended, as the executor hands it back to the driver."""

    number: int
    state: str
    value: float | None = None
    error: str | None = None
    #: Each objective's value, in order, when the study names its objectives (else None).
    values: tuple[float, ...] | None = None
    exception: BaseException | None = field(default=None, repr=False)
    kept: Any = field(default=None, repr=False)  # see Trial.keep


ObjectiveCall = Callable[[dict[str, Any], Trial], Any]


def as_two_argument(objective: Callable[..., Any]) -> ObjectiveCall:
    """Accept ``objective(params, trial)`` and ``objective(params)`` alike."""
    if not callable(objective):
        raise TypeError(f"objective must be callable, got {objective!r}")
    try:
        signature = inspect.signature(objective)
    except (TypeError, ValueError):  # some builtins and C callables
        return objective
    if _takes_params_only(signature):
        return lambda params, trial: objective(params)
    return objective


def _takes_params_only(signature: inspect.Signature) -> bool:
    """Whether :func:`as_two_argument` calls an objective of this signature as ``objective(params)``."""
    parameters = signature.parameters.values()
    positional = [p for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return len(positional) == 1 and not any(p.kind is p.VAR_POSITIONAL for p in parameters)


def signature_problem(objective: Callable[..., Any]) -> str | None:
    """Why ``objective`` cannot be called as :func:`as_two_argument` calls it (``objective(params)``
    when it takes one positional argument, else ``objective(params, trial)``), on one line; None
    when it can, or when its signature cannot be read (some builtins: the trial will tell)."""
    try:
        signature = inspect.signature(objective)
    except (TypeError, ValueError):
        return None
    try:
        signature.bind(*(("params",) if _takes_params_only(signature) else ("params", "trial")))
    except TypeError as err:
        bare = signature.replace(
            parameters=[p.replace(annotation=p.empty) for p in signature.parameters.values()],
            return_annotation=signature.empty,
        )
        name = getattr(objective, "__qualname__", None) or type(objective).__name__
        name = name.rpartition("<locals>.")[2]  # f, not test.<locals>.f
        shown = " ".join(f"{name}{bare}".split())  # a default's repr may span lines
        shown = shown if len(shown) <= 120 else shown[:117] + "..."
        return f"{shown} cannot be called as objective(params, trial) or objective(params): {err}"
    return None


def _value_problem(value: Any) -> tuple[float | None, str | None]:
    """The objective's value as a float, or why it is not one."""
    wrong = f"objective returned {type(value).__name__} {value!r:.80}, expected a float"
    # Numbers (numpy scalars too), one-element tensors and 0-d arrays (they have __float__), not bools.
    if isinstance(value, (bool, str, bytes)) or not (isinstance(value, numbers.Real) or hasattr(value, "__float__")):
        return None, wrong
    try:
        number = float(value)
    except (TypeError, ValueError):  # e.g. an array of several elements
        return None, wrong
    if not math.isfinite(number):
        return None, f"objective returned {number}"
    return number, None


class _TrialTimeout(BaseException):
    """Raised in a trial that ran past ``trial_timeout`` (a BaseException: an objective's
    ``except Exception`` must not swallow it)."""


@contextlib.contextmanager
def _deadline(seconds: float | None, number: int) -> Iterator[None]:
    """Raise :class:`_TrialTimeout` in this thread after ``seconds`` (SIGALRM, main thread only).

    Python code and sleeps are stopped; a long call into C code ends first (the Ray executor
    also stops such a trial from the driver, by ending its worker process).
    """
    if seconds is None or not hasattr(signal, "setitimer") or threading.current_thread() is not threading.main_thread():
        yield
        return

    def expire(signum: int, frame: Any) -> None:
        raise _TrialTimeout(f"TrialTimeout: trial {number} ran past trial_timeout={seconds:g} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def run_objective(
    objective: ObjectiveCall,
    trial: Trial,
    catch: tuple[type[BaseException], ...],
    timeout: float | None = None,
) -> TrialResult:
    """Run one trial and classify its outcome.

    Any exception fails the trial. One not listed in ``catch`` is also attached to the result
    as ``exception``, for the driver to raise after recording the failure. ``KeyboardInterrupt``
    and other ``BaseException`` subclasses propagate: the trial was interrupted, not failed.
    A trial still running after ``timeout`` seconds is stopped and failed.
    """
    import optuna

    try:
        with _deadline(timeout, trial.number):
            raw = objective(trial.params, trial)
    except _TrialTimeout as err:
        return TrialResult(trial.number, FAILED, error=str(err))
    except optuna.TrialPruned:
        return TrialResult(trial.number, PRUNED)
    except Exception as err:
        # The trial fails either way; an exception not in ``catch`` also ends the study,
        # raised by the driver once the failure is recorded.
        message = f"{type(err).__name__}: {err}".strip().rstrip(":")
        return TrialResult(
            trial.number,
            FAILED,
            error=message,
            exception=None if isinstance(err, catch) else err,
        )
    if isinstance(raw, Values):  # the study's objectives, checked by ObjectiveValues
        if raw.problem is not None or raw.values is None:
            return TrialResult(trial.number, FAILED, error=raw.problem)
        single = raw.values[0] if len(raw.values) == 1 else None
        return TrialResult(trial.number, COMPLETE, single, values=raw.values, kept=trial.kept)
    value, problem = _value_problem(raw)
    if problem:
        return TrialResult(trial.number, FAILED, error=problem)
    return TrialResult(trial.number, COMPLETE, value, kept=trial.kept)
