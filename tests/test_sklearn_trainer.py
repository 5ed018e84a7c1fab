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


@pytest.mark.parametrize("name", ["digits_svc", "classification", "regression", "timeseries"])
def test_example_configs_build(name, monkeypatch):
    monkeypatch.chdir(REPO)
    config = load_config(Path("examples") / f"{name}.yaml")
    trainer = build_objective(config)
    assert isinstance(trainer, SklearnTrainer)
    if name == "timeseries":  # leakage safety on the real example: gap kept, no future rows
        for train, test in trainer.folds:
            assert train.max() + 7 < test.min()
