"""Objectives for the example configs: plain functions ``objective(params, trial) -> float``."""

from __future__ import annotations

import functools
from typing import Any


@functools.cache
def _digits() -> tuple[Any, Any, list[tuple[Any, Any]]]:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import StratifiedKFold

    X, y = load_digits(return_X_y=True)
    X = X / 16.0  # pixel intensities 0..16 -> 0..1, the scale the gamma range assumes
    # The same folds for every trial, so configurations are compared on equal terms.
    folds = list(StratifiedKFold(n_splits=5, shuffle=True, random_state=0).split(X, y))
    return X, y, folds


def svc_digits(params: dict[str, Any], trial: Any) -> float:
    """Mean 5-fold accuracy of an RBF SVC on scikit-learn's bundled digits.

    The running mean is reported after each fold, so the study's pruner can stop a hopeless
    configuration after its first folds.
    """
    from sklearn.svm import SVC

    X, y, folds = _digits()
    scores = []
    for step, (train, test) in enumerate(folds):
        model = SVC(C=params["C"], gamma=params["gamma"]).fit(X[train], y[train])
        scores.append(model.score(X[test], y[test]))
        trial.report(sum(scores) / len(scores), step)
    return sum(scores) / len(scores)
