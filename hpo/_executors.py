"""Executors: where trials run.

The driver (``hpo._tune``) alone asks Optuna for trials and tells it the results; an executor
only runs the trials it is handed and gives back their :class:`TrialResult`. It never reaches
into the sampler, the pruner or the tracker: reports reach those through the ``Reporter``.
"""

from __future__ import annotations

import abc
import collections
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Union

from hpo._exceptions import ConfigError
from hpo._trial import ObjectiveCall, Reporter, Trial, TrialResult, run_objective
from hpo._validation import name_and_options

__all__ = ["Executor", "InlineExecutor", "TrialJob"]


@dataclass(frozen=True)
class TrialJob:
    """One trial to run: its number, parameters, and how long it may run (seconds, or None)."""

    number: int
    params: dict[str, Any]
    timeout: float | None = None


class Executor(abc.ABC):
    """Runs trials. Subclass it to run them somewhere new.

    The driver calls :meth:`start` once, then alternates :meth:`submit` (while fewer than
    :attr:`concurrency` trials are running) and :meth:`wait`, and calls :meth:`shutdown` at the
    end, also after an error or an interrupt.
    """

    #: Short name, recorded with the study.
    name: str = "executor"

    @property
    def concurrency(self) -> int:
        """How many trials may run at once."""
        return 1

    @abc.abstractmethod
    def start(
        self, objective: ObjectiveCall, reporter: Reporter, catch: tuple[type[BaseException], ...]
    ) -> None:
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

    def start(
        self, objective: ObjectiveCall, reporter: Reporter, catch: tuple[type[BaseException], ...]
    ) -> None:
        self._objective, self._reporter, self._catch = objective, reporter, catch

    def submit(self, job: TrialJob) -> None:
        self._queue.append(job)

    def wait(self) -> list[TrialResult]:
        assert self._objective is not None and self._reporter is not None, "start() first"
        job = self._queue.popleft()
        trial = Trial(job.number, job.params, self._reporter)
        return [run_objective(self._objective, trial, self._catch, timeout=job.timeout)]

    def shutdown(self) -> None:
        self._queue.clear()


ExecutorLike = Union[str, Mapping[str, Any], Executor]
EXECUTORS = ("inline", "ray")


def make_executor(spec: ExecutorLike) -> Executor:
    """Build an executor from a name, a ``{kind: ..., **options}`` mapping, or an instance."""
    if isinstance(spec, Executor):
        return spec
    kind, options = name_and_options(spec, "executor", key="kind")
    if kind not in EXECUTORS:
        raise ConfigError(key="executor", message=f"unknown executor {kind!r}, expected one of {', '.join(EXECUTORS)}")
    if kind == "ray":
        from hpo._ray import make_ray_executor

        return make_ray_executor(options)
    if options:
        raise ConfigError(key="executor", message=f"unknown option(s) {sorted(options)!r} for executor {kind!r}")
    return InlineExecutor()
