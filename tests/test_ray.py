"""The Ray executor on a real local Ray: same results as inline, pruning across workers,
killed workers, resources."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

import hpo
from hpo import ConfigError
from tests.conftest import study_runs

ray = pytest.importorskip("ray")


@pytest.fixture(scope="module", autouse=True)
def local_ray():
    # One real local Ray for the module; the executor leaves a Ray it did not start running.
    from hpo._ray import worker_env

    ray.init(num_cpus=2, num_gpus=1, include_dashboard=False, logging_level="WARNING", runtime_env=worker_env())
    yield
    ray.shutdown()


SPACE = {"x": {"float": [0.0, 1.0], "step": 0.25}, "k": ["a", "b"]}


def reporting(params, trial):
    for step in range(3):
        trial.report(params["x"] + step, step)
    trial.log_metrics({"extra": params["x"]}, step=0)
    return params["x"] + (params["k"] == "b")


def test_same_study_as_inline(tracking_uri, mlflow_client):
    studies = {}
    for kind in ("inline", "ray"):
        executor = {"kind": "ray", "workers": 2} if kind == "ray" else "inline"
        studies[kind] = hpo.tune(reporting, SPACE, searcher="grid", pruner="none", executor=executor,
                                 study_name=f"same-{kind}", tracking=tracking_uri)
    summary = {
        kind: sorted((tuple(sorted(t.params.items())), t.state.name, t.value) for t in s.trials)
        for kind, s in studies.items()
    }
    assert summary["inline"] == summary["ray"] and len(summary["ray"]) == 10
    for kind in ("inline", "ray"):
        parents, children = study_runs(mlflow_client, f"same-{kind}")
        assert len(parents) == 1 and len(children) == 10
        assert sorted(int(r.data.tags["hpo.trial_number"]) for r in children) == list(range(10))
        for run in children:  # reports and metrics from the workers reached the trial's run
            assert run.info.status == "FINISHED" and run.data.tags["hpo.state"] == "complete"
            assert {"value", "extra", "intermediate_value"} <= set(run.data.metrics)
            assert len(mlflow_client.get_metric_history(run.info.run_id, "intermediate_value")) == 3
    assert parents[0].data.params["executor"] == "ray"


def test_pruning_decisions_reach_workers():
    def objective(params, trial):
        steps = 0
        try:
            for step in range(8):
                trial.report(params["x"] * 10 + step * 0.01, step)
                steps += 1
        finally:
            trial.set_user_attr("steps_run", steps)  # counted in the worker
        return params["x"]

    study = hpo.tune(objective, {"x": {"float": [0, 1]}}, n_trials=20, seed=0, searcher="random",
                     pruner={"name": "median", "n_startup_trials": 3}, executor={"kind": "ray", "workers": 2}, tracking=None)
    numbers = [t.number for t in study.trials]
    assert len(numbers) == len(set(numbers)) == 20  # each trial exactly once
    pruned = [t for t in study.trials if t.state.name == "PRUNED"]
    assert pruned
    for trial in pruned:  # the worker stopped at the step the driver's pruner decided
        assert trial.user_attrs["steps_run"] == len(trial.intermediate_values) - 1 < 8


@pytest.mark.parametrize("max_retries", [0, 1])
def test_a_killed_worker_fails_or_retries_its_trial(workdir, tracking_uri, mlflow_client, max_retries):
    marker = str(workdir / f"killed-{max_retries}")

    def objective(params):  # a closure: shipped to the workers by value
        if params["n"] == 2 and not Path(marker).exists():
            Path(marker).touch()
            os.kill(os.getpid(), signal.SIGKILL)  # the worker process dies mid-trial
        return float(params["n"])

    name = f"killed-{max_retries}"
    study = hpo.tune(objective, {"n": {"int": [0, 4]}}, searcher="grid", pruner="none", study_name=name,
                     executor={"kind": "ray", "workers": 2, "max_retries": max_retries}, tracking=tracking_uri)
    assert Path(marker).exists()
    trial = next(t for t in study.trials if t.params["n"] == 2)
    counts = study.counts()
    if max_retries:
        assert trial.state.name == "COMPLETE" and counts["complete"] == 5
    else:
        assert trial.state.name == "FAIL" and trial.user_attrs["hpo:error"].startswith("worker died")
        assert counts["complete"] == 4 and counts["failed"] == 1
    _, children = study_runs(mlflow_client, name)
    assert len(children) == 5 and all(r.info.status in ("FINISHED", "FAILED") for r in children)


def test_fractional_gpus_reach_ray():
    def objective(params, trial):
        resources = ray.get_runtime_context().get_assigned_resources()
        trial.set_user_attr("gpu", resources.get("GPU", 0.0))
        trial.set_user_attr("cpu", resources.get("CPU", 0.0))
        return 0.0

    study = hpo.tune(objective, {"x": {"float": [0, 1]}}, n_trials=4, tracking=None,
                     executor={"kind": "ray", "workers": 4, "cpus_per_trial": 0.5, "gpus_per_trial": 0.25})
    assert {t.user_attrs["gpu"] for t in study.trials} == {0.25}
    assert {t.user_attrs["cpu"] for t in study.trials} == {0.5}


def test_asking_more_than_the_cluster_has_is_a_clear_error():
    calls = []
    with pytest.raises(ConfigError, match=r"^executor.cpus_per_trial: a trial asks for 8 CPUs, the Ray cluster has 2$"):
        hpo.tune(lambda p: calls.append(p) or 0.0, {"x": {"float": [0, 1]}}, n_trials=2, tracking=None,
                 executor={"kind": "ray", "cpus_per_trial": 8})
    assert calls == []
    with pytest.raises(ConfigError, match=r"^executor: unknown key 'worker'; did you mean 'workers'\?"):
        hpo.tune(lambda p: 0.0, {"x": {"float": [0, 1]}}, n_trials=2, tracking=None, executor={"kind": "ray", "worker": 2})


def writes_a_file(params, trial):
    import tempfile

    # The common pattern: the artifact's folder is gone before the trial even ends.
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "note.txt"
        path.write_text(f"x={params['x']}")
        trial.log_artifact(str(path))
        (Path(folder) / "plots").mkdir()
        (Path(folder) / "plots" / "curve.csv").write_text("step,value\n0,1\n")
        trial.log_artifact(str(Path(folder) / "plots"))
    return params["x"]


@pytest.mark.parametrize("executor", ["inline", "ray"])
def test_worker_artifacts_reach_a_tracking_server(workdir, mlflow_server, executor):
    from mlflow import MlflowClient

    spec = {"kind": "ray", "workers": 2} if executor == "ray" else "inline"
    space = {"x": {"float": [0.0, 1.0], "step": 0.5}}
    name = f"artifacts-{executor}"
    hpo.tune(writes_a_file, space, searcher="grid", executor=spec, study_name=name, tracking=mlflow_server.uri)
    client = MlflowClient(mlflow_server.uri)
    _, children = study_runs(client, name)
    assert len(children) == 3
    for run in children:
        x = run.data.params["x"]
        assert sorted(a.path for a in client.list_artifacts(run.info.run_id)) == ["note.txt", "plots"]
        note = client.download_artifacts(run.info.run_id, "note.txt", str(workdir))
        assert Path(note).read_text() == f"x={float(x)}"
        assert [a.path for a in client.list_artifacts(run.info.run_id, "plots")] == ["plots/curve.csv"]
        # Served artifacts: the server wrote them, into its own folder.
        assert list((mlflow_server.folder / "artifacts").rglob(f"{run.info.run_id}/artifacts/note.txt"))


def test_torch_best_weights_come_back_from_the_workers(tracking_uri):
    # The best trial trained on a worker: its weights travel back with its result, and the
    # driver logs them as the study's model (no training again).
    torch = pytest.importorskip("torch")
    import mlflow.pytorch

    from tests.test_torch_trainer import TRAIN, VAL, mlp
    from hpo.trainers import TorchTrainer

    trainer = TorchTrainer(mlp, TRAIN, VAL, epochs=3, device="cpu")
    study = hpo.tune(trainer, {"hidden": hpo.Categorical([8, 16, 32])}, searcher="grid", pruner="none",
                     executor={"kind": "ray", "workers": 2}, study_name="torch-ray", tracking=tracking_uri)
    assert trainer.last_model_ is None  # every trial ran on a worker
    model = mlflow.pytorch.load_model(f"runs:/{study.mlflow_run_id}/model")
    with torch.no_grad():
        accuracy = (model(VAL[0]).argmax(1) == VAL[1]).float().mean().item()
    assert accuracy == pytest.approx(study.best_value)


def sleeps_or_stuck(params, trial):
    import signal
    import time

    if params["n"] == 1:
        time.sleep(30)  # Python code: the worker's own alarm stops it
    if params["n"] == 3:
        # A trial that cannot be stopped from inside (like native code that blocks signals):
        # the driver stops it by ending its worker process.
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
        time.sleep(30)
    return float(params["n"])


def test_trial_timeout_on_workers(tracking_uri, mlflow_client):
    import time

    start = time.monotonic()
    study = hpo.tune(sleeps_or_stuck, {"n": {"int": [0, 3]}}, searcher="grid", trial_timeout=1.0,
                     executor={"kind": "ray", "workers": 2}, study_name="ray-timeouts", tracking=tracking_uri)
    assert time.monotonic() - start < 30
    trials = {t.params["n"]: t for t in study.trials}
    errors = {n: t.user_attrs.get("hpo:error") for n, t in trials.items()}
    assert errors[0] is None and errors[2] is None
    assert errors[1] == f"TrialTimeout: trial {trials[1].number} ran past trial_timeout=1 s"
    assert errors[3] == f"TrialTimeout: trial {trials[3].number} ran past trial_timeout=1 s (its worker was stopped)"
    _, children = study_runs(mlflow_client, "ray-timeouts")
    assert sorted(r.info.status for r in children) == ["FAILED", "FAILED", "FINISHED", "FINISHED"]
