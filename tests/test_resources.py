"""Per-trial resource metrics (hpo/_resources.py): the trial's own CPU and memory, sampled beside
the objective and logged to its MLflow run with its other records."""

from __future__ import annotations

import time

import pytest

import hpo
from hpo import ConfigError
from tests.conftest import study_runs


def busy(params, trial):
    """Half a second of CPU, 50 MB held, a report in the middle."""
    hold = bytearray(50 * 2**20)
    end = time.process_time() + 0.25
    while time.process_time() < end:
        pass
    trial.report(params["x"], 0)
    end = time.process_time() + 0.25
    while time.process_time() < end:
        pass
    del hold
    return params["x"]


def check_resources_logged(tracking_uri, mlflow_client, study_name, **tune):
    """Run two busy trials with resource metrics every 0.05 s; check each trial's run got them."""
    hpo.tune(
        busy,
        {"x": hpo.Float(0, 1)},
        n_trials=2,
        study_name=study_name,
        tracking=tracking_uri,
        resource_metrics={"interval": 0.05},
        **tune,
    )
    _, children = study_runs(mlflow_client, study_name)
    for run in children:
        cpu = mlflow_client.get_metric_history(run.info.run_id, "system/process_cpu_percentage")
        memory = mlflow_client.get_metric_history(run.info.run_id, "system/process_memory_megabytes")
        assert len(cpu) >= 5 and sorted(m.step for m in cpu) == list(range(len(cpu)))
        assert max(m.value for m in cpu) > 50  # a busy core
        assert max(m.value for m in memory) > 50  # the 50 MB it held, and the interpreter
        assert not any(k.startswith("system/gpu") for k in run.data.metrics)  # no GPU here


def test_each_trials_cpu_and_memory_reach_its_run(tracking_uri, mlflow_client):
    check_resources_logged(tracking_uri, mlflow_client, "res")


def test_off_by_default_and_checked():
    seen = []
    hpo.tune(
        lambda p, t: seen.append(list(t._before_records)) or 0.0, {"x": hpo.Float(0, 1)}, n_trials=1, tracking=None
    )
    assert seen == [[]]
    with pytest.raises(ConfigError, match=r"resource_metrics.interval: expected a positive number of seconds, got 0"):
        hpo.tune(busy, {"x": hpo.Float(0, 1)}, n_trials=1, tracking=None, resource_metrics={"interval": 0})
    with pytest.raises(ConfigError, match=r"resource_metrics: expected true, false or \{interval: SECONDS\}"):
        hpo.tune(busy, {"x": hpo.Float(0, 1)}, n_trials=1, tracking=None, resource_metrics="yes")
