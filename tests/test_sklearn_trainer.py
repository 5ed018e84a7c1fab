"""SklearnTrainer: cross_val_score's scores, fold-level pruning, refit logged to MLflow."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes
from sklearn.linear_model import Ridge
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier

import hpo
from hpo import ConfigError, trainers
from hpo._config import build_objective, load_config
from hpo.trainers import SklearnTrainer, make_splitter
from tests.conftest import REPO, study_runs

X, y = load_breast_cancer(return_X_y=True)
GROUPS = np.arange(len(y)) % 20
DEPTHS = {"max_depth": hpo.Int(1, 3)}


class CountingTree(DecisionTreeClassifier):
    """A real decision tree that counts its fits (for counting what pruning saves)."""

    fits = 0

    def fit(self, X, y, sample_weight=None, check_input=True):
        CountingTree.fits += 1
        return super().fit(X, y, sample_weight=sample_weight, check_input=check_input)


@pytest.mark.parametrize(
    "cv",
    [
        {"name": "kfold", "n_splits": 5, "shuffle": True, "seed": 3},
        {"name": "stratified", "n_splits": 4},
        {"name": "timeseries", "n_splits": 4, "gap": 10},
        {"name": "group", "n_splits": 5},
        {"name": "stratified_group", "n_splits": 4, "shuffle": True, "seed": 1},
        5,
    ],
)
def test_mean_score_equals_cross_val_score(cv):
    groups = GROUPS if isinstance(cv, dict) and "group" in cv["name"] else None
    trainer = SklearnTrainer(
        DecisionTreeClassifier(random_state=0), X, y, cv=cv, scoring="accuracy", groups=groups, refit=False
    )
    study = hpo.tune(trainer, DEPTHS, searcher="grid", tracking=None)
    splitter = make_splitter(cv, classifier=True, groups=groups)
    assert len(study.trials) == 3 and study.direction == "maximize"
    for trial in study.trials:
        expected = cross_val_score(
            DecisionTreeClassifier(random_state=0, **trial.params), X, y, cv=splitter, groups=groups, scoring="accuracy"
        ).mean()
        assert trial.value == pytest.approx(expected, abs=1e-12, rel=0)
        assert len(trial.intermediate_values) == len(trainer.folds)


def test_pipeline_params_fit_params_and_parallel_folds():
    Xd, yd = load_diabetes(return_X_y=True)
    weights = np.linspace(0.5, 2.0, len(yd))
    pipeline = Pipeline([("scale", StandardScaler()), ("ridge", Ridge())])
    space = {"ridge__alpha": hpo.Float(0.01, 10.0, log=True)}
    values = {}
    for n_jobs in (None, 2):
        trainer = SklearnTrainer(
            pipeline,
            Xd,
            yd,
            cv={"name": "kfold", "shuffle": True},
            scoring="r2",
            fit_params={"ridge__sample_weight": weights},
            n_jobs=n_jobs,
            refit=False,
        )
        study = hpo.tune(trainer, space, n_trials=4, seed=0, tracking=None)
        values[n_jobs] = [t.value for t in study.trials]
    assert values[None] == values[2]
    alpha = study.trials[0].params["ridge__alpha"]
    expected = cross_val_score(
        Pipeline([("scale", StandardScaler()), ("ridge", Ridge(alpha=alpha))]),
        Xd,
        yd,
        cv=trainer.splitter,
        scoring="r2",
        params={"ridge__sample_weight": weights},
    ).mean()
    assert values[None][0] == pytest.approx(expected, abs=1e-12, rel=0)


def test_pruned_trials_stop_after_the_fold_they_were_pruned_at():
    CountingTree.fits = 0
    trainer = SklearnTrainer(CountingTree(random_state=0), X, y, cv=5, scoring="accuracy", refit=True)
    study = hpo.tune(
        trainer,
        {"max_depth": hpo.Int(1, 12), "min_samples_leaf": hpo.Int(1, 60)},
        n_trials=30,
        searcher="random",
        seed=0,
        pruner={"name": "median", "n_startup_trials": 3},
        tracking=None,
    )
    steps = [len(t.intermediate_values) for t in study.trials]
    pruned = [len(t.intermediate_values) for t in study.trials if t.state.name == "PRUNED"]
    assert pruned and all(n < 5 for n in pruned)  # stopped before their last fold
    assert all(n == 5 for t, n in zip(study.trials, steps) if t.state.name == "COMPLETE")
    assert CountingTree.fits == sum(steps) + 1  # one fit per fold run, plus the refit
    assert sum(steps) < 30 * 5


def test_refit_best_model_is_in_mlflow_and_predicts(tracking_uri, mlflow_client):
    import mlflow.sklearn

    trainer = SklearnTrainer(DecisionTreeClassifier(random_state=0), X, y, cv=3, scoring="accuracy")
    study = hpo.tune(trainer, DEPTHS, searcher="grid", study_name="refit", tracking=tracking_uri)
    assert trainer.best_model_.get_params()["max_depth"] == study.best_params["max_depth"]
    parents, children = study_runs(mlflow_client, "refit")
    assert parents[0].info.status == "FINISHED"
    model = mlflow.sklearn.load_model(f"runs:/{study.mlflow_run_id}/model")
    assert np.array_equal(model.predict(X), trainer.best_model_.predict(X))
    info = mlflow.models.get_model_info(f"runs:/{study.mlflow_run_id}/model")
    assert info.signature is not None and len(info.signature.inputs.to_dict()) >= 1
    for run in children:  # per-fold scores and fit times, with the mean and std
        history = mlflow_client.get_metric_history(run.info.run_id, "fold_score")
        assert [m.step for m in sorted(history, key=lambda m: m.step)] == [0, 1, 2]
        assert {"cv_mean", "cv_std", "fold_fit_time", "value"} <= set(run.data.metrics)
        assert run.data.metrics["cv_mean"] == pytest.approx(run.data.metrics["value"])


def test_bad_scoring_and_estimator():
    with pytest.raises(ConfigError, match=r"^scoring: unknown scorer 'acurracy'; did you mean 'accuracy'\?$"):
        SklearnTrainer(DecisionTreeClassifier(), X, y, scoring="acurracy")
    from sklearn.metrics import accuracy_score, make_scorer

    with pytest.raises(ConfigError, match=r"^scoring: accuracy_score is a metric\(y_true, y_pred\), not a scorer"):
        SklearnTrainer(DecisionTreeClassifier(), X, y, scoring=accuracy_score)
    assert SklearnTrainer(DecisionTreeClassifier(), X, y, scoring=make_scorer(accuracy_score), cv=2).scorer is not None
    with pytest.raises(ConfigError, match=r"^estimator: cannot import 'sklearn.tree.DecisionTreeClassifer'"):
        SklearnTrainer("sklearn.tree.DecisionTreeClassifer", X, y)
    with pytest.raises(
        ConfigError, match=r"^estimator: 'builtins.list' did not give a scikit-learn estimator, got list$"
    ):
        SklearnTrainer("builtins.list", X, y)


@pytest.mark.parametrize(
    ("trainer", "data", "message"),
    [
        (
            {"kind": "sklaern"},
            {"builtin": "iris"},
            "trainer.kind: unknown trainer 'sklaern', expected one of sklearn, torch or a "
            "package.module:attr; did you mean 'sklearn'?",
        ),
        ({"kind": "sklearn"}, {"builtin": "iris"}, "trainer.estimator: missing key"),
        (
            {"kind": "sklearn", "estimator": "sklearn.svm.SVC", "cv": "kfolds"},
            {"builtin": "iris"},
            "trainer.cv: unknown splitter 'kfolds'",
        ),
        (
            {"kind": "sklearn", "estimator": "sklearn.svm.SVC", "scoring": "acc"},
            {"builtin": "iris"},
            "trainer.scoring: unknown scorer 'acc'",
        ),
        (
            {"kind": "sklearn", "estimator": "sklearn.svm.SVC", "refit": "yes"},
            {"builtin": "iris"},
            "trainer.refit: expected true or false, got 'yes'",
        ),
        (
            {"kind": "sklearn", "estimator": "sklearn.svm.SVC", "folds": 3},
            {"builtin": "iris"},
            "trainer: unknown key 'folds'",
        ),
        (
            {"kind": "sklearn", "estimator": {"class": "sklearn.svm.SVC", "params": {"kernal": "rbf"}}},
            {"builtin": "iris"},
            "trainer.estimator: sklearn.svm.SVC(kernal='rbf'): ",
        ),
        ({"kind": "sklearn", "estimator": "sklearn.svm.SVC"}, None, "data: missing key"),
    ],
)
def test_config_errors_name_the_key(trainer, data, message):
    with pytest.raises(ConfigError) as info:
        trainers.from_config(trainer, data)
    assert str(info.value).startswith(message), str(info.value)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("name", ["digits_svc", "classification", "regression", "timeseries", "store_sales"])
def test_example_configs_build(name, monkeypatch):
    monkeypatch.chdir(REPO)
    config = load_config(Path("examples") / f"{name}.yaml")
    trainer = build_objective(config)
    assert isinstance(trainer, SklearnTrainer)
    if name == "timeseries":  # leakage safety on the real example: gap kept, no future rows
        for train, test in trainer.folds:
            assert train.max() + 7 < test.min()


# -- categorical features (data.categorical) --------------------------------------------------

SALES_CONFIG = """
name: sales
trainer:
  kind: sklearn
  estimator: {class: sklearn.ensemble.HistGradientBoostingRegressor, params: {random_state: 0}}
  cv: {name: kfold, n_splits: 3, shuffle: true, seed: 0}
  scoring: r2
data: {path: sales.csv, target: sales, categorical: [store]}
space: {max_iter: {int: [10, 30], step: 10}, learning_rate: [0.2, 0.3]}
n_trials: 3
seed: 0
"""


def _sales_csv(folder: Path) -> Path:
    """Sales that depend mostly on the store, a column of strings, and a little on price."""
    import pandas as pd

    rng = np.random.default_rng(0)
    store = rng.choice(["north", "south", "east", "west", "mall"], 300)
    price = rng.uniform(1, 3, 300)
    effect = {"north": 10.0, "south": -10.0, "east": 0.0, "west": 5.0, "mall": 20.0}
    sales = np.array([effect[s] for s in store]) - 2 * price + rng.normal(0, 0.5, 300)
    path = folder / "sales.csv"
    pd.DataFrame({"store": store, "price": price, "sales": sales}).to_csv(path, index=False)
    return path


def test_categorical_column_runs_end_to_end_from_a_config(workdir, tracking_uri, mlflow_client):
    import mlflow.sklearn
    import pandas as pd

    from tests.conftest import hpo_cli

    _sales_csv(workdir)
    (workdir / "study.yaml").write_text(SALES_CONFIG)
    result = hpo_cli("run", "study.yaml", "--tracking", tracking_uri, "-q", cwd=workdir)
    assert result.returncode == 0, result.stderr
    parents, children = study_runs(mlflow_client, "sales")
    assert len(children) == 3 and all(run.data.metrics["value"] > 0.95 for run in children)
    # The refit model in MLflow takes the store as a category, as the trials did.
    model = mlflow.sklearn.load_model(f"runs:/{parents[0].info.run_id}/model")
    frame = pd.read_csv(workdir / "sales.csv").astype({"store": "category"})
    assert list(model.is_categorical_) == [True, False]
    assert np.corrcoef(model.predict(frame[["store", "price"]]), frame["sales"])[0, 1] > 0.97


def test_categorical_scores_equal_cross_val_score(workdir):
    import pandas as pd
    from sklearn.ensemble import HistGradientBoostingRegressor

    _sales_csv(workdir)
    data = {"path": "sales.csv", "target": "sales", "categorical": ["store"]}
    block = {
        "kind": "sklearn",
        "estimator": "sklearn.ensemble.HistGradientBoostingRegressor",
        "cv": {"name": "kfold", "n_splits": 3, "shuffle": True, "seed": 0},
        "scoring": "r2",
        "refit": False,
    }
    trainer = SklearnTrainer.from_config(block, data, base=workdir)
    study = hpo.tune(trainer, {"max_iter": [10, 20]}, searcher="grid", tracking=None)
    frame = pd.read_csv(workdir / "sales.csv").astype({"store": "category"})
    for trial in study.trials:
        expected = cross_val_score(
            HistGradientBoostingRegressor(**trial.params),
            frame[["store", "price"]],
            frame["sales"],
            cv=trainer.splitter,
            scoring="r2",
        ).mean()
        assert trial.value == pytest.approx(expected, abs=1e-12, rel=0)
    assert study.best_value > 0.95  # the stores are told apart


def test_categorical_columns_need_an_estimator_that_takes_them(workdir):
    import pandas as pd
    from sklearn.compose import make_column_transformer
    from sklearn.ensemble import HistGradientBoostingRegressor
    from sklearn.preprocessing import OneHotEncoder

    _sales_csv(workdir)
    data = {"path": "sales.csv", "target": "sales", "categorical": ["store"]}
    with pytest.raises(ConfigError) as info:
        trainers.from_config({"kind": "sklearn", "estimator": "sklearn.svm.SVR"}, data, base=workdir)
    assert str(info.value) == (
        "data.categorical: columns ['store'] are categorical: HistGradientBoostingClassifier/Regressor support "
        "them; SVR does not: encode them in a Pipeline (OneHotEncoder) or drop them"
    )
    hand_set = {"class": "sklearn.ensemble.HistGradientBoostingRegressor", "params": {"categorical_features": None}}
    with pytest.raises(ConfigError, match=r"^data\.categorical: columns \['store'\] are categorical, but "):
        trainers.from_config({"kind": "sklearn", "estimator": hand_set}, data, base=workdir)
    # A Pipeline encodes them itself, or ends with HistGradientBoosting.
    encoded = Pipeline(
        [("encode", make_column_transformer((OneHotEncoder(), ["store"]), remainder="passthrough")), ("ridge", Ridge())]
    )
    native = Pipeline([("scale", "passthrough"), ("hgb", HistGradientBoostingRegressor())])
    for estimator, space in ((encoded, {"ridge__alpha": [1.0]}), (native, {"hgb__max_iter": [10]})):
        block = {"kind": "sklearn", "estimator": estimator, "cv": 3, "refit": False}
        trainer = trainers.from_config(block, data, base=workdir)
        assert hpo.tune(trainer, space, searcher="grid", tracking=None).best_value > 0.8  # the stores count
    # From Python, a DataFrame's category columns of strings are checked the same way.
    frame = pd.read_csv(workdir / "sales.csv").astype({"store": "category"})
    from sklearn.svm import SVR

    with pytest.raises(ConfigError, match=r"^X: columns \['store'\] are categorical: .* SVR does not: "):
        SklearnTrainer(SVR(), frame[["store", "price"]], frame["sales"])


def test_a_ready_made_space_for_a_whole_pipeline_names_the_step():
    from sklearn.ensemble import HistGradientBoostingClassifier

    pipeline = Pipeline([("scale", StandardScaler()), ("hgb", HistGradientBoostingClassifier(max_iter=10))])
    trainer = SklearnTrainer(pipeline, X[:100], y[:100], cv=2, refit=False)
    with pytest.raises(ConfigError) as info:
        hpo.tune(trainer, "gradient_boosting", n_trials=1, tracking=None)
    assert str(info.value) == (
        "space.learning_rate: not a parameter of Pipeline; every parameter of this space fits the step 'hgb': "
        "use space: {preset: gradient_boosting, step: hgb}"
    )
    with pytest.raises(ConfigError, match=r"fits the step 'hgb': name them hgb__NAME \(hgb__max_iter, \.\.\.\)$"):
        hpo.tune(trainer, {"max_iter": [5, 10]}, n_trials=1, tracking=None)
    study = hpo.tune(trainer, {"preset": "gradient_boosting", "step": "hgb"}, n_trials=1, seed=0, tracking=None)
    assert set(study.best_params) == {f"hgb__{name}" for name in hpo.search_spaces.load("gradient_boosting")}
