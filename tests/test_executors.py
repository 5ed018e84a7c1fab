"""The executor interface: the driver alone asks and tells, whatever runs the trials."""

from __future__ import annotations

from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait

import pytest

import hpo
from hpo import ConfigError, Executor, InlineExecutor, Trial
from hpo._executors import make_executor
from hpo._trial import run_objective


class ThreadExecutor(Executor):
    """Runs up to three trials at once in threads: enough to exercise concurrency."""

    name = "threads"

    def __init__(self):
        self.pool = ThreadPoolExecutor(3)
        self.futures = set()

    @property
    def concurrency(self):
        return 3

    def start(self, objective, reporter, catch):
        self.objective, self.reporter, self.catch = objective, reporter, catch

    def submit(self, job):
        trial = Trial(job.number, job.params, self.reporter)
        self.futures.add(self.pool.submit(run_objective, self.objective, trial, self.catch))

    def wait(self):
        done, self.futures = wait(self.futures, return_when=FIRST_COMPLETED)
        return [f.result() for f in done]

    def shutdown(self):
        self.pool.shutdown(wait=True)


def test_a_custom_executor_runs_concurrent_trials(tracking_uri, mlflow_client):
    import threading
    import time

    active, peak = [0], [0]
    lock = threading.Lock()

    def objective(params, trial):
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        time.sleep(0.2)  # long enough for all three threads to be in it at once, even on a busy machine
        trial.report(params["x"], 0)
        with lock:
            active[0] -= 1
        return params["x"]

    executor = ThreadExecutor()
    study = hpo.tune(
        objective,
        {"x": {"float": [0, 1]}},
        n_trials=12,
        executor=executor,
        pruner="none",
        tracking=tracking_uri,
        study_name="threads",
    )
    assert peak[0] == 3
    assert study.counts()["complete"] == 12
    from tests.conftest import study_runs

    parents, children = study_runs(mlflow_client, "threads")
    assert parents[0].data.params["executor"] == "threads"
    assert parents[0].data.params["concurrency"] == "3"  # so the searcher sampled for concurrent trials
    assert len(children) == 12 and all(r.info.status == "FINISHED" for r in children)


def test_make_executor():
    assert isinstance(make_executor("inline"), InlineExecutor)
    assert isinstance(make_executor({"kind": "inline"}), InlineExecutor)
    custom = ThreadExecutor()
    assert make_executor(custom) is custom
    with pytest.raises(ConfigError, match=r"^executor: unknown executor 'spark'"):
        make_executor("spark")
    with pytest.raises(ConfigError, match=r"^executor: executor 'inline' takes no options, got \['workers'\]"):
        make_executor({"kind": "inline", "workers": 2})
