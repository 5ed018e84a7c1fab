"""The MLflow writer process (``python -m hpo._tracking_writer``), started by ``hpo._tracking``:
buffering and retry.

It reads the driver's events (:mod:`hpo._wire`) from stdin and holds them as records until
they are written (:mod:`hpo._mlflow_writes`), with as few MLflow calls as it can: for a trial
whose start and end arrive together, one ``create_run`` carrying every tag, one ``log_batch``
and one ``set_terminated``. Whatever arrives while a call is under way is taken as one batch.
Replies (warnings, a fatal error, closed) go back on the original stdout; MLflow's own prints
are sent to stderr so they cannot corrupt that channel.

On a ``Close`` event the parent run ends with the driver's status. On EOF without one (the
driver died) every open run ends as KILLED, tagged ``hpo.fail_reason=interrupted``.

When the tracking store cannot be reached (a server down, a database locked), nothing is
dropped: trial records and the study run's own writes (its artifacts, model, summary and end)
stay buffered and are retried with backoff, in order, while the study goes on. At the end the
writer keeps trying for ``$HPO_TRACKING_RETRY_S`` seconds (default 60); what still cannot be
written is reported (unrecorded trials, missing study-run writes), for ``hpo sync`` to replay
from the study storage.
"""

from __future__ import annotations

import bisect
import functools
import os
import queue
import signal
import sys
import threading
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hpo import _wire as wire
from hpo._mlflow_writes import StudyStore, TrialRecord, now_ms
from hpo._processes import yield_cpu_to_trials
from hpo._states import COMPLETE, INTERRUPTED
from hpo._validation import first_line

_UNREACHABLE = (
    "Max retries exceeded",
    "Connection refused",
    "Failed to establish",
    "Connection aborted",
    "Read timed out",
    "database is locked",
    "Remote end closed",
    "Bad Gateway",
    "Service Unavailable",
)
_ERROR_CHARS = 300  # of an error's first line, in a warning
_UNREACHABLE_TYPES = ("ConnectionError", "ConnectTimeout", "ReadTimeout", "MaxRetryError", "NewConnectionError")


class Writer:
    """Holds one study's records until MLflow has them; retries while the store is away.

    Args:
        start: The study's first event.
        send: Sends a reply to the driver.
    """

    def __init__(self, start: wire.Start, send: Callable[[Any], None]) -> None:
        self.start = start
        self.send = send
        self.store = StudyStore(start)
        self.trials: dict[int, TrialRecord] = {}
        self.parent_metrics: list[Any] = []
        #: The study run's own writes, in order: (what, write).
        self.parent_writes: list[tuple[str, Callable[[], None]]] = []
        self.unrecorded: set[int] = set()
        self.missing: list[str] = []  # study-run writes the store refused
        self._reconcile: list[wire.TrialSnapshot] | None = None
        self.refused = False  # the store came back but refused the study (e.g. a deleted experiment)
        self.offline_since: float | None = None  # the store is unreachable since then
        self.retry_at = 0.0
        self._backoff = 0.5
        self.plots: Any = None  # a hpo._plots.PlotProcess when plots are on
        # child_runs top_k / none: the trials whose runs are kept, as (rank, number), best
        # first (rank: the value, negated when maximizing); runs of trials ranked out, to delete.
        self.top_k: int | None = start.child_runs if isinstance(start.child_runs, int) else None
        self.all_runs = start.child_runs == "all"
        self.kept: list[tuple[float, int]] = []
        self.ranked_out: list[int] = []

    # -- events ------------------------------------------------------------------------------

    def handle(self, event: Any) -> None:
        """Take one event into the records; nothing is written here (see :meth:`flush`)."""
        from mlflow.entities import Metric

        if isinstance(event, wire.TrialStart):
            self.trials[event.number] = TrialRecord(event.number, event.start_ms, event.params)
        elif isinstance(event, wire.Metrics):
            self._record(event.number, event.ts).add_metrics(event.metrics, event.ts, event.step)
        elif isinstance(event, wire.Tags):
            rec = self._record(event.number, now_ms())
            rec.tags.update(event.tags)
            rec.dirty = True
        elif isinstance(event, wire.Artifact):
            if event.number is None:
                name = Path(event.path).name
                write = functools.partial(self.store.log_parent_artifact, event.path, event.artifact_path)
                self._parent(f"artifact {name}", write)
            else:
                rec = self._record(event.number, now_ms())
                rec.artifacts.append((event.path, event.artifact_path))
                rec.dirty = True
        elif isinstance(event, wire.TrialEnd):
            rec = self._record(event.number, event.end_ms)
            rec.finish(event.end_ms, event.state, event.value, event.error)
            if not self.all_runs:
                self._select(rec)
        elif isinstance(event, wire.Reconcile):
            if self.all_runs:  # (with fewer child runs, trials without a run are expected)
                self._reconcile = event.trials  # done by flush(), once the store can be read
        elif isinstance(event, wire.LogModel):
            self._parent("model", functools.partial(self._log_model, event))
        elif isinstance(event, wire.Best):
            self.parent_metrics.append(Metric("best_value", event.value, event.ts, event.number))
            if self.start.metric:  # the same, under the score's own name
                self.parent_metrics.append(Metric(f"best_{self.start.metric}", event.value, event.ts, event.number))

    def _select(self, rec: TrialRecord) -> None:
        """With ``child_runs`` top_k or none, an ended trial: its value goes to the study run as
        ``trial_value``; its run is written only while it ranks among the top_k complete trials."""
        from mlflow.entities import Metric

        assert rec.end is not None
        end_ms, state, value, _ = rec.end
        if state == COMPLETE and value is not None:
            self.parent_metrics.append(Metric("trial_value", value, end_ms, rec.number))
        if self.top_k is None or state != COMPLETE or value is None:
            del self.trials[rec.number]
            return
        rank = value if self.start.direction == "minimize" else -value
        if len(self.kept) == self.top_k:
            if rank >= self.kept[-1][0]:  # not better than the k-th (a tie: the earlier stays)
                del self.trials[rec.number]
                return
            _, out = self.kept.pop()
            if out in self.trials:  # not written yet: never will be
                del self.trials[out]
            else:
                self.ranked_out.append(out)
        bisect.insort(self.kept, (rank, rec.number))

    def _log_model(self, event: wire.LogModel) -> None:
        from hpo._model_logging import log_model

        log_model(
            self.start.uri, self.store.parent_run_id, event.flavor, event.model, event.input_example, event.params
        )

    def _record(self, number: int, ts: int) -> TrialRecord:
        rec = self.trials.get(number)
        if rec is None:  # an event for a trial whose start we never saw
            rec = self.trials[number] = TrialRecord(number, ts, {})
        return rec

    def _parent(self, what: str, write: Callable[[], None]) -> None:
        self.parent_writes.append((what, write))

    # -- writing -----------------------------------------------------------------------------

    def went_offline(self, err: BaseException) -> None:
        """The store is unreachable: keep everything, retry with backoff."""
        if self.offline_since is None:
            self.offline_since = time.monotonic()
            self.send(
                wire.Warn(f"MLflow unreachable ({first_line(err, _ERROR_CHARS)}); records are buffered and retried")
            )
        self.retry_at = time.monotonic() + self._backoff
        self._backoff = min(self._backoff * 2, 5.0)

    @property
    def pending(self) -> bool:
        """Whether anything is still to be written."""
        return bool(
            self.parent_writes
            or self.parent_metrics
            or self._reconcile is not None
            or self.ranked_out
            or any(rec.dirty and (self.all_runs or rec.end) for rec in self.trials.values())
        )

    def flush(self) -> None:
        """Write what is pending, in order; while the store is unreachable, only once a retry is
        due, and then up to the first write that fails."""
        if self.refused or (self.offline_since is not None and time.monotonic() < self.retry_at):
            return
        if not self.store.parent_run_id:  # unreachable when the study started
            try:
                self.store.open()
            except Exception as err:
                if _unreachable(err):
                    self.went_offline(err)
                else:  # back, but it will not take the study: nothing more is tried
                    self.refused, self.offline_since = True, None
                    self.send(
                        wire.Warn(
                            f"MLflow store refused the study: {type(err).__name__}: {first_line(err, _ERROR_CHARS)}"
                        )
                    )
                return
        if self._reconcile is not None:
            snaps = self._reconcile
            if self._guard(None, "reconciling", lambda: self._reconcile_now(snaps)) is None:
                return
            self._reconcile = None
        for number, rec in list(self.trials.items()):
            if not rec.dirty or not (self.all_runs or rec.end):  # top_k: written once ended among the best
                continue
            written = self._guard(number, f"trial {number}", functools.partial(self.store.write_trial, rec))
            if written is None:
                return  # unreachable: the rest stays buffered too
            rec.dirty = False
            if rec.end:
                del self.trials[number]
        while self.ranked_out:
            number = self.ranked_out[0]
            if self._guard(number, f"trial {number}", functools.partial(self.store.delete_trial_run, number)) is None:
                return
            self.ranked_out.pop(0)
        if self.parent_metrics:
            metrics = self.parent_metrics
            if self._guard(None, "best_value", lambda: self.store.log_parent_metrics(metrics)) is None:
                return
            self.parent_metrics = []
        while self.parent_writes:
            what, write = self.parent_writes[0]
            done = self._guard(None, what, write)
            if done is None:
                return  # unreachable: retried later, in order
            if done is False:
                self.missing.append(what)
            self.parent_writes.pop(0)
        if self.offline_since is not None:
            away = time.monotonic() - self.offline_since
            self.offline_since, self._backoff = None, 0.5
            self.send(wire.Warn(f"MLflow reachable again after {away:.0f} s; the buffered records are written"))

    def _guard(self, number: int | None, what: str, write: Callable[[], None]) -> bool | None:
        """Run one write: True if done; False if refused (reported, the record dropped); None if
        the store is unreachable (kept, retried later)."""
        try:
            write()
            return True
        except Exception as err:
            if _unreachable(err):
                self.went_offline(err)
                return None
            if number is not None:
                self.unrecorded.add(number)
            where = f"trial {number}" if number is not None else f"the study run ({what})"
            self.send(
                wire.Warn(f"MLflow write for {where} failed: {type(err).__name__}: {first_line(err, _ERROR_CHARS)}")
            )
            return False

    def _reconcile_now(self, snaps: list[wire.TrialSnapshot]) -> None:
        from hpo._reconcile import plan_reconcile

        new, repairs = plan_reconcile(self.store, self.trials, snaps)
        for rec in new:
            self.trials[rec.number] = rec
        for number, repair in repairs:
            self._guard(number, f"trial {number}", repair)

    # -- closing -----------------------------------------------------------------------------

    def finish(self, status: str, summary: dict[str, Any]) -> None:
        """End the study: trials never ended as interrupted, then the study run's summary
        artifacts, test score, plots, counts and final status, retried for ``$HPO_TRACKING_RETRY_S``."""
        for rec in list(self.trials.values()):  # trials the driver never ended: killed
            if rec.end is None:
                rec.finish(now_ms(), INTERRUPTED, None, None)
                if not self.all_runs:
                    self._select(rec)
        for artifact_file, text in summary.get("texts", {}).items():  # summary.md, best_params.yaml, trials.csv
            self._parent(artifact_file, functools.partial(self.store.log_parent_text, text, artifact_file))
        if summary.get("test"):  # the held-out test score the objective's on_study_end stored
            self._parent("test score", functools.partial(self.store.log_test_score, summary["test"]))
        self.flush()  # the backlog is written while the plots are drawn
        if self.plots is not None:
            folder, notes = self.plots.collect()
            for note in notes:
                self.send(wire.Warn(note))
            if folder is not None:
                self._parent("plots", lambda: self.store.log_parent_folder(folder, "plots"))
        self._parent("summary", lambda: self.store.log_summary(status, summary))
        self._parent("status", lambda: self.store.end_parent(status))
        deadline = time.monotonic() + _retry_seconds()
        self.flush()
        while self.pending and not self.refused and time.monotonic() < deadline:
            time.sleep(max(0.0, min(self.retry_at, deadline) - time.monotonic()))
            self.flush()
        if self.pending or self.refused:  # say what MLflow lacks, for `hpo sync`
            self.unrecorded.update(number for number, rec in self.trials.items() if rec.dirty)
            self.missing += [what for what, _ in self.parent_writes]
            if not self.refused:
                self.send(wire.Warn("MLflow stayed unreachable: the study run could not be ended"))
        if self.plots is not None:
            self.plots.discard()

    def abandon(self) -> None:
        """The driver died: end every open run as KILLED."""
        if self.plots is not None:  # nothing to draw
            self.plots.discard()
            self.plots = None
        self.finish("KILLED", {})


def _unreachable(err: BaseException) -> bool:
    """Whether ``err`` says the store could not be reached (worth retrying), not that it refused."""
    seen: BaseException | None = err
    while seen is not None:
        if isinstance(seen, (ConnectionError, TimeoutError)) or type(seen).__name__ in _UNREACHABLE_TYPES:
            return True
        if any(text in str(seen) for text in _UNREACHABLE):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _retry_seconds() -> float:
    """How long to keep retrying an unreachable store once the study has ended."""
    return float(os.environ.get("HPO_TRACKING_RETRY_S", "60"))


def main() -> int:
    # Own session already keeps the terminal's Ctrl-C away; ignore a stray SIGINT all the same.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # The trials come first: our imports and writes (and the plotter's, which we start) take
    # the CPU they leave; what waits is buffered, and written at the latest when they end.
    yield_cpu_to_trials()
    # MLflow's schema-inference hints (integer columns, ...) are not actionable from a study.
    warnings.filterwarnings("ignore", category=UserWarning, module=r"mlflow\.types")
    # The writer retries an unreachable store itself, without blocking on MLflow's own retries
    # (7 with a growing backoff: minutes per call), so the other records are not held up.
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "10")
    channel = os.fdopen(os.dup(sys.stdout.fileno()), "wb", buffering=0)
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    lock = threading.Lock()

    def send(reply: Any) -> None:
        with lock:
            try:
                channel.write(wire.pack([reply]))
            except OSError:
                pass  # the driver is gone; keep writing MLflow all the same

    inbox: queue.SimpleQueue[Any] = queue.SimpleQueue()

    def lost(err: BaseException) -> None:
        send(wire.Warn(f"a tracking event was lost: {type(err).__name__}: {first_line(err, _ERROR_CHARS)}"))

    # Unpickling a model imports its library (torch) as the flavor's warm-up may at that moment:
    # two threads importing torch at once fail ("cannot initialize type"), so one at a time.
    imports = threading.Lock()
    threading.Thread(target=wire.pump, args=(sys.stdin.buffer, inbox.put, lost, imports), daemon=True).start()
    # The driver starts us before it has set its study up: import MLflow (~2 s) meanwhile,
    # and the database store (~1 s more) when the tracking URI (argv[1]) names a database.
    import mlflow.tracking  # noqa: F401

    if len(sys.argv) > 1 and not sys.argv[1].startswith(("http:", "https:", "databricks")):
        import mlflow.store.tracking.sqlalchemy_store  # noqa: F401

    start = inbox.get()
    if not isinstance(start, wire.Start):  # the driver ended (or failed) before the study started
        return 2
    sys.path.extend(p for p in start.sys_path if p not in sys.path)
    if start.source:  # MLflow's context providers name sys.argv[0] as the runs' (and model's) source
        sys.argv[0] = start.source
    writer = Writer(start, send)
    try:
        writer.store.open()
    except Exception as err:
        if not _unreachable(err):
            send(wire.Fatal(f"tracking: cannot open MLflow store {start.uri!r}: {type(err).__name__}: {err}"))
            return 1
        # Gone since the driver's check: the study goes on, and flush() opens it when it is back.
        writer.went_offline(err)
    if start.plots:
        from hpo._plots import PlotProcess

        writer.plots = PlotProcess()
    warm = start.model_flavor
    while True:
        wait = 0.05 if warm else None
        if writer.offline_since is not None:  # buffered records: wake up for their retry
            wait = max(0.01, writer.retry_at - time.monotonic())
        try:
            batch = [inbox.get(timeout=wait)]
        except queue.Empty:
            if writer.offline_since is not None:
                writer.flush()
            elif warm:  # idle: get the model flavor ready for the end of the study
                from hpo._model_logging import warm_up

                with imports:
                    warm_up(warm)
                warm = None
            continue
        while True:
            try:
                batch.append(inbox.get_nowait())
            except queue.Empty:
                break
        close = None
        for event in batch:
            if isinstance(event, wire.Close):
                close = event
                if writer.plots is not None:  # drawing starts before the backlog is written
                    writer.plots.send(
                        close.summary.get("trials"), close.summary.get("direction", ""), close.summary.get("names")
                    )
            elif event is not wire.EOF:
                writer.handle(event)
        writer.flush()
        if close is not None:
            writer.finish(close.status, close.summary)
            send(
                wire.Closed(
                    parent_run_id=writer.store.parent_run_id,
                    experiment_id=writer.store.experiment_id,
                    unrecorded=sorted(writer.unrecorded),
                    missing=tuple(writer.missing),
                )
            )
            return 0
        if batch[-1] is wire.EOF:
            writer.abandon()
            return 0


def _exit_now(code: int) -> None:
    # Every write is committed by now. Skip the interpreter's shutdown, which with MLflow
    # loaded spends most of a second in atexit hooks the driver would otherwise wait for.
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    _exit_now(main())
