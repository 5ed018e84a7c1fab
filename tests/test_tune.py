"""tune(): the objective contract, failed and pruned trials, timeouts, callbacks, results."""

from __future__ import annotations

import math

import pandas as pd
import pytest

import hpo
from hpo import Float, Int, Space

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
