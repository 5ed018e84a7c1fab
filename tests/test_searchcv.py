"""HPOSearchCV: scikit-learn's search-estimator API (GridSearchCV's attributes, delegation,
multi-metric refit, error_score, nesting, pipelines) over hpo's study, and scikit-learn's own
common checks."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from sklearn.base import clone, is_regressor
from sklearn.datasets import load_breast_cancer, load_iris
from sklearn.decomposition import PCA
from sklearn.exceptions import FitFailedWarning
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import GridSearchCV, KFold, cross_val_predict, cross_val_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC
from sklearn.utils.estimator_checks import parametrize_with_checks

import hpo
from hpo import HPOSearchCV

X, y = load_iris(return_X_y=True)

#: As scikit-learn checks GridSearchCV (sklearn/utils/_test_common/instance_generator.py).
CHECKED = [
    HPOSearchCV(Ridge(), {"alpha": [0.1, 1.0]}, cv=2, error_score="raise", tracking=None),
    HPOSearchCV(LogisticRegression(), {"C": [0.1, 1.0]}, cv=2, error_score="raise", tracking=None),
    HPOSearchCV(
        Pipeline([("pca", PCA()), ("ridge", Ridge())]),
        {"ridge__alpha": [0.1, 1.0]},
        cv=2,
        error_score="raise",
        tracking=None,
    ),
    HPOSearchCV(
        Pipeline([("pca", PCA()), ("logisticregression", LogisticRegression())]),
        {"logisticregression__C": [0.1, 1.0]},
        cv=2,
        error_score="raise",
        tracking=None,
    ),
]


def not_applicable(estimator):
    """The checks scikit-learn expects its own GridSearchCV to fail, that fail here for the same
    reason. (Its other one, check_requires_y_none, does not run for these estimators.)"""
    if is_regressor(estimator):  # a regressor takes a 2-D y without the warning the check wants
        return {"check_supervised_y_2d": "DataConversionWarning not caught, as for GridSearchCV(Ridge())"}
    return {}


@parametrize_with_checks(CHECKED, expected_failed_checks=not_applicable)
def test_scikit_learn_common_checks(estimator, check):
    check(estimator)


def test_cv_results_match_gridsearchcv(workdir):
    grid = {"C": [0.1, 1.0, 10.0], "kernel": ["linear", "rbf"]}
    cv = KFold(3, shuffle=True, random_state=0)
    theirs = GridSearchCV(SVC(), grid, cv=cv, return_train_score=True).fit(X, y)
    ours = HPOSearchCV(SVC(), grid, cv=cv, return_train_score=True, tracking=None).fit(X, y)
    assert set(ours.cv_results_) == set(theirs.cv_results_) | {"state"}
    assert ours.study_.counts()["complete"] == 6  # the grid, each point once
    order = [theirs.cv_results_["params"].index(p) for p in ours.cv_results_["params"]]
    for key in ("mean_test_score", "split0_test_score", "split2_train_score", "rank_test_score"):
        np.testing.assert_allclose(np.asarray(ours.cv_results_[key]), np.asarray(theirs.cv_results_[key])[order])
    assert ours.best_score_ == theirs.best_score_ and ours.best_params_ == theirs.best_params_
    assert ours.n_splits_ == 3 and ours.multimetric_ is False and ours.refit_time_ > 0
    np.testing.assert_array_equal(ours.predict(X), theirs.predict(X))
    assert ours.score(X, y) == theirs.score(X, y) and list(ours.classes_) == [0, 1, 2]
    assert ours.n_features_in_ == 4
    assert not hasattr(ours, "predict_proba") and not hasattr(theirs, "predict_proba")  # SVC(probability=False)
    assert ours.decision_function(X).shape == (150, 3)


def test_pruned_candidates_keep_the_folds_they_ran(workdir):
    Xb, yb = load_breast_cancer(return_X_y=True)
    search = HPOSearchCV(
        SVC(),
        {"C": hpo.Float(1e-3, 1e3, log=True), "gamma": hpo.Float(1e-6, 1.0, log=True)},
        n_trials=20,
        cv=5,
        pruner={"name": "median", "n_startup_trials": 3},
        seed=0,
        tracking=None,
    ).fit(Xb, yb)
    results = search.cv_results_
    states = list(results["state"])
    assert "pruned" in states and "complete" in states
    n_complete = states.count("complete")
    for i, state in enumerate(states):
        ran = [not np.ma.is_masked(results[f"split{k}_test_score"][i]) for k in range(5)]
        if state == "complete":
            assert all(ran) and np.isfinite(results["mean_test_score"][i])
            assert results["rank_test_score"][i] <= n_complete
        else:  # the folds it ran, then masked; no full CV score; ranked after every complete one
            assert ran[0] and not all(ran) and ran == sorted(ran, reverse=True)
            assert np.isnan(results["mean_test_score"][i]) and results["rank_test_score"][i] > n_complete
    assert states[search.best_index_] == "complete"


def test_several_metrics_and_refit(workdir):
    scoring = {"acc": "accuracy", "f1": "f1_macro"}
    search = HPOSearchCV(SVC(), {"C": [0.1, 10.0]}, scoring=scoring, refit="f1", cv=3, tracking=None).fit(X, y)
    assert search.multimetric_ and set(search.scorer_) == {"acc", "f1"}
    assert search.best_score_ == search.cv_results_["mean_test_f1"][search.best_index_]
    assert {"mean_test_acc", "rank_test_f1", "split2_test_acc"} <= set(search.cv_results_)

    def simplest(results):  # a callable refit picks the index itself
        return int(np.argmin([p["C"] for p in results["params"]]))

    picked = HPOSearchCV(SVC(), {"C": [0.1, 10.0]}, scoring=scoring, refit=simplest, cv=3, tracking=None).fit(X, y)
    assert picked.best_params_ == {"C": 0.1} and not hasattr(picked, "best_score_")
    bare = HPOSearchCV(SVC(), {"C": [0.1, 10.0]}, scoring=scoring, refit=False, cv=3, tracking=None).fit(X, y)
    assert not hasattr(bare, "best_estimator_") and not hasattr(bare, "best_index_")
    with pytest.raises(ValueError, match="For multi-metric scoring, the parameter refit must be set to a scorer key"):
        HPOSearchCV(SVC(), {"C": [1.0]}, scoring=scoring, refit="auc", tracking=None).fit(X, y)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        (
            {"space": {"Cc": [1.0]}},
            ValueError,
            r"space: invalid parameter 'Cc' for estimator SVC\(\); did you mean 'C'\?",
        ),
        (
            {"n_trials": 0},
            ValueError,
            r"The 'n_trials' parameter of HPOSearchCV must be an int in the range \[1, inf\)",
        ),
        ({"error_score": "ignore"}, ValueError, r"The 'error_score' parameter of HPOSearchCV must be"),
        ({"space": [{"C": [1.0]}, {}]}, ValueError, r"space: expected a list of non-empty dicts \(parameter grids\)"),
        ({"space": {"C": {"float": [2.0, 1.0]}}}, ValueError, r"space.C: low must be < high"),
    ],
)
def test_bad_input_is_a_scikit_learn_error_at_fit(kwargs, error, message, workdir):
    search = HPOSearchCV(SVC(), **{"space": {"C": [1.0]}, "tracking": None, **kwargs})
    with pytest.raises(error, match=message):
        search.fit(X, y)
    assert list(workdir.iterdir()) == []


class Fragile(LogisticRegression):
    """A real logistic regression that cannot fit with C above 1."""

    def fit(self, X, y, sample_weight=None):
        if self.C > 1:
            raise ArithmeticError("C too large")
        return super().fit(X, y, sample_weight=sample_weight)


def test_error_score(workdir):
    space = {"C": [0.5, 5.0]}
    with pytest.raises(ArithmeticError, match="C too large"):
        HPOSearchCV(Fragile(), space, cv=2, error_score="raise", tracking=None).fit(X, y)
    with pytest.warns(FitFailedWarning, match="2 fits failed out of a total of 4"):
        search = HPOSearchCV(Fragile(), space, cv=2, error_score=0.0, tracking=None).fit(X, y)
    row = search.cv_results_["params"].index({"C": 5.0})
    assert search.cv_results_["mean_test_score"][row] == 0.0 and search.best_params_ == {"C": 0.5}


def test_an_estimator_of_scikit_learn(workdir):
    search = HPOSearchCV(SVC(), {"C": hpo.Float(0.1, 10.0, log=True)}, n_trials=3, seed=0, tracking=None)
    params = search.get_params()
    assert params["space"] is search.space and params["n_trials"] == 3 and "estimator__C" in params
    twin = clone(search)
    assert twin.get_params()["seed"] == 0 and twin is not search
    search.set_params(n_trials=2, estimator__kernel="linear")
    assert search.n_trials == 2 and search.estimator.kernel == "linear"
    search.fit(X, y)
    again = pickle.loads(pickle.dumps(search))
    np.testing.assert_array_equal(again.predict(X), search.predict(X))
    assert again.best_params_ == search.best_params_


def test_nested_cross_validation_and_pipelines(workdir):
    inner = HPOSearchCV(SVC(), {"C": hpo.Float(0.1, 10.0, log=True)}, n_trials=3, cv=3, seed=0, tracking=None)
    scores = cross_val_score(inner, X, y, cv=KFold(3, shuffle=True, random_state=0))
    assert scores.shape == (3,) and scores.min() > 0.8
    predicted = cross_val_predict(inner, X, y, cv=3)
    assert predicted.shape == (150,)
    outer = Pipeline([("scale", StandardScaler()), ("search", clone(inner))]).fit(X, y)
    assert outer.named_steps["search"].best_params_["C"] > 0
    over = HPOSearchCV(
        Pipeline([("scale", StandardScaler()), ("svc", SVC())]),
        {"svc__C": hpo.Float(0.1, 10.0, log=True)},
        n_trials=3,
        seed=0,
        tracking=None,
    ).fit(X, y)
    assert set(over.best_params_) == {"svc__C"}


def test_sample_weight_is_routed_to_the_folds(workdir):
    weights = np.where(y == 0, 5.0, 1.0)
    cv = KFold(3, shuffle=True, random_state=0)
    ours = HPOSearchCV(LogisticRegression(max_iter=500), {"C": [0.1, 1.0]}, cv=cv, tracking=None)
    theirs = GridSearchCV(LogisticRegression(max_iter=500), {"C": [0.1, 1.0]}, cv=cv)
    ours.fit(X, y, sample_weight=weights)
    theirs.fit(X, y, sample_weight=weights)
    order = [theirs.cv_results_["params"].index(p) for p in ours.cv_results_["params"]]
    np.testing.assert_allclose(ours.cv_results_["mean_test_score"], theirs.cv_results_["mean_test_score"][order])
    np.testing.assert_allclose(ours.best_estimator_.coef_, theirs.best_estimator_.coef_)


def test_tracked_search_is_a_study_in_mlflow(tracking_uri, mlflow_client):
    from tests.conftest import study_runs

    search = HPOSearchCV(SVC(), {"C": [0.1, 1.0]}, cv=3, study_name="searchcv", tracking=tracking_uri).fit(X, y)
    assert search.mlflow_run_id_ == search.study_.mlflow_run_id
    [parent], children = study_runs(mlflow_client, "searchcv")
    assert parent.info.run_id == search.mlflow_run_id_ and len(children) == 2
    assert {c.data.metrics["value"] for c in children} == set(search.cv_results_["mean_test_score"])


def test_nested_studies_are_parent_runs_of_one_experiment(tracking_uri, mlflow_client):
    from tests.conftest import study_runs

    inner = HPOSearchCV(
        SVC(),
        {"C": hpo.Float(0.1, 10.0, log=True)},
        n_trials=2,
        cv=2,
        seed=0,
        study_name="nested",
        tracking=tracking_uri,
    )
    cross_val_score(inner, X, y, cv=KFold(3, shuffle=True, random_state=0))
    parents, children = study_runs(mlflow_client, "nested")
    assert len(parents) == 3 and len(children) == 6  # one inner study per outer fold
    assert {p.info.status for p in parents} == {"FINISHED"}


def test_a_list_of_grids_is_gridsearchcvs(workdir):
    grids = [{"kernel": ["linear"], "C": [0.1, 1.0]}, {"kernel": ["rbf"], "C": [1.0], "gamma": [0.1, 1.0]}]
    cv = KFold(3, shuffle=True, random_state=0)
    theirs = GridSearchCV(SVC(), grids, cv=cv).fit(X, y)
    ours = HPOSearchCV(SVC(), grids, cv=cv, tracking=None).fit(X, y)
    assert len(ours.cv_results_["params"]) == 4  # exactly GridSearchCV's candidates, each once
    assert all(p in theirs.cv_results_["params"] for p in ours.cv_results_["params"])
    order = [theirs.cv_results_["params"].index(p) for p in ours.cv_results_["params"]]
    np.testing.assert_allclose(ours.cv_results_["mean_test_score"], theirs.cv_results_["mean_test_score"][order])
    gamma = ours.cv_results_["param_gamma"]
    assert [np.ma.is_masked(g) for g in gamma] == ["gamma" not in p for p in ours.cv_results_["params"]]
    assert ours.best_params_ == theirs.best_params_


def test_n_jobs_fits_the_folds_at_once_with_the_same_scores(workdir):
    grid = {"C": [0.1, 1.0, 10.0]}
    cv = KFold(5, shuffle=True, random_state=0)
    parallel = HPOSearchCV(SVC(), grid, cv=cv, n_jobs=2, tracking=None).fit(X, y)
    sequential = HPOSearchCV(SVC(), grid, cv=cv, tracking=None).fit(X, y)
    for key in ("params", "mean_test_score", "split4_test_score"):
        assert list(parallel.cv_results_[key]) == list(sequential.cv_results_[key])
