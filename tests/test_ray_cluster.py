"""A real two-node Ray cluster on this machine: trials run on both nodes."""

from __future__ import annotations

import time

import pytest

import hpo

ray = pytest.importorskip("ray")
cluster_utils = pytest.importorskip("ray.cluster_utils")


@pytest.fixture(scope="module")
def two_nodes():
    from hpo._ray import worker_env

    cluster = cluster_utils.Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    cluster.add_node(num_cpus=1)
    cluster.wait_for_nodes()
    ray.init(address=cluster.address, runtime_env=worker_env(), logging_level="WARNING")
    yield cluster
    ray.shutdown()
    cluster.shutdown()


def test_trials_run_on_both_nodes(two_nodes, tracking_uri, mlflow_client):
    def objective(params, trial):
        trial.set_user_attr("node", ray.get_runtime_context().get_node_id())
        time.sleep(0.3)  # long enough for both nodes to hold a trial at once
        trial.report(params["x"], 0)
        return params["x"]

    study = hpo.tune(
        objective,
        {"x": {"float": [0, 1]}},
        n_trials=6,
        seed=0,
        pruner="none",
        executor={"kind": "ray", "workers": 2},
        study_name="two-nodes",
        tracking=tracking_uri,
    )
    nodes = {t.user_attrs["node"] for t in study.trials}
    assert len(nodes) == 2 == len(ray.nodes())
    from tests.conftest import study_runs

    parents, children = study_runs(mlflow_client, "two-nodes")
    assert len(parents) == 1 and len(children) == 6 and all(r.info.status == "FINISHED" for r in children)


def _overlap(intervals) -> int:
    """The most trials that ran at once, from their (start, end) times."""
    events = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals])
    most = now = 0
    for _, step in events:
        now += step
        most = max(most, now)
    return most


GROWING = """
import json, sys, time
import hpo, ray

def sleeping_on_a_node(params, trial):
    trial.set_user_attr("node", ray.get_runtime_context().get_node_id())
    time.sleep(0.5)
    return params["x"]

def grow(study, frozen):
    if frozen.number == 2:
        open(sys.argv[2], "w").close()  # the test adds the node now

study = hpo.tune(
    sleeping_on_a_node,
    {"x": {"float": [0, 1]}},
    n_trials=16,
    seed=0,
    tracking=None,
    executor={"kind": "ray", "address": sys.argv[1], "cpus_per_trial": 1},
    callbacks=[grow],
)
rows = [(t.datetime_start.timestamp(), t.datetime_complete.timestamp(), t.user_attrs["node"]) for t in study.trials]
print(json.dumps(rows))
"""


def test_a_node_added_mid_study_raises_the_trials_at_once(tmp_path, spawn):
    """Two `ray start --block` processes on loopback, as a user starts them: the study begins on
    a 1-CPU head; a 2-CPU node joins after its third trial, and more trials run at once.

    Everything Ray runs in processes of its own (the study too), with token authentication off:
    $RAY_AUTH_MODE would stay in this process's Ray state and fail the later tests' local Rays.
    """
    import json
    import subprocess
    import sys
    import tempfile
    from pathlib import Path

    from tests._servers import wait_for_port
    from tests.conftest import free_port, hpo_env

    env = hpo_env(RAY_AUTH_MODE="disabled")
    ray_cli = str(Path(sys.executable).parent / "ray")
    port = free_port()
    quiet = {"env": env, "stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    common = ["--node-ip-address=127.0.0.1", "--block", "--disable-usage-stats"]
    # Short: Ray's unix sockets live in it (a path of at most 107 bytes).
    temp = tempfile.mkdtemp(prefix="hpo-ray-")
    head = ["start", "--head", f"--port={port}", "--num-cpus=1", "--include-dashboard=false", f"--temp-dir={temp}"]
    spawn([ray_cli, *head, *common], **quiet)
    wait_for_port(port)
    (tmp_path / "growing.py").write_text(GROWING)
    grown = tmp_path / "grow-now"
    study = spawn([sys.executable, "growing.py", f"127.0.0.1:{port}", str(grown)], cwd=tmp_path, env=env)
    deadline = time.monotonic() + 120
    while not grown.exists():
        assert study.poll() is None and time.monotonic() < deadline, study.communicate()[1][-3000:]
        time.sleep(0.1)
    spawn([ray_cli, "start", f"--address=127.0.0.1:{port}", "--num-cpus=2", *common], **quiet)
    out, err = study.communicate(timeout=180)
    import shutil

    shutil.rmtree(temp, ignore_errors=True)
    assert study.returncode == 0, err[-3000:]
    rows = json.loads(out.strip().splitlines()[-1])
    assert _overlap([(s, e) for s, e, _ in rows[:3]]) == 1  # one CPU: one trial at a time
    assert _overlap([(s, e) for s, e, _ in rows[8:]]) >= 2, rows
    assert len({node for _, _, node in rows}) == 2
