"""The writer process on a real ``mlflow server`` that goes away at the end of a study: the
study run's own writes (an artifact and a model from ``on_study_end``, the summary artifacts,
the plots, the final status) are buffered and retried like trial records, and named when they
cannot be made, for ``hpo sync``."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from tests.conftest import hpo_env, study_runs

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
    proc = spawn([sys.executable, "-m", "hpo", "run", f"{name}.yaml", "--quiet"], cwd=workdir,
                 env=hpo_env(HPO_TRACKING_RETRY_S=str(retry_s)))
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
    time.sleep(2.0)  # the writer meets the store away with the study run's writes pending
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
    synced = subprocess.run([sys.executable, "-m", "hpo", "sync", "parent-gone"], cwd=workdir, env=hpo_env(),
                            capture_output=True, text=True, timeout=300)
    assert synced.returncode == 0, synced.stderr[-3000:]
    client = MlflowClient(server.uri)
    parents, children = study_runs(client, "parent-gone")
    assert len(parents) == 1 and parents[0].info.status == "FINISHED" and len(children) == 6
    names = {a.path for a in client.list_artifacts(parents[0].info.run_id)}
    assert {"summary.md", "trials.csv", "best_params.yaml"} <= names, names
