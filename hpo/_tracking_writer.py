"""The MLflow writer process (``python -m hpo._tracking_writer``), started by ``hpo._tracking``.

It reads framed, pickled events from stdin and writes them with as few MLflow calls as it can:
for a trial whose start and end arrive together, one ``create_run`` carrying every tag, one
``log_batch`` and one ``set_terminated``. Whatever arrives while a call is under way is taken
as one batch. Replies (warnings, a fatal error, closed) go back on the original stdout; MLflow's own
prints are sent to stderr so they cannot corrupt that channel.

On a ``close`` event the parent run ends with the driver's status. On EOF without one (the
driver died) every open run ends as KILLED, tagged ``hpo.fail_reason=interrupted``.

When the tracking store cannot be reached (a server down, a database locked), nothing is
dropped: records stay buffered and are retried with backoff while the study goes on. At the end
the writer keeps trying for ``$HPO_TRACKING_RETRY_S`` seconds (default 60); what still cannot
be written is reported as unrecorded, for ``hpo sync`` to replay from the study storage.
"""

from __future__ import annotations

import json
import logging
import os
import pickle
import queue
import shutil
import signal
import sqlite3
import struct
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

_HEADER = struct.Struct(">I")
_MAX_PARAM = 6000
_MAX_TAG = 5000
_PLOT_TIMEOUT_S = 300.0
_STATUS = {"complete": "FINISHED", "pruned": "FINISHED", "failed": "FAILED", "interrupted": "KILLED"}


@dataclass
class _TrialRecord:
    number: int
    start_ms: int
    params: dict[str, Any]
    run_id: str | None = None
    metrics: list[Any] = field(default_factory=list)
    artifacts: list[tuple[str, str | None]] = field(default_factory=list)
    end: tuple[int, str, float | None, str | None] | None = None
    dirty: bool = True
    params_logged: bool = False


def _state_tags(state: str, error: str | None) -> dict[str, str]:
    tags = {"hpo.state": "failed" if state == "interrupted" else state}
    if state == "interrupted":
        tags["hpo.fail_reason"] = "interrupted"
    if error:
        tags["hpo.error"] = error[:_MAX_TAG]
    return tags


class Writer:
    """Holds the MLflow client and the open runs of one study."""

    def __init__(self, config: dict[str, Any], send: Any) -> None:
        self.config = config
        self.send = send
        self.trials: dict[int, _TrialRecord] = {}
        self.parent_metrics: list[Any] = []
        self.unrecorded: set[int] = set()
        self.parent_run_id = ""
        self.experiment_id = ""
        self._reconcile: list[Any] | None = None
        self.refused = False  # the store came back but refused the study (e.g. a deleted experiment)
        self.offline_since: float | None = None  # the store is unreachable since then
        self.retry_at = 0.0
        self._backoff = 0.5
        self.plotter: subprocess.Popen[bytes] | None = None  # python -m hpo._plots, when plots are on
        self._plots_dir = Path()

    # -- opening ---------------------------------------------------------------------------

    def open(self) -> None:
        from mlflow import MlflowClient
        from mlflow.entities import Param

        # MLflow sets its loggers up on import; quiet its per-call INFO lines afterwards.
        for name in ("mlflow", "alembic"):
            logging.getLogger(name).setLevel(logging.WARNING)
        # Its note on a local wheel's version label (torch 2.13.0+cpu) is not actionable here.
        logging.getLogger("mlflow.utils.requirements_utils").setLevel(logging.ERROR)
        uri = self.config["uri"]
        self.client = MlflowClient(uri)
        if uri.startswith("sqlite:///"):
            self.client.search_experiments(max_results=1)  # creates the schema on first use
            # WAL lets `mlflow ui` read while a study writes, and makes each commit cheaper.
            with sqlite3.connect(uri[len("sqlite:///") :]) as con:
                con.execute("PRAGMA journal_mode=WAL")
        name = self.config["experiment"]
        experiment = self.client.get_experiment_by_name(name)
        if experiment is None:
            try:
                self.experiment_id = self.client.create_experiment(name)
            except Exception:  # created meanwhile by a concurrent study process
                experiment = self.client.get_experiment_by_name(name)
                if experiment is None:
                    raise
        if experiment is not None:
            if experiment.lifecycle_stage == "deleted":
                raise RuntimeError(
                    f"MLflow experiment {name!r} is deleted; restore it in the MLflow UI or use "
                    "another study name"
                )
            self.experiment_id = experiment.experiment_id
        uid = self.config["study_uid"]
        found = self.client.search_runs(
            [self.experiment_id], f"tags.`hpo.study_uid` = '{uid}'", max_results=1
        )
        if found:
            # A resumed study: reopen its parent run, end the children a crash left running.
            self.parent_run_id = found[0].info.run_id
            self.client.update_run(self.parent_run_id, status="RUNNING")
            self._end_stale_children()
        else:
            tags = {"hpo.study_uid": uid, "hpo.role": "study", **self.config["tags"]}
            run = self.client.create_run(
                self.experiment_id, tags=tags, run_name=self.config["run_name"]
            )
            self.parent_run_id = run.info.run_id
            params = [Param(k, str(v)[:_MAX_PARAM]) for k, v in self.config["params"].items()]
            self._log_batch(self.parent_run_id, params=params)
            for artifact_file, text in self.config["texts"].items():
                self.client.log_text(self.parent_run_id, text, artifact_file)

    def _children(self, condition: str = "") -> Any:
        """The parent's child runs (that also meet ``condition``), page by page."""
        query = f"tags.`mlflow.parentRunId` = '{self.parent_run_id}'" + (f" and {condition}" if condition else "")
        token = None
        while True:
            page = self.client.search_runs([self.experiment_id], query, page_token=token)
            yield from page
            token = page.token
            if not token:
                return

    def _recorded_trials(self) -> dict[int, Any]:
        """The child runs under the parent, by trial number."""
        runs: dict[int, Any] = {}
        for run in self._children():
            number = run.data.tags.get("hpo.trial_number")
            if number is not None and number.isdigit():
                runs[int(number)] = run
        return runs

    def _repair(
        self, run: Any, state: str, value: float | None, error: str | None, steps: dict[int, float], end_ms: int
    ) -> None:
        """Give a trial's run the end the study storage knows: status, tags, value, steps."""
        from mlflow.entities import Metric, RunTag

        run_id = run.info.run_id
        have = {m.step for m in self.client.get_metric_history(run_id, "intermediate_value")}
        metrics = [Metric("intermediate_value", v, end_ms, s) for s, v in steps.items() if s not in have]
        if value is not None:
            metrics.append(Metric("value", value, end_ms, 0))
        tags = _state_tags(state, error)
        self._log_batch(run_id, metrics, tags=[RunTag(k, v) for k, v in tags.items()])
        if "hpo.fail_reason" in run.data.tags and "hpo.fail_reason" not in tags:
            self.client.delete_tag(run_id, "hpo.fail_reason")
        self.client.set_terminated(run_id, _STATUS[state], end_ms)

    def _end_stale_children(self) -> None:
        from mlflow.entities import RunTag

        tags = [RunTag(k, v) for k, v in _state_tags("interrupted", None).items()]
        # Collected first: ending runs while paging through a "RUNNING" query would shift pages.
        for run in list(self._children("attributes.status = 'RUNNING'")):
            self._log_batch(run.info.run_id, tags=tags)
            self.client.set_terminated(run.info.run_id, "KILLED")

    # -- events ----------------------------------------------------------------------------

    def handle(self, msg: tuple[Any, ...]) -> None:
        from mlflow.entities import Metric

        kind = msg[0]
        if kind == "trial_start":
            _, number, start_ms, params = msg
            self.trials[number] = _TrialRecord(number, start_ms, params)
        elif kind == "metrics":
            _, number, ts, step, metrics = msg
            rec = self._record(number, ts)
            rec.metrics += [Metric(k, v, ts, step or 0) for k, v in metrics.items()]
            rec.dirty = True
        elif kind == "artifact":
            _, number, path, artifact_path = msg
            if number is None:
                self._guard(None, lambda: self.client.log_artifact(self.parent_run_id, path, artifact_path))
            else:
                rec = self._record(number, int(time.time() * 1000))
                rec.artifacts.append((path, artifact_path))
                rec.dirty = True
        elif kind == "trial_end":
            _, number, end_ms, state, value, error = msg
            rec = self._record(number, end_ms)
            rec.end = (end_ms, state, value, error)
            if value is not None:
                rec.metrics.append(Metric("value", value, end_ms, 0))
            rec.dirty = True
        elif kind == "reconcile":
            self._reconcile = msg[1]  # done by flush(), once the store can be read
        elif kind == "log_model":
            _, flavor, model, example = msg
            self.flush()  # the trials' runs first
            self._guard(None, lambda: self._log_model(flavor, model, example))
        elif kind == "best":
            _, number, ts, value = msg
            self.parent_metrics.append(Metric("best_value", value, ts, number))

    def _log_model(self, flavor: str, model: Any, example: Any) -> None:
        import importlib

        import mlflow
        from mlflow.models import infer_signature

        module = importlib.import_module(f"mlflow.{flavor}")
        signature = None
        if example is not None:
            signature = infer_signature(example, _predict(flavor, model, example))
        mlflow.set_tracking_uri(self.config["uri"])
        # The fluent API attaches the model to the active run; re-entering the parent run and
        # leaving it marks it FINISHED, and finish() then sets the study's real final status.
        with mlflow.start_run(run_id=self.parent_run_id):
            module.log_model(
                model,
                name="model",
                signature=signature,
                input_example=example,
                # Skip MLflow's requirement inference: it loads the model in a subprocess.
                pip_requirements=module.get_default_pip_requirements(),
                **_flavor_options(flavor, model),
            )

    def _reconcile_now(self, records: list[Any]) -> None:
        """A resumed study: MLflow is made to agree with the study storage. An ended trial
        without a run gets one; a run whose end never reached us (the driver died after the
        trial's start was sent) and was ended as KILLED is repaired."""
        from mlflow.entities import Metric

        recorded = self._recorded_trials()
        for number, state, value, error, params, steps, start_ms, end_ms in records:
            if number in self.trials:
                continue
            run = recorded.get(number)
            if run is None:
                rec = self.trials[number] = _TrialRecord(number, start_ms, params)
                rec.metrics += [
                    Metric("intermediate_value", v, start_ms, step) for step, v in steps.items()
                ]
                self.handle(("trial_end", number, end_ms, state, value, error))
            elif (run.info.status, run.data.tags.get("hpo.state")) != (
                _STATUS[state],
                _state_tags(state, error)["hpo.state"],
            ):
                self._guard(number, lambda r=run, a=(state, value, error, steps, end_ms): self._repair(r, *a))

    def _record(self, number: int, ts: int) -> _TrialRecord:
        rec = self.trials.get(number)
        if rec is None:  # an event for a trial whose start we never saw
            rec = self.trials[number] = _TrialRecord(number, ts, {})
        return rec

    def went_offline(self, err: BaseException) -> None:
        """The store is unreachable: keep everything, retry with backoff."""
        if self.offline_since is None:
            self.offline_since = time.monotonic()
            self.send(("warn", f"MLflow unreachable ({_first_line(err)}); records are buffered and retried"))
        self.retry_at = time.monotonic() + self._backoff
        self._backoff = min(self._backoff * 2, 5.0)

    def flush(self) -> None:
        """Write what is pending; while the store is unreachable, only once a retry is due."""
        if self.refused or (self.offline_since is not None and time.monotonic() < self.retry_at):
            return
        if not self.parent_run_id:  # unreachable when the study started
            try:
                self.open()
            except Exception as err:
                if _unreachable(err):
                    self.went_offline(err)
                else:  # back, but it will not take the study: nothing more is tried
                    self.refused, self.offline_since = True, None
                    self.send(("warn", f"MLflow store refused the study: {type(err).__name__}: {_first_line(err)}"))
                return
        if self._reconcile is not None:
            records = self._reconcile
            if self._guard(None, lambda: self._reconcile_now(records)) is None:
                return
            self._reconcile = None
        for number, rec in list(self.trials.items()):
            if not rec.dirty:
                continue
            written = self._guard(number, lambda rec=rec: self._write(rec))
            if written is None:
                return  # unreachable: the rest stays buffered too
            rec.dirty = False
            if rec.end:
                del self.trials[number]
        if self.parent_metrics:
            metrics = self.parent_metrics
            if self._guard(None, lambda: self._log_batch(self.parent_run_id, metrics)) is None:
                return
            self.parent_metrics = []
        if self.offline_since is not None:
            away = time.monotonic() - self.offline_since
            self.offline_since, self._backoff = None, 0.5
            self.send(("warn", f"MLflow reachable again after {away:.0f} s; the buffered records are written"))

    def _write(self, rec: _TrialRecord) -> None:
        """Bring a trial's run up to date. Resumable: a retry after a failure goes on from where
        the failed call left it (a run once created is reused, params logged once)."""
        from mlflow.entities import Param, RunTag

        end_tags = _state_tags(rec.end[1], rec.end[3]) if rec.end else {}
        if rec.run_id is None:
            run_tags = {
                "mlflow.parentRunId": self.parent_run_id,
                "hpo.trial_number": str(rec.number),
                "hpo.study": self.config["experiment"],
                "hpo.state": "running",
                **end_tags,
            }
            run = self.client.create_run(
                self.experiment_id, start_time=rec.start_ms, tags=run_tags, run_name=f"trial-{rec.number}"
            )
            rec.run_id = run.info.run_id
            end_tags = {}
        params = [] if rec.params_logged else [Param(k, str(v)[:_MAX_PARAM]) for k, v in rec.params.items()]
        self._log_batch(rec.run_id, rec.metrics, params, [RunTag(k, v) for k, v in end_tags.items()])
        rec.metrics, rec.params_logged = [], True
        while rec.artifacts:
            path, artifact_path = rec.artifacts[0]
            self.client.log_artifact(rec.run_id, path, artifact_path)
            rec.artifacts.pop(0)
        if rec.end:
            self.client.set_terminated(rec.run_id, _STATUS[rec.end[1]], rec.end[0])

    def _guard(self, number: int | None, write: Any) -> bool | None:
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
            what = f"trial {number}" if number is not None else "the study run"
            self.send(("warn", f"MLflow write for {what} failed: {type(err).__name__}: {_first_line(err)}"))
            return False

    def _log_batch(self, run_id: str, metrics: Any = (), params: Any = (), tags: Any = ()) -> None:
        # MLflow takes at most 1000 metrics and 100 params + tags per call.
        metrics, params, tags = list(metrics), list(params), list(tags)
        while metrics or params or tags:
            self.client.log_batch(run_id, metrics=metrics[:1000], params=params[:100], tags=tags[:100])
            metrics, params, tags = metrics[1000:], params[100:], tags[100:]

    # -- closing ---------------------------------------------------------------------------

    def finish(self, status: str, summary: dict[str, Any]) -> None:
        """End the parent run: summary tags, text artifacts, plots, the final status."""
        from mlflow.entities import Metric, RunTag

        self.send_plots(summary)

        for rec in list(self.trials.values()):  # trials the driver never ended: killed
            if rec.end is None:
                self.handle(("trial_end", rec.number, int(time.time() * 1000), "interrupted", None, None))
        deadline = time.monotonic() + _retry_seconds()
        self.flush()
        while self.offline_since is not None and time.monotonic() < deadline:
            time.sleep(max(0.0, min(self.retry_at, deadline) - time.monotonic()))
            self.flush()
        if self.offline_since is not None or self.refused:  # say what MLflow lacks, for `hpo sync`
            self.unrecorded.update(number for number, rec in self.trials.items() if rec.dirty)
            if not self.refused:
                self.send(("warn", "MLflow stayed unreachable: the study run could not be ended"))
            self._discard_plots()
            return

        def write() -> None:
            now = int(time.time() * 1000)
            counts = summary.get("counts", {})
            metrics = [
                Metric(f"n_{state}", float(counts[state]), now, 0)
                for state in ("complete", "pruned", "failed", "interrupted")
                if state in counts
            ]
            tags = [RunTag("hpo.status", status.lower())]
            if summary.get("best_value") is not None:
                tags.append(RunTag("hpo.best_value", repr(summary["best_value"])))
                tags.append(RunTag("hpo.best_trial", str(summary["best_trial"])))
            self._log_batch(self.parent_run_id, metrics, tags=tags)
            # summary.md, best_params.yaml, trials.csv
            for artifact_file, text in summary.get("texts", {}).items():
                self.client.log_text(self.parent_run_id, text, artifact_file)
            if plots is not None:
                self.client.log_artifacts(self.parent_run_id, plots, "plots")
            self.client.set_terminated(self.parent_run_id, status)

        plots = self._collect_plots()
        try:
            self._guard(None, write)
        finally:
            self._discard_plots()

    # -- plots -----------------------------------------------------------------------------

    def start_plotter(self) -> None:
        """Start ``python -m hpo._plots``, which imports what drawing needs while trials run."""
        self._plots_dir = Path(tempfile.mkdtemp(prefix="hpo-plots-"))
        self.plotter = subprocess.Popen(
            [sys.executable, "-m", "hpo._plots", str(self._plots_dir)], stdin=subprocess.PIPE
        )

    def send_plots(self, summary: dict[str, Any]) -> None:
        """Hand the plotter the ended study: it draws while the last runs are still written."""
        if self.plotter is None or self.plotter.stdin is None or self.plotter.stdin.closed:
            return
        if summary.get("trials"):
            data = pickle.dumps((summary["trials"], summary["direction"]), protocol=pickle.HIGHEST_PROTOCOL)
            (self._plots_dir / "trials.pickle").write_bytes(data)
        self.plotter.stdin.close()  # the plotter's signal: the study has ended

    def _collect_plots(self) -> str | None:
        """Wait for the plotter; the folder of plots to log, or None."""
        if self.plotter is None:
            return None
        try:
            self.plotter.wait(timeout=_PLOT_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.send(("warn", f"plots left out: drawing them took over {_PLOT_TIMEOUT_S:.0f} s"))
            return None
        failed = self._plots_dir / "failed.json"
        for plot, reason in (json.loads(failed.read_text()) if failed.exists() else {}).items():
            self.send(("warn", f"plot {plot!r} left out: {reason}"))
        plots = self._plots_dir / "plots"
        if self.plotter.returncode != 0:
            self.send(("warn", f"plots left out: the plotting process exited with {self.plotter.returncode}"))
        return str(plots) if plots.is_dir() and any(plots.iterdir()) else None

    def _discard_plots(self) -> None:
        if self.plotter is None:
            return
        if self.plotter.stdin is not None and not self.plotter.stdin.closed:
            self.plotter.stdin.close()
        if self.plotter.poll() is None:
            self.plotter.kill()
            self.plotter.wait()
        shutil.rmtree(self._plots_dir, ignore_errors=True)
        self.plotter = None

    def abandon(self) -> None:
        """The driver died: end every open run as KILLED."""
        self.finish("KILLED", {})


def _predict(flavor: str, model: Any, example: Any) -> Any:
    """The model's outputs for ``example``, to infer its signature."""
    if flavor == "pytorch":
        import torch

        with torch.no_grad():
            return model(torch.as_tensor(example)).numpy()
    return model.predict(example)


def _warm_up(flavor: str) -> None:
    """Load an MLflow flavor ahead of ``log_model`` (its first use costs seconds of imports).

    Saving a throwaway model to a temporary folder runs the same code as logging one, without
    touching the tracking store. Best effort: a failure here only means a slower log later.
    """
    import importlib
    import tempfile

    try:
        module = importlib.import_module(f"mlflow.{flavor}")
        from mlflow.models import infer_signature

        if flavor == "sklearn":
            import numpy as np
            from sklearn.dummy import DummyClassifier

            X = np.zeros((2, 1))
            model = DummyClassifier().fit(X, [0, 1])
            with tempfile.TemporaryDirectory() as folder:
                module.save_model(
                    model,
                    f"{folder}/model",
                    signature=infer_signature(X, model.predict(X)),
                    input_example=X,
                    pip_requirements=module.get_default_pip_requirements(),
                    **_flavor_options(flavor, model),
                )
    except Exception:
        pass


def _flavor_options(flavor: str, model: Any) -> dict[str, Any]:
    """Extra ``log_model`` options a flavor needs for models fitted by the study itself."""
    if flavor != "sklearn":
        return {}
    try:
        import skops.io

        # MLflow saves scikit-learn models with skops, which refuses types it does not know
        # (e.g. the Tree of every tree ensemble). The study fitted this model a moment ago: its
        # types are trusted by construction, so name exactly those.
        return {"skops_trusted_types": skops.io.get_untrusted_types(data=skops.io.dumps(model))}
    except Exception:  # skops cannot save it (custom classes): MLflow's cloudpickle format
        return {"serialization_format": "cloudpickle"}


def _reader(stream: BinaryIO, inbox: queue.SimpleQueue[Any]) -> None:
    while True:
        header = stream.read(_HEADER.size)
        if len(header) < _HEADER.size:
            inbox.put(None)
            return
        (size,) = _HEADER.unpack(header)
        inbox.put(pickle.loads(stream.read(size)))


def _unreachable(err: BaseException) -> bool:
    """Whether ``err`` says the store could not be reached (worth retrying), not that it refused."""
    seen: BaseException | None = err
    while seen is not None:
        if isinstance(seen, (ConnectionError, TimeoutError)):
            return True
        if type(seen).__name__ in ("ConnectionError", "ConnectTimeout", "ReadTimeout", "MaxRetryError", "NewConnectionError"):
            return True
        if any(text in str(seen) for text in _UNREACHABLE):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


_UNREACHABLE = ("Max retries exceeded", "Connection refused", "Failed to establish", "Connection aborted",
                "Read timed out", "database is locked", "Remote end closed", "Bad Gateway", "Service Unavailable")


def _retry_seconds() -> float:
    """How long to keep retrying an unreachable store once the study has ended."""
    return float(os.environ.get("HPO_TRACKING_RETRY_S", "60"))


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0][:300] if text else type(err).__name__


def main() -> int:
    # Own session already keeps the terminal's Ctrl-C away; ignore a stray SIGINT all the same.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # MLflow's schema-inference hints (integer columns, ...) are not actionable from a study.
    warnings.filterwarnings("ignore", category=UserWarning, module=r"mlflow\.types")
    # The writer retries an unreachable store itself, without blocking on MLflow's own retries
    # (7 with a growing backoff: minutes per call), so the other records are not held up.
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "10")
    channel = os.fdopen(os.dup(sys.stdout.fileno()), "wb", buffering=0)
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    lock = threading.Lock()

    def send(msg: tuple[Any, ...]) -> None:
        data = pickle.dumps(msg, protocol=pickle.HIGHEST_PROTOCOL)
        with lock:
            try:
                channel.write(_HEADER.pack(len(data)) + data)
            except OSError:
                pass  # the driver is gone; keep writing MLflow all the same

    inbox: queue.SimpleQueue[Any] = queue.SimpleQueue()
    threading.Thread(target=_reader, args=(sys.stdin.buffer, inbox), daemon=True).start()
    # The driver starts us before it has set its study up: import MLflow (~2 s) meanwhile,
    # and the database store (~1 s more) when the tracking URI (argv[1]) names a database.
    import mlflow.tracking  # noqa: F401

    if len(sys.argv) > 1 and not sys.argv[1].startswith(("http:", "https:", "databricks")):
        import mlflow.store.tracking.sqlalchemy_store  # noqa: F401

    first = inbox.get()
    if first is None or first[0] != "start":
        return 2
    sys.path.extend(p for p in first[1].get("sys_path", []) if p not in sys.path)
    writer = Writer(first[1], send)
    try:
        writer.open()
    except Exception as err:
        if not _unreachable(err):
            uri = first[1]["uri"]
            send(("fatal", f"tracking: cannot open MLflow store {uri!r}: {type(err).__name__}: {err}"))
            return 1
        # Gone since the driver's check: the study goes on, and flush() opens it when it is back.
        writer.went_offline(err)
    if first[1].get("plots"):
        writer.start_plotter()
    warm = first[1].get("model_flavor")
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
                _warm_up(warm)
                warm = None
            continue
        while True:
            try:
                batch.append(inbox.get_nowait())
            except queue.Empty:
                break
        close = None
        eof = False
        for msg in batch:
            if msg is None:
                eof = True
            elif msg[0] == "close":
                close = msg
                writer.send_plots(close[2])  # drawing starts before the backlog below is written
            else:
                writer.handle(msg)
        writer.flush()
        if close is not None:
            writer.finish(close[1], close[2])
            send(
                (
                    "closed",
                    {
                        "parent_run_id": writer.parent_run_id,
                        "experiment_id": writer.experiment_id,
                        "unrecorded": sorted(writer.unrecorded),
                    },
                )
            )
            return 0
        if eof:
            writer.abandon()
            return 0


def _exit_now(code: int) -> None:
    # Every write is committed by now. Skip the interpreter's shutdown, which with MLflow
    # loaded spends most of a second in atexit hooks the driver would otherwise wait for.
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    _exit_now(main())
