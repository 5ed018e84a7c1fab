"""plan_study(): every argument of tune() checked before anything is created or written."""

from __future__ import annotations

import pytest

import hpo
from hpo import ConfigError, Float, Int, Space

SPACE = Space({"x": Float(-3.0, 3.0), "n": Int(0, 5)})


def test_direction_comes_from_the_objective():
    class Scorer:
        direction = "maximize"

        def __call__(self, params, trial):
            return params["x"]

    study = hpo.tune(Scorer(), SPACE, n_trials=12, seed=0, tracking=None)
    assert study.direction == "maximize"
    assert study.best_value == max(t.value for t in study.trials)


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


@pytest.mark.parametrize("value", [0, -1, "2", True, float("inf")])
def test_bad_trial_timeout(value):
    with pytest.raises(
        hpo.ConfigError, match=rf"^trial_timeout: expected a positive number of seconds, got {value!r}$"
    ):
        hpo.tune(lambda p: 0.0, {"x": [1]}, n_trials=1, trial_timeout=value, tracking=None)


def test_plots_default_to_hpo_plots(tracking_uri, mlflow_client, monkeypatch):
    monkeypatch.setenv("HPO_PLOTS", "on")
    study = hpo.tune(
        lambda p: p["x"] ** 2, {"x": hpo.Float(-1, 1)}, n_trials=3, study_name="envplots", tracking=tracking_uri
    )
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
