"""tune(): the objective contract, failed and pruned trials, timeouts, callbacks, results."""

from __future__ import annotations

import math
import time

import pandas as pd
import pytest

import hpo
from hpo import AllTrialsFailedError, ConfigError, Float, Int, Space
from tests.conftest import study_runs

SPACE = Space({"x": Float(-3.0, 3.0), "n": Int(0, 5)})


def test_two_and_one_argument_objectives():
    two = hpo.tune(lambda params, trial: params["x"] ** 2, SPACE, n_trials=10, seed=0, tracking=None)
    one = hpo.tune(lambda params: params["x"] ** 2, SPACE, n_trials=10, seed=0, tracking=None)
    assert two.best_params == one.best_params
    assert two.best_value == pytest.approx(min(t.value for t in two.trials))
    assert two.best_trial.number == min(two.trials, key=lambda t: t.value).number


def test_direction_comes_from_the_objective():
    class Scorer:
        direction = "maximize"

        def __call__(self, params, trial):
            return params["x"]

    study = hpo.tune(Scorer(), SPACE, n_trials=12, seed=0, tracking=None)
    assert study.direction == "maximize"
    assert study.best_value == max(t.value for t in study.trials)


@pytest.mark.parametrize(
    ("returned", "error"),
    [
        (float("nan"), "objective returned nan"),
        (float("inf"), "objective returned inf"),
        ("0.5", "objective returned str '0.5', expected a float"),
        (None, "objective returned NoneType None, expected a float"),
    ],
)
def test_bad_return_values_fail_the_trial_with_a_reason(returned, error):
    def objective(params):
        return returned if params["n"] == 0 else params["x"]

    study = hpo.tune(objective, {"x": {"float": [0, 1]}, "n": [0, 1]}, n_trials=20, seed=1, tracking=None)
    failed = study.trials_df().query("state == 'failed'")
    assert len(failed) > 0
    assert set(failed["error"]) == {error}
    assert study.counts()["complete"] == 20 - len(failed)


def test_numpy_scalars_are_accepted():
    import numpy as np

    study = hpo.tune(lambda p: np.float32(p["x"]), SPACE, n_trials=3, tracking=None)
    assert study.counts()["complete"] == 3


def test_exceptions_fail_the_trial_and_the_study_goes_on():
    def objective(params):
        if params["n"] % 2:
            raise ValueError(f"odd n={params['n']}")
        return params["x"]

    study = hpo.tune(objective, SPACE, n_trials=20, seed=0, tracking=None)
    df = study.trials_df()
    assert len(df) == 20
    failed = df[df.state == "failed"]
    assert len(failed) > 0 and all(e.startswith("ValueError: odd n=") for e in failed.error)
    assert (df.state == "complete").sum() == 20 - len(failed)


def test_all_trials_failed_is_one_clear_error():
    def objective(params):
        raise RuntimeError("no GPU")

    with pytest.raises(AllTrialsFailedError) as info:
        hpo.tune(objective, SPACE, n_trials=5, tracking=None)
    message = str(info.value)
    assert message.startswith("All 5 trials of study")
    assert "5 trials failed with the error:\nRuntimeError: no GPU" in message
    assert info.value.study.counts()["failed"] == 5


def test_exception_outside_catch_ends_the_study_after_recording_it():
    calls = []

    def objective(params):
        calls.append(1)
        if len(calls) == 3:
            raise KeyError("boom")
        return 0.0

    with pytest.raises(KeyError, match="boom"):
        hpo.tune(objective, SPACE, n_trials=10, catch=(ValueError,), tracking=None, study_name="s")
    assert len(calls) == 3


def test_pruned_trials_are_recorded_as_pruned():
    def objective(params, trial):
        for step in range(5):
            trial.report(params["x"], step)
        return params["x"]

    study = hpo.tune(objective, SPACE, n_trials=25, seed=0, pruner={"name": "median", "n_startup_trials": 3}, tracking=None)
    counts = study.counts()
    assert counts["pruned"] > 0 and counts["complete"] + counts["pruned"] == 25
    pruned = study.trials_df().query("state == 'pruned'")
    assert pruned["value"].isna().all()


def test_trial_handle():
    seen = {}

    def objective(params, trial):
        seen["number"] = trial.number
        assert trial.params == params
        trial.set_user_attr("note", "hello")
        trial.log_metrics({"extra": 1.0}, step=0)
        trial.report(1.0, 0)
        assert trial.should_prune() is False
        return 1.0

    study = hpo.tune(objective, SPACE, n_trials=1, pruner="none", tracking=None)
    assert seen["number"] == 0
    assert study.trials[0].user_attrs["note"] == "hello"
    assert study.trials[0].intermediate_values == {0: 1.0}


def test_timeout_stops_starting_trials():
    def objective(params):
        time.sleep(0.05)
        return params["x"]

    study = hpo.tune(objective, SPACE, timeout=0.5, tracking=None)
    assert 1 <= len(study.trials) < 40  # stopped by time, not by a trial count


def test_callbacks_see_every_trial():
    seen = []
    hpo.tune(lambda p: p["x"], SPACE, n_trials=6, callbacks=[lambda s, t: seen.append(t.number)], tracking=None)
    assert seen == list(range(6))


def test_trials_df():
    study = hpo.tune(lambda p: p["x"] + p["n"], SPACE, n_trials=5, seed=0, tracking=None)
    df = study.trials_df()
    assert isinstance(df, pd.DataFrame)
    assert list(df.columns) == ["number", "state", "value", "params.x", "params.n", "duration_s", "datetime_start", "error"]
    assert list(df.number) == [0, 1, 2, 3, 4]
    assert all(math.isclose(v, x + n) for v, x, n in zip(df.value, df["params.x"], df["params.n"]))


def test_study_by_space_name_and_dict():
    study = hpo.tune(lambda p: p["C"], "svc", n_trials=3, tracking=None)
    assert set(study.best_params) == {"C", "gamma"}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_trials": 0}, "n_trials: expected a positive integer, got 0"),
        ({"n_trials": 2.5}, "n_trials: expected a positive integer, got 2.5"),
        ({}, "n_trials: required for searcher 'tpe' unless a timeout is given"),
        ({"n_trials": 2, "direction": "up"}, "direction: expected 'minimize' or 'maximize', got 'up'"),
        ({"n_trials": 2, "timeout": -1}, "timeout: expected a positive number of seconds, got -1"),
        ({"n_trials": 2, "seed": "x"}, "seed: expected an integer from 0 to 2**32 - 1, got 'x'"),
        ({"n_trials": 2, "executor": "gpu"}, "executor: unknown executor 'gpu'"),
        ({"n_trials": 2, "storage": "study.txt"}, "storage: expected an RDB URL"),
        ({"n_trials": 2, "tracking": "mlruns"}, "tracking: MLflow 3 refuses its old file store"),
        ({"n_trials": 2, "catch": (int,)}, "catch: expected Exception subclasses, got <class 'int'>"),
        ({"n_trials": 2, "study_name": ""}, "study_name: expected a non-empty string, got ''"),
    ],
)
def test_bad_arguments_are_named(kwargs, message, workdir):
    kwargs.setdefault("tracking", None)
    with pytest.raises(ConfigError) as info:
        hpo.tune(lambda p: 0.0, SPACE, **kwargs)
    assert str(info.value).startswith(message), str(info.value)
    assert list(workdir.iterdir()) == []  # nothing written


def test_import_hpo_stays_light():
    import subprocess
    import sys

    code = (
        "import sys, hpo, hpo._cli; "
        "heavy = [m for m in ('torch', 'ray', 'mlflow', 'optuna', 'sklearn', 'pandas') if m in sys.modules]; "
        "print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def sleeps_on_odd(params, trial):
    try:
        if params["n"] % 2:
            time.sleep(30)
    except Exception:  # an objective's broad except must not swallow the timeout
        return -1.0
    return float(params["n"])


def test_trial_timeout_stops_and_fails_the_trial(tracking_uri, mlflow_client):
    start = time.monotonic()
    study = hpo.tune(sleeps_on_odd, {"n": {"int": [0, 3]}}, searcher="grid", trial_timeout=0.5,
                     study_name="timeouts", tracking=tracking_uri)
    assert time.monotonic() - start < 20
    by_n = {t.params["n"]: t for t in study.trials}
    assert {n: t.state.name for n, t in by_n.items()} == {0: "COMPLETE", 1: "FAIL", 2: "COMPLETE", 3: "FAIL"}
    assert by_n[1].user_attrs["hpo:error"] == f"TrialTimeout: trial {by_n[1].number} ran past trial_timeout=0.5 s"
    _, children = study_runs(mlflow_client, "timeouts")
    failed = [r for r in children if r.info.status == "FAILED"]
    assert len(failed) == 2 and all(r.data.tags["hpo.error"].startswith("TrialTimeout: ") for r in failed)


@pytest.mark.parametrize("value", [0, -1, "2", True, float("inf")])
def test_bad_trial_timeout(value):
    with pytest.raises(hpo.ConfigError, match=rf"^trial_timeout: expected a positive number of seconds, got {value!r}$"):
        hpo.tune(lambda p: 0.0, {"x": [1]}, n_trials=1, trial_timeout=value, tracking=None)


def test_plots_false_leaves_the_plots_out(tracking_uri, mlflow_client):
    study = hpo.tune(lambda p: p["x"] ** 2, {"x": hpo.Float(-1, 1)}, n_trials=4, study_name="noplots",
                     tracking=tracking_uri, plots=False)
    artifacts = {a.path for a in mlflow_client.list_artifacts(study.mlflow_run_id)}
    assert "summary.md" in artifacts and "plots" not in artifacts


def test_plots_default_to_hpo_plots(tracking_uri, mlflow_client, monkeypatch):
    monkeypatch.setenv("HPO_PLOTS", "on")
    study = hpo.tune(lambda p: p["x"] ** 2, {"x": hpo.Float(-1, 1)}, n_trials=3, study_name="envplots",
                     tracking=tracking_uri)
    assert [a.path for a in mlflow_client.list_artifacts(study.mlflow_run_id, "plots")]
    monkeypatch.delenv("HPO_PLOTS")
    assert hpo._plan.plan_study(lambda p: 0.0, {"x": [1]}, hpo._plan.Settings(n_trials=1, tracking=None)).plots is True
    monkeypatch.setenv("HPO_PLOTS", "maybe")
    with pytest.raises(hpo.ConfigError, match=r"^HPO_PLOTS: expected 0 or 1, got 'maybe'$"):
        hpo.tune(lambda p: 0.0, {"x": [1]}, n_trials=1, tracking=None)


@pytest.mark.parametrize("value", ["yes", 1, "true"])
def test_bad_plots(value):
    with pytest.raises(hpo.ConfigError, match=rf"^plots: expected true or false, got {value!r}$"):
        hpo.tune(lambda p: 0.0, {"x": [1]}, n_trials=1, plots=value, tracking=None)
