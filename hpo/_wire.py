"""The channel between the driver's :class:`~hpo._tracking.Tracker` and the writer process:
length-prefixed pickled frames, and the typed events and replies that travel in them.

Both ends use this module, so an event is built and read by name, never by position. Events
are named tuples: cheap to build, to import and to pickle, on the trial loop's path.
"""

from __future__ import annotations

import contextlib
import pickle
import struct
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import IO, Any, NamedTuple

_HEADER = struct.Struct(">I")


def pack(messages: list[Any]) -> bytes:
    """Frame ``messages`` for one write: each is a 4-byte length, then its pickle."""
    chunks = []
    for message in messages:
        data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
        chunks += [_HEADER.pack(len(data)), data]
    return b"".join(chunks)


def _frame(stream: IO[bytes]) -> bytes | None:
    """The next frame's pickle on ``stream``, or None when the other end has closed it."""
    header = stream.read(_HEADER.size)
    if len(header) < _HEADER.size:
        return None
    (size,) = _HEADER.unpack(header)
    return stream.read(size)


def read(stream: IO[bytes]) -> Any:
    """The next message on ``stream``, or :data:`EOF` when the other end has closed it."""
    data = _frame(stream)
    return EOF if data is None else pickle.loads(data)


def pump(
    stream: IO[bytes],
    put: Callable[[Any], None],
    lost: Callable[[BaseException], None],
    imports: AbstractContextManager[Any] | None = None,
) -> None:
    """Read ``stream`` until the other end closes it, handing each message to ``put``; always
    end by putting :data:`EOF`, so the reader's consumer never waits for what cannot come.

    A frame that cannot be unpickled (a class this side cannot import) was read whole: it is
    reported to ``lost`` and skipped, and the channel goes on.

    Args:
        imports: Held while a frame is unpickled, which may import modules (a model's torch):
            the lock the other threads of this process hold while they import the same.
    """
    try:
        while True:
            try:
                data = _frame(stream)
                if data is None:
                    return
                with imports or contextlib.nullcontext():
                    message = pickle.loads(data)
            except (OSError, EOFError):
                return
            except Exception as err:
                lost(err)
                continue
            put(message)
    finally:
        put(EOF)


class _Eof:
    def __repr__(self) -> str:
        return "EOF"


#: What :func:`read` returns once the other end has closed the channel.
EOF = _Eof()


# -- driver -> writer ----------------------------------------------------------------------


class Start(NamedTuple):
    """Open (or, on resume, reopen) the study's parent run. Always the first event."""

    uri: str
    experiment: str
    study_uid: str
    run_name: str
    params: dict[str, Any]
    tags: dict[str, str]
    texts: dict[str, str]
    #: The MLflow flavor of a model logged at the end, loaded while the writer waits.
    model_flavor: str | None = None
    plots: bool = True
    #: The driver's import path: models logged at the end are unpickled in the writer.
    sys_path: tuple[str, ...] = ()
    #: The user's script or config: MLflow's ``mlflow.source.*`` and git tags name it.
    source: str = ""
    #: The name of the objective's score: the best is also logged as ``best_<metric>``.
    metric: str | None = None
    #: Dataset cards for ``mlflow.log_input`` (see ``hpo.trainers._provenance``).
    datasets: tuple[dict[str, str], ...] = ()
    #: Other live processes run this study now: the trial runs left running are theirs.
    shared: bool = False
    #: Which trials get a run: "all", "none", or the number of best ones (see hpo.tune).
    child_runs: str | int = "all"
    #: The study's direction (what top_k ranks by).
    direction: str = "minimize"


class TrialStart(NamedTuple):
    number: int
    start_ms: int
    params: dict[str, Any]


class Metrics(NamedTuple):
    number: int
    ts: int
    step: int | None
    metrics: dict[str, float]


class Tags(NamedTuple):
    number: int
    tags: dict[str, str]


class Artifact(NamedTuple):
    """A file or folder (a copy the writer may read later) for a trial's run, or the study's
    run when ``number`` is None."""

    number: int | None
    path: str
    artifact_path: str | None


class TrialEnd(NamedTuple):
    number: int
    end_ms: int
    state: str
    value: float | None
    error: str | None


class TrialSnapshot(NamedTuple):
    """An ended trial as the study storage knows it, for reconciling MLflow with it."""

    number: int
    state: str
    value: float | None
    error: str | None
    params: dict[str, Any]
    steps: dict[int, float]
    start_ms: int
    end_ms: int


class Reconcile(NamedTuple):
    trials: list[TrialSnapshot]


class LogModel(NamedTuple):
    flavor: str
    model: Any
    input_example: Any
    params: dict[str, Any]


class Best(NamedTuple):
    """A new best value: the parent run's ``best_value`` at step ``number``."""

    number: int
    ts: int
    value: float


class Close(NamedTuple):
    """The study has ended: end the parent run with ``status`` once everything is written."""

    status: str
    summary: dict[str, Any]


# -- writer -> driver ----------------------------------------------------------------------


class Fatal(NamedTuple):
    """The store cannot be opened at all: the study must stop."""

    message: str


class Warn(NamedTuple):
    message: str


class Closed(NamedTuple):
    """Everything is written (or given up on): the run ids, and what MLflow lacks."""

    parent_run_id: str
    experiment_id: str
    #: Trial numbers whose records could not be written.
    unrecorded: list[int]
    #: The study run's writes that could not be made (``summary.md``, ``model``, ...).
    missing: tuple[str, ...] = ()
