"""Splitters by name: scikit-learn's, with their guarantees checked on real folds."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import model_selection

from hpo import ConfigError
from hpo.trainers import make_splitter
from hpo.trainers._splits import compute_folds, split_test


@pytest.mark.parametrize(
    ("spec", "cls", "attrs"),
    [
        ("kfold", model_selection.KFold, {"n_splits": 5, "shuffle": False}),
        ({"name": "kfold", "n_splits": 3, "shuffle": True}, model_selection.KFold, {"n_splits": 3, "random_state": 0}),
        ({"name": "stratified", "shuffle": True, "seed": 7}, model_selection.StratifiedKFold, {"random_state": 7}),
        (
            {"name": "timeseries", "n_splits": 4, "gap": 3, "test_size": 10},
            model_selection.TimeSeriesSplit,
            {"gap": 3, "test_size": 10},
        ),
        ("group", model_selection.GroupKFold, {}),
        ("stratified_group", model_selection.StratifiedGroupKFold, {}),
        (4, model_selection.StratifiedKFold, {"n_splits": 4}),
    ],
)
def test_names_map_onto_scikit_learn(spec, cls, attrs):
    splitter = make_splitter(spec, classifier=True, groups=np.arange(10))
    assert type(splitter) is cls
    for key, value in attrs.items():
        assert getattr(splitter, key) == value


def test_int_is_kfold_for_regressors_and_objects_pass_through():
    assert type(make_splitter(3, classifier=False)) is model_selection.KFold
    splitter = model_selection.ShuffleSplit(n_splits=2, random_state=0)
    assert make_splitter(splitter, classifier=True) is splitter


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            "kfolds",
            "cv: unknown splitter 'kfolds', expected one of kfold, stratified, timeseries, group, "
            "stratified_group or a package.module:attr; did you mean 'kfold'?",
        ),
        ({"name": "timeseries", "gaps": 2}, "cv.gaps: unknown option for splitter 'timeseries'; did you mean 'gap'?"),
        ({"n_splits": 3}, "cv: missing key 'name'"),
        (1, "cv: expected at least 2 folds, got 1"),
        ("group", "cv: splitter 'group' needs groups"),
        ({"name": "kfold", "n_splits": 1}, "cv: kfold: k-fold cross-validation requires at least one train/test split"),
    ],
)
def test_bad_splitters(spec, message):
    with pytest.raises(ConfigError) as info:
        make_splitter(spec, classifier=False)
    assert str(info.value).startswith(message), str(info.value)


def test_timeseries_folds_never_train_after_the_test_window_and_keep_the_gap():
    X = np.arange(200).reshape(-1, 1)
    for gap in (0, 5):
        splitter = make_splitter(
            {"name": "timeseries", "n_splits": 5, "gap": gap, "max_train_size": 80}, classifier=False
        )
        folds = compute_folds(splitter, X, X.ravel(), None)
        assert len(folds) == 5
        for train, test in folds:
            assert train.max() < test.min()
            assert test.min() - train.max() - 1 == gap  # exactly the gap rows are left out
            assert np.array_equal(test, np.arange(test.min(), test.max() + 1))  # one window
            assert len(train) <= 80


def test_group_folds_never_share_a_group():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 2))
    y = np.tile([0, 1], 60)
    groups = rng.integers(0, 12, size=120)
    for name in ("group", "stratified_group"):
        folds = compute_folds(
            make_splitter({"name": name, "n_splits": 4}, classifier=True, groups=groups), X, y, groups
        )
        for train, test in folds:
            assert not set(groups[train]) & set(groups[test])


def test_shuffle_without_a_seed_is_still_the_same_folds():
    X = np.arange(50).reshape(-1, 1)
    a = compute_folds(make_splitter({"name": "kfold", "shuffle": True}, classifier=False), X, X.ravel(), None)
    b = compute_folds(make_splitter({"name": "kfold", "shuffle": True}, classifier=False), X, X.ravel(), None)
    assert all(np.array_equal(x[1], y[1]) for x, y in zip(a, b))


# -- the held-out test set (split_test) ------------------------------------------------------


def test_split_test_random_is_seeded_sorted_and_rounds_up():
    X = np.arange(101).reshape(-1, 1)
    train, test = split_test(X, X.ravel(), 0.2, seed=3)
    assert len(test) == 21 and len(train) == 80  # ceil(0.2 * 101), as scikit-learn rounds
    assert np.array_equal(np.sort(np.concatenate([train, test])), np.arange(101))
    assert np.all(np.diff(train) > 0) and np.all(np.diff(test) > 0)
    expected = model_selection.train_test_split(np.arange(101), test_size=0.2, random_state=3)[1]
    assert np.array_equal(test, np.sort(expected))
    assert np.array_equal(split_test(X, X.ravel(), 0.2, seed=3)[1], test)
    assert not np.array_equal(split_test(X, X.ravel(), 0.2, seed=4)[1], test)


def test_split_test_time_order_takes_the_last_rows():
    X = np.arange(50).reshape(-1, 1)
    train, test = split_test(X, X.ravel(), 0.25, time_order=True, groups=np.arange(50) % 5, stratify=True)
    assert np.array_equal(test, np.arange(37, 50)) and np.array_equal(train, np.arange(37))


def test_split_test_stratified_keeps_the_class_proportions():
    y = np.array([0] * 300 + [1] * 60 + [2] * 40)
    train, test = split_test(np.zeros((400, 2)), y, 0.25, stratify=True)
    assert np.bincount(y[test]).tolist() == [75, 15, 10]
    assert np.bincount(y[train]).tolist() == [225, 45, 30]


def test_split_test_groups_are_never_on_both_sides():
    rng = np.random.default_rng(0)
    groups = rng.integers(0, 15, size=200)
    train, test = split_test(np.zeros((200, 1)), np.tile([0, 1], 100), 0.2, groups=groups, stratify=True)
    assert len(test) and len(train) and not set(groups[train]) & set(groups[test])


@pytest.mark.parametrize("fraction", [0, 0.6, -1, "x", True, None, float("nan")])
def test_split_test_refuses_a_fraction_outside_0_to_half(fraction):
    X = np.arange(20).reshape(-1, 1)
    with pytest.raises(ConfigError) as info:
        split_test(X, X.ravel(), fraction, key="trainer.test_fraction")
    assert str(info.value) == f"trainer.test_fraction: expected a number in (0, 0.5], got {fraction!r}"


def test_split_test_errors_are_one_line_naming_the_key():
    y = np.array([0] * 30 + [1])  # one member of class 1: cannot be on both sides
    with pytest.raises(ConfigError) as info:
        split_test(np.zeros((31, 1)), y, 0.2, stratify=True)
    message = str(info.value)
    assert message.startswith("test_fraction: cannot hold out 0.2 of 31 rows: The least populated class")
    assert "\n" not in message
    with pytest.raises(ConfigError, match=r"^test_fraction: holding out 0.5 of 1 rows leaves none to search on$"):
        split_test([[0]], [0], 0.5)
    with pytest.raises(ConfigError, match=r"^test_fraction: cannot hold out 0.2 of 10 rows: "):
        split_test(np.zeros((10, 1)), np.zeros(10), 0.2, groups=np.zeros(10))  # one group
