"""SklearnTrainer: cross_val_score's scores, fold-level pruning, refit logged to MLflow."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes
from sklearn.linear_model import Ridge
from sklearn.metrics import accuracy_score, r2_score
from sklearn.model_selection import GroupKFold, StratifiedKFold, cross_val_score, train_test_split
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
        (
            {"kind": "sklearn", "task": "regresion"},
            {"builtin": "iris"},
            "trainer.task: expected classification or regression, got 'regresion'; did you mean 'regression'?",
        ),
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
        (
            {"kind": "sklearn", "estimator": "sklearn.svm.SVC", "test_fraction": 0.7},
            {"builtin": "iris"},
            "trainer.test_fraction: expected a number in (0, 0.5], got 0.7",
        ),
    ],
)
def test_config_errors_name_the_key(trainer, data, message):
    with pytest.raises(ConfigError) as info:
        trainers.from_config(trainer, data)
    assert str(info.value).startswith(message), str(info.value)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    "name", ["digits_svc", "classification", "regression", "timeseries", "store_sales", "model_selection"]
)
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


# -- the held-out test set (test_fraction, test_data) -------------------------------------------


def test_test_fraction_is_never_searched_and_scored_once_at_the_end(tracking_uri, mlflow_client):
    trainer = SklearnTrainer(DecisionTreeClassifier(random_state=0), X, y, cv=3, scoring="accuracy", test_fraction=0.2)
    # The split, independently: a classifier's int cv is stratified, so is the test set (seed 0).
    kept, held = (
        np.sort(part) for part in train_test_split(np.arange(len(y)), test_size=0.2, random_state=0, stratify=y)
    )
    assert np.array_equal(trainer.test_indices, held) and np.array_equal(trainer.train_indices, kept)
    assert np.array_equal(trainer.X_test, X[held]) and np.array_equal(trainer.X, X[kept])
    seen = set()
    for train, test in trainer.folds:  # the folds index the kept rows only
        seen |= set(kept[train]) | set(kept[test])
    assert seen == set(kept) and not seen & set(held)

    study = hpo.tune(trainer, DEPTHS, searcher="grid", study_name="held-out", tracking=tracking_uri)
    for trial in study.trials:  # the trials scored the kept rows only
        expected = cross_val_score(
            DecisionTreeClassifier(random_state=0, **trial.params), X[kept], y[kept], cv=StratifiedKFold(3)
        ).mean()
        assert trial.value == pytest.approx(expected, abs=1e-12, rel=0)
    refit = DecisionTreeClassifier(random_state=0, **study.best_params).fit(X[kept], y[kept])
    score = accuracy_score(y[held], refit.predict(X[held]))
    best = study.best_trial.number
    assert trainer.best_test_score_ == pytest.approx(score, abs=1e-12)
    assert study.test_score == {
        "metric": "test_accuracy",
        "value": pytest.approx(score),
        "rows": len(held),
        "trial": best,
    }
    assert np.array_equal(trainer.best_model_.predict(X), refit.predict(X))

    parents, _ = study_runs(mlflow_client, "held-out")
    parent = parents[0]
    assert parent.data.metrics["test_accuracy"] == pytest.approx(score, abs=1e-12)
    assert parent.data.params["trainer.test_fraction"] == "0.2"
    assert parent.data.params["trainer.data.test_rows"] == str(len(held))
    assert parent.data.params["trainer.data.rows"] == str(len(kept))
    contexts = {d.tags[0].value: d.dataset.profile for d in parent.inputs.dataset_inputs}
    assert set(contexts) == {"training", "testing"} and f'"num_rows": {len(held)}' in contexts["testing"]
    with open(mlflow_client.download_artifacts(parent.info.run_id, "summary.md")) as file:
        summary = file.read()
    line = f"- **Test score**: test_accuracy {score:.6g} on {len(held)} held-out rows (best trial {best}, scored once)"
    assert line in summary.splitlines()


def test_a_time_series_is_tested_on_its_last_rows_even_without_refit():
    Xd, yd = load_diabetes(return_X_y=True)
    trainer = SklearnTrainer(Ridge(), Xd, yd, cv={"name": "timeseries", "n_splits": 3}, test_fraction=0.1, refit=False)
    n = len(yd)
    held = np.arange(n - 45, n)  # ceil(0.1 * 442)
    assert np.array_equal(trainer.test_indices, held) and trainer.train_indices.max() == n - 46
    assert all(test.max() < n - 45 for _, test in trainer.folds)
    study = hpo.tune(trainer, {"alpha": [0.1, 1.0]}, searcher="grid", tracking=None)
    model = Ridge(**study.best_params).fit(Xd[: n - 45], yd[: n - 45])
    assert trainer.best_test_score_ == pytest.approx(r2_score(yd[held], model.predict(Xd[held])), abs=1e-12)
    assert trainer.best_model_ is None  # refit=False: scored, not kept or logged
    assert study.test_score["metric"] == "test_r2" and study.test_score["rows"] == 45


def test_a_group_splitter_holds_out_whole_groups_with_their_fit_params():
    weights = np.linspace(0.5, 2.0, len(y))
    trainer = SklearnTrainer(
        DecisionTreeClassifier(random_state=0),
        X,
        y,
        cv={"name": "group", "n_splits": 3},
        groups=GROUPS,
        fit_params={"sample_weight": weights},
        test_fraction=0.2,
    )
    assert not set(GROUPS[trainer.train_indices]) & set(GROUPS[trainer.test_indices])
    assert len(set(GROUPS[trainer.test_indices])) == 4  # 0.2 of the 20 groups
    assert np.array_equal(trainer.groups, GROUPS[trainer.train_indices])
    assert np.array_equal(trainer.fit_params["sample_weight"], weights[trainer.train_indices])
    study = hpo.tune(trainer, {"max_depth": [2]}, searcher="grid", tracking=None)
    assert study.test_score["rows"] == len(trainer.test_indices)
    assert isinstance(trainer.splitter, GroupKFold)


def test_test_data_of_your_own_and_bad_test_settings():
    trainer = SklearnTrainer(
        DecisionTreeClassifier(random_state=0), X[100:], y[100:], cv=3, test_data=(X[:100], y[:100])
    )
    study = hpo.tune(trainer, {"max_depth": [1, 3]}, searcher="grid", tracking=None)
    refit = DecisionTreeClassifier(random_state=0, **study.best_params).fit(X[100:], y[100:])
    assert trainer.best_test_score_ == pytest.approx(refit.score(X[:100], y[:100]), abs=1e-12)
    assert trainer.test_indices is None and trainer.describe()["data.test_rows"] == 100
    assert study.test_score["rows"] == 100
    with pytest.raises(ConfigError, match=r"^test_fraction: give test_fraction or test_data, not both; "):
        SklearnTrainer(DecisionTreeClassifier(), X, y, test_fraction=0.2, test_data=(X[:10], y[:10]))
    with pytest.raises(ConfigError, match=r"^test_data: expected X_test and y_test with the same number of rows"):
        SklearnTrainer(DecisionTreeClassifier(), X, y, test_data=(X[:10], y[:9]))
    with pytest.raises(ConfigError, match=r"^test_data: expected a pair \(X_test, y_test\), got "):
        SklearnTrainer(DecisionTreeClassifier(), X, y, test_data=X[:10])
    with pytest.raises(ConfigError, match=r"^test_fraction: expected a number in \(0, 0\.5\], got 0\.6$"):
        SklearnTrainer(DecisionTreeClassifier(), X, y, test_fraction=0.6)


# -- model selection: the space chooses the estimator ------------------------------------------

# Three families, one without parameters; random_state: [0] fixes the tree (a one-value choice).
CASH = {
    "estimator": hpo.Choice(
        {
            "sklearn.tree.DecisionTreeClassifier": {"max_depth": hpo.Int(1, 4), "random_state": [0]},
            "sklearn.neighbors.KNeighborsClassifier": {
                "n_neighbors": hpo.Int(1, 15),
                "weights": ["uniform", "distance"],
            },
            "sklearn.naive_bayes.GaussianNB": None,
        }
    )
}


def _family(path: str):
    """The class or factory a branch's dotted path names."""
    import importlib

    module, _, attr = path.partition(":") if ":" in path else path.rpartition(".")
    return getattr(importlib.import_module(module), attr)


def test_each_trial_fits_the_chosen_family_with_exactly_its_params():
    trainer = SklearnTrainer(None, X, y, cv=3, scoring="accuracy", refit=False)
    assert trainer.task == "classification" and isinstance(trainer.splitter, StratifiedKFold)
    study = hpo.tune(trainer, CASH, n_trials=12, searcher="random", pruner="none", seed=0, tracking=None)
    seen = set()
    for trial in study.trials:
        params = study.objective_params(trial.params)
        path = params.pop("estimator")
        seen.add(path)
        # Only the chosen branch's parameters, by path in Optuna and by name for the estimator.
        assert set(params) == set(CASH["estimator"].branches[path])
        assert set(trial.params) == {"estimator", *(f"estimator.{path}.{name}" for name in params)}
        expected = cross_val_score(_family(path)(**params), X, y, cv=trainer.splitter, scoring="accuracy").mean()
        assert trial.value == pytest.approx(expected, abs=1e-12, rel=0)
    assert seen == set(CASH["estimator"].branches)  # the random searcher drew every family
    assert trainer.describe()["estimator.choices"] == ", ".join(CASH["estimator"].branches)


def test_the_refit_best_model_is_the_best_trials_family(tracking_uri, mlflow_client):
    import mlflow.sklearn

    trainer = SklearnTrainer(None, X, y, cv=3, scoring="accuracy", test_fraction=0.2)
    study = hpo.tune(
        trainer, CASH, n_trials=6, searcher="random", pruner="none", seed=1, study_name="cash", tracking=tracking_uri
    )
    params = dict(study.best_params)
    family = _family(params.pop("estimator"))
    assert type(trainer.best_model_) is family
    assert trainer.best_model_.get_params() == family(**params).get_params()
    # The test rows are scored once, by the best family refit on the rows the search saw.
    refit = family(**params).fit(trainer.X, trainer.y)
    score = accuracy_score(trainer.y_test, refit.predict(trainer.X_test))
    assert trainer.best_test_score_ == pytest.approx(score, abs=1e-12)
    assert study.test_score["value"] == pytest.approx(score, abs=1e-12)
    model = mlflow.sklearn.load_model(f"runs:/{study.mlflow_run_id}/model")
    assert type(model) is family and np.array_equal(model.predict(X), refit.predict(X))

    parents, children = study_runs(mlflow_client, "cash")
    logged = parents[0].data.params
    assert logged["trainer.estimator"] == "chosen by the space (space.estimator)"
    assert logged["trainer.estimator.choices"] == ", ".join(CASH["estimator"].branches)
    assert logged["trainer.task"] == "classification" and logged["trainer.metric"] == "accuracy"
    assert parents[0].data.metrics["test_accuracy"] == pytest.approx(score, abs=1e-12)
    for run in children:  # each trial's run: the family and that family's params only
        chosen = run.data.params["estimator"]
        assert all(key.startswith(f"estimator.{chosen}.") for key in set(run.data.params) - {"estimator"})


def test_a_branch_may_be_a_pipeline_factory_and_a_float_target_is_a_regression(monkeypatch):
    monkeypatch.syspath_prepend(str(REPO))  # examples.pipelines
    Xd, yd = load_diabetes(return_X_y=True)
    space = {
        "estimator": hpo.Choice(
            {
                "examples.pipelines:scaled_ridge": {"ridge__alpha": hpo.Float(0.01, 10.0, log=True)},
                "sklearn.tree.DecisionTreeRegressor": {"max_depth": hpo.Int(1, 3), "random_state": [0]},
            }
        )
    }
    trainer = SklearnTrainer(None, Xd, yd, cv={"name": "kfold", "n_splits": 3, "shuffle": True, "seed": 0})
    assert trainer.task == "regression" and trainer.metric_name == "r2"
    study = hpo.tune(trainer, space, n_trials=6, searcher="random", pruner="none", seed=0, tracking=None)
    assert {t.params["estimator"] for t in study.trials} == set(space["estimator"].branches)
    params = dict(study.best_params)
    best = _family(params.pop("estimator"))().set_params(**params)
    assert repr(trainer.best_model_) == repr(best)  # the Pipeline's steps, or the tree, with the best params
    expected = cross_val_score(best, Xd, yd, cv=trainer.splitter, scoring="r2").mean()
    assert study.best_value == pytest.approx(expected, abs=1e-12, rel=0)


def _refusal(trainer, space) -> str:
    """The one-line error ``hpo.tune`` gives while planning, before any trial."""
    with pytest.raises(ConfigError) as info:
        hpo.tune(trainer, space, n_trials=1, tracking=None)
    assert "\n" not in str(info.value)
    return str(info.value)


def test_a_space_that_chooses_the_estimator_is_checked_before_the_study():
    trainer = SklearnTrainer(None, X[:60], y[:60], cv=2)
    svc = {"C": hpo.Float(0.1, 10.0, log=True)}
    assert _refusal(trainer, {"estimator": hpo.Choice({"sklearn.svm.SVX": svc})}) == (
        "space.estimator.sklearn.svm.SVX: cannot import 'sklearn.svm.SVX': module 'sklearn.svm' has no attribute 'SVX'"
    )
    typo = {"sklearn.svm.SVC": {"CC": hpo.Float(0.1, 10.0)}}
    assert _refusal(trainer, {"estimator": hpo.Choice(typo)}) == (
        "space.estimator.sklearn.svm.SVC.CC: not a parameter of SVC; did you mean 'C'?"
    )
    nested = {"sklearn.svm.SVC": {"kernel": hpo.Choice({"poly": {"degre": [2, 3]}, "rbf": None})}}
    assert _refusal(trainer, {"estimator": hpo.Choice(nested)}) == (
        "space.estimator.sklearn.svm.SVC.kernel.poly.degre: not a parameter of SVC; did you mean 'degree'?"
    )
    assert _refusal(trainer, {"estimator": hpo.Choice({"sklearn.svm.SVC": svc, "sklearn.svm.SVR": svc})}) == (
        "space.estimator.sklearn.svm.SVR: SVR is a regressor, but the task is classification (inferred from the "
        "int64 target; set task to change it): every branch must be a classifier"
    )
    assert _refusal(trainer, {"estimator": hpo.Choice({"sklearn.cluster.KMeans": None})}).startswith(
        "space.estimator.sklearn.cluster.KMeans: KMeans is neither a classifier nor a regressor, but the task is "
    )
    beside = {"estimator": hpo.Choice({"sklearn.svm.SVC": svc, "sklearn.naive_bayes.GaussianNB": None}), "tol": [0.1]}
    assert _refusal(trainer, beside).startswith(
        "space.tol: not a parameter of GaussianNB (the estimator of the branch 'sklearn.naive_bayes.GaussianNB')"
    )
    assert _refusal(trainer, {"estimator": ["sklearn.svm.SVC"], **svc}).startswith(
        "space.estimator: expected a choice of estimators, {choice: {sklearn.svm.SVC: {C: ...}, ...}}, got Categorical("
    )
    assert _refusal(trainer, svc) == (
        "estimator: None, and the space does not choose one (it has no 'estimator' choice): give an estimator "
        "(sklearn.svm.SVC), or a space whose estimator is a choice of them (space: classifiers, space: regressors)"
    )
    fixed = SklearnTrainer(DecisionTreeClassifier(), X[:60], y[:60], cv=2)
    assert _refusal(fixed, CASH) == (
        "space.estimator: the space chooses the estimator, but the trainer has one (DecisionTreeClassifier): "
        "pass estimator=None to let the space choose"
    )
    # A fixed estimator's conditional space is checked in every branch too.
    kernels = {"kernel": hpo.Choice({"poly": {"degre": [2, 3]}, "rbf": None})}
    assert _refusal(SklearnTrainer("sklearn.svm.SVC", X[:60], y[:60], cv=2), kernels) == (
        "space.kernel.poly.degre: not a parameter of SVC; did you mean 'degree'?"
    )


def test_the_task_can_be_given_and_must_fit():
    regression = SklearnTrainer(None, X[:60], y[:60].astype(float), cv=2)
    assert regression.task == "regression"  # floats: a regression, unless told
    told = SklearnTrainer(None, X[:60], y[:60].astype(float), task="classification", cv=2)
    assert told.task == "classification" and isinstance(told.splitter, StratifiedKFold)
    svc = {"sklearn.svm.SVC": None}
    assert _refusal(regression, {"estimator": hpo.Choice(svc)}) == (
        "space.estimator.sklearn.svm.SVC: SVC is a classifier, but the task is regression (inferred from the "
        "float64 target; set task to change it): every branch must be a regressor"
    )
    labels = np.where(y[:60] == 1, "benign", "malignant")
    assert SklearnTrainer(None, X[:60], labels, cv=2).task == "classification"
    with pytest.raises(ConfigError, match=r"^task: 'regression' needs a numeric target, got <U9 values$"):
        SklearnTrainer(None, X[:60], labels, task="regression")
    with pytest.raises(ConfigError, match=r"^task: 'regression', but DecisionTreeClassifier is a classifier$"):
        SklearnTrainer(DecisionTreeClassifier(), X, y, task="regression")


def test_a_config_without_an_estimator_lets_the_space_choose(workdir):
    block = {"kind": "sklearn", "cv": 2, "refit": False}
    trainer = trainers.from_config(block, {"builtin": "iris"})
    assert trainer.estimator is None and trainer.task == "classification"
    assert _refusal(trainer, {"C": hpo.Float(0.1, 1.0)}).startswith(
        "trainer.estimator: missing key, and the space does not choose one (it has no 'estimator' choice): "
    )
    fixed = trainers.from_config({**block, "estimator": "sklearn.svm.SVC"}, {"builtin": "iris"})
    assert _refusal(fixed, "classifiers") == (
        "space.estimator: the space chooses the estimator, but the trainer has one (SVC): "
        "leave trainer.estimator out to let the space choose"
    )
    # Each branch must take the table's categorical columns, and encode its text columns.
    _sales_csv(workdir)
    sales = {"path": "sales.csv", "target": "sales", "categorical": ["store"]}
    trainer = trainers.from_config(block, sales, base=workdir)
    assert trainer.task == "regression"
    hgb = {"sklearn.ensemble.HistGradientBoostingRegressor": {"max_iter": [30], "random_state": [0]}}
    assert _refusal(trainer, {"estimator": hpo.Choice({**hgb, "sklearn.svm.SVR": None})}) == (
        "space.estimator.sklearn.svm.SVR: columns ['store'] are categorical: HistGradientBoostingClassifier/Regressor "
        "support them; SVR does not: encode them in a Pipeline (OneHotEncoder) or drop them"
    )
    study = hpo.tune(trainer, {"estimator": hpo.Choice(hgb)}, n_trials=1, tracking=None)
    assert study.best_value > 0.95  # HistGradientBoosting took the store as a category
    text = trainers.from_config(block, {"path": "sales.csv", "target": "sales"}, base=workdir)
    assert _refusal(text, {"estimator": hpo.Choice(hgb)}).startswith(
        "space.estimator.sklearn.ensemble.HistGradientBoostingRegressor: feature columns ['store'] are not numeric "
        "and HistGradientBoostingRegressor does not encode them: "
    )


# The ready model-selection spaces: each branch is its family's ready space, unchanged.
READY_FAMILIES = {
    "classifiers": {
        "sklearn.linear_model.LogisticRegression": "logistic_regression",
        "sklearn.svm.SVC": "svc",
        "sklearn.ensemble.RandomForestClassifier": "random_forest",
        "sklearn.ensemble.HistGradientBoostingClassifier": "gradient_boosting",
        "sklearn.neighbors.KNeighborsClassifier": "knn",
    },
    "regressors": {
        "sklearn.linear_model.Ridge": "ridge",
        "sklearn.ensemble.RandomForestRegressor": "random_forest",
        "sklearn.ensemble.HistGradientBoostingRegressor": "gradient_boosting",
        "sklearn.neighbors.KNeighborsRegressor": "knn",
    },
}


@pytest.mark.parametrize("name", sorted(READY_FAMILIES))
def test_the_ready_model_selection_spaces_are_their_families_presets(name):
    space = hpo.search_spaces.load(name)
    assert name in hpo.search_spaces.available() and list(space) == ["estimator"]
    branches = space["estimator"].branches
    assert list(branches) == list(READY_FAMILIES[name])
    for path, preset in READY_FAMILIES[name].items():
        assert branches[path] == hpo.search_spaces.load(preset), path
    data = load_breast_cancer if name == "classifiers" else load_diabetes
    trainer = SklearnTrainer(None, *data(return_X_y=True), cv=2)
    trainer.check_space(space)  # importable, of the task, with real parameters
    assert trainer.describe()["estimator.choices"] == ", ".join(READY_FAMILIES[name])
    with pytest.raises(ConfigError, match=rf"^space\.step: '{name}' chooses the estimator itself: it takes no step"):
        hpo.search_spaces.load(name, step="clf")


def test_the_model_selection_example_plans(monkeypatch):
    monkeypatch.chdir(REPO)
    config = load_config(Path("examples") / "model_selection.yaml")
    assert config.space == hpo.search_spaces.load("classifiers")
    trainer = build_objective(config)
    trainer.check_space(config.space)
    assert trainer.estimator is None and trainer.task == "classification"
    assert trainer.y_test is not None and isinstance(trainer.splitter, StratifiedKFold)


# -- several objectives -------------------------------------------------------------------------


def test_several_scorers_are_several_objectives_of_cross_validate(tracking_uri, mlflow_client):
    from sklearn.model_selection import cross_validate

    trainer = SklearnTrainer(
        DecisionTreeClassifier(random_state=0), X, y, cv=3, scoring=["accuracy", "roc_auc", "fit_time"]
    )
    assert trainer.objectives.names == ("accuracy", "roc_auc", "fit_time")
    assert trainer.objectives.directions == ("maximize", "maximize", "minimize")
    assert trainer.metric_name == "accuracy" and trainer.describe()["scoring"] == "accuracy, roc_auc, fit_time"
    study = hpo.tune(
        trainer,
        DEPTHS,
        n_trials=4,
        seed=0,
        study_name="scorers",
        select={"maximize": "roc_auc", "where": "accuracy >= 0.9"},
    )
    assert study.objective_names == ["accuracy", "roc_auc", "fit_time"]
    splitter = make_splitter(3, classifier=True)
    for t in study.trials:
        expected = cross_validate(
            DecisionTreeClassifier(random_state=0, **t.params), X, y, cv=splitter, scoring=["accuracy", "roc_auc"]
        )
        assert t.values[0] == pytest.approx(expected["test_accuracy"].mean())
        assert t.values[1] == pytest.approx(expected["test_roc_auc"].mean())
        assert 0 < t.values[2] < 5
    # The refit model is the one select picked; its params are what the parent run logs.
    picked = study.selected_trial
    assert trainer.best_model_.get_params()["max_depth"] == picked.params["max_depth"]
    [parent], _ = study_runs(mlflow_client, "scorers")
    assert parent.data.tags["hpo.best_trial"] == str(picked.number)
    assert parent.data.params["trainer.scoring"] == "accuracy, roc_auc, fit_time"


def test_a_dict_of_scorers_and_predict_time():
    trainer = SklearnTrainer(
        DecisionTreeClassifier(random_state=0), X, y, cv=3, scoring={"acc": "accuracy", "predict_time": None}
    )
    study = hpo.tune(trainer, DEPTHS, n_trials=2, seed=0, tracking=None)
    assert study.objective_names == ["acc", "predict_time"] and study.directions == ["maximize", "minimize"]
    assert all(0 < t.values[1] < 1 for t in study.trials)
    assert SklearnTrainer(DecisionTreeClassifier(), X, y, scoring=["accuracy"]).objectives is None  # one: as before


@pytest.mark.parametrize(
    ("scoring", "message"),
    [
        (["accuracy", "accuracy"], "scoring.accuracy: named twice"),
        (["fit_time", "predict_time"], "scoring: expected a scorer beside fit_time, predict_time"),
        (["accuracy", "acurracy"], "scoring: unknown scorer 'acurracy'; did you mean 'accuracy'?"),
        ({"acc": "accuracy", "fit_time": "r2"}, "scoring.fit_time: measured by the trainer: give null, got 'r2'"),
        ({"acc": "nope", "b": "accuracy"}, "scoring.acc: unknown scorer 'nope'"),
    ],
)
def test_bad_several_scorers(scoring, message):
    with pytest.raises(ConfigError) as info:
        SklearnTrainer(DecisionTreeClassifier(), X, y, scoring=scoring)
    assert str(info.value).startswith(message), str(info.value)


def test_the_accuracy_vs_latency_example_plans(monkeypatch):
    from hpo._plan import plan_study

    monkeypatch.chdir(REPO)
    config = load_config(Path("examples") / "accuracy_vs_latency.yaml")
    trainer = build_objective(config)
    config.settings.tracking = None
    plan = plan_study(trainer, config.space, config.settings)
    assert plan.multi and plan.objectives.names == ("accuracy", "predict_time")
    assert plan.prune_on == "accuracy" and plan.select is not None and plan.reference_point == (0.8, 0.1)


class StopsOnce(CountingTree):
    """A real tree whose fourth fit is interrupted once (as by Ctrl-C in the middle of the CV)."""

    stop_at: int | None = None

    def fit(self, X, y, sample_weight=None, check_input=True):
        if StopsOnce.stop_at is not None and CountingTree.fits + 1 == StopsOnce.stop_at:
            StopsOnce.stop_at = None
            raise KeyboardInterrupt
        return super().fit(X, y, sample_weight=sample_weight, check_input=check_input)


def test_an_interrupted_trial_goes_on_at_its_next_fold(tmp_path):
    trainer = SklearnTrainer(StopsOnce(random_state=0), X, y, cv=5, refit=False)
    kwargs = dict(n_trials=1, seed=0, tracking=None, pruner="none", storage=str(tmp_path / "s.journal"))
    CountingTree.fits, StopsOnce.stop_at = 0, 4
    with pytest.raises(KeyboardInterrupt):
        hpo.tune(trainer, DEPTHS, study_name="s", **kwargs)
    CountingTree.fits = 0
    study = hpo.tune(trainer, DEPTHS, study_name="s", **kwargs)
    assert CountingTree.fits == 2  # folds 4 and 5: the three scored ones were kept
    rerun = study.trials[-1]
    cold = hpo.tune(trainer, DEPTHS, study_name="cold", **{**kwargs, "storage": str(tmp_path / "c.journal")})
    assert rerun.params == cold.trials[0].params and rerun.value == cold.trials[0].value
    assert rerun.intermediate_values == cold.trials[0].intermediate_values  # every fold reported once
