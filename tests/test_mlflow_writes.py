"""The MLflow calls of the writer (hpo._mlflow_writes), on a real sqlite store."""

from __future__ import annotations

from hpo import _wire as wire
from hpo._mlflow_writes import StudyStore, TrialRecord, now_ms


def _store(uri: str, *, shared: bool) -> StudyStore:
    start = wire.Start(
        uri=uri, experiment="joined", study_uid="uid-1", run_name="joined", params={}, tags={}, texts={}, shared=shared
    )
    store = StudyStore(start)
    store.open()
    return store


def test_a_process_joining_a_running_study_leaves_its_trial_runs_alone(tracking_uri, mlflow_client):
    """Another live process's running trial is not a crash's: ending it would race its own end
    (it was seen ending FINISHED, then KILLED by the joiner, in the two-process test)."""
    first = _store(tracking_uri, shared=False)
    record = TrialRecord(0, now_ms(), {"x": 0.5})
    first.write_trial(record)
    assert mlflow_client.get_run(record.run_id).info.status == "RUNNING"

    joiner = _store(tracking_uri, shared=True)
    assert joiner.parent_run_id == first.parent_run_id
    assert mlflow_client.get_run(record.run_id).info.status == "RUNNING"

    _store(tracking_uri, shared=False)  # a resume with nobody else: a crash left it running
    run = mlflow_client.get_run(record.run_id)
    assert run.info.status == "KILLED" and run.data.tags["hpo.fail_reason"] == "interrupted"
