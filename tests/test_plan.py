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


def test_a_grid_like_space_without_n_trials_points_to_the_grid_searcher():
    """GridSearchCV's habit: a dict of lists and no count. TPE needs n_trials; the grid does not."""
    grid = {"C": [0.1, 1.0, 10.0], "kernel": ["rbf", "linear"]}
    with pytest.raises(ConfigError) as info:
        hpo.tune(lambda p: p["C"], grid, tracking=None)
    assert str(info.value) == (
        "n_trials: required for searcher 'tpe' unless a timeout is given; "
        "or searcher='grid' to run each of this space's 6 points once"
    )
    assert len(hpo.tune(lambda p: p["C"], grid, searcher="grid", tracking=None).trials) == 6


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


@pytest.mark.parametrize("kind", ["estimator", "pipeline"])
def test_a_bare_estimator_is_told_to_be_wrapped(kind, workdir):
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    # A Pipeline's repr spans lines.
    objective = SVC() if kind == "estimator" else make_pipeline(StandardScaler(with_mean=False), SVC(C=3.0))
    with pytest.raises(ConfigError) as info:
        hpo.tune(objective, {"C": Float(0.1, 10)}, n_trials=2, tracking=None)
    message = str(info.value)
    assert message.startswith("objective: got the estimator SVC()" if kind == "estimator" else "objective: got ")
    assert "\n" not in message
    assert message.endswith("; wrap it with its data: hpo.trainers.SklearnTrainer(estimator, X, y)")
    assert info.value.key == "objective" and list(workdir.iterdir()) == []


def no_arguments():
    return 0.0


def three_required(a, b, c):
    return 0.0


def keyword_only(params, *, lr):
    return 0.0


def two_and_a_default(params, trial, scale=1.0):
    return params["x"] * scale


def any_arguments(*args, **kwargs):
    return 0.0


@pytest.mark.parametrize(
    ("objective", "message"),
    [
        (no_arguments, "no_arguments() cannot be called as objective(params, trial) or objective(params): too many"),
        (three_required, "three_required(a, b, c) cannot be called as objective(params, trial) or objective(params): "),
        (
            keyword_only,
            "keyword_only(params, *, lr) cannot be called as objective(params, trial) or objective(params): "
            "missing a required argument: 'lr'",
        ),
        (lambda: 0.0, "<lambda>() cannot be called as"),
    ],
)
def test_an_objective_no_trial_can_call_is_refused_before_any_trial(objective, message, workdir):
    calls = []
    with pytest.raises(ConfigError) as info:
        hpo.tune(objective, SPACE, n_trials=2, tracking=None, callbacks=[lambda s, t: calls.append(t)])
    assert str(info.value).startswith(f"objective: {message}"), str(info.value)
    assert "\n" not in str(info.value) and calls == [] and list(workdir.iterdir()) == []


@pytest.mark.parametrize("objective", [two_and_a_default, any_arguments, lambda params: 0.0, abs])
def test_objectives_that_can_be_called_pass(objective):
    # abs: a builtin of one argument, called as objective(params) like a one-argument function.
    plan = hpo._plan.plan_study(objective, SPACE, hpo._plan.Settings(n_trials=1, tracking=None))
    assert plan.objective is objective


def test_a_direction_contradicting_a_trainer_is_refused(workdir):
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    from hpo.trainers import SklearnTrainer

    X, y = load_iris(return_X_y=True)
    trainer = SklearnTrainer(LogisticRegression(max_iter=200), X, y, cv=2, scoring="accuracy")
    with pytest.raises(ConfigError) as info:
        hpo.tune(trainer, {"C": Float(0.1, 10)}, n_trials=2, direction="minimize", tracking=None)
    assert str(info.value) == (
        "direction: 'minimize' contradicts the objective's direction 'maximize' (SklearnTrainer, metric "
        "accuracy); leave direction out"
    )
    assert list(workdir.iterdir()) == []
    study = hpo.tune(trainer, {"C": Float(0.1, 10)}, n_trials=2, direction="maximize", tracking=None)
    assert study.direction == "maximize"  # the same direction, given again: fine


def test_a_direction_contradicting_a_function_attribute_is_refused():
    def loss(params):
        return params["x"] ** 2

    loss.direction = "minimize"
    with pytest.raises(
        ConfigError,
        match=r"^direction: 'maximize' contradicts the objective's direction 'minimize' \(loss\); leave direction out$",
    ):
        hpo.tune(loss, SPACE, n_trials=2, direction="maximize", tracking=None)
    assert hpo.tune(loss, SPACE, n_trials=2, direction="minimize", tracking=None).direction == "minimize"
    assert hpo.tune(loss, SPACE, n_trials=2, tracking=None).direction == "minimize"
    assert hpo.tune(lambda p: 0.0, SPACE, n_trials=2, direction="maximize", tracking=None).direction == "maximize"
