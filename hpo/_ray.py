"""The Ray executor: trials as Ray tasks, on this machine or a cluster.

The driver still alone asks Optuna and tells it; each trial runs as a Ray task with the CPUs,
GPUs and custom resources it asks for, on worker processes Ray keeps warm between tasks (and
between studies); as many run at once as the scarcest of those resources allows. The
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

import contextlib
import logging
import math
import os
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from hpo._exceptions import ConfigError
from hpo._executors import Executor, TrialJob
from hpo._trial import FAILED, ObjectiveCall, Reporter, Trial, TrialResult, run_objective
from hpo._validation import first_line

HARD_STOP_GRACE_S = 5.0
CONNECT_TIMEOUT_S = 5.0  # a cluster address that does not answer by then is an error, not a hang
UNITS = 10_000  # Ray counts resources in 1/10000ths: the finest fraction a trial may ask for
REFRESH_S = 1.0  # how often the cluster's resources are looked at again while a study runs
# The longest the first trial waits for the worker processes of the trials that run at once
# (a busy cluster that cannot give them all at once starts the study with what it has).
WARM_UP_S = 10.0


class RayExecutor(Executor):
    """Runs trials as Ray tasks, as many at once as the cluster's resources allow.

    Args:
        workers: At most this many trials at once.
        address: A Ray cluster to join (``auto``, ``ray://host:port``, ``host:port``); by default
            ``$RAY_ADDRESS``, else a local Ray started for the study and shut down after it. One
            that does not answer within seconds is a :class:`ConfigError`.
        cpus_per_trial: CPUs each trial reserves.
        gpus_per_trial: GPUs each trial reserves; fractions let trials share a GPU.
        resources_per_trial: Custom Ray resources each trial reserves, ``{name: amount}``.
        max_retries: Times a trial whose worker process died (OOM, SIGKILL) is run again on
            another worker before it fails.

    Trials at once (:attr:`concurrency`, final after :meth:`open`): the fewest that any resource a
    trial asks for allows on the cluster as :meth:`open` finds it, and ``workers``; with every
    resource at 0, ``workers``, else the cluster's CPU count.
    """

    name = "ray"

    def __init__(
        self,
        workers: int | None = None,
        address: str | None = None,
        cpus_per_trial: float = 1.0,
        gpus_per_trial: float = 0.0,
        resources_per_trial: Mapping[str, float] | None = None,
        max_retries: int = 0,
    ) -> None:
        if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
            raise ConfigError(key="executor.workers", message=f"expected a positive integer, got {workers!r}")
        for key, value in (("cpus_per_trial", cpus_per_trial), ("gpus_per_trial", gpus_per_trial)):
            _check_amount(f"executor.{key}", value)
        if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
            message = f"expected a non-negative integer, got {max_retries!r}"
            raise ConfigError(key="executor.max_retries", message=message)
        if address is not None and not isinstance(address, str):
            message = f"expected an address like auto or ray://host:10001, got {address!r}"
            raise ConfigError(key="executor.address", message=message)
        self.workers = workers
        self.address = address
        self.cpus_per_trial = float(cpus_per_trial)
        self.gpus_per_trial = float(gpus_per_trial)
        self.resources_per_trial = _check_resources(resources_per_trial)
        self.max_retries = max_retries
        # Until open() has seen the cluster, assume this machine's CPUs and no GPU limit.
        self._concurrency = self._fit({"CPU": float(os.cpu_count() or 1)}, check=False)
        self._opened = False
        self._refresh_at = math.inf  # when to look at the cluster's resources again (once open)
        self._own_ray = False
        self._pending: dict[Any, int] = {}
        self._hub: Any = None  # the study's hub actor, from start() to shutdown()
        self._poll: Any = None
        self._deadlines: dict[Any, tuple[float, float]] = {}  # ref -> (hard deadline, trial_timeout)

    @property
    def concurrency(self) -> int:
        """Trials at once that the cluster's resources allow now (see the class docstring):
        looked at again at most every ``REFRESH_S`` seconds, so that a node added to the cluster
        (``ray start --address``, the autoscaler) or lost changes it while the study runs."""
        if self._opened and time.monotonic() >= self._refresh_at:
            import ray

            self._refresh_at = time.monotonic() + REFRESH_S
            try:
                self._concurrency = self._fit(ray.cluster_resources(), check=False, now=True)
            except Exception:  # the GCS busy or restarting: keep the last figure
                pass
        return self._concurrency

    def open(self) -> None:
        """Join the Ray cluster (or start a local Ray), check the resources trials ask for, and
        fix :attr:`concurrency`. Idempotent.

        Raises:
            ConfigError: The cluster does not answer, or lacks a resource a trial asks for.
        """
        if self._opened:
            return
        import ray

        if not ray.is_initialized():
            env = os.environ.get("RAY_ADDRESS") or None
            # As ray.init reads it: $RAY_ADDRESS stands for no address and for "auto".
            address = env if self.address in (None, "auto") and env else self.address
            if address in (None, "local"):
                # "local", never the default: with no address Ray joins whatever cluster its
                # ray_current_cluster file names, and waits for minutes on one that has died.
                with _quiet_token_auth_notice():
                    ray.init(
                        address="local",
                        include_dashboard=False,
                        logging_level=logging.WARNING,
                        runtime_env=worker_env(),
                    )
                self._own_ray = True
            else:
                _check_answers(address, from_env=address != self.address)
                try:
                    ray.init(address=address, logging_level=logging.WARNING)
                except ConnectionError as err:
                    message = f"no Ray cluster answers at {address!r}: {first_line(err)}"
                    raise ConfigError(key="executor.address", message=message) from None
        try:
            self._concurrency = self._fit(ray.cluster_resources())
        except ConfigError:
            self._shutdown_own_ray()  # nothing of the study runs: leave no Ray behind
            raise
        self._opened = True
        self._refresh_at = time.monotonic() + REFRESH_S

    def _warm_up(self) -> None:
        """Have the worker processes of the trials that run at once started before the first trial.

        Ray keeps about as many idle worker processes as a node has CPUs: 4 trials of 0.5 CPU
        on 2 CPUs otherwise start 2 processes (a second or more of imports each) while their
        first trials wait, and those trials' times (and timeouts) include it. One task per trial
        slot, with a trial's resources, holds its process until all have one (the hub's
        barrier), so each gets a process of its own; then they return and leave their
        processes idle, for the trials. A busy cluster that cannot give them all within
        ``WARM_UP_S`` starts the study with what it has.
        """
        import ray

        task = ray.remote(_warm_up).options(**self._options(), max_retries=0)
        n, token = self.concurrency, uuid.uuid4().hex
        warming = [task.remote(self._hub, token, n) for _ in range(n)]
        _, late = ray.wait(warming, num_returns=n, timeout=WARM_UP_S + 1)
        for ref in late:
            ray.cancel(ref)

    def _options(self) -> dict[str, Any]:
        """What each trial's task asks Ray for."""
        return {
            "num_cpus": self.cpus_per_trial,
            "num_gpus": self.gpus_per_trial,
            "resources": {k: v for k, v in self.resources_per_trial.items() if v > 0},
        }

    def _fit(self, have: Mapping[str, float], check: bool = True, now: bool = False) -> int:
        """Trials at once that the resources ``have`` allow (see the class docstring).

        Args:
            have: The cluster's resources.
            check: Refuse a trial that asks for more than ``have`` holds.
            now: ``have`` is the cluster as it is (a resource it lacks, e.g. with its node
                lost, allows one trial, which waits in Ray's queue for it); else an estimate
                before the cluster is seen (a resource it lacks bounds nothing).

        Raises:
            ConfigError: With ``check``, a trial asks for more of a resource than ``have`` holds.
        """
        bounds = [] if self.workers is None else [self.workers]
        asks = {"CPU": self.cpus_per_trial, "GPU": self.gpus_per_trial, **self.resources_per_trial}
        for kind, asked in asks.items():
            available = have.get(kind, 0.0)
            # In Ray's own units: 1 // 0.1 would be 9 in floats.
            if asked > 0 and now and _units(asked) > _units(available):
                bounds.append(1)
                continue
            if asked <= 0 or (not check and _units(asked) > _units(available)):
                continue  # no bound; or, for an estimate, the cluster may have more than `have`
            if _units(asked) > _units(available):
                if kind in ("CPU", "GPU"):
                    key, what = f"executor.{kind.lower()}s_per_trial", f"{asked:g} {kind}s"
                else:
                    key, what = "executor.resources_per_trial", f"{asked:g} of {kind!r}"
                raise ConfigError(key=key, message=f"a trial asks for {what}, the Ray cluster has {available:g}")
            bounds.append(_units(available) // _units(asked))
        if bounds:
            return max(1, min(bounds))
        return max(1, int(have.get("CPU", 1)))  # nothing a trial asks for bounds it

    def start(self, objective: ObjectiveCall, reporter: Reporter, catch: tuple[type[BaseException], ...]) -> None:
        import ray

        self.open()  # a no-op when the driver has called it
        self._reporter = reporter
        self._catch = catch
        self._objective = ray.put(objective)  # shipped to the object store once per study
        self._hub = _take_hub()
        self._poll = None
        self._task = ray.remote(_run_remote).options(
            **self._options(),
            max_retries=self.max_retries,  # reruns of a trial whose worker process died
            retry_exceptions=False,  # the objective's exceptions are results, not worker deaths
        )
        self._warm_up()

    def submit(self, job: TrialJob) -> None:
        ref = self._task.remote(
            self._objective, job.number, job.params, self._hub, self._catch, job.timeout, job.checkpoint, job.seed
        )
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
                self._hub.take_checkpoint.remote(number)  # the hub forgets the trial's checkpoint
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
            if any(kind == "checkpointed" for kind, _, _ in posts):
                # Its last checkpoint may still wait in the hub for the next poll: take it
                # now, before the driver tells the trial's end (and keeps or drops the file).
                self._apply(ray.get(self._hub.take_checkpoint.remote(number)))
            return result
        except ray.exceptions.RayError as err:
            # The worker process died (OOM, SIGKILL) and no retry was left: the trial failed.
            self._hub.take_checkpoint.remote(number)  # the hub forgets the trial's checkpoint
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
            elif kind == "tag":
                self._reporter.set_tag(number, payload[0], payload[1])
            elif kind == "checkpoint":
                save = getattr(self._reporter, "checkpoint", None)  # optional (see Reporter)
                if save is not None:
                    save(number, payload)
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
        if self._hub is not None:
            _give_back_hub(self._hub)  # also ends the open long-poll call
            self._hub, self._poll = None, None
        self._shutdown_own_ray()

    def _shutdown_own_ray(self) -> None:
        import ray

        if self._own_ray:
            with _HUBS_LOCK:
                _IDLE_HUBS.clear()  # they end with this Ray
            ray.shutdown()
            self._own_ray = False
            self._opened = False  # a next study starts a Ray again


def _check_amount(key: str, value: Any, of: str = "") -> None:
    """Refuse an amount of a resource (``of``: `` for 'name'``) that Ray could not schedule."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < math.inf:
        raise ConfigError(key=key, message=f"expected a non-negative number{of}, got {value!r}")
    if 0 < value and _units(value) == 0:
        message = f"expected 0 or at least {1 / UNITS:g} (Ray's finest fraction){of}, got {value!r}"
        raise ConfigError(key=key, message=message)


def _check_resources(resources: Any) -> dict[str, float]:
    """``resources_per_trial`` checked, as ``{name: amount}``."""
    key = "executor.resources_per_trial"
    if resources is None:
        return {}
    if not isinstance(resources, Mapping):
        raise ConfigError(key=key, message=f"expected a mapping of resource names to amounts, got {resources!r}")
    for name, amount in resources.items():
        if not isinstance(name, str) or not name:
            raise ConfigError(key=key, message=f"expected resource names as strings, got {name!r}")
        if name in ("CPU", "GPU"):
            raise ConfigError(key=key, message=f"set {name} with {name.lower()}s_per_trial, got {name!r}")
        _check_amount(key, amount, f" for {name!r}")
    return {name: float(amount) for name, amount in resources.items()}


def _units(amount: float) -> int:
    return round(amount * UNITS)


def _check_answers(address: str, from_env: bool) -> None:
    """Refuse, within seconds, a cluster address where nothing listens.

    ``ray.init`` would wait for minutes on a head node that has died; a TCP connect to its GCS
    (or Ray client server) tells in seconds. ``auto`` is checked as the address it names.

    Raises:
        ConfigError: ``executor.address: no Ray cluster answers at '...': ...``.
    """
    import socket

    where = " (from $RAY_ADDRESS)" if from_env else ""
    target = address
    if address == "auto":
        found = _current_cluster()
        if found is None:
            return  # no file: Ray looks for running local GCS processes, which answer or fail fast
        target, file = found
        where = f" ({address!r}, named by {file})"
    host, _, port = target.split("://", 1)[-1].rpartition(":")
    host = host.strip("[]")  # [::1]:6379
    if not host or not port.isdigit():
        message = f"expected an address like auto, host:port or ray://host:10001, got {target!r}"
        raise ConfigError(key="executor.address", message=message)
    try:
        with socket.create_connection((host, int(port)), timeout=CONNECT_TIMEOUT_S):
            pass
    except OSError as err:
        reason = err.strerror or str(err) or type(err).__name__
        message = f"no Ray cluster answers at {target!r}{where}: {reason}"
        raise ConfigError(key="executor.address", message=message) from None


def _current_cluster() -> tuple[str, str] | None:
    """(address, file) of the cluster ``auto`` joins: the one the last ``ray start`` recorded."""
    try:  # where Ray 2.x keeps it ($RAY_TMPDIR/ray/ray_current_cluster, /tmp/ray/... by default)
        from ray._common.utils import get_ray_address_file
    except ImportError:  # older Ray
        try:
            from ray._private.utils import get_ray_address_file
        except ImportError:
            return None  # unknown layout: ray.init decides
    file = get_ray_address_file(None)
    try:
        address = Path(file).read_text().strip()
    except OSError:
        return None
    return (address, file) if address else None


#: Ray's notice, on every local ``ray.init`` with ``$RAY_AUTH_MODE`` unset, that it turned token
#: authentication on (Ray 2.60): logged by this logger, starting with this text.
_TOKEN_AUTH_LOGGER = "ray._private.authentication.authentication_token_setup"
_TOKEN_AUTH_NOTICE = "Token authentication is enabled for this Ray cluster"


@contextlib.contextmanager
def _quiet_token_auth_notice() -> Iterator[None]:
    """Leave out Ray's notice that token authentication is on, while hpo starts its own Ray.

    The notice only says that Ray's default holds, and would be printed on every study. Token
    authentication itself stays on: a local Ray's GCS, raylet and workers listen on every
    interface (``*:PORT``, also with ``_node_ip_address='127.0.0.1'``), not on loopback only, so
    ``RAY_AUTH_MODE=disabled`` would let anyone on the network run code. Only a Ray hpo starts
    is concerned: for a cluster the user names, Ray's messages stay as they are.
    """
    logger = logging.getLogger(_TOKEN_AUTH_LOGGER)
    notice = _DropMessage(_TOKEN_AUTH_NOTICE)
    logger.addFilter(notice)
    try:
        yield
    finally:
        logger.removeFilter(notice)


class _DropMessage(logging.Filter):
    """Drops the records whose message starts with ``prefix``; the others pass."""

    def __init__(self, prefix: str) -> None:
        super().__init__()
        self.prefix = prefix

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith(self.prefix)


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
        self._generation = 0  # one per study the hub has served (see reset)
        self._arrived: Any = None  # set when the queue gets something; the long poll waits on it
        self._clear()

    def _clear(self) -> None:
        self._queue: list[tuple[str, int, Any]] = []
        self._waiting: dict[tuple[int, int], Any] = {}
        self._decisions: dict[tuple[int, int], bool] = {}
        # Each running trial's latest checkpoint: handed to a rerun of its task (its worker
        # died), and sent to the driver with the next batch (only the latest, if several came).
        self._checkpoints: dict[int, bytes] = {}
        self._unsent: set[int] = set()
        self._gathered: dict[str, tuple[int, Any]] = {}  # warm-up token -> (tasks come, all here)

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

        generation = self._generation
        while not self._queue and not self._unsent:
            self._arrived = asyncio.Event()
            await self._arrived.wait()
            if self._generation != generation:
                return []  # the study ended (reset)
        queue, self._queue = self._queue, []
        queue += [("checkpoint", number, self._checkpoints[number]) for number in sorted(self._unsent)]
        self._unsent.clear()
        return queue

    async def checkpoint(self, number: int, blob: bytes) -> None:
        self._checkpoints[number] = blob
        self._unsent.add(number)
        if self._arrived is not None:
            self._arrived.set()

    async def restore(self, number: int) -> bytes | None:
        return self._checkpoints.get(number)

    async def take_checkpoint(self, number: int) -> list[tuple[str, int, Any]]:
        """A trial ended: its checkpoint not yet sent, if any; the hub forgets it."""
        blob = self._checkpoints.pop(number, None)
        if number in self._unsent and blob is not None:
            self._unsent.discard(number)
            return [("checkpoint", number, blob)]
        return []

    async def gather(self, token: str, n: int, patience: float) -> None:
        """A barrier for a study's warm-up tasks (``token``): returns once ``n`` have come, or
        after ``patience`` seconds."""
        import asyncio

        count, event = self._gathered.get(token, (0, asyncio.Event()))
        self._gathered[token] = (count + 1, event)
        if count + 1 >= n:
            event.set()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(event.wait(), patience)

    async def reset(self) -> None:
        """The study ended (its tasks have ended or were stopped): forget it, end its long poll."""
        self._generation += 1
        self._clear()
        if self._arrived is not None:
            self._arrived.set()

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
        self.checkpointed = False
        self.sent: Any = None  # the last checkpoint's call to the hub

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

    def set_tag(self, number: int, key: str, value: str) -> None:
        self.posts.append(("tag", number, (key, value)))

    def checkpoint(self, number: int, blob: bytes) -> None:
        # Sent at once, not waited for: the trial goes on while it travels (a worker dying just
        # after may lose this one; the one before is in the hub). The trial's end waits for the
        # last one (see _run_remote). The hub now holds a checkpoint: said with the result.
        self.sent = self._hub.checkpoint.remote(number, blob)
        self.checkpointed = True

    def restore(self, number: int) -> bytes | None:
        import ray

        blob = ray.get(self._hub.restore.remote(number))
        self.checkpointed = self.checkpointed or blob is not None
        return blob


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


def _warm_up(hub: Any, token: str, n: int) -> None:
    """A warm-up task (see RayExecutor._warm_up): holds its worker process until ``n`` have one."""
    import ray

    ray.get(hub.gather.remote(token, n, WARM_UP_S))


# Hubs that no study uses now, by (Ray job, driver's node): a study takes one and gives it back
# (reset) rather than starting and killing an actor each time. An actor's process is not
# pooled by Ray: starting one costs a second, and killing it took one of Ray's idle worker
# processes with it, which the next study's trials then had to start again.
_IDLE_HUBS: dict[tuple[str, str], list[Any]] = {}
_HUBS_LOCK = threading.Lock()
_HEAD_RESOURCE = "node:__internal_head__"  # what Ray gives the head node alone


def _hub_key() -> tuple[str, str]:
    import ray

    context = ray.get_runtime_context()
    return context.get_job_id(), context.get_node_id()


def _take_hub() -> Any:
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    with _HUBS_LOCK:
        idle = _IDLE_HUBS.get(_hub_key())
        if idle:
            return idle.pop()
    # On the head node, whose loss ends the cluster anyway: a worker node lost takes only its
    # trials with it, not the study's hub (Ray would otherwise place it on any node).
    heads = [n["NodeID"] for n in ray.nodes() if n.get("Alive") and _HEAD_RESOURCE in n.get("Resources", {})]
    node = heads[0] if heads else ray.get_runtime_context().get_node_id()
    where = NodeAffinitySchedulingStrategy(node, soft=False)
    return ray.remote(_Hub).options(num_cpus=0, scheduling_strategy=where).remote()


def _give_back_hub(hub: Any) -> None:
    """Reset the hub for the next study; one that does not answer (died) is dropped."""
    import ray

    try:
        ray.get(hub.reset.remote(), timeout=HARD_STOP_GRACE_S)
    except Exception:
        ray.kill(hub)
        return
    with _HUBS_LOCK:
        _IDLE_HUBS.setdefault(_hub_key(), []).append(hub)


def _run_remote(
    objective: ObjectiveCall,
    number: int,
    params: dict[str, Any],
    hub: Any,
    catch: Any,
    timeout: float | None,
    checkpoint: bytes | None = None,
    seed: int | None = None,
) -> tuple[TrialResult, list[tuple[str, int, Any]]]:
    reporter = _RemoteReporter(hub)
    result = run_objective(objective, Trial(number, params, reporter, checkpoint, seed), catch, timeout=timeout)
    if reporter.checkpointed:
        if reporter.sent is not None:
            import ray

            ray.get(reporter.sent)  # in the hub before the driver sees the result and takes it
        reporter.posts.append(("checkpointed", number, None))
    return result, reporter.posts
