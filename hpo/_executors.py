"""Executors: where trials run.

The driver (``hpo._tune``) alone asks Optuna for trials and tells it the results; an executor
only runs the trials it is handed and gives back their :class:`TrialResult`. It never reaches
into the sampler, the pruner or the tracker: reports reach those through the ``Reporter``.
"""

from __future__ import annotations

import abc
import collections
import inspect
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hpo._exceptions import ConfigError
from hpo._registry import Registry
from hpo._trial import ObjectiveCall, Reporter, Trial, TrialResult, run_objective
from hpo._validation import check_keys, name_and_options

__all__ = ["Executor", "InlineExecutor", "TrialJob"]


@dataclass(frozen=True)
class TrialJob:
    """One trial to run: its number, parameters, how long it may run (seconds, or None), the
    checkpoint an interrupted run of its configuration left (``trial.restore()`` gets it), and
    its seed (``trial.seed``)."""

    number: int
    params: dict[str, Any]
    timeout: float | None = None
    checkpoint: bytes | None = None
    seed: int | None = None


class Executor(abc.ABC):
    """Runs trials. Subclass it to run them somewhere new.

    The driver calls :meth:`open` once, then :meth:`start` once, then alternates :meth:`submit`
    (while fewer than :attr:`concurrency` trials are running) and :meth:`wait`, and calls
    :meth:`shutdown` at the end, also after an error or an interrupt.
    """

    #: Short name, recorded with the study.
    name: str = "executor"

    @property
    def concurrency(self) -> int:
        """How many trials may run at once."""
        return 1

    def open(self) -> None:  # noqa: B027 -- optional hook, a no-op by default
        """Connect to where trials run, so that :attr:`concurrency` is final.

        The driver calls it once, before it builds the sampler (whether it samples for
        concurrent trials depends on :attr:`concurrency`), then :meth:`start`.
        """

    @abc.abstractmethod
    def start(self, objective: ObjectiveCall, reporter: Reporter, catch: tuple[type[BaseException], ...]) -> None:
        """Prepare to run trials of ``objective`` (e.g. ship it to workers once)."""

    @abc.abstractmethod
    def submit(self, job: TrialJob) -> None:
        """Start running ``job``; must not block on the trial itself."""

    @abc.abstractmethod
    def wait(self) -> list[TrialResult]:
        """Block until at least one submitted trial has ended; return those that have."""

    def shutdown(self) -> None:  # noqa: B027 -- optional hook, a no-op by default
        """Release workers. Trials still running are abandoned; the driver marks them."""


class InlineExecutor(Executor):
    """Runs each trial in the calling process, one at a time (the default)."""

    name = "inline"

    def __init__(self) -> None:
        self._queue: collections.deque[TrialJob] = collections.deque()
        self._objective: ObjectiveCall | None = None
        self._reporter: Reporter | None = None
        self._catch: tuple[type[BaseException], ...] = ()

    def start(self, objective: ObjectiveCall, reporter: Reporter, catch: tuple[type[BaseException], ...]) -> None:
        self._objective, self._reporter, self._catch = objective, reporter, catch

    def submit(self, job: TrialJob) -> None:
        self._queue.append(job)

    def wait(self) -> list[TrialResult]:
        assert self._objective is not None and self._reporter is not None, "start() first"
        job = self._queue.popleft()
        trial = Trial(job.number, job.params, self._reporter, job.checkpoint, job.seed)
        return [run_objective(self._objective, trial, self._catch, timeout=job.timeout)]

    def shutdown(self) -> None:
        self._queue.clear()


ExecutorLike = str | Mapping[str, Any] | Executor

#: ``executor: {kind: NAME}`` -> the :class:`Executor` class, built with the other keys.
EXECUTORS = Registry("executor", {"inline": "hpo._executors:InlineExecutor", "ray": "hpo._ray:RayExecutor"})


def make_executor(spec: ExecutorLike) -> Executor:
    """Build an executor from a name, a ``{kind: ..., **options}`` mapping, or an instance.

    The kind is a registered name or any ``package.module:attr`` naming an :class:`Executor`
    class; the other keys are its constructor's arguments.

    Raises:
        ConfigError: An unknown kind or option, or a bad value, naming ``executor``.
    """
    if isinstance(spec, Executor):
        return spec
    kind, options = name_and_options(spec, "executor", key="kind")
    cls = EXECUTORS.load(kind, "executor")
    if not (isinstance(cls, type) and issubclass(cls, Executor)):
        raise ConfigError(f"{kind!r} is not an hpo Executor class, got {cls!r}", key="executor")
    accepted = [name for name in inspect.signature(cls).parameters if name != "self"]
    if options and not accepted:
        raise ConfigError(f"executor {kind!r} takes no options, got {sorted(options)!r}", key="executor")
    check_keys(options, accepted, "executor")
    return cls(**options)
