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


def _overlap(trials) -> int:
    """The most trials that ran at once."""
    events = sorted([(t.datetime_start, 1) for t in trials] + [(t.datetime_complete, -1) for t in trials])
    most = now = 0
    for _, step in events:
        now += step
        most = max(most, now)
    return most


def sleeping_on_a_node(params, trial):
    trial.set_user_attr("node", ray.get_runtime_context().get_node_id())
    time.sleep(0.5)
    return params["x"]


def test_a_node_added_mid_study_raises_the_trials_at_once(tmp_path, monkeypatch, spawn):
    """Two `ray start --block` processes on loopback, as a user starts them: the study begins on
    a 1-CPU head; a 2-CPU node joins after its third trial, and more trials run at once."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    from tests.conftest import free_port, hpo_env

    if ray.is_initialized():
        ray.shutdown()
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    env = hpo_env(RAY_AUTH_MODE="disabled")
    # The workers import this test module as pytest did (by its name, from tests/).
    env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).parent), env["PYTHONPATH"]])
    ray_cli = str(Path(sys.executable).parent / "ray")
    port = free_port()
    common = ["--node-ip-address=127.0.0.1", "--block", "--disable-usage-stats"]
    head = ["start", "--head", f"--port={port}", "--num-cpus=1", "--include-dashboard=false"]
    import tempfile

    # Short: Ray's unix sockets live in it (a path of at most 107 bytes).
    temp = tempfile.mkdtemp(prefix="hpo-ray-")
    spawn(
        [ray_cli, *head, f"--temp-dir={temp}", *common],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    _wait_for_port(port)
    added: list[float] = []

    def grow(study, frozen):
        if frozen.number == 2 and not added:
            spawn(
                [ray_cli, "start", f"--address=127.0.0.1:{port}", "--num-cpus=2", *common],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            added.append(time.time())

    try:
        study = hpo.tune(
            sleeping_on_a_node,
            {"x": {"float": [0, 1]}},
            n_trials=16,
            seed=0,
            tracking=None,
            executor={"kind": "ray", "address": f"127.0.0.1:{port}", "cpus_per_trial": 1},
            callbacks=[grow],
        )
    finally:
        ray.shutdown()
        import shutil

        shutil.rmtree(temp, ignore_errors=True)
    trials = sorted(study.trials, key=lambda t: t.number)
    assert _overlap(trials[:3]) == 1  # one CPU: one trial at a time
    assert _overlap(trials[8:]) >= 2, [(t.datetime_start, t.datetime_complete) for t in trials]
    assert len({t.user_attrs["node"] for t in trials}) == 2


def _wait_for_port(port: int, timeout: float = 60.0) -> None:
    """Until something listens on 127.0.0.1:``port`` (a starting Ray head's GCS)."""
    import socket

    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
