"""The deployment of docs/cluster.md, run as written, on loopback: PostgreSQL (the study storage
and MLflow's store), an ``mlflow server`` serving the artifacts, a Ray head and a worker node
started with ``ray start`` as separate processes, and ``hpo run``. The commands come from the
page itself (only addresses, ports, folders and secrets are replaced), so it cannot drift."""

from __future__ import annotations

import json
import os
import re
import secrets
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import optuna
import pytest

import hpo
from tests._servers import wait_for_port
from tests.conftest import PG_BIN, PG_PASSWORD, descendants, free_port, hpo_env, study_runs

pytest.importorskip("ray")

DOC = Path(__file__).resolve().parent.parent / "docs" / "cluster.md"

OBJECTIVE = """
import json, os, time
from pathlib import Path

import ray
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

from hpo.trainers import SklearnTrainer


class NodeTrainer(SklearnTrainer):
    # The scikit-learn trainer; each trial also records the Ray node it ran on and logs a file.
    def __call__(self, params, trial):
        node = ray.get_runtime_context().get_node_id()
        trial.set_user_attr("node", node)
        note = Path(f"/tmp/hpo-cluster-{os.getpid()}-{trial.number}.txt")
        note.write_text(node)
        trial.log_artifact(str(note))
        note.unlink()
        # What the test asks (the workers do not have the driver's environment).
        settings = Path(__file__).with_name("settings.json")
        asked = json.loads(settings.read_text()) if settings.exists() else {}
        if node == asked.get("worker_node"):
            Path(asked["marker"]).write_text(str(trial.number))  # on the worker node: the test kills it
        time.sleep(asked.get("sleep", 0.3))
        return super().__call__(params, trial)


X, y = load_iris(return_X_y=True)
trainer = NodeTrainer(LogisticRegression(max_iter=200), X, y, cv=3)
"""

STUDY = """
name: {name}
objective: cluster_objective:trainer
space:
  C: {{float: [0.01, 10.0], log: true}}
n_trials: {n_trials}
seed: 0
pruner: none
{deployment}
"""


def _doc_commands() -> tuple[dict[str, str], list[str], str]:
    """The page's ``export`` variables, its other shell commands, and its study.yaml lines."""
    text = DOC.read_text()
    env: dict[str, str] = {}
    commands: list[str] = []
    for block in re.findall(r"```bash\n(.*?)```", text, re.S):
        for line in block.splitlines():
            line = line.split("#", 1)[0].strip()
            if line.startswith("export "):
                for name, value in re.findall(r"(\w+)=(\$\([^)]*\)|\S+)", line[len("export ") :]):
                    env[name] = value
            elif line:
                commands.append(line)
    (yaml,) = re.findall(r"```yaml\n(executor:.*?)```", text, re.S)
    return env, commands, yaml


def _one(commands: list[str], start: str) -> list[str]:
    found = [c for c in commands if c.startswith(start)]
    assert len(found) == 1, f"docs/cluster.md: expected one command starting {start!r}, found {found}"
    return shlex.split(found[0])


def test_the_documented_two_node_deployment_runs_and_survives_losing_the_worker(tmp_path, postgres, spawn):
    doc_env, commands, yaml = _doc_commands()
    head_port, mlflow_port = free_port(), free_port()
    artifacts = tmp_path / "mlflow-artifacts"
    project = tmp_path / "project"
    project.mkdir()
    (project / "cluster_objective.py").write_text(OBJECTIVE)
    # What differs on loopback: addresses, ports, folders, secrets. Each must be on the page.
    values = {
        "HEAD": "127.0.0.1",
        "WORKER": "127.0.0.2",  # loopback too: each node an address of its own, as two machines
        "PGPASSWORD": PG_PASSWORD,
        "RAY_AUTH_TOKEN": secrets.token_hex(16),
        "PYTHONPATH": str(project),
    }
    assert set(values) | {"RAY_AUTH_MODE"} == set(doc_env), doc_env
    env = hpo_env(**{**values, "RAY_AUTH_MODE": doc_env["RAY_AUTH_MODE"], "HPO_PLOTS": "1"})
    env["PYTHONPATH"] = os.pathsep.join([str(project), env.get("PYTHONPATH", "")])
    replace = {
        "$HEAD": "127.0.0.1",
        "$WORKER": "127.0.0.2",
        "$PGPASSWORD": PG_PASSWORD,
        "6379": str(head_port),
        "5000": str(mlflow_port),
        "5432": str(postgres.port),
        "/srv/mlflow-artifacts": str(artifacts),
        "10.0.0.1": "127.0.0.1",
        "change-me": PG_PASSWORD,
    }

    def local(args: list[str]) -> list[str]:
        out = []
        for arg in args:
            for old, new in replace.items():
                arg = arg.replace(old, new)
            out.append(arg)
        return out

    ray_cli = str(Path(sys.executable).parent / "ray")
    for command in [c for c in commands if c.startswith("createdb ")]:
        subprocess.run([str(PG_BIN / "createdb"), *local(shlex.split(command))[1:]], env=env, check=True, timeout=60)

    server = local(_one(commands, "mlflow server"))
    quiet = {"env": {**env, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}, "stdout": subprocess.DEVNULL}
    mlflow_proc = spawn([sys.executable, "-m", "mlflow", *server[1:]], **quiet)

    # Test-only flags: in the foreground (ended with the test), a temp folder per node (Ray's
    # unix sockets: short paths), 1 CPU each (one trial per node at a time), no dashboard.
    short = Path(os.environ.get("TMPDIR", "/tmp"))
    head_temp, worker_temp = (tempfile.mkdtemp(prefix=f"hpo-{name}-", dir=short) for name in ("head", "worker"))
    head = local(_one(commands, "ray start --head"))
    head = [
        ray_cli,
        *head[1:],
        "--block",
        "--disable-usage-stats",
        "--include-dashboard=false",
        f"--temp-dir={head_temp}",
    ]
    head = [a if not a.startswith("--num-cpus") else "--num-cpus=1" for a in head]
    # Ray notices a lost node within seconds (by default about half a minute).
    ray_env = {**env, "RAY_health_check_period_ms": "500", "RAY_health_check_failure_threshold": "3"}
    head_proc = spawn(head, env=ray_env, stdout=subprocess.DEVNULL)
    wait_for_port(head_port, head_proc, timeout=90)
    worker = local(_one(commands, "ray start --address"))
    worker = [ray_cli, *worker[1:], "--block", "--disable-usage-stats", f"--temp-dir={worker_temp}"]
    worker = [a if not a.startswith("--num-cpus") else "--num-cpus=1" for a in worker]
    worker_proc = spawn(worker, env=ray_env, stdout=subprocess.DEVNULL)
    wait_for_port(mlflow_port, mlflow_proc, timeout=90)
    run = local(_one(commands, "hpo run"))
    deployment = "\n".join(local([line for line in yaml.splitlines()]))
    server_uri = f"http://127.0.0.1:{mlflow_port}"
    storage = postgres.url("optuna")

    # 1. Eight trials on both nodes; artifacts, plots and the model through the server.
    (project / "study.yaml").write_text(STUDY.format(name="cluster", n_trials=8, deployment=deployment))
    head_node = wait_for_nodes(ray_env, head_port, 2)
    done = subprocess.run(
        [sys.executable, "-m", "hpo", *run[1:]], cwd=project, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    trials = optuna.load_study(study_name="cluster", storage=hpo._storage.open_storage(storage)).trials
    assert [t.state.name for t in trials] == ["COMPLETE"] * 8
    nodes = {t.user_attrs["node"] for t in trials}
    assert len(nodes) == 2  # trials ran on both nodes
    from mlflow import MlflowClient

    client = MlflowClient(server_uri)
    parents, children = study_runs(client, "cluster")
    (parent,) = parents
    assert parent.info.status == "FINISHED" and len(children) == 8
    for child in children:
        assert child.info.status == "FINISHED" and child.info.artifact_uri.startswith("mlflow-artifacts:")
        (note,) = client.list_artifacts(child.info.run_id)
        assert Path(client.download_artifacts(child.info.run_id, note.path, str(tmp_path))).read_text() in nodes
    names = {a.path for a in client.list_artifacts(parent.info.run_id)}
    assert {"plots", "trials.csv"} <= names, done.stderr[-3000:]
    # The model (an MLflow 3 logged model of the run) was stored by the server, in its folder.
    assert any(artifacts.rglob("MLmodel")) and any(artifacts.rglob("trials.csv"))
    os.environ["MLFLOW_TRACKING_URI"] = server_uri
    try:
        import mlflow.sklearn
        from sklearn.datasets import load_iris

        model = mlflow.sklearn.load_model(f"runs:/{parent.info.run_id}/model")
        X, y = load_iris(return_X_y=True)
        assert (model.predict(X) == y).mean() > 0.9
    finally:
        del os.environ["MLFLOW_TRACKING_URI"]

    # 2. The worker node dies mid-study: its trial reruns on the head (max_retries: 1).
    (worker_node,) = nodes - {head_node}
    marker = tmp_path / "on-worker"
    (project / "study.yaml").write_text(STUDY.format(name="cluster-kill", n_trials=8, deployment=deployment))
    settings = {"marker": str(marker), "worker_node": worker_node, "sleep": 0.6}
    (project / "settings.json").write_text(json.dumps(settings))
    study = spawn([sys.executable, "-m", "hpo", *run[1:]], cwd=project, env=env)
    deadline = time.monotonic() + 120
    while not marker.exists():
        assert study.poll() is None and time.monotonic() < deadline, study.communicate()[1][-3000:]
        time.sleep(0.05)
    for info in descendants(worker_proc.pid):  # the node's raylet, its workers and agents
        os.kill(info.pid, signal.SIGKILL)
    os.kill(worker_proc.pid, signal.SIGKILL)
    out, err = study.communicate(timeout=300)
    assert study.returncode == 0, err[-3000:]
    trials = optuna.load_study(study_name="cluster-kill", storage=hpo._storage.open_storage(storage)).trials
    assert [t.state.name for t in trials] == ["COMPLETE"] * 8, err[-3000:]  # nothing lost or failed
    killed = int(marker.read_text())
    assert trials[killed].user_attrs["node"] == head_node  # rerun on the head (same trial, same run)
    assert trials[-1].user_attrs["node"] == head_node  # the study finished on the head
    parents, children = study_runs(client, "cluster-kill")
    assert [p.info.status for p in parents] == ["FINISHED"]
    assert sorted(int(r.data.tags["hpo.trial_number"]) for r in children) == list(range(8))
    assert {r.info.status for r in children} == {"FINISHED"}


RAY_STATE = """
import json, sys, ray
ray.init(address=sys.argv[1], logging_level="ERROR")
print(json.dumps([[n["NodeID"], n["Alive"], n["NodeManagerAddress"], "node:__internal_head__" in n["Resources"]]
                  for n in ray.nodes()]))
"""


def _nodes(env: dict[str, str], port: int) -> list[list]:
    import json

    out = subprocess.run(
        [sys.executable, "-c", RAY_STATE, f"127.0.0.1:{port}"], env=env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def wait_for_nodes(env: dict[str, str], port: int, n: int) -> str:
    """Until ``n`` nodes are alive; returns the head's node id."""
    deadline = time.monotonic() + 90
    while True:
        nodes = _nodes(env, port)
        if sum(alive for _, alive, _, _ in nodes) >= n:
            (head,) = [node for node, alive, _, is_head in nodes if is_head and alive]
            return head
        assert time.monotonic() < deadline, "the worker node did not join"
        time.sleep(0.5)
