"""The writer process (buffering and retry) on a real ``mlflow server`` that goes away: stopped
mid-study, records are buffered and retried and the study goes on; at the end of a study, the
study run's own writes (an artifact and a model from ``on_study_end``, the summary artifacts, the
plots, the final status) are retried like trial records; what MLflow still lacks at the end is
named, and replayed by ``hpo sync``."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time

import optuna
import pytest

from hpo._storage import open_storage
from tests.conftest import hpo_cli, hpo_env, study_runs

OBJECTIVE = """
import os, time
from pathlib import Path


class Quadratic:
    direction = "minimize"
    model_flavor = "sklearn"

    def __call__(self, params, trial):
        trial.report(params["x"], 0)
        return (params["x"] - 0.3) ** 2

    def on_study_end(self, study, run):
        # The test stops the tracking server now, before the study run's own writes.
        Path("ended").touch()
        deadline = time.time() + 120
        while not Path("down").exists() and time.time() < deadline:
            time.sleep(0.05)
        Path("note.txt").write_text("best x " + str(study.best_params["x"]))
        run.log_artifact("note.txt")
        from sklearn.linear_model import LinearRegression
        import numpy as np
        X = np.arange(6.0).reshape(3, 2)
        run.log_model("sklearn", LinearRegression().fit(X, [0.0, 1.0, 2.0]), input_example=X)


objective = Quadratic()
"""

CONFIG = """
name: {name}
objective: parent_objective:objective
space: {{x: {{float: [0, 1]}}}}
n_trials: 6
searcher: random
pruner: none
seed: 0
plots: {plots}
tracking: {uri}
"""


@pytest.fixture
def server(mlflow_servers):
    server = mlflow_servers()  # stopped when the test ends, failed or not
    server.start()
    return server


def _run_until_study_end(spawn, workdir, server, name, retry_s, plots):
    (workdir / "parent_objective.py").write_text(OBJECTIVE)
    (workdir / f"{name}.yaml").write_text(CONFIG.format(name=name, uri=server.uri, plots=plots))
    for marker in ("ended", "down"):
        (workdir / marker).unlink(missing_ok=True)
    proc = spawn(
        [sys.executable, "-m", "hpo", "run", f"{name}.yaml", "--quiet"],
        cwd=workdir,
        env=hpo_env(HPO_TRACKING_RETRY_S=str(retry_s)),
    )
    deadline = time.monotonic() + 240
    while not (workdir / "ended").exists():
        assert proc.poll() is None, proc.communicate()[1][-3000:]
        assert time.monotonic() < deadline, "the study never reached on_study_end"
        time.sleep(0.1)
    server.stop()
    (workdir / "down").touch()
    return proc


def test_study_run_writes_are_retried_through_an_outage(workdir, server, spawn):
    from mlflow import MlflowClient

    proc = _run_until_study_end(spawn, workdir, server, "parent-back", retry_s=120, plots="true")
    # The writer meets the store away with the study run's writes pending. (The driver prints
    # the writer's warnings at the end, so the outage is timed: 2 s was too short for a writer
    # on a busy machine to reach those writes before the store came back.)
    time.sleep(6.0)
    server.start()
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err[-3000:]
    assert "MLflow unreachable" in err and "MLflow reachable again" in err and "hpo sync" not in err
    client = MlflowClient(server.uri)
    parents, children = study_runs(client, "parent-back")
    assert len(parents) == 1 and parents[0].info.status == "FINISHED" and len(children) == 6
    run_id = parents[0].info.run_id
    names = {a.path for a in client.list_artifacts(run_id)}
    assert {"note.txt", "summary.md", "trials.csv", "best_params.yaml", "plots", "space.yaml"} <= names, names
    assert [a.path for a in client.list_artifacts(run_id, "plots")]
    assert parents[0].data.tags["hpo.status"] == "finished" and "n_complete" in parents[0].data.metrics
    import mlflow

    mlflow.set_tracking_uri(server.uri)
    model = mlflow.sklearn.load_model(f"runs:/{run_id}/model")
    assert model.predict([[0.0, 1.0]]).shape == (1,)


def test_study_run_writes_lost_for_good_are_named_and_synced(workdir, server, spawn):
    from mlflow import MlflowClient

    proc = _run_until_study_end(spawn, workdir, server, "parent-gone", retry_s=1, plots="false")
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err[-3000:]
    lacks = [line for line in err.splitlines() if line.startswith("warning: MLflow lacks")]
    assert len(lacks) == 1, err[-3000:]
    for what in ("artifact note.txt", "model", "summary.md", "trials.csv", "best_params.yaml", "status"):
        assert what in lacks[0], lacks[0]
    assert lacks[0].endswith("run: hpo sync parent-gone")

    server.start()
    synced = hpo_cli("sync", "parent-gone", cwd=workdir, timeout=300)
    assert synced.returncode == 0, synced.stderr[-3000:]
    client = MlflowClient(server.uri)
    parents, children = study_runs(client, "parent-gone")
    assert len(parents) == 1 and parents[0].info.status == "FINISHED" and len(children) == 6
    names = {a.path for a in client.list_artifacts(parents[0].info.run_id)}
    assert {"summary.md", "trials.csv", "best_params.yaml"} <= names, names


OUTAGE_OBJECTIVE = """
import time

def steps(params, trial):
    for step in range(3):
        trial.report(params["x"] + step, step)
    time.sleep(0.25)
    return params["x"]
"""

OUTAGE_CONFIG = """
name: outage
objective: outage_objective:steps
space: {{x: {{float: [0, 1]}}}}
n_trials: 40
searcher: random
pruner: none
seed: 0
tracking: {uri}
"""


def _ended(workdir) -> int:
    with contextlib.suppress(KeyError, FileNotFoundError):
        study = optuna.load_study(
            study_name="outage", storage=open_storage(workdir / ".hpo" / "outage" / "study.journal")
        )
        return sum(t.state.name in ("COMPLETE", "PRUNED", "FAIL") for t in study.trials)
    return 0


def _wait_for(proc, workdir, ended):
    while _ended(workdir) < ended:
        assert proc.poll() is None, proc.communicate()[1][-3000:]
        time.sleep(0.2)


def test_server_stopped_mid_study(workdir, mlflow_servers, spawn):
    from mlflow import MlflowClient

    server = mlflow_servers()  # stopped at the end, also on failure, like the hpo processes
    server.start()
    (workdir / "outage_objective.py").write_text(OUTAGE_OBJECTIVE)
    (workdir / "outage.yaml").write_text(OUTAGE_CONFIG.format(uri=server.uri))

    # 1. Stopped and started again while the study runs: nothing is lost.
    hpo = [sys.executable, "-m", "hpo"]
    proc = spawn([*hpo, "run", "outage.yaml", "--quiet"], cwd=workdir, env=hpo_env(HPO_TRACKING_RETRY_S="120"))
    _wait_for(proc, workdir, 5)
    client = MlflowClient(server.uri)
    while not client.search_experiments(filter_string="name = 'outage'"):  # the writer is in
        time.sleep(0.2)
    server.stop()
    down_at = _ended(workdir)
    time.sleep(1.0)
    server.start()  # seconds of start-up, while trials go on
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err[-3000:]
    assert _ended(workdir) - down_at >= 3, "the study did not go on while the server was down"
    assert "MLflow unreachable" in err and "MLflow reachable again" in err
    assert "hpo sync" not in err

    parents, children = study_runs(client, "outage")
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    assert sorted(int(r.data.tags["hpo.trial_number"]) for r in children) == list(range(40))
    assert all(r.info.status == "FINISHED" for r in children)
    for run in children:  # every step metric, once
        assert [m.step for m in client.get_metric_history(run.info.run_id, "intermediate_value")] == [0, 1, 2]

    # 2. Stopped for good: the study still finishes, says what MLflow lacks; `hpo sync` replays it.
    proc = spawn(
        [*hpo, "resume", "outage", "--trials", "50", "--quiet"], cwd=workdir, env=hpo_env(HPO_TRACKING_RETRY_S="1")
    )
    _wait_for(proc, workdir, 42)
    server.stop()
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err[-3000:]
    assert "run: hpo sync outage" in err and "Traceback" not in err
    server.start()
    synced = subprocess.run(
        [*hpo, "sync", "outage"], cwd=workdir, env=hpo_env(), capture_output=True, text=True, timeout=300
    )
    assert synced.returncode == 0, synced.stderr[-3000:]
    parents, children = study_runs(client, "outage")
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    assert sorted(int(r.data.tags["hpo.trial_number"]) for r in children) == list(range(50))
    assert all(r.info.status == "FINISHED" for r in children)
    for run in children:
        assert len(client.get_metric_history(run.info.run_id, "intermediate_value")) == 3
