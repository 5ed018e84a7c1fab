"""tune(): the objective contract, failed and pruned trials, timeouts, callbacks, results."""

from __future__ import annotations

import inspect
import math

import pandas as pd
import pytest

import hpo
from hpo import Float, Int, Space
from tests.conftest import study_runs

SPACE = Space({"x": Float(-3.0, 3.0), "n": Int(0, 5)})


def test_two_and_one_argument_objectives():
    two = hpo.tune(lambda params, trial: params["x"] ** 2, SPACE, n_trials=10, seed=0, tracking=None)
    one = hpo.tune(lambda params: params["x"] ** 2, SPACE, n_trials=10, seed=0, tracking=None)
    assert two.best_params == one.best_params
    assert two.best_value == pytest.approx(min(t.value for t in two.trials))
    assert two.best_trial.number == min(two.trials, key=lambda t: t.value).number


def test_numpy_scalars_are_accepted():
    import numpy as np

    study = hpo.tune(lambda p: np.float32(p["x"]), SPACE, n_trials=3, tracking=None)
    assert study.counts()["complete"] == 3


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


def test_trials_df():
    study = hpo.tune(lambda p: p["x"] + p["n"], SPACE, n_trials=5, seed=0, tracking=None)
    df = study.trials_df()
    assert isinstance(df, pd.DataFrame)
    assert list(df.columns) == [
        "number",
        "state",
        "value",
        "params.x",
        "params.n",
        "duration_s",
        "datetime_start",
        "error",
    ]
    assert list(df.number) == [0, 1, 2, 3, 4]
    assert all(math.isclose(v, x + n) for v, x, n in zip(df.value, df["params.x"], df["params.n"]))


def test_study_by_space_name_and_dict():
    study = hpo.tune(lambda p: p["C"], "svc", n_trials=3, tracking=None)
    assert set(study.best_params) == {"C", "gamma"}


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


def test_plots_false_leaves_the_plots_out(tracking_uri, mlflow_client):
    study = hpo.tune(
        lambda p: p["x"] ** 2,
        {"x": hpo.Float(-1, 1)},
        n_trials=4,
        study_name="noplots",
        tracking=tracking_uri,
        plots=False,
    )
    artifacts = {a.path for a in mlflow_client.list_artifacts(study.mlflow_run_id)}
    assert "summary.md" in artifacts and "plots" not in artifacts


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"n_jobs": 2},
            "n_jobs: tune() has no n_jobs (got 2); trials run at once on an executor: executor='ray' (every CPU) "
            "or executor={'kind': 'ray', 'workers': 2}",
        ),
        ({"n_iter": 30}, "n_iter: tune() has no n_iter (got 30); use n_trials=30"),
        ({"random_state": 7}, "random_state: tune() has no random_state (got 7); use seed=7"),
        (
            {"scoring": "accuracy"},
            "scoring: tune() has no scoring (got 'accuracy'); scoring is the trainer's: "
            "hpo.trainers.SklearnTrainer(estimator, X, y, scoring=..., cv=...)",
        ),
        ({"cv": 5}, "cv: tune() has no cv (got 5); cv is the trainer's: hpo.trainers.SklearnTrainer("),
        (
            {"objetives": {"a": "minimize"}},
            "objetives: not a keyword argument of tune(), got {'a': 'minimize'}; did you mean 'objectives'?",
        ),
        ({"metric": "loss"}, "metric: tune() has no metric (got 'loss'); the objective returns the metric"),
        ({"mode": "max"}, "mode: tune() has no mode (got 'max'); use direction='maximize'"),
        ({"n_trails": 5}, "n_trails: not a keyword argument of tune(), got 5; did you mean 'n_trials'?"),
        (
            {"verbosity": 1},
            "verbosity: not a keyword argument of tune(), got 1; its keyword arguments: n_trials, direction,",
        ),
    ],
)
def test_arguments_of_other_tools_say_where_the_setting_lives(kwargs, message, workdir):
    with pytest.raises(hpo.ConfigError) as info:
        hpo.tune(lambda p: p["x"], SPACE, n_trials=2, tracking=None, **kwargs)
    assert str(info.value).startswith(message), str(info.value)
    assert info.value.key == next(iter(kwargs)) and "\n" not in str(info.value)
    assert list(workdir.iterdir()) == []  # nothing written


@pytest.mark.parametrize("keyword", ["param_grid", "param_distributions"])
def test_a_scikit_learn_grid_points_to_space(keyword):
    # As with GridSearchCV(estimator, param_grid): the space left out, the grid given by keyword.
    with pytest.raises(hpo.ConfigError) as info:
        hpo.tune(lambda p: p["C"], n_trials=2, tracking=None, **{keyword: {"C": [1, 10]}})
    assert str(info.value).startswith(f"{keyword}: tune() has no {keyword} (got {{'C': [1, 10]}}); give the ")
    assert "as space, the second argument" in str(info.value)
    assert ("searcher='grid'" in str(info.value)) == (keyword == "param_grid")


def test_a_missing_space_is_a_config_error():
    with pytest.raises(hpo.ConfigError, match=r"^space: missing; give a Space, its dict form or a ready-made space"):
        hpo.tune(lambda p: 0.0, n_trials=2, tracking=None)
    assert repr(inspect.signature(hpo.tune).parameters["space"].default) == "<required>"


# -- conditional spaces ----------------------------------------------------------------------------

BRANCHED = {
    "model": hpo.Choice(
        {
            "quad": {"x": hpo.Float(-5, 5)},
            "sphere": {"x": hpo.Float(-5, 5), "y": hpo.Float(-5, 5)},
            "const": None,
        }
    ),
    "shift": hpo.Float(0, 0.1),
}


def branched(params):
    """Only the active parameters arrive, by their own names."""
    model = params["model"]
    expected = {"quad": {"x"}, "sphere": {"x", "y"}, "const": set()}[model]
    assert set(params) == {"model", "shift"} | expected, params
    if model == "const":
        return 3.0 + params["shift"]
    if model == "quad":
        return (params["x"] - 1) ** 2 + 0.5 + params["shift"]
    return params["x"] ** 2 + params["y"] ** 2 + params["shift"]


@pytest.mark.parametrize("searcher", ["random", "tpe"])
def test_a_conditional_space_samples_only_the_active_branch(searcher, tracking_uri, mlflow_client):
    study = hpo.tune(
        branched, BRANCHED, n_trials=30, searcher=searcher, seed=0, direction="minimize", tracking=tracking_uri
    )
    models = {t.params["model"] for t in study.trials}
    assert models == {"quad", "sphere", "const"}  # every branch is covered
    names = {"quad": ["x"], "sphere": ["x", "y"], "const": []}
    for t in study.trials:
        model = t.params["model"]
        assert set(t.params) == {"model", "shift"} | {f"model.{model}.{n}" for n in names[model]}  # by path
    df = study.trials_df()
    quad = df[df["params.model"] == "quad"]
    assert quad["params.model.sphere.y"].isna().all() and quad["params.model.quad.x"].notna().all()
    assert set(study.best_params) <= {"model", "x", "y", "shift"} and "model" in study.best_params
    _, children = study_runs(mlflow_client, study.name)
    for run in children:  # MLflow: the trial's active parameters only, by path
        number = int(run.data.tags["hpo.trial_number"])
        assert set(run.data.params) == set(study.trials[number].params)


def test_tpe_models_each_branch_jointly():
    from hpo._searchers import make_sampler
    from hpo._space import space_from_spec

    sampler = make_sampler("tpe", space_from_spec(BRANCHED), seed=0)
    assert sampler._group and sampler._multivariate
    flat = make_sampler("tpe", space_from_spec({"x": hpo.Float(0, 1)}), seed=0)
    assert not flat._group


def test_a_grid_over_branches_runs_each_point_once():
    seen = []

    def record(params):
        seen.append(tuple(sorted(params.items())))
        return float(params.get("k", 0))

    space = {"m": {"choice": {"a": {"k": [1, 2, 3]}, "b": {"k": [1, 2], "j": [0, 1]}, "c": None}}}
    study = hpo.tune(record, space, searcher="grid", seed=0, tracking=None, direction="minimize")
    assert len(study.trials) == len(seen) == 3 + 4 + 1 == len(set(seen))
    assert (("m", "c"),) in seen and (("j", 1), ("k", 2), ("m", "b")) in seen
