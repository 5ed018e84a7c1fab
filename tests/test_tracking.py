"""MLflow tracking: one parent run, one nested child per trial, states, steps, artifacts."""

from __future__ import annotations

import csv
import subprocess
import sys
import time

import pytest

import hpo
from hpo import ConfigError, TrackingError
from hpo._plots import PLOTS
from tests.conftest import hpo_env, study_runs

SPACE = {"x": {"float": [0.0, 10.0]}, "n": {"int": [1, 3]}}


def objective(params, trial):
    if params["n"] == 3 and params["x"] > 7:
        raise ValueError("x too large for n=3")
    for step in range(4):
        trial.report(params["x"] + step, step)
    trial.log_metrics({"extra": params["x"] * 2}, step=0)
    return params["x"]


def test_parent_and_exactly_n_children(tracking_uri, mlflow_client):
    study = hpo.tune(
        objective,
        SPACE,
        n_trials=20,
        seed=0,
        searcher="random",
        pruner={"name": "median", "n_startup_trials": 3},
        study_name="tracked",
        tracking=tracking_uri,
        plots=True,
    )
    parents, children = study_runs(mlflow_client, "tracked")
    assert len(parents) == 1 and len(children) == 20
    parent = parents[0]
    assert parent.info.run_id == study.mlflow_run_id
    assert parent.info.status == "FINISHED"
    assert parent.data.params["searcher"] == "random"
    assert parent.data.params["pruner"] == "median"
    assert parent.data.params["seed"] == "0"
    assert parent.data.params["n_trials"] == "20"
    assert parent.data.params["space.x"].startswith("Float(low=0.0, high=10.0")
    assert parent.data.metrics["best_value"] == pytest.approx(study.best_value)
    artifacts = {a.path for a in mlflow_client.list_artifacts(parent.info.run_id)}
    assert {"space.yaml", "best_params.yaml", "summary.md", "trials.csv", "plots"} <= artifacts
    plots = {a.path for a in mlflow_client.list_artifacts(parent.info.run_id, "plots")}
    assert plots == {f"plots/{p}.{ext}" for p in PLOTS if p != "pareto" for ext in ("html", "png")}  # one objective
    # The UI's chart of progress: the best value so far, at the step of each trial that improved it.
    improved, best_so_far = [], float("inf")
    for t in study.trials:
        if t.state.name == "COMPLETE" and t.value < best_so_far:
            best_so_far = t.value
            improved.append((t.number, pytest.approx(t.value)))
    history = mlflow_client.get_metric_history(parent.info.run_id, "best_value")
    assert sorted((m.step, m.value) for m in history) == improved and len(improved) > 1
    folder = mlflow_client.download_artifacts(parent.info.run_id, "", str(tracking_uri.split("///")[1] + ".artifacts"))
    with open(f"{folder}/trials.csv") as file:
        rows = list(csv.DictReader(file))
    assert [int(r["number"]) for r in rows] == [t.number for t in study.trials]
    assert [r["state"] for r in rows] == [hpo._study.trial_state(t) for t in study.trials]
    summary = open(f"{folder}/summary.md").read()
    assert f"**Best value**: {study.best_value:.6g} (trial {study.best_trial.number})" in summary
    counts = study.counts()
    assert f"{counts['complete']} complete" in summary and f"{counts['pruned']} pruned" in summary
    if counts["pruned"]:  # 4 steps per complete trial; what the pruned ones did not run
        pruned = [t for t in study.trials if t.state.name == "PRUNED"]
        saved = 4 * len(pruned) - sum(len(t.intermediate_values) for t in pruned)
        assert f"{saved} steps saved" in summary

    by_number = {int(r.data.tags["hpo.trial_number"]): r for r in children}
    assert sorted(by_number) == list(range(20))
    states = {"COMPLETE": "complete", "PRUNED": "pruned", "FAIL": "failed"}
    seen_states = set()
    for trial in study.trials:
        run = by_number[trial.number]
        state = states[trial.state.name]
        seen_states.add(state)
        assert run.data.tags["hpo.state"] == state
        assert run.data.tags["mlflow.parentRunId"] == parent.info.run_id
        assert run.info.status == ("FAILED" if state == "failed" else "FINISHED")
        assert run.data.params == {"x": str(trial.params["x"]), "n": str(trial.params["n"])}
        assert run.info.end_time >= run.info.start_time  # the UI's Duration column
        if state == "failed":
            assert run.data.tags["hpo.error"] == "ValueError: x too large for n=3"
            continue
        history = mlflow_client.get_metric_history(run.info.run_id, "intermediate_value")
        assert sorted((m.step, m.value) for m in history) == sorted(trial.intermediate_values.items())
        if state == "complete":
            assert run.data.metrics["value"] == pytest.approx(trial.value)
            assert run.data.metrics["extra"] == pytest.approx(trial.params["x"] * 2)
    assert seen_states == {"complete", "pruned", "failed"}


def test_tracking_off_writes_nothing(workdir):
    hpo.tune(lambda p: p["x"], SPACE, n_trials=3, tracking=None)
    assert list(workdir.iterdir()) == []


def test_default_store_is_sqlite_in_the_working_directory(workdir):
    study = hpo.tune(lambda p: p["x"], SPACE, n_trials=2, study_name="default-store")
    assert study.tracking_uri == f"sqlite:///{workdir / 'mlflow.db'}"
    assert (workdir / "mlflow.db").is_file()


def test_mlflow_tracking_uri_is_respected(workdir, tracking_uri, monkeypatch):
    other = workdir / "mlflow.db"
    (workdir / "other.db").write_bytes(other.read_bytes())
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{workdir / 'other.db'}")
    study = hpo.tune(lambda p: p["x"], SPACE, n_trials=2, study_name="env-store")
    assert study.tracking_uri == f"sqlite:///{workdir / 'other.db'}"
    from mlflow import MlflowClient

    assert MlflowClient(study.tracking_uri).get_experiment_by_name("env-store") is not None
    assert MlflowClient(tracking_uri).get_experiment_by_name("env-store") is None


def test_artifacts_logged_by_a_trial_land_in_its_run(tracking_uri, mlflow_client, workdir):
    def objective(params, trial):
        path = workdir / f"model-{trial.number}.txt"
        path.write_text(f"x={params['x']}")
        trial.log_artifact(str(path), "model")
        return params["x"]

    hpo.tune(objective, SPACE, n_trials=2, study_name="artifacts", tracking=tracking_uri)
    _, children = study_runs(mlflow_client, "artifacts")
    for run in children:
        number = run.data.tags["hpo.trial_number"]
        files = [a.path for a in mlflow_client.list_artifacts(run.info.run_id, "model")]
        assert files == [f"model/model-{number}.txt"]


def test_unreachable_server_is_a_clear_error_before_any_trial(workdir):
    calls = []
    with pytest.raises(TrackingError, match=r"cannot reach the MLflow server at 'http://127.0.0.1:9'"):
        hpo.tune(lambda p: calls.append(p) or 0.0, SPACE, n_trials=2, tracking="http://127.0.0.1:9")
    assert calls == []
    with pytest.raises(TrackingError, match="does not exist"):
        hpo.tune(lambda p: 0.0, SPACE, n_trials=2, tracking=f"sqlite:///{workdir}/missing/m.db")
    with pytest.raises(ConfigError, match="MLflow 3 refuses its old file store"):
        hpo.tune(lambda p: 0.0, SPACE, n_trials=2, tracking="file:///tmp/mlruns")


KILLED_DRIVER = """
import os, signal, sys
from pathlib import Path
import hpo

def objective(params, trial):
    trial.report(params["x"], 0)
    if trial.number == 4 and not Path("killed-once").exists():
        Path("killed-once").touch()
        os.kill(os.getpid(), signal.SIGKILL)   # the driver dies mid-trial, no cleanup at all
    return params["x"]

hpo.tune(objective, {"x": {"float": [0, 1]}}, n_trials=10, study_name="killed",
         tracking=sys.argv[1], storage="killed.journal", pruner="none")
"""


def test_driver_killed_writer_ends_every_run(tracking_uri, mlflow_client, workdir):
    (workdir / "killed.py").write_text(KILLED_DRIVER)
    proc = subprocess.run([sys.executable, "killed.py", tracking_uri], env=hpo_env(), capture_output=True, timeout=120)
    assert proc.returncode == -9
    deadline = time.monotonic() + 60
    while True:  # the writer finishes on its own after the driver is gone
        parents, children = (
            study_runs(mlflow_client, "killed") if mlflow_client.get_experiment_by_name("killed") else ([], [])
        )
        if parents and parents[0].info.status != "RUNNING":
            break
        assert time.monotonic() < deadline, "the writer did not end the parent run"
        time.sleep(0.5)
    assert parents[0].info.status == "KILLED"
    assert all(r.info.status in ("FINISHED", "KILLED") for r in children)
    # Events still queued in the killed driver are lost with it. Whatever reached the writer is
    # final: FINISHED where the trial's end arrived, KILLED where only its start did.
    by_number = {r.data.tags["hpo.trial_number"]: r for r in children}
    assert set(by_number) <= {"0", "1", "2", "3", "4"}
    for run in by_number.values():
        expected = ("FINISHED", "complete") if run.info.status == "FINISHED" else ("KILLED", "failed")
        assert (run.info.status, run.data.tags["hpo.state"]) == expected

    # The resume reconciles MLflow with the study storage: every trial has its run.
    resumed = subprocess.run(
        [sys.executable, "killed.py", tracking_uri], env=hpo_env(), capture_output=True, timeout=120
    )
    assert resumed.returncode == 0, resumed.stderr
    parents, children = study_runs(mlflow_client, "killed")
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    by_number = {int(r.data.tags["hpo.trial_number"]): r for r in children}
    assert sorted(by_number) == list(range(11))  # 10 ended on their own + the interrupted one
    assert by_number[4].info.status == "KILLED"
    assert by_number[4].data.tags["hpo.fail_reason"] == "interrupted"
    assert by_number[4].data.tags["hpo.state"] == "failed"
    for number in range(4):  # complete in the storage, so complete in MLflow, repaired if need be
        run = by_number[number]
        assert run.info.status == "FINISHED" and run.data.tags["hpo.state"] == "complete"
        assert "hpo.fail_reason" not in run.data.tags
        assert "value" in run.data.metrics and "x" in run.data.params
        steps = mlflow_client.get_metric_history(run.info.run_id, "intermediate_value")
        assert [(m.step, m.value) for m in steps] == [(0, float(run.data.params["x"]))]


def test_resume_makes_mlflow_agree_with_the_study_storage(tracking_uri, mlflow_client, workdir):
    def objective(params, trial):
        trial.report(params["x"], 0)
        return params["x"]

    kwargs = dict(
        n_trials=4, storage=str(workdir / "s.journal"), study_name="agree", tracking=tracking_uri, pruner="none"
    )
    study = hpo.tune(objective, {"x": {"float": [0, 1]}}, **kwargs)
    _, children = study_runs(mlflow_client, "agree")
    by_number = {int(r.data.tags["hpo.trial_number"]): r for r in children}
    # As a killed driver leaves it: trial 1's end never arrived (the writer ended it KILLED),
    # trial 2's run never existed.
    mlflow_client.set_tag(by_number[1].info.run_id, "hpo.state", "failed")
    mlflow_client.set_tag(by_number[1].info.run_id, "hpo.fail_reason", "interrupted")
    mlflow_client.set_terminated(by_number[1].info.run_id, "KILLED")
    mlflow_client.delete_run(by_number[2].info.run_id)

    again = hpo.tune(objective, {"x": {"float": [0, 1]}}, **kwargs)  # nothing left to run
    assert len(again.trials) == 4
    _, children = study_runs(mlflow_client, "agree")
    by_number = {int(r.data.tags["hpo.trial_number"]): r for r in children}
    assert sorted(by_number) == [0, 1, 2, 3]
    for trial in study.trials:
        run = by_number[trial.number]
        assert (run.info.status, run.data.tags["hpo.state"]) == ("FINISHED", "complete")
        assert "hpo.fail_reason" not in run.data.tags
        assert run.data.metrics["value"] == pytest.approx(trial.value)
        history = mlflow_client.get_metric_history(run.info.run_id, "intermediate_value")
        assert [(m.step, m.value) for m in history] == [(0, pytest.approx(trial.params["x"]))]


def test_a_writer_that_cannot_open_the_store_ends_the_study_with_its_error(tracking_uri, mlflow_client):
    # A deleted experiment of the study's name: the writer refuses it and exits. The study must
    # stop with that error (not hang waiting for the writer's end, already read by check()).
    import time

    mlflow_client.delete_experiment(mlflow_client.create_experiment("gone"))

    def objective(params):
        time.sleep(0.2)
        return params["x"]

    with pytest.raises(
        TrackingError,
        match=r"MLflow experiment 'gone' is deleted; restore it in the MLflow UI or use another study name",
    ):
        hpo.tune(objective, SPACE, n_trials=60, study_name="gone", tracking=tracking_uri)


PROVENANCE_SCRIPT = """
import sys
import hpo
from sklearn.datasets import load_wine
from sklearn.linear_model import LogisticRegression
from hpo.trainers import SklearnTrainer

X, y = load_wine(return_X_y=True, as_frame=True)
trainer = SklearnTrainer(LogisticRegression(max_iter=2000), X, y, cv=3)
study = hpo.tune(trainer, {"C": hpo.Float(0.01, 10, log=True)}, n_trials=3, seed=0, study_name="prov",
                 tracking=sys.argv[1], plots=False)
print(study.mlflow_run_id, study.best_trial.number)
"""


def test_a_study_run_says_where_it_came_from_and_links_its_best_trial(tmp_path, tracking_uri, mlflow_client):
    """Provenance in MLflow: the user's script and git commit as source, the trainer's settings
    as params, the dataset as input, the best trial linked both ways, the summary as note."""
    import mlflow

    git = ["git", "-c", "user.email=t@example.com", "-c", "user.name=t"]
    (tmp_path / "tune_wine.py").write_text(PROVENANCE_SCRIPT)
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    subprocess.run([*git, "add", "tune_wine.py"], cwd=tmp_path, check=True)
    subprocess.run([*git, "commit", "-qm", "wine"], cwd=tmp_path, check=True)
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=tmp_path, capture_output=True, text=True).stdout.strip()
    done = subprocess.run(
        [sys.executable, "tune_wine.py", tracking_uri], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    run_id, best_number = done.stdout.split()
    script = str((tmp_path / "tune_wine.py").resolve())
    parents, children = study_runs(mlflow_client, "prov")
    (parent,) = parents
    assert parent.info.run_id == run_id
    for run in (parent, *children):
        assert run.data.tags["mlflow.source.name"] == script
        assert run.data.tags["mlflow.source.git.commit"] == commit
        assert run.data.tags["mlflow.user"]
    params = parent.data.params
    assert params["trainer.estimator"] == "sklearn.linear_model._logistic.LogisticRegression"
    assert params["trainer.estimator.repr"] == "LogisticRegression(max_iter=2000)"
    assert "trainer.scoring" not in params  # the estimator's own score: accuracy
    assert params["trainer.metric"] == "accuracy" and parent.data.tags["hpo.metric"] == "accuracy"
    assert params["trainer.cv"].startswith("StratifiedKFold(n_splits=3")
    assert (params["trainer.data.rows"], params["trainer.data.features"]) == ("178", "13")
    assert parent.data.metrics["best_accuracy"] == parent.data.metrics["best_value"]
    (dataset,) = parent.inputs.dataset_inputs
    assert dataset.dataset.name == "data" and len(dataset.dataset.digest) == 12
    assert '"name": "alcohol"' in dataset.dataset.schema and dataset.tags[0].value == "training"
    best = [r for r in children if r.data.tags.get("hpo.best") == "true"]
    assert [r.data.tags["hpo.trial_number"] for r in best] == [best_number]
    assert parent.data.tags["hpo.best_run_id"] == best[0].info.run_id
    assert parent.data.tags["mlflow.note.content"].startswith("# Study prov\n\n- **Best value**")
    (model,) = mlflow.search_logged_models(experiment_ids=[parent.info.experiment_id], output_format="list")
    assert model.tags["mlflow.source.name"] == script and model.tags["mlflow.source.git.commit"] == commit
    assert model.params["C"] == best[0].data.params["C"]


@pytest.mark.parametrize("child_runs", [{"top_k": 3}, "none"])
def test_fewer_child_runs_keep_the_best_and_the_study_run_keeps_every_value(tracking_uri, mlflow_client, child_runs):
    def objective(params, trial):
        trial.report(params["x"], 0)
        if trial.number in (2, 7):
            raise hpo.TrialPruned()  # (pruned trials rank nowhere)
        trial.log_metrics({"twice": 2 * params["x"]})
        return params["x"] ** 2

    study = hpo.tune(
        objective,
        {"x": hpo.Float(-3, 3)},
        n_trials=14,
        seed=1,
        study_name="fewer",
        tracking=tracking_uri,
        pruner="none",
        child_runs=child_runs,
    )
    complete = sorted((t.value, t.number) for t in study.trials if t.state.name == "COMPLETE")
    assert len(complete) == 12
    parents, children = study_runs(mlflow_client, "fewer")  # deleted runs are not listed
    kept = sorted(int(r.data.tags["hpo.trial_number"]) for r in children)
    assert kept == (sorted(n for _, n in complete[:3]) if child_runs != "none" else [])
    for run in children:  # a kept run has everything its trial logged
        assert run.info.status == "FINISHED"
        assert run.data.metrics["twice"] == pytest.approx(2 * float(run.data.params["x"]))
    (parent,) = parents
    assert parent.info.status == "FINISHED"
    values = mlflow_client.get_metric_history(parent.info.run_id, "trial_value")
    assert sorted((m.step, m.value) for m in values) == sorted((n, v) for v, n in complete)
    artifacts = {a.path for a in mlflow_client.list_artifacts(parent.info.run_id)}
    assert {"trials.csv", "summary.md"} <= artifacts


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("some", "child_runs: expected all, none or {top_k: N}, got 'some'"),
        ({"top_k": 0}, "child_runs.top_k: expected a positive integer, got 0"),
        ({"top": 3}, "child_runs: unknown key 'top'"),
    ],
)
def test_bad_child_runs(value, message):
    with pytest.raises(ConfigError) as info:
        hpo.tune(lambda p: 0.0, {"x": hpo.Float(0, 1)}, n_trials=1, tracking=None, child_runs=value)
    assert str(info.value).startswith(message)
