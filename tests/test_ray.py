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

    ray.init(
        address="local",
        num_cpus=2,
        num_gpus=1,
        include_dashboard=False,
        logging_level="WARNING",
        runtime_env=worker_env(),
    )
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
        studies[kind] = hpo.tune(
            reporting,
            SPACE,
            searcher="grid",
            pruner="none",
            executor=executor,
            study_name=f"same-{kind}",
            tracking=tracking_uri,
        )
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

    study = hpo.tune(
        objective,
        {"x": {"float": [0, 1]}},
        n_trials=20,
        seed=0,
        searcher="random",
        pruner={"name": "median", "n_startup_trials": 3},
        executor={"kind": "ray", "workers": 2},
        tracking=None,
    )
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
    study = hpo.tune(
        objective,
        {"n": {"int": [0, 4]}},
        searcher="grid",
        pruner="none",
        study_name=name,
        executor={"kind": "ray", "workers": 2, "max_retries": max_retries},
        tracking=tracking_uri,
    )
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

    study = hpo.tune(
        objective,
        {"x": {"float": [0, 1]}},
        n_trials=4,
        tracking=None,
        executor={"kind": "ray", "workers": 4, "cpus_per_trial": 0.5, "gpus_per_trial": 0.25},
    )
    assert {t.user_attrs["gpu"] for t in study.trials} == {0.25}
    assert {t.user_attrs["cpu"] for t in study.trials} == {0.5}


def test_asking_more_than_the_cluster_has_is_a_clear_error():
    calls = []
    with pytest.raises(ConfigError, match=r"^executor.cpus_per_trial: a trial asks for 8 CPUs, the Ray cluster has 2$"):
        hpo.tune(
            lambda p: calls.append(p) or 0.0,
            {"x": {"float": [0, 1]}},
            n_trials=2,
            tracking=None,
            executor={"kind": "ray", "cpus_per_trial": 8},
        )
    assert calls == []
    with pytest.raises(ConfigError, match=r"^executor: unknown key 'worker'; did you mean 'workers'\?"):
        hpo.tune(
            lambda p: 0.0, {"x": {"float": [0, 1]}}, n_trials=2, tracking=None, executor={"kind": "ray", "worker": 2}
        )


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

    from hpo.trainers import TorchTrainer
    from tests.test_torch_trainer import TRAIN, VAL, mlp

    trainer = TorchTrainer(mlp, TRAIN, VAL, epochs=3, device="cpu")
    study = hpo.tune(
        trainer,
        {"hidden": hpo.Categorical([8, 16, 32])},
        searcher="grid",
        pruner="none",
        executor={"kind": "ray", "workers": 2},
        study_name="torch-ray",
        tracking=tracking_uri,
    )
    assert trainer.last_model_ is None  # every trial ran on a worker
    model = mlflow.pytorch.load_model(f"runs:/{study.mlflow_run_id}/model")
    with torch.no_grad():
        accuracy = (model(VAL[0]).argmax(1) == VAL[1]).float().mean().item()
    assert accuracy == pytest.approx(study.best_value)


def test_a_data_parallel_trial_runs_on_a_worker_with_its_cpus():
    # A Ray task holding 2 CPUs starts the trial's 2 gloo ranks on its node; asking for more
    # ranks than the task holds is refused before the study.
    pytest.importorskip("torch")
    from hpo.trainers import TorchTrainer
    from tests.test_torch_trainer import _linear_data, _linear_net

    trainer = TorchTrainer(
        _linear_net, _linear_data(103), _linear_data(40, 1), epochs=2, device="cpu", devices_per_trial=2
    )
    executor = {"kind": "ray", "workers": 1, "cpus_per_trial": 2}
    study = hpo.tune(trainer, {"lr": hpo.Categorical([0.01])}, searcher="grid", executor=executor, tracking=None)
    assert study.trials[0].state.name == "COMPLETE" and study.trials[0].user_attrs["epochs"] == 2
    with pytest.raises(
        hpo.ConfigError, match=r"^devices_per_trial: expected at most 1 \(the executor's cpus_per_trial\), got 2$"
    ):
        hpo.tune(trainer, {"lr": hpo.Categorical([0.01])}, searcher="grid", executor="ray", tracking=None)


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
    study = hpo.tune(
        sleeps_or_stuck,
        {"n": {"int": [0, 3]}},
        searcher="grid",
        trial_timeout=1.0,
        executor={"kind": "ray", "workers": 2},
        study_name="ray-timeouts",
        tracking=tracking_uri,
    )
    assert time.monotonic() - start < 30
    trials = {t.params["n"]: t for t in study.trials}
    errors = {n: t.user_attrs.get("hpo:error") for n, t in trials.items()}
    assert errors[0] is None and errors[2] is None
    assert errors[1] == f"TrialTimeout: trial {trials[1].number} ran past trial_timeout=1 s"
    assert errors[3] == f"TrialTimeout: trial {trials[3].number} ran past trial_timeout=1 s (its worker was stopped)"
    _, children = study_runs(mlflow_client, "ray-timeouts")
    assert sorted(r.info.status for r in children) == ["FAILED", "FAILED", "FINISHED", "FINISHED"]


def timed(params, trial):
    """Sleeps a little, recording when it ran (seconds since the epoch: workers share the clock)."""
    import time

    trial.set_user_attr("start", time.time())
    time.sleep(0.2)
    trial.set_user_attr("end", time.time())
    return params["x"]


def peak_overlap(trials) -> int:
    """The most trials that were running at the same moment, from their recorded times."""
    events = sorted([(t.user_attrs["start"], 1) for t in trials] + [(t.user_attrs["end"], -1) for t in trials])
    running = peak = 0
    for _, change in events:  # at a tie, an end (-1) sorts before a start
        running += change
        peak = max(peak, running)
    return peak


def in_flight_counter():
    """A study callback recording how many trials are in flight when one ends (itself included)."""
    seen: list[int] = []
    return seen, lambda study, trial: seen.append(study.counts()["running"] + 1)


def test_trials_asking_no_resources_run_as_many_at_once_as_the_cluster_has_cpus():
    import time

    from hpo._ray import RayExecutor

    # A timeout and no n_trials: the driver must not ask for trials without bound.
    seen, count = in_flight_counter()
    start = time.monotonic()
    study = hpo.tune(
        timed,
        {"x": {"float": [0, 1]}},
        timeout=1.5,
        searcher="random",
        pruner="none",
        executor={"kind": "ray", "cpus_per_trial": 0},
        callbacks=[count],
        tracking=None,
    )
    assert time.monotonic() - start < 30
    assert seen and max(seen) <= 2  # the module's Ray has 2 CPUs
    assert study.counts()["complete"] == len(study.trials) <= 2 * 1.5 / 0.2 + 2
    assert peak_overlap(study.trials) <= 2

    executor = RayExecutor(cpus_per_trial=0)
    executor.open()
    assert executor.concurrency == 2
    executor.open()  # idempotent
    assert executor.concurrency == 2
    executor = RayExecutor(cpus_per_trial=0, workers=3)
    executor.open()
    assert executor.concurrency == 3  # workers, when given, bound it


def answers(script: str, env: dict[str, str], timeout: float) -> list[str]:
    """The lines ``script`` prints, run by Python in a fresh process (no Ray initialized)."""
    import subprocess
    import sys

    from tests.conftest import REPO

    done = subprocess.run(
        [sys.executable, "-c", script], env=env, cwd=REPO, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.splitlines()


@pytest.fixture
def stale_ray_tmpdir():
    """A ``$RAY_TMPDIR`` whose ``ray/ray_current_cluster`` names a head that died (a dead port).

    What a killed ``ray start --head`` leaves behind. A short path of its own: Ray puts its
    sockets under it (at most 107 characters) and the other tests' Ray must not see the file.
    """
    import shutil
    import tempfile

    from tests.conftest import free_port

    folder = Path(tempfile.mkdtemp(prefix="hpo-ray-", dir="/tmp" if os.path.isdir("/tmp") else None))
    (folder / "ray").mkdir()
    address = f"127.0.0.1:{free_port()}"  # nothing listens there any more
    (folder / "ray" / "ray_current_cluster").write_text(address)
    yield folder, address
    shutil.rmtree(folder, ignore_errors=True)


CHECK_ADDRESSES = """
import os, time
import ray
from hpo import ConfigError
from hpo._ray import RayExecutor

dead = os.environ["DEAD"]
for label, address, env in (("given", dead, None), ("env", None, dead), ("auto", "auto", None)):
    if env:
        os.environ["RAY_ADDRESS"] = env
    else:
        os.environ.pop("RAY_ADDRESS", None)
    start = time.monotonic()
    try:
        RayExecutor(address=address).open()
        print(label, "no error")
    except ConfigError as err:
        print(label, round(time.monotonic() - start, 1), ray.is_initialized(), str(err))
"""


def test_a_cluster_address_that_does_not_answer_is_a_one_line_error(stale_ray_tmpdir):
    from tests.conftest import hpo_env

    folder, dead = stale_ray_tmpdir
    env = hpo_env(RAY_TMPDIR=str(folder), DEAD=dead)
    env.pop("RAY_ADDRESS", None)
    lines = answers(CHECK_ADDRESSES, env, timeout=120)
    assert len(lines) == 3, lines
    file = folder / "ray" / "ray_current_cluster"
    expected = {
        "given": f"executor.address: no Ray cluster answers at '{dead}': Connection refused",
        "env": f"executor.address: no Ray cluster answers at '{dead}' (from $RAY_ADDRESS): Connection refused",
        "auto": f"executor.address: no Ray cluster answers at '{dead}' ('auto', named by {file}): Connection refused",
    }
    for line in lines:
        label, seconds, initialized, message = line.split(" ", 3)
        assert float(seconds) <= 15 and initialized == "False"
        assert message == expected[label]


STUDY_WITHOUT_ADDRESS = """
import hpo, ray
study = hpo.tune(lambda p: p["x"], {"x": {"float": [0, 1]}}, n_trials=3, seed=0, pruner="none",
                 executor="ray", tracking=None)
print(study.counts()["complete"], ray.is_initialized())
"""


def test_a_stale_local_cluster_file_does_not_hang_a_study(stale_ray_tmpdir):
    # Without an address the executor starts a Ray of its own, whatever cluster the file names
    # (ray.init() would join it and wait on its dead GCS for minutes), and shuts it down after.
    from tests.conftest import hpo_env

    folder, _ = stale_ray_tmpdir
    env = hpo_env(RAY_TMPDIR=str(folder))
    env.pop("RAY_ADDRESS", None)
    assert answers(STUDY_WITHOUT_ADDRESS, env, timeout=120) == ["3 False"]


def test_a_ray_started_by_hpo_prints_no_token_auth_notice(workdir):
    # In a process of its own: Ray sets $RAY_AUTH_MODE in the process that started a Ray (this one,
    # in the module's fixture), and then notices nothing.
    import subprocess
    import sys

    from tests.conftest import hpo_env

    env = hpo_env()
    env.pop("RAY_AUTH_MODE", None)
    code = (
        "import hpo; study = hpo.tune(lambda p: p['x'], {'x': [0, 1]}, searcher='grid', "
        "executor={'kind': 'ray', 'workers': 2}, tracking=None); print(len(study.trials))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=workdir, env=env, capture_output=True, text=True, timeout=300
    )
    assert (result.returncode, result.stdout.strip().splitlines()[-1:]) == (0, ["2"]), result.stderr
    assert "Token authentication" not in result.stderr, result.stderr


def test_hposearchcv_candidates_on_ray_workers(workdir):
    from sklearn.datasets import load_iris
    from sklearn.svm import SVC

    X, y = load_iris(return_X_y=True)
    grid = {"C": [0.1, 1.0, 10.0]}
    on_ray = hpo.HPOSearchCV(SVC(), grid, cv=3, executor={"kind": "ray", "workers": 2}, tracking=None).fit(X, y)
    inline = hpo.HPOSearchCV(SVC(), grid, cv=3, tracking=None).fit(X, y)
    scores = {p["C"]: s for p, s in zip(inline.cv_results_["params"], inline.cv_results_["mean_test_score"])}
    assert {p["C"]: s for p, s in zip(on_ray.cv_results_["params"], on_ray.cv_results_["mean_test_score"])} == scores
    assert on_ray.best_params_ == inline.best_params_


def test_several_objectives_and_their_pruner_on_ray_workers(workdir):
    def two(params, trial):
        for step in range(3):
            trial.report(params["x"], step)  # f1's running value
        return {"f1": params["x"], "f2": 1.0 - params["x"]}

    study = hpo.tune(
        two,
        {"x": hpo.Float(0.0, 1.0)},
        objectives={"f1": "minimize", "f2": "minimize"},
        n_trials=12,
        seed=0,
        executor={"kind": "ray", "workers": 2},
        pruner={"name": "median", "n_startup_trials": 2},
        prune_on="f1",
        tracking=None,
    )
    counts = study.counts()
    assert counts["complete"] + counts["pruned"] == 12 and counts["pruned"] > 0
    assert all(t.state.name == "COMPLETE" for t in study.best_trials)


def dies_once(params, trial, marker=None):
    """Trial 1's worker dies at step 3 the first time (the ``marker`` file says it did)."""
    state = trial.restore() or {"step": 0, "total": 0.0}
    trial.set_user_attr("restored_at", state["step"])
    for step in range(state["step"], 6):
        state["total"] += params["x"] * (step + 1)
        state["step"] = step + 1
        trial.checkpoint(state)
        trial.report(state["total"], step)
        if step == 3 and trial.number == 1 and marker is not None and not marker.exists():
            marker.write_text("died")
            os._exit(1)
    return state["total"]


def test_a_retried_task_restores_its_checkpoint(tmp_path):
    import functools

    objective = functools.partial(dies_once, marker=tmp_path / "marker")
    ray_executor = {"kind": "ray", "workers": 2, "max_retries": 1}
    kwargs = dict(n_trials=4, tracking=None, seed=0, pruner="none", study_name="s")
    study = hpo.tune(
        objective, {"x": hpo.Float(0, 1)}, executor=ray_executor, storage=str(tmp_path / "s.journal"), **kwargs
    )
    assert (tmp_path / "marker").exists()
    restored = {t.number: t.user_attrs["restored_at"] for t in study.trials}
    assert restored == {0: 0, 1: 4, 2: 0, 3: 0}
    inline = hpo.tune(dies_once, {"x": hpo.Float(0, 1)}, **kwargs)
    assert [t.value for t in study.trials] == [t.value for t in inline.trials]
    assert len(list((tmp_path / "checkpoints" / "s").glob("*.ckpt"))) == 1  # the best trial's


def sleeps_at_random(params, trial):
    """Reports after sleeps of random length (unseeded: workers finish in another order each run)."""
    import random
    import time

    for step in range(3):
        time.sleep(random.uniform(0.0, 0.05))
        trial.report(params["x"] ** 2 + params["y"] + 0.01 * step, step)
    return params["x"] ** 2 + params["y"] + (trial.seed % 1000) / 1e6


@pytest.mark.parametrize("searcher", ["tpe", "random", "grid"])
def test_a_reproducible_study_gives_the_same_trials_whatever_order_workers_finish(searcher):
    space = {"x": hpo.Float(-2, 2, step=0.5), "y": hpo.Float(0, 1, step=0.25)}
    tables = []
    for _ in range(2):
        study = hpo.tune(
            sleeps_at_random,
            space,
            n_trials=20,
            seed=3,
            searcher=searcher,
            pruner={"name": "median", "n_startup_trials": 3},
            tracking=None,
            reproducible=True,
            executor={"kind": "ray", "workers": 3, "cpus_per_trial": 0.5},
        )
        tables.append(study.trials_df()[["number", "state", "value", "params.x", "params.y"]])
    assert tables[0].equals(tables[1])
    assert set(tables[0]["state"]) == {"complete", "pruned"}  # pruning was on, and decided alike


def test_resource_metrics_come_from_the_workers(tracking_uri, mlflow_client):
    from tests.test_resources import check_resources_logged

    check_resources_logged(tracking_uri, mlflow_client, "ray-res", executor={"kind": "ray", "workers": 2})
