"""A real ``mlflow server`` stopped mid-study: records are buffered and retried, the study goes
on, and what MLflow still lacks at the end is replayed by ``hpo sync``."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time

import optuna

from hpo._storage import open_storage
from tests.conftest import hpo_env, study_runs

OBJECTIVE = """
import time

def steps(params, trial):
    for step in range(3):
        trial.report(params["x"] + step, step)
    time.sleep(0.25)
    return params["x"]
"""

CONFIG = """
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
        study = optuna.load_study(study_name="outage", storage=open_storage(workdir / ".hpo" / "outage" / "study.journal"))
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
    (workdir / "outage_objective.py").write_text(OBJECTIVE)
    (workdir / "outage.yaml").write_text(CONFIG.format(uri=server.uri))

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
    proc = spawn([*hpo, "resume", "outage", "--trials", "50", "--quiet"], cwd=workdir,
                 env=hpo_env(HPO_TRACKING_RETRY_S="1"))
    _wait_for(proc, workdir, 42)
    server.stop()
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err[-3000:]
    assert "run: hpo sync outage" in err and "Traceback" not in err
    server.start()
    synced = subprocess.run([*hpo, "sync", "outage"], cwd=workdir, env=hpo_env(), capture_output=True, text=True,
                            timeout=300)
    assert synced.returncode == 0, synced.stderr[-3000:]
    parents, children = study_runs(client, "outage")
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    assert sorted(int(r.data.tags["hpo.trial_number"]) for r in children) == list(range(50))
    assert all(r.info.status == "FINISHED" for r in children)
    for run in children:
        assert len(client.get_metric_history(run.info.run_id, "intermediate_value")) == 3
