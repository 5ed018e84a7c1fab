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
