"""MLflow tracking, driver side.

MLflow's store calls cost ~14 ms of CPU per trial even when batched (SQLAlchemy), so they run in
a separate writer process (``hpo._tracking_writer``) on another core: the trial loop only puts
small typed events (:mod:`hpo._wire`) on a queue. A feeder thread frames them onto the writer's
stdin. The writer is a
plain ``subprocess`` (no ``multiprocessing``: its spawn mode re-imports a user's ``__main__``)
in its own session, so Ctrl-C reaches only the driver, which then ends the runs in order; if the
driver dies, the writer reads EOF and ends every open run as KILLED itself.
"""

from __future__ import annotations

import logging
import os
import queue
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hpo import _wire as wire
from hpo._exceptions import ConfigError, TrackingError
from hpo._space import Choice

if TYPE_CHECKING:
    import optuna

    from hpo._plan import StudyPlan
    from hpo._study import Study

_logger = logging.getLogger("hpo")

DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"
_SCHEMES = ("sqlite", "http", "https", "postgresql", "mysql", "mssql", "databricks")


class _Default:
    def __repr__(self) -> str:
        return "DEFAULT"


#: Sentinel for "the default tracking store": ``$MLFLOW_TRACKING_URI`` or ``sqlite:///mlflow.db``.
DEFAULT = _Default()


def resolve_tracking_uri(tracking: Any) -> str | None:
    """The tracking URI to use, or ``None`` when tracking is off.

    A relative sqlite path is made absolute, so the same store is found from any directory.
    """
    if tracking is DEFAULT:
        tracking = os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_TRACKING_URI
    if tracking is None or tracking is False:
        return None
    if not isinstance(tracking, str) or not tracking:
        raise ConfigError(key="tracking", message=f"expected a tracking URI or null, got {tracking!r}")
    scheme = tracking.split(":", 1)[0].split("+", 1)[0].lower() if ":" in tracking else ""
    if scheme not in _SCHEMES:
        raise ConfigError(
            key="tracking",
            message="MLflow 3 refuses its old file store; use sqlite:///PATH.db or a server "
            f"URL like http://127.0.0.1:5000, got {tracking!r}",
        )
    if scheme == "sqlite":
        path = tracking[len("sqlite:///") :] if tracking.startswith("sqlite:///") else ""
        if not path or path == ":memory:":
            raise ConfigError(key="tracking", message=f"expected sqlite:///PATH.db with a file path, got {tracking!r}")
        try:
            return "sqlite:///" + str(Path(path).expanduser().resolve())
        except (ValueError, RuntimeError, OSError) as err:  # a NUL byte, ~unknown-user
            raise ConfigError(key="tracking", message=f"bad database path {path!r}: {err}") from None
    return tracking


def sqlite_path(uri: str) -> Path | None:
    """The database file of a ``sqlite:///`` URI, else ``None``."""
    return Path(uri[len("sqlite:///") :]) if uri.startswith("sqlite:///") else None


def check_reachable(uri: str, timeout: float = 5.0) -> None:
    """Fail fast, before any trial runs, when the tracking store plainly cannot work.

    Raises:
        TrackingError: The sqlite folder is missing or read-only, or the server (an MLflow
            server, a database) does not answer or refuses the login.
    """
    path = sqlite_path(uri)
    if path is not None:
        if not path.parent.is_dir():
            raise TrackingError(f"tracking: folder {str(path.parent)!r} of {uri!r} does not exist")
        if not os.access(path.parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
            raise TrackingError(f"tracking: {uri!r} is not writable")
        from hpo._storage import is_sqlite_file

        if not is_sqlite_file(path):
            raise TrackingError(f"tracking: {str(path)!r} exists and is not a sqlite database")
        return
    parts = urllib.parse.urlsplit(uri)
    if parts.scheme.split("+", 1)[0] in ("postgresql", "mysql", "mssql"):  # a database as MLflow's store
        from hpo._storage import database_unreachable

        reason = database_unreachable(uri)
        if reason is not None:
            raise TrackingError(f"tracking: {reason}")
        return
    if parts.scheme in ("http", "https"):
        port = parts.port or (443 if parts.scheme == "https" else 80)
        try:
            socket.create_connection((parts.hostname, port), timeout=timeout).close()
        except OSError as err:
            raise TrackingError(f"tracking: cannot reach the MLflow server at {uri!r}: {err.strerror or err}") from None


def log_folder(uri: str, run_id: str, folder: str | Path) -> None:
    """Log every file under ``folder`` to the run ``run_id``, keeping their relative paths.

    Raises:
        TrackingError: The store plainly cannot be reached (see :func:`check_reachable`).
    """
    check_reachable(uri)
    from mlflow import MlflowClient

    for name in ("mlflow", "alembic"):
        logging.getLogger(name).setLevel(logging.WARNING)
    MlflowClient(uri).log_artifacts(run_id, str(folder))


class Tracker:
    """Logs a study to MLflow through the writer process. Every method returns at once.

    The writer process starts (and imports MLflow) as soon as the tracker is made; call
    :meth:`start` once the study is known. Events sent before that wait in the queue.

    Args:
        uri: The tracking URI.
    """

    def __init__(self, uri: str) -> None:
        self.uri = uri
        self._outbox: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._replies: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._fatal: str | None = None
        self._closed = False
        self._info: wire.Closed | None = None
        self._eof = False  # the writer's channel has ended
        self._staging: Path | None = None  # copies of logged artifacts, until the writer is done
        self.warnings: list[str] = []
        self._plots = False  # set by start()
        self.child_runs: str | int = "all"  # set by start()
        env = dict(os.environ)
        # The writer must import this same hpo, also when it is not installed.
        root = str(Path(__file__).resolve().parent.parent)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, env.get("PYTHONPATH")]))
        # MLflow prints "View run ... at: URL" for every run it ends on a server: hundreds of
        # lines; hpo says where the study run is, once.
        env.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "hpo._tracking_writer", uri],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            start_new_session=True,
        )
        threading.Thread(target=self._feed, name="hpo-tracking-feed", daemon=True).start()
        threading.Thread(target=self._read, name="hpo-tracking-read", daemon=True).start()

    def start(
        self,
        *,
        experiment: str,
        study_uid: str,
        run_name: str,
        params: Mapping[str, Any],
        tags: Mapping[str, str],
        texts: Mapping[str, str],
        model_flavor: str | None = None,
        plots: bool = True,
        source: str = "",
        metric: str | None = None,
        datasets: Iterable[Mapping[str, str]] = (),
        shared: bool = False,
        child_runs: str | int = "all",
        direction: str = "minimize",
    ) -> None:
        """Open (or, on resume, reopen) the study's parent run.

        Args:
            experiment: The MLflow experiment (the study name).
            study_uid: The study's unique id; the parent run is found again by it on resume.
            run_name: The parent run's name.
            params: Parent-run params, logged when the parent run is created.
            tags: Parent-run tags.
            texts: Parent-run text artifacts, ``{artifact_file: text}``.
            model_flavor: The MLflow flavor of a model to be logged at the end, if any; the
                writer loads it (seconds of imports) while it waits for the trials.
            plots: Whether the study's plots are drawn at the end (the writer starts the
                plotting process, which imports plotly and matplotlib while it waits).
            source: The user's script or config file, named by the runs' ``mlflow.source.*``
                tags (and git tags, when it lies in a git repository).
            metric: The name of the objective's score: the best is also ``best_<metric>``.
            datasets: Dataset cards, logged to the parent run with ``mlflow.log_input``.
            shared: Other live processes run this study now: the trial runs left running are
                theirs, not a crash's, and are not ended.
            child_runs: Which trials get a run: ``all``, ``none``, or the number of best ones.
            direction: The study's direction, by which ``child_runs`` ranks trials.
        """
        self.child_runs = child_runs
        self._plots = plots
        self._outbox.put(
            wire.Start(
                uri=self.uri,
                experiment=experiment,
                study_uid=study_uid,
                run_name=run_name,
                params=dict(params),
                tags=dict(tags),
                texts=dict(texts),
                model_flavor=model_flavor,
                plots=plots,
                # Models logged at the end are unpickled there: let it import what we import.
                sys_path=tuple(sys.path),
                source=source,
                metric=metric,
                datasets=tuple(dict(card) for card in datasets),
                shared=shared,
                child_runs=child_runs,
                direction=direction,
            )
        )

    def abort(self) -> None:
        """Stop the writer before :meth:`start` (the study could not be set up). It has opened
        no run and holds nothing: it is killed, rather than waited for amid its imports."""
        self._closed = True
        self._outbox.put(None)
        self._proc.kill()
        self._proc.wait()
        self._remove_staging()

    def _remove_staging(self) -> None:
        if self._staging is not None:
            shutil.rmtree(self._staging, ignore_errors=True)
            self._staging = None

    # -- transport -------------------------------------------------------------------------

    def _feed(self) -> None:
        stdin = self._proc.stdin
        assert stdin is not None
        while True:
            batch = [self._outbox.get()]
            while True:  # coalesce whatever else is waiting into one write
                try:
                    batch.append(self._outbox.get_nowait())
                except queue.Empty:
                    break
            done = batch[-1] is None
            try:
                stdin.write(wire.pack([event for event in batch if event is not None]))
                stdin.flush()
                if done:
                    stdin.close()
                    return
            except (BrokenPipeError, OSError, ValueError):
                return  # the writer is gone; _read reports it

    def _read(self) -> None:
        stdout = self._proc.stdout
        assert stdout is not None
        wire.pump(stdout, self._replies.put, self._lost)

    def _lost(self, err: BaseException) -> None:
        self._replies.put(wire.Warn(f"a reply of the tracking writer was lost: {err}"))

    def _drain_replies(self) -> None:
        while True:
            try:
                self._note(self._replies.get_nowait())
            except queue.Empty:
                return

    def _note(self, reply: Any) -> None:
        # Every reply is noted here, wherever it was read, so none is waited for twice.
        if isinstance(reply, wire.Fatal):
            self._fatal = reply.message
        elif isinstance(reply, wire.Warn):
            self.warnings.append(reply.message)
        elif isinstance(reply, wire.Closed):
            self._info = reply
        elif reply is wire.EOF:
            self._eof = True

    def check(self) -> None:
        """Raise :class:`TrackingError` if the writer could not open the tracking store."""
        self._drain_replies()
        if self._fatal:
            raise TrackingError(self._fatal)

    # -- events ----------------------------------------------------------------------------

    def trial_started(self, number: int, params: Mapping[str, Any]) -> None:
        self._outbox.put(wire.TrialStart(number, _now_ms(), dict(params)))

    def log_metrics(self, number: int, metrics: Mapping[str, float], step: int | None) -> None:
        self._outbox.put(wire.Metrics(number, _now_ms(), step, dict(metrics)))

    def set_tags(self, number: int, tags: Mapping[str, str]) -> None:
        self._outbox.put(wire.Tags(number, {k: str(v) for k, v in tags.items()}))

    def log_artifact(self, number: int | None, path: str, artifact_path: str | None) -> None:
        """Log a file or folder; it is copied first, so the caller may delete it at once."""
        source = Path(path)
        # The writer uploads later, in its own process: an objective that wrote the file into
        # a TemporaryDirectory will have removed it by then.
        if self._staging is None:
            self._staging = Path(tempfile.mkdtemp(prefix="hpo-artifacts-"))
        slot = Path(tempfile.mkdtemp(dir=self._staging))
        copy = slot / source.resolve().name
        if source.is_dir():
            shutil.copytree(source, copy)
        else:
            shutil.copy2(source, copy)
        self._outbox.put(wire.Artifact(number, str(copy), artifact_path))

    def trial_finished(self, number: int, state: str, value: float | None, error: str | None) -> None:
        self._outbox.put(wire.TrialEnd(number, _now_ms(), state, value, error))

    def reconcile(self, trials: Iterable[Any]) -> None:
        """Make sure MLflow holds every ended trial of a resumed study (see
        :mod:`hpo._reconcile`): the study storage is the source of truth."""
        from hpo._reconcile import snapshots

        self._outbox.put(wire.Reconcile(snapshots(trials)))

    def log_model(self, flavor: str, model: Any, input_example: Any, params: Mapping[str, Any]) -> None:
        """Log a fitted model, trained with ``params``, to the parent run (``mlflow.<flavor>.log_model``)."""
        self._outbox.put(wire.LogModel(flavor, model, input_example, dict(params)))

    def best(self, number: int, value: float) -> None:
        """A new best value, logged to the parent run as ``best_value`` at step ``number``."""
        self._outbox.put(wire.Best(number, _now_ms(), value))

    def close(self, status: str, summary: Mapping[str, Any]) -> wire.Closed | None:
        """End the parent run with ``status`` and wait until everything is written.

        Returns:
            The writer's account (run ids, unrecorded trials, missing study-run writes), or
            None when the writer ended without one.
        """
        if self._closed:
            return None
        self._closed = True
        summary = dict(summary)
        if not self._plots:  # the trials travel only to be plotted
            summary.pop("trials", None)
        self._outbox.put(wire.Close(status, summary))
        self._outbox.put(None)
        while not self._eof:  # check() may have read the end already (a writer that failed)
            self._note(self._replies.get())
        self._proc.wait()
        self._remove_staging()
        if self._fatal and self._info is None:
            raise TrackingError(self._fatal)
        return self._info


def _now_ms() -> int:
    return int(time.time() * 1000)


def open_study_run(
    tracker: Tracker,
    plan: StudyPlan,
    study: optuna.study.Study,
    texts: Mapping[str, str] | None,
    source: str | None = None,
    shared: bool = False,
) -> None:
    """Open (or, on resume, reopen) the study's parent run, with the plan and the objective's
    settings (a trainer's ``describe()``) as its params and its data as inputs.

    Args:
        source: The user's config file; by default the script that runs the study.
        shared: Other live processes run this study now (see :meth:`Tracker.start`).
    """
    from hpo._registry import qualified_name
    from hpo._summary import yaml_text

    objective = plan.objective
    describe = getattr(objective, "describe", None)
    settings = describe() if callable(describe) else {}
    cards = getattr(objective, "datasets", None)
    metric = getattr(objective, "metric_name", None)
    tracker.start(
        experiment=plan.study_name,
        study_uid=study.user_attrs["hpo:uid"],
        run_name=plan.study_name,
        params={
            "searcher": plan.searcher_label,
            "pruner": plan.pruner_label,
            "seed": plan.seed,
            **_objective_params(plan),
            "n_trials": plan.n_trials,
            "executor": plan.executor.name,
            "concurrency": plan.executor.concurrency,
            "objective": qualified_name(objective),
            **({"warm_start": plan.warm_start.summary} if plan.warm_start is not None else {}),
            # By path: a conditional space's branch parameters each on their own (space.model.svc.C).
            **{f"space.{k}": v.summary() if isinstance(v, Choice) else repr(v) for k, v in plan.space.paths().items()},
            **{f"trainer.{k}": v for k, v in settings.items() if v is not None},
        },
        tags={"hpo.study": plan.study_name, **({"hpo.metric": metric} if isinstance(metric, str) else {})},
        texts={"space.yaml": yaml_text(plan.space.to_dict()), **(texts or {})},
        model_flavor=getattr(objective, "model_flavor", None),
        plots=plan.plots,
        source=source or main_source(),
        metric=metric if isinstance(metric, str) else None,
        datasets=cards() if callable(cards) else (),
        shared=shared,
        child_runs=plan.child_runs,
        direction=plan.direction,
    )


def _objective_params(plan: StudyPlan) -> dict[str, Any]:
    """``direction``; with several objectives ``objectives`` (``accuracy: maximize, ...``) and how
    the front is read (``select``, ``reference_point``, ``prune_on``)."""
    if not plan.multi or plan.objectives is None:
        return {"direction": plan.direction}
    out: dict[str, Any] = {"objectives": plan.objectives.text()}
    if plan.select is not None:
        out["select"] = plan.select.text()
    if plan.reference_point is not None:
        out["reference_point"] = ", ".join(f"{v:g}" for v in plan.reference_point)
    if plan.prune_on is not None:
        out["prune_on"] = plan.prune_on
    return out


def main_source() -> str:
    """The script that runs this Python (absolute), as MLflow's ``mlflow.source.name`` would
    name it in this process; ``python`` for an interactive session."""
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None) or (sys.argv[0] if sys.argv and sys.argv[0] else None)
    if path and os.path.isfile(path):
        return str(Path(path).resolve())
    return "python"


def close_study_run(tracker: Tracker, status: str, result: Study) -> None:
    """End the parent run with ``status``; note its ids and what MLflow lacks on ``result``."""
    from hpo._summary import summary

    info = tracker.close(status, summary(result))
    if info is not None:
        result.mlflow_run_id = info.parent_run_id or None
        result.mlflow_experiment_id = info.experiment_id or None
        result.unrecorded_trials = info.unrecorded
        result.missing_study_writes = list(info.missing)
    for warning in tracker.warnings:
        _logger.warning("%s", warning)
