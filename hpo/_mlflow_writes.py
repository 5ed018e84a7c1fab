"""The MLflow calls of the writer process: the study's experiment and parent run, one child run
per trial, and the parent run's end. Nothing here buffers or retries: a call that fails raises,
and :mod:`hpo._tracking_writer` decides what to do about it.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from hpo._states import COMPLETE, FAILED, FINAL, INTERRUPTED, PRUNED, RUNNING
from hpo._wire import Start

_MAX_PARAM = 6000
_MAX_TAG = 5000
#: A trial's state -> its run's final MLflow status.
STATUS = {COMPLETE: "FINISHED", PRUNED: "FINISHED", FAILED: "FAILED", INTERRUPTED: "KILLED"}


def now_ms() -> int:
    return int(time.time() * 1000)


def state_tags(state: str, error: str | None) -> dict[str, str]:
    """The tags that say how a trial ended (an interrupted trial is a failed one, so tagged)."""
    tags = {"hpo.state": FAILED if state == INTERRUPTED else state}
    if state == INTERRUPTED:
        tags["hpo.fail_reason"] = INTERRUPTED
    if error:
        tags["hpo.error"] = error[:_MAX_TAG]
    return tags


@dataclass
class TrialRecord:
    """What the writer holds of one trial's run until it is written.

    Attributes:
        end: ``(end_ms, state, value, error)`` once the trial has ended.
        dirty: Something is still to be written.
    """

    number: int
    start_ms: int
    params: dict[str, Any]
    run_id: str | None = None
    metrics: list[Any] = field(default_factory=list)
    artifacts: list[tuple[str, str | None]] = field(default_factory=list)
    tags: dict[str, str] = field(default_factory=dict)  # set by the trial, not yet written
    end: tuple[int, str, float | None, str | None] | None = None
    dirty: bool = True
    params_logged: bool = False

    def add_metrics(self, metrics: dict[str, float], ts: int, step: int | None) -> None:
        from mlflow.entities import Metric

        self.metrics += [Metric(k, v, ts, step or 0) for k, v in metrics.items()]
        self.dirty = True

    def finish(self, end_ms: int, state: str, value: float | None, error: str | None) -> None:
        """The trial has ended: its value (if any) and state are written next."""
        self.end = (end_ms, state, value, error)
        if value is not None:
            self.add_metrics({"value": value}, end_ms, 0)
        self.dirty = True


_CLOSE_REGISTERED = False


def _one_connection_per_request() -> None:
    """Ask an ``mlflow server`` (plain HTTP) to close the connection after each request.

    On a kept-alive connection every call to the server took about 50 ms here, of which about
    40 are a stall between the server's two writes of a response and the client's delayed ACK;
    a new connection per request took 13-16 ms (measured in ``benchmarks/scale.py``'s set-up:
    create_run, log_batch, set_terminated). Over TLS a handshake per request would cost more:
    not done for https.
    """
    global _CLOSE_REGISTERED
    if _CLOSE_REGISTERED:
        return
    try:  # MLflow's registry of header plugins (entry points fill it); absent: keep-alive it is
        from mlflow.tracking.request_header.abstract_request_header_provider import RequestHeaderProvider
        from mlflow.tracking.request_header.registry import _request_header_provider_registry
    except ImportError:
        return

    class _Close(RequestHeaderProvider):
        def in_context(self) -> bool:
            return True

        def request_headers(self) -> dict[str, str]:
            return {"Connection": "close"}

    _request_header_provider_registry.register(_Close)
    _CLOSE_REGISTERED = True


class StudyStore:
    """One study in an MLflow tracking store: its experiment, parent run and trial runs.

    Args:
        start: The study's :class:`~hpo._wire.Start` event.
    """

    def __init__(self, start: Start) -> None:
        self.start = start
        self.client: Any = None
        self.experiment_id = ""
        self.parent_run_id = ""
        #: Where the study came from (``mlflow.source.*``, ``mlflow.user``, git), on every run.
        self.source_tags: dict[str, str] = {}
        #: Trial number -> its run, as written by this process.
        self.run_ids: dict[int, str] = {}

    # -- the parent run ----------------------------------------------------------------------

    def open(self) -> None:
        """Find or create the experiment; reopen the study's parent run, or create it with its
        params and text artifacts."""
        from mlflow import MlflowClient
        from mlflow.entities import Param

        if self.start.uri.startswith("http://"):
            _one_connection_per_request()
        # MLflow sets its loggers up on import; quiet its per-call INFO lines afterwards.
        for name in ("mlflow", "alembic"):
            logging.getLogger(name).setLevel(logging.WARNING)
        # Its note on a local wheel's version label (torch 2.13.0+cpu) is not actionable here.
        logging.getLogger("mlflow.utils.requirements_utils").setLevel(logging.ERROR)
        uri = self.start.uri
        self.client = MlflowClient(uri)
        if uri.startswith("sqlite:///"):
            self.client.search_experiments(max_results=1)  # creates the schema on first use
            # WAL lets `mlflow ui` read while a study writes, and makes each commit cheaper.
            with sqlite3.connect(uri[len("sqlite:///") :]) as con:
                con.execute("PRAGMA journal_mode=WAL")
        name = self.start.experiment
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
                    f"MLflow experiment {name!r} is deleted; restore it in the MLflow UI or use another study name"
                )
            self.experiment_id = experiment.experiment_id
        self.source_tags = source_tags()
        uid = self.start.study_uid
        found = self.client.search_runs([self.experiment_id], f"tags.`hpo.study_uid` = '{uid}'", max_results=1)
        if found:
            # A resumed study: reopen its parent run, end the children a crash left running --
            # unless other processes run the study now: then running children may be theirs
            # (ending one while its process writes its end would leave it KILLED).
            self.parent_run_id = found[0].info.run_id
            self.client.update_run(self.parent_run_id, status="RUNNING")
            if not self.start.shared:
                self.end_stale_children()
        else:
            tags = {"hpo.study_uid": uid, "hpo.role": "study", **self.source_tags, **self.start.tags}
            run = self.client.create_run(self.experiment_id, tags=tags, run_name=self.start.run_name)
            self.parent_run_id = run.info.run_id
            params = [Param(k, str(v)[:_MAX_PARAM]) for k, v in self.start.params.items()]
            self.client.log_batch(self.parent_run_id, params=params)
            if self.start.datasets:
                self.client.log_inputs(self.parent_run_id, datasets=[_dataset_input(c) for c in self.start.datasets])
            for artifact_file, text in self.start.texts.items():
                self.client.log_text(self.parent_run_id, text, artifact_file)

    def log_parent_metrics(self, metrics: list[Any]) -> None:
        self.client.log_batch(self.parent_run_id, metrics=metrics)

    def log_parent_artifact(self, path: str, artifact_path: str | None) -> None:
        self.client.log_artifact(self.parent_run_id, path, artifact_path)

    def log_parent_text(self, text: str, artifact_file: str) -> None:
        self.client.log_text(self.parent_run_id, text, artifact_file)

    def log_parent_folder(self, folder: str, artifact_path: str) -> None:
        self.client.log_artifacts(self.parent_run_id, folder, artifact_path)

    def log_test_score(self, test: dict[str, Any]) -> None:
        """The held-out test score (``hpo.Study.test_score``) as the metric ``test_<metric>``, at
        the step of the trial whose configuration was scored: a resumed study that finds a
        better one logs its score after it."""
        from mlflow.entities import Metric

        trial = test.get("trial")
        step = trial if isinstance(trial, int) and not isinstance(trial, bool) else 0
        metric = Metric(str(test["metric"]), float(test["value"]), now_ms(), step)
        self.client.log_batch(self.parent_run_id, metrics=[metric])

    def log_summary(self, status: str, summary: dict[str, Any]) -> None:
        """The study's counts as metrics; its status, best trial (linked both ways) and summary
        (the run's description on the MLflow UI's Overview page) as tags."""
        from mlflow.entities import Metric, RunTag

        now = now_ms()
        counts = summary.get("counts", {})
        metrics = [Metric(f"n_{state}", float(counts[state]), now, 0) for state in FINAL if state in counts]
        if summary.get("infeasible") is not None:  # with constraints: those never run or broken
            metrics.append(Metric("n_infeasible", float(summary["infeasible"]), now, 0))
        tags = [RunTag("hpo.status", status.lower())]
        note = summary.get("texts", {}).get("summary.md")
        if note:
            tags.append(RunTag("mlflow.note.content", note[:_MAX_TAG]))
        if summary.get("best_value") is not None:
            tags.append(RunTag("hpo.best_value", repr(summary["best_value"])))
        if summary.get("best_trial") is not None:  # with several objectives, the one select picked
            tags.append(RunTag("hpo.best_trial", str(summary["best_trial"])))
            best_run = self.mark_best(summary["best_trial"])
            if best_run is not None:
                tags.append(RunTag("hpo.best_run_id", best_run))
        if summary.get("pareto") is not None:
            self.mark_pareto(summary["pareto"])
            metrics.append(Metric("n_pareto", float(len(summary["pareto"])), now, 0))
            # The front's growth: the hypervolume after each trial, against the reference point.
            metrics += [Metric("hypervolume", value, now, step) for step, value in summary.get("hypervolume", ())]
            if summary.get("reference_point") is not None:
                point = ", ".join(f"{v:g}" for v in summary["reference_point"])
                tags.append(RunTag("hpo.reference_point", point))
        self.client.log_batch(self.parent_run_id, metrics, tags=tags)

    def mark_pareto(self, numbers: list[int]) -> None:
        """Tag the front's trial runs ``hpo.pareto=true`` (and no other, after a resume moved the
        front)."""
        members = set(numbers)
        for run in list(self.children("tags.`hpo.pareto` = 'true'")):
            if int(run.data.tags.get("hpo.trial_number", -1)) not in members:
                self.client.delete_tag(run.info.run_id, "hpo.pareto")
        for number in sorted(members):
            run_id = self.run_ids.get(number)
            if run_id is None:  # written by an earlier process: look it up
                found = list(self.children(f"tags.`hpo.trial_number` = '{number}'"))
                run_id = found[0].info.run_id if found else None
            if run_id is not None:
                self.client.set_tag(run_id, "hpo.pareto", "true")

    def mark_best(self, number: int) -> str | None:
        """Tag the best trial's run ``hpo.best=true`` (and no other, after a resume that found a
        better one); return its run id, or None when MLflow has no run for it."""
        run_id = self.run_ids.get(number)
        for run in list(self.children("tags.`hpo.best` = 'true'")):
            if run.info.run_id != run_id:
                self.client.delete_tag(run.info.run_id, "hpo.best")
        if run_id is None:  # written by an earlier process: look it up
            found = list(self.children(f"tags.`hpo.trial_number` = '{number}'"))
            run_id = found[0].info.run_id if found else None
        if run_id is not None:
            self.client.set_tag(run_id, "hpo.best", "true")
        return run_id

    def end_parent(self, status: str) -> None:
        self.client.set_terminated(self.parent_run_id, status)

    # -- trial runs ----------------------------------------------------------------------------

    def write_trial(self, rec: TrialRecord) -> None:
        """Bring a trial's run up to date. Resumable: a retry after a failure goes on from where
        the failed call left it (a run once created is reused, params logged once)."""
        from mlflow.entities import Param, RunTag

        end_tags = state_tags(rec.end[1], rec.end[3]) if rec.end else {}
        if rec.run_id is None:
            run_tags = {
                **self.source_tags,
                "mlflow.parentRunId": self.parent_run_id,
                "hpo.trial_number": str(rec.number),
                "hpo.study": self.start.experiment,
                "hpo.state": RUNNING,
                **end_tags,
            }
            run = self.client.create_run(
                self.experiment_id, start_time=rec.start_ms, tags=run_tags, run_name=f"trial-{rec.number}"
            )
            rec.run_id = self.run_ids[rec.number] = run.info.run_id
            end_tags = {}
        params = [] if rec.params_logged else [Param(k, str(v)[:_MAX_PARAM]) for k, v in rec.params.items()]
        tags = [RunTag(k, v[:_MAX_TAG]) for k, v in {**rec.tags, **end_tags}.items()]
        self.client.log_batch(rec.run_id, metrics=rec.metrics, params=params, tags=tags)
        rec.metrics, rec.params_logged, rec.tags = [], True, {}
        while rec.artifacts:
            path, artifact_path = rec.artifacts[0]
            self.client.log_artifact(rec.run_id, path, artifact_path)
            rec.artifacts.pop(0)
        if rec.end:
            self.client.set_terminated(rec.run_id, STATUS[rec.end[1]], rec.end[0])

    def delete_trial_run(self, number: int) -> None:
        """Delete the run of a trial (child_runs top_k: ranked out by better ones)."""
        run_id = self.run_ids.pop(number, None)
        if run_id is not None:
            self.client.delete_run(run_id)

    def children(self, condition: str = "") -> Iterator[Any]:
        """The parent's child runs (that also meet ``condition``), page by page."""
        query = f"tags.`mlflow.parentRunId` = '{self.parent_run_id}'" + (f" and {condition}" if condition else "")
        token = None
        while True:
            page = self.client.search_runs([self.experiment_id], query, page_token=token)
            yield from page
            token = page.token
            if not token:
                return

    def recorded_trials(self) -> dict[int, Any]:
        """The child runs under the parent, by trial number."""
        runs: dict[int, Any] = {}
        for run in self.children():
            number = run.data.tags.get("hpo.trial_number")
            if number is not None and number.isdigit():
                runs[int(number)] = run
        return runs

    def end_stale_children(self) -> None:
        """End as KILLED (interrupted) the trial runs a crash left running."""
        from mlflow.entities import RunTag

        tags = [RunTag(k, v) for k, v in state_tags(INTERRUPTED, None).items()]
        # Collected first: ending runs while paging through a "RUNNING" query would shift pages.
        for run in list(self.children("attributes.status = 'RUNNING'")):
            self.client.log_batch(run.info.run_id, tags=tags)
            self.client.set_terminated(run.info.run_id, "KILLED")

    def repair(
        self, run: Any, state: str, value: float | None, error: str | None, steps: dict[int, float], end_ms: int
    ) -> None:
        """Give a trial's run the end the study storage knows: status, tags, value, steps."""
        from mlflow.entities import Metric, RunTag

        run_id = run.info.run_id
        have = {m.step for m in self.client.get_metric_history(run_id, "intermediate_value")}
        metrics = [Metric("intermediate_value", v, end_ms, s) for s, v in steps.items() if s not in have]
        if value is not None:
            metrics.append(Metric("value", value, end_ms, 0))
        tags = state_tags(state, error)
        self.client.log_batch(run_id, metrics, tags=[RunTag(k, v) for k, v in tags.items()])
        if "hpo.fail_reason" in run.data.tags and "hpo.fail_reason" not in tags:
            self.client.delete_tag(run_id, "hpo.fail_reason")
        self.client.set_terminated(run_id, STATUS[state], end_ms)


def source_tags() -> dict[str, str]:
    """MLflow's own source tags (``mlflow.source.name``/``type``, ``mlflow.user``, the git commit)
    for the user's script or config: the writer set ``sys.argv[0]`` to it, which is what MLflow's
    context providers read (also for the logged model)."""
    from mlflow.tracking.context.registry import resolve_tags

    return {k: str(v) for k, v in resolve_tags().items() if k.startswith(("mlflow.source.", "mlflow.user"))}


def _dataset_input(card: dict[str, str]) -> Any:
    """A dataset card (``hpo.trainers._provenance``) as MLflow's ``DatasetInput``."""
    from mlflow.entities import Dataset, DatasetInput, InputTag

    fields = {k: v for k, v in card.items() if k != "context"}
    return DatasetInput(Dataset(**fields), tags=[InputTag("mlflow.data.context", card.get("context", "training"))])
