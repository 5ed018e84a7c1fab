"""The Ray executor: trials as Ray tasks, on this machine or a cluster.

The driver still alone asks Optuna and tells it; each trial runs as a Ray task with the CPUs and
GPUs it asks for, on worker processes Ray keeps warm between tasks (and between studies). The
objective goes to the object store once (``ray.put``), not once per trial. (A pool of actors per
study was measured slower: each study paid for starting its actors' processes.)
A worker's ``trial.report(value, step)`` goes to a small async actor, the hub, and awaits the
decision. The driver keeps one long-poll call on the hub and waits on it together with the trials
(one ``ray.wait``, no polling): it wakes when a trial ends or a report arrives, asks the study's
pruner, and sends the decision back. Metrics, user attributes and artifacts (their bytes: the
worker may be on another machine) are buffered in the worker and travel with the next report or
with the trial's result, so a trial that never reports costs no hub call at all, and a trial's
records always arrive before its end.
"""

from __future__ import annotations

import logging
import math
import os
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hpo._exceptions import ConfigError
from hpo._executors import Executor, TrialJob
from hpo._trial import FAILED, ObjectiveCall, Reporter, Trial, TrialResult, run_objective
from hpo._validation import check_keys

OPTIONS = ("workers", "address", "cpus_per_trial", "gpus_per_trial", "max_retries")
HARD_STOP_GRACE_S = 5.0


class RayExecutor(Executor):
    """Runs up to ``workers`` trials at once as Ray tasks.

    Args:
        workers: Trials at once; by default as many as the cluster's CPUs allow.
        address: A Ray cluster to join (``auto``, ``ray://host:port``, ``host:port``); by default
            ``$RAY_ADDRESS``, else a local Ray started for the study and shut down after it.
        cpus_per_trial: CPUs each trial reserves.
        gpus_per_trial: GPUs each trial reserves; fractions let trials share a GPU.
        max_retries: Times a trial whose worker process died (OOM, SIGKILL) is run again on
            another worker before it fails.
    """

    name = "ray"

    def __init__(
        self,
        workers: int | None = None,
        address: str | None = None,
        cpus_per_trial: float = 1.0,
        gpus_per_trial: float = 0.0,
        max_retries: int = 0,
    ) -> None:
        if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
            raise ConfigError(key="executor.workers", message=f"expected a positive integer, got {workers!r}")
        for key, value in (("cpus_per_trial", cpus_per_trial), ("gpus_per_trial", gpus_per_trial)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < math.inf:
                raise ConfigError(key=f"executor.{key}", message=f"expected a non-negative number, got {value!r}")
        if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
            raise ConfigError(key="executor.max_retries", message=f"expected a non-negative integer, got {max_retries!r}")
        if address is not None and not isinstance(address, str):
            raise ConfigError(key="executor.address", message=f"expected an address like auto or ray://host:10001, got {address!r}")
        self.workers = workers
        self.address = address
        self.cpus_per_trial = float(cpus_per_trial)
        self.gpus_per_trial = float(gpus_per_trial)
        self.max_retries = max_retries
        # Until Ray is up, assume this machine's CPUs (it decides whether TPE runs concurrently).
        local = max(1, int((os.cpu_count() or 1) // max(self.cpus_per_trial, 1e-9)))
        self._concurrency = workers or local
        self._own_ray = False
        self._pending: dict[Any, int] = {}
        self._deadlines: dict[Any, tuple[float, float]] = {}  # ref -> (hard deadline, trial_timeout)

    @property
    def concurrency(self) -> int:
        return self._concurrency

    def start(self, objective: ObjectiveCall, reporter: Reporter, catch: tuple[type[BaseException], ...]) -> None:
        import ray

        address = self.address or os.environ.get("RAY_ADDRESS")
        if not ray.is_initialized():
            if address:
                ray.init(address=address, logging_level=logging.WARNING)
            else:
                ray.init(include_dashboard=False, logging_level=logging.WARNING, runtime_env=worker_env())
                self._own_ray = True
        resources = ray.cluster_resources()
        for kind, asked in (("CPU", self.cpus_per_trial), ("GPU", self.gpus_per_trial)):
            have = resources.get(kind, 0.0)
            if asked > have:
                key = f"executor.{kind.lower()}s_per_trial"
                raise ConfigError(key=key, message=f"a trial asks for {asked:g} {kind}s, the Ray cluster has {have:g}")
        if self.workers is None and self.cpus_per_trial > 0:
            self._concurrency = max(1, int(resources.get("CPU", 1) // self.cpus_per_trial))
        self._reporter = reporter
        self._catch = catch
        self._objective = ray.put(objective)  # shipped to the object store once per study
        self._hub: Any = ray.remote(_Hub).options(num_cpus=0).remote()  # an actor handle
        self._poll: Any = None
        self._task = ray.remote(_run_remote).options(
            num_cpus=self.cpus_per_trial,
            num_gpus=self.gpus_per_trial,
            max_retries=self.max_retries,  # reruns of a trial whose worker process died
            retry_exceptions=False,  # the objective's exceptions are results, not worker deaths
        )

    def submit(self, job: TrialJob) -> None:
        ref = self._task.remote(self._objective, job.number, job.params, self._hub, self._catch, job.timeout)
        self._pending[ref] = job.number
        if job.timeout is not None:
            # The worker stops the trial itself at the timeout; a trial stuck in C code past
            # this grace is stopped from here, with its worker process.
            self._deadlines[ref] = (time.monotonic() + job.timeout + HARD_STOP_GRACE_S, job.timeout)

    def wait(self) -> list[TrialResult]:
        import ray

        while True:
            if self._poll is None:
                self._poll = self._hub.next_batch.remote()
            wait_s = None
            if self._deadlines:
                wait_s = max(0.0, min(d for d, _ in self._deadlines.values()) - time.monotonic())
            ready, _ = ray.wait([*self._pending, self._poll], num_returns=1, timeout=wait_s)
            if not ready:
                stopped = self._stop_overdue()
                if stopped:
                    return stopped
                continue
            if self._poll in ready:  # reports arrived: answer them, then wait again
                self._apply(ray.get(self._poll))
                self._poll = None
                continue
            rest = [ref for ref in self._pending if ref not in ready]
            if rest:  # whatever else has ended, without waiting
                more, _ = ray.wait(rest, num_returns=len(rest), timeout=0)
                ready += more
            return [self._result(ref) for ref in ready]

    def _stop_overdue(self) -> list[TrialResult]:
        import ray

        now, stopped = time.monotonic(), []
        for ref, (deadline, timeout) in list(self._deadlines.items()):
            if deadline <= now:
                ray.cancel(ref, force=True)
                del self._deadlines[ref]
                number = self._pending.pop(ref)
                error = f"TrialTimeout: trial {number} ran past trial_timeout={timeout:g} s (its worker was stopped)"
                stopped.append(TrialResult(number, FAILED, error=error))
        return stopped

    def _result(self, ref: Any) -> TrialResult:
        import ray

        self._deadlines.pop(ref, None)
        number = self._pending.pop(ref)
        try:
            result, posts = ray.get(ref)
            self._apply(posts)  # the trial's last records, before the driver tells its end
            return result
        except ray.exceptions.RayError as err:
            # The worker process died (OOM, SIGKILL) and no retry was left: the trial failed.
            reason = str(err).strip().splitlines()[0] if str(err).strip() else ""
            return TrialResult(number, FAILED, error=f"worker died: {type(err).__name__}: {reason}".rstrip(": "))

    def _apply(self, messages: list[tuple[str, int, Any]]) -> None:
        """Hand the workers' reports to the driver's study and tracker; send decisions back."""
        for kind, number, payload in messages:
            if kind == "report":
                value, step = payload
                self._hub.decide.remote(number, step, self._reporter.report(number, value, step))
            elif kind == "metrics":
                self._reporter.log_metrics(number, payload[0], payload[1])
            elif kind == "user_attr":
                self._reporter.set_user_attr(number, payload[0], payload[1])
            elif kind == "artifact":
                packed, artifact_path = payload
                with tempfile.TemporaryDirectory(prefix="hpo-ray-artifact-") as folder:
                    # The tracker copies it before returning, so the folder may go at once.
                    self._reporter.log_artifact(number, _unpack(packed, Path(folder)), artifact_path)

    def shutdown(self) -> None:
        import ray

        if not ray.is_initialized():
            return
        for ref in list(self._pending):
            ray.cancel(ref, force=True)
        self._pending.clear()
        self._deadlines.clear()
        if getattr(self, "_hub", None) is not None:
            ray.kill(self._hub)  # also ends the open long-poll call
            self._hub, self._poll = None, None
        if self._own_ray:
            ray.shutdown()
            self._own_ray = False


def worker_env() -> dict[str, Any]:
    """A Ray ``runtime_env`` giving local workers the driver's import path.

    Objectives are pickled by reference to their module (``examples.objectives:svc``, a test
    module): the workers must be able to import what the driver imported.
    """
    import sys

    path = [p for p in sys.path if p and os.path.isdir(p)]
    return {"env_vars": {"PYTHONPATH": os.pathsep.join(path)}}


class _Hub:
    """The actor between workers and the driver (async: a report waits for its decision)."""

    def __init__(self) -> None:
        self._queue: list[tuple[str, int, Any]] = []
        self._waiting: dict[tuple[int, int], Any] = {}
        self._decisions: dict[tuple[int, int], bool] = {}
        self._arrived: Any = None  # set when the queue gets something; the long poll waits on it

    async def report(self, number: int, value: float, step: int, posts: list[tuple[str, int, Any]]) -> bool:
        import asyncio

        event = self._waiting[(number, step)] = asyncio.Event()
        self._queue += [*posts, ("report", number, (value, step))]
        if self._arrived is not None:
            self._arrived.set()
        await event.wait()
        return self._decisions.pop((number, step))

    async def next_batch(self) -> list[tuple[str, int, Any]]:
        """The driver's long poll: returns once there is something to hand over."""
        import asyncio

        while not self._queue:
            self._arrived = asyncio.Event()
            await self._arrived.wait()
        queue, self._queue = self._queue, []
        return queue

    async def decide(self, number: int, step: int, prune: bool) -> None:
        self._decisions[(number, step)] = prune
        event = self._waiting.pop((number, step), None)
        if event is not None:
            event.set()


class _RemoteReporter:
    """A worker's side of the hub (see :class:`hpo._trial.Reporter`)."""

    def __init__(self, hub: Any) -> None:
        self._hub = hub
        self._last = False
        self.posts: list[tuple[str, int, Any]] = []  # sent with the next report, or the result

    def report(self, number: int, value: float, step: int) -> bool:
        import ray

        posts, self.posts = self.posts, []
        self._last = ray.get(self._hub.report.remote(number, value, step, posts))
        return self._last

    def should_prune(self, number: int) -> bool:
        return self._last

    def log_metrics(self, number: int, metrics: Mapping[str, float], step: int | None) -> None:
        self.posts.append(("metrics", number, (dict(metrics), step)))

    def log_artifact(self, number: int, path: str, artifact_path: str | None) -> None:
        # The bytes travel, not the path: the worker may be on another machine than the driver.
        self.posts.append(("artifact", number, (_pack(Path(path)), artifact_path)))

    def set_user_attr(self, number: int, key: str, value: Any) -> None:
        self.posts.append(("user_attr", number, (key, value)))


_Packed = tuple[str, bool, dict[str, bytes]]


def _pack(path: Path) -> _Packed:
    """A file or folder as (name, is a folder, {relative path: bytes})."""
    if path.is_dir():
        files = {p.relative_to(path).as_posix(): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}
        return path.resolve().name, True, files
    return path.resolve().name, False, {"": path.read_bytes()}


def _unpack(packed: _Packed, folder: Path) -> str:
    """Write a packed file or folder into ``folder``; return its path there."""
    name, is_dir, files = packed
    target = folder / name
    if not is_dir:
        target.write_bytes(files[""])
        return str(target)
    target.mkdir()
    for relative, data in files.items():
        (target / relative).parent.mkdir(parents=True, exist_ok=True)
        (target / relative).write_bytes(data)
    return str(target)


def _run_remote(
    objective: ObjectiveCall, number: int, params: dict[str, Any], hub: Any, catch: Any, timeout: float | None
) -> tuple[TrialResult, list[tuple[str, int, Any]]]:
    reporter = _RemoteReporter(hub)
    result = run_objective(objective, Trial(number, params, reporter), catch, timeout=timeout)
    return result, reporter.posts


def make_ray_executor(options: Mapping[str, Any]) -> RayExecutor:
    """A :class:`RayExecutor` from a config's ``executor: {kind: ray, ...}`` options."""
    check_keys(options, OPTIONS, "executor")
    return RayExecutor(**dict(options))

