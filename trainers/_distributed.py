"""Data-parallel trials: one trial trained by ``world_size`` processes with DistributedDataParallel.

:func:`run_data_parallel` starts the ranks as new interpreters on this machine, in one
``torch.distributed`` group (gloo on the CPU, nccl on GPUs). Rank 0 speaks for the trial: its
reports and logs go to the real trial in the parent, and the pruner's decision comes back and is
broadcast, so every rank stops at the same step and none hangs in a later collective.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import socket
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable, Mapping
from multiprocessing.connection import Connection, wait
from typing import TYPE_CHECKING, Any, TypeVar

from hpo.plugins import ConfigError, Trial

if TYPE_CHECKING:
    from torch import Tensor

T = TypeVar("T")
GRACE_S = 2.0  # from SIGTERM to SIGKILL when ranks are stopped


class RankTrial(Trial):
    """The trial one rank sees: the same ``number`` and ``params`` on every rank.

    ``report`` and ``should_prune`` are collectives: every rank calls them at the same point, and
    all get the parent's answer. Logging calls and ``keep`` count on rank 0 only.

    Attributes:
        rank: This process's rank, from 0.
        world_size: The number of ranks.
    """

    def __init__(self, number: int, params: dict[str, Any], reporter: _RankReporter, world_size: int) -> None:
        super().__init__(number, params, reporter)
        self.rank = reporter.rank
        self.world_size = world_size


class _RankReporter:
    """A rank's reporter: rank 0 calls the parent's trial (other ranks' calls do nothing)."""

    def __init__(self, conn: Connection, rank: int, device: Any) -> None:
        self._conn, self.rank, self._device = conn, rank, device

    def _ask(self, name: str, *args: Any) -> Any:
        if self.rank != 0:
            return None
        self._conn.send_bytes(pickle.dumps(("call", name, args)))
        ok, value = pickle.loads(self._conn.recv_bytes())
        if not ok:
            raise value  # the parent's trial raised it (e.g. a value it cannot log)
        return value

    def _decide(self, name: str, *args: Any) -> bool:
        import torch
        import torch.distributed as dist

        flag = torch.tensor([bool(self._ask(name, *args))], dtype=torch.uint8, device=self._device)
        dist.broadcast(flag, src=0)  # rank 0's answer, to every rank
        return bool(flag.item())

    def report(self, number: int, value: float, step: int) -> bool:
        return self._decide("report", value, step)

    def should_prune(self, number: int) -> bool:
        return self._decide("should_prune")

    def log_metrics(self, number: int, metrics: Mapping[str, float], step: int | None) -> None:
        self._ask("log_metrics", dict(metrics), step)

    def log_artifact(self, number: int, path: str, artifact_path: str | None) -> None:
        self._ask("log_artifact", path, artifact_path)  # answered once copied: it may be deleted then

    def set_user_attr(self, number: int, key: str, value: Any) -> None:
        self._ask("set_user_attr", key, value)

    def set_tag(self, number: int, key: str, value: str) -> None:
        self._ask("set_tag", key, value)


def _rank_main(fd: int, rank: int) -> None:
    """One rank (``python -c``): join the group, run the target, send the parent one final message."""
    conn = Connection(fd)
    _exit_with_parent(os.getppid())
    import optuna

    final = None
    try:
        path, blob, number, params, world_size, backend = pickle.loads(conn.recv_bytes())
        sys.path[:] = path  # the parent's, to find the target's modules
        target = pickle.loads(blob)
        import torch
        import torch.distributed as dist

        device = torch.device("cpu")
        if backend == "nccl":
            torch.cuda.set_device(rank % torch.cuda.device_count())
            device = torch.device("cuda", torch.cuda.current_device())
        else:  # ranks sharing the CPU's cores: oversubscribed threads slow every rank down
            torch.set_num_threads(max(1, torch.get_num_threads() // world_size))
        dist.init_process_group(backend, rank=rank, world_size=world_size)
        trial = RankTrial(number, params, _RankReporter(conn, rank, device), world_size)
        value = target(trial)
        final = pickle.dumps(("done", value, trial.kept) if rank == 0 else ("done", None, None))
    except optuna.TrialPruned:
        final = pickle.dumps(("pruned",))
    except BaseException as err:
        # Sent before leaving the group: the peers fail only after, so the parent sees the cause first.
        text, tb = " ".join(str(err).split()), "".join(traceback.format_exception(err))
        conn.send_bytes(pickle.dumps(("raised", time.monotonic(), type(err).__name__, text, tb, _pickled(err))))
    finally:
        dist_module = sys.modules.get("torch.distributed")
        if dist_module is not None and dist_module.is_initialized():
            with contextlib.suppress(Exception):  # the process and its group end anyway
                dist_module.destroy_process_group()
    if final is not None:
        conn.send_bytes(final)
    # All is sent: skip the interpreter's teardown, 0.5-1 s with torch loaded (atexit hooks do not run).
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0 if final is not None else 1)


def _exit_with_parent(parent: int) -> None:
    """End this rank soon after its parent ends, also by SIGKILL (it could not stop us then)."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, name="hpo-parent-watch", daemon=True).start()


def _pickled(obj: Any) -> bytes | None:
    try:
        return pickle.dumps(obj)
    except Exception:
        return None


class _RemoteTraceback(Exception):
    """A rank's traceback, chained as the cause of the error raised in the parent."""


def _rank_error(rank: int, name: str, text: str, tb: str, blob: bytes | None) -> BaseException:
    """The rank's own exception (its type kept) with ``rank R:`` before its message, if it unpickles."""
    err: BaseException
    try:
        err = pickle.loads(blob) if blob is not None else RuntimeError(f"rank {rank}: {name}: {text}")
        err.args = (f"rank {rank}: {text}",)
        if f"rank {rank}" not in str(err):  # a __str__ of its own
            raise TypeError
    except Exception:
        err = RuntimeError(f"rank {rank}: {name}: {text}")
    err.__cause__ = _RemoteTraceback(tb)
    return err


def run_data_parallel(
    target: Callable[[Trial], T],
    trial: Trial,
    world_size: int,
    *,
    backend: str | None = None,
    timeout: float | None = None,
) -> T:
    """Run ``target(rank_trial)`` in ``world_size`` new processes joined in one process group.

    The ranks are fresh interpreters, neither forks nor re-runs of the user's script; ``target``
    is sent by cloudpickle (a function of ``__main__`` by value, others by reference).

    Args:
        target: Called with a :class:`RankTrial` in every rank, after ``init_process_group``.
        trial: The trial it trains; rank 0 reports to it.
        world_size: The number of ranks.
        backend: ``"gloo"`` or ``"nccl"``; default nccl when CUDA is available, else gloo. With
            nccl, rank ``r`` uses GPU ``r % torch.cuda.device_count()``.
        timeout: Seconds the ranks may run in all; default no limit.

    Returns:
        Rank 0's return value.

    Raises:
        optuna.TrialPruned: The pruner stopped the trial; every rank has stopped too.
        TimeoutError: The ranks ran past ``timeout``.
        Exception: The first error of a rank, of its own type when it unpickles here, its message
            starting ``rank R:``; a rank that died without one is a ``RuntimeError`` naming its
            exit code. The other ranks are then stopped: none is left running in any case.
    """
    import cloudpickle  # MLflow's dependency
    import torch

    if isinstance(world_size, bool) or not isinstance(world_size, int) or world_size < 1:
        raise ValueError(f"world_size: expected a positive integer, got {world_size!r}")
    backend = backend or ("nccl" if torch.cuda.is_available() else "gloo")
    try:
        blob = cloudpickle.dumps(target)
    except Exception as err:
        raise TypeError(f"run_data_parallel: cannot pickle target {target!r:.80}: {err}") from err
    spec = pickle.dumps((sys.path, blob, trial.number, trial.params, world_size, backend))
    env = {**os.environ, "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(_free_port()), "WORLD_SIZE": str(world_size)}
    procs: list[subprocess.Popen[bytes]] = []
    conns: list[Connection] = []
    deadline = None if timeout is None else time.monotonic() + timeout
    try:
        for rank in range(world_size):
            ours, theirs = socket.socketpair()
            with ours, theirs:
                code = f"from hpo.trainers._distributed import _rank_main; _rank_main({theirs.fileno()}, {rank})"
                procs.append(
                    subprocess.Popen(
                        [sys.executable, "-c", code],
                        pass_fds=[theirs.fileno()],
                        env={**env, "RANK": str(rank), "LOCAL_RANK": str(rank)},
                        start_new_session=True,  # Ctrl-C reaches the parent only, which stops the ranks
                    )
                )
                conns.append(Connection(os.dup(ours.fileno())))
        for conn in conns:  # once all are starting: a big spec waits for its rank to read it
            with contextlib.suppress(OSError):  # a rank that died at once is named by _serve
                conn.send_bytes(spec)
        value = _serve(trial, procs, conns, deadline, timeout)
        for proc in procs:  # they are leaving; give them the grace to end on their own
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(GRACE_S)
        return value
    finally:
        _stop(procs)
        for conn in conns:
            conn.close()


def _serve(trial: Trial, procs: list[Any], conns: list[Connection], deadline: float | None, timeout: Any) -> Any:
    """Answer rank 0's calls until every rank has sent its final message; rank 0's value."""
    import optuna

    pending = dict(enumerate(conns))  # ranks whose final message is still to come
    pruned: BaseException | None = None
    result: tuple[Any, Any] = (None, None)
    while pending:
        left = None if deadline is None else deadline - time.monotonic()
        if left is not None and left <= 0:
            raise TimeoutError(f"trial {trial.number}: its {len(procs)} ranks ran past timeout={timeout:g} s")
        wait(list(pending.values()), min(left, 1.0) if left is not None else 1.0)  # and look for dead ranks
        errors: list[tuple[int, float, int, BaseException]] = []  # silent deaths first, then the earliest
        for rank, conn in list(pending.items()):
            try:
                message = pickle.loads(conn.recv_bytes()) if conn.poll() else None
            except EOFError:  # gone: its exit code comes at once
                with contextlib.suppress(subprocess.TimeoutExpired):
                    procs[rank].wait(GRACE_S)
                message = None
            if message is None:
                if procs[rank].poll() is not None:  # no message left and gone: it died without a word
                    code = procs[rank].returncode
                    errors.append((0, 0.0, rank, RuntimeError(f"rank {rank} exited with code {code} and no result")))
                continue
            if message[0] == "call":
                try:
                    answer: tuple[bool, Any] = (True, getattr(trial, message[1])(*message[2]))
                except optuna.TrialPruned as err:
                    pruned, answer = err, (True, True)
                except Exception as err:
                    answer = (False, err if _pickled(err) else RuntimeError(f"{type(err).__name__}: {err}"))
                with contextlib.suppress(OSError):  # a rank gone meanwhile is found on the next turn
                    conn.send_bytes(pickle.dumps(answer))
                continue
            del pending[rank]
            if message[0] == "raised":
                errors.append((1, message[1], rank, _rank_error(rank, *message[2:])))
            elif message[0] == "pruned":
                pruned = pruned or optuna.TrialPruned(f"trial {trial.number} pruned")
            elif rank == 0:
                result = message[1:]
        if errors:
            raise min(errors, key=lambda e: e[:3])[3]
    if pruned is not None:
        raise pruned
    value, kept = result
    if kept is not None:
        trial.keep(kept)
    return value


def _stop(procs: list[subprocess.Popen[bytes]]) -> None:
    """SIGTERM the ranks still running (one may be blocked in a collective), SIGKILL after a grace."""
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
    end = time.monotonic() + GRACE_S
    for proc in procs:
        try:
            proc.wait(max(0.0, end - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def rank_slice(index: Tensor, rank: int, world_size: int) -> Tensor:
    """This rank's share of one global batch of row indices: contiguous, as equal as can be.

    When ``world_size`` divides the batch, DDP's average of the ranks' mean gradients is the
    batch's mean gradient. Otherwise (a last, short batch) the first ``len(index) % world_size``
    ranks get one row more, and each row of theirs counts for less: multiply each rank's mean
    loss by :func:`share_weight` and the update equals a single process's on the whole batch.
    """
    return index.tensor_split(world_size)[rank]


def share_weight(n_share: int, n_batch: int, world_size: int) -> float:
    """The factor, ``n_share * world_size / n_batch``, for a rank's mean loss over ``n_share`` of a
    batch's ``n_batch`` rows that makes DDP's gradient average the whole batch's mean gradient.

    A rank with no rows (a batch smaller than ``world_size``) gets 0.0, but its mean over no rows
    is NaN: take its loss as a sum (0.0) times ``world_size / n_batch``.
    """
    return n_share * world_size / n_batch


def all_reduce_mean(value: float | Tensor, device: Any = None) -> float:
    """The mean of ``value`` (a number or a one-element tensor) over the ranks; itself outside a group.

    ``device`` is where the reduction runs (a CUDA device with nccl); by default ``value``'s, or
    the CPU for a number.
    """
    import torch
    import torch.distributed as dist

    tensor = torch.as_tensor(value).detach().to(device or getattr(value, "device", "cpu"), torch.float64).reshape(1)
    if not (dist.is_available() and dist.is_initialized()):
        return float(tensor.item())
    dist.all_reduce(tensor)
    return float(tensor.item()) / dist.get_world_size()


def check_world_size(n: Any, *, key: str = "devices_per_trial", available: int) -> int:
    """``n`` as the ranks of a data-parallel trial: a positive integer, at most ``available``.

    Raises:
        ConfigError: ``n`` is not a positive integer or exceeds ``available``, naming ``key``.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ConfigError(key=key, message=f"expected a positive integer, got {n!r}")
    if n > available:
        raise ConfigError(key=key, message=f"expected at most {available} (the CPUs/GPUs available), got {n}")
    return n


def available_devices(executor_kind: str = "local") -> int:
    """How many ranks one trial may use: GPUs where there are, else CPUs.

    For ``"ray"`` with Ray initialized in this process, those of the largest alive node (a
    trial's ranks run on its worker's node); otherwise this machine's.
    """
    if executor_kind == "ray":
        import ray

        if ray.is_initialized():
            nodes = [node["Resources"] for node in ray.nodes() if node.get("Alive")]
            gpus = max((int(res.get("GPU", 0)) for res in nodes), default=0)
            return gpus or max((int(res.get("CPU", 0)) for res in nodes), default=1)
    with contextlib.suppress(ImportError):
        import torch

        if torch.cuda.is_available():
            return int(torch.cuda.device_count())
    return os.cpu_count() or 1
