"""Data blocks: bundled sets and CSV/Parquet tables, with one-line errors."""

from __future__ import annotations

import pandas as pd
import pytest

from hpo import ConfigError
from hpo.trainers import load_data


def test_builtins():
    for name, rows in [("digits", 1797), ("breast_cancer", 569), ("wine", 178), ("iris", 150), ("diabetes", 442)]:
        data = load_data({"builtin": name})
        assert len(data.X) == len(data.y) == rows
        assert data.feature_names == list(data.X.columns)


@pytest.fixture
def table(workdir):
    frame = pd.DataFrame(
        {
            "date": ["2024-01-03", "2024-01-01", "2024-01-02", "2024-01-04"],
            "store": ["a", "b", "a", "b"],
            "x1": [1.0, 2.0, 3.0, 4.0],
            "x2": [1, 0, 1, 0],
            "id": [10, 11, 12, 13],
            "y": [0.5, 1.5, 2.5, 3.5],
        }
    )
    frame.to_csv(workdir / "t.csv", index=False)
    frame.to_parquet(workdir / "t.parquet")
    return frame


@pytest.mark.parametrize("suffix", ["csv", "parquet"])
def test_table_with_time_groups_and_drop(workdir, table, suffix):
    data = load_data(
        {"path": f"t.{suffix}", "target": "y", "time": "date", "groups": "store", "drop": ["id"]}, base=workdir
    )
    assert data.feature_names == ["x1", "x2"]
    assert list(data.y) == [1.5, 2.5, 0.5, 3.5]  # sorted by date
    assert list(data.groups) == ["b", "a", "a", "b"]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"path": "nope.csv", "target": "y"}, "data.path: file"),
        (
            {"path": "t.csv", "target": "yy"},
            "data.target: column 'yy' is not in t.csv (columns: date, store, x1, x2, id, y); did you mean 'y'?",
        ),
        ({"path": "t.csv", "target": "y", "drop": ["idd"]}, "data.drop: column 'idd' is not in t.csv"),
        ({"path": "t.csv", "target": "y", "drop": "id"}, "data.drop: expected a list of columns, got 'id'"),
        ({"path": "t.csv", "target": "y", "drop": ["date"]}, "data: feature column 'store' is not numeric ("),
        (
            {"path": "t.csv", "target": "y", "time": "date", "drop": ["store"], "strict_time": True},
            "data.time: column 'date' is not sorted: row 1 (2024-01-01 00:00:00) comes after "
            "2024-01-03 00:00:00 (strict_time is on)",
        ),
        ({"path": "t.csv"}, "data: missing key 'target'"),
        ({"path": "t.csv", "target": "y", "taget": 1}, "data: unknown key 'taget'; did you mean 'target'?"),
        (
            {"builtin": "digitz"},
            "data.builtin: unknown data set 'digitz', expected one of digits, breast_cancer, wine, "
            "iris, diabetes; did you mean 'digits'?",
        ),
        ({"path": "t.txt", "target": "y"}, "data.path: file"),
        ("digits", "data: expected {builtin: NAME} or {path: FILE, target: COLUMN}, got 'digits'"),
    ],
)
def test_bad_data_blocks(workdir, table, spec, message):
    with pytest.raises(ConfigError) as info:
        load_data(spec, base=workdir)
    assert str(info.value).startswith(message), str(info.value)
    assert "\n" not in str(info.value)


def test_non_numeric_features_are_fine_for_a_pipeline(workdir, table):
    data = load_data({"path": "t.csv", "target": "y", "drop": ["date"]}, base=workdir, encoded_later=True)
    assert "store" in data.feature_names


def test_strict_time_refuses_repeated_timestamps(workdir):
    pd.DataFrame({"t": [1, 2, 2, 3], "x": [1, 2, 3, 4], "y": [1, 2, 3, 4]}).to_csv(workdir / "r.csv", index=False)
    with pytest.raises(ConfigError, match=r"^data.time: column 't' repeats the timestamp 2 \(strict_time is on\)$"):
        load_data({"path": "r.csv", "target": "y", "time": "t", "strict_time": True}, base=workdir)
    data = load_data({"path": "r.csv", "target": "y", "time": "t"}, base=workdir)  # without: fine, kept in order
    assert list(data.y) == [1, 2, 3, 4]


def test_missing_target_values(workdir):
    pd.DataFrame({"x": [1, 2, 3], "y": [1.0, None, 3.0]}).to_csv(workdir / "m.csv", index=False)
    with pytest.raises(ConfigError, match=r"^data.target: column 'y' has 1 missing values$"):
        load_data({"path": "m.csv", "target": "y"}, base=workdir)


def test_non_numeric_feature_error_points_to_categorical(workdir, table):
    with pytest.raises(ConfigError) as info:
        load_data({"path": "t.csv", "target": "y", "drop": ["date"]}, base=workdir)
    assert "list it in data.categorical" in str(info.value), str(info.value)


def test_categorical_columns_become_pandas_categories(workdir, table):
    spec = {"path": "t.csv", "target": "y", "drop": ["date"], "categorical": ["store", "x2"]}
    data = load_data(spec, base=workdir, allow_categorical=True)
    assert data.categorical == ["store", "x2"]
    assert isinstance(data.X["store"].dtype, pd.CategoricalDtype)
    assert list(data.X["store"].cat.categories) == ["a", "b"]
    assert isinstance(data.X["x2"].dtype, pd.CategoricalDtype)  # integer codes may be categories too
    assert data.X["x1"].dtype == float and data.feature_names == ["store", "x1", "x2", "id"]
    assert load_data({"builtin": "iris"}).categorical == []


@pytest.mark.parametrize(
    ("categorical", "message"),
    [
        (
            ["stor"],
            "data.categorical: column 'stor' is not in t.csv (columns: date, store, x1, x2, id, y); "
            "did you mean 'store'?",
        ),
        ("store", "data.categorical: expected a list of columns, got 'store'"),
        (["y"], "data.categorical: column 'y' is the target column, not a feature"),
        (["date"], "data.categorical: column 'date' is dropped (data.drop), not a feature"),
        (["store", "store"], "data.categorical: column 'store' is listed twice in ['store', 'store']"),
    ],
)
def test_bad_categorical_lists(workdir, table, categorical, message):
    spec = {"path": "t.csv", "target": "y", "drop": ["date"], "categorical": categorical}
    with pytest.raises(ConfigError) as info:
        load_data(spec, base=workdir, allow_categorical=True)
    assert str(info.value) == message


def test_categorical_columns_need_a_trainer_that_takes_them(workdir, table):
    # A trainer that needs numbers (the torch trainer) loads without allow_categorical.
    spec = {"path": "t.csv", "target": "y", "drop": ["date"], "categorical": ["store"]}
    with pytest.raises(ConfigError, match=r"^data\.categorical: this trainer needs numeric features, got "):
        load_data(spec, base=workdir)
