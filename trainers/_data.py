"""Data for trainers: scikit-learn's bundled sets, or a CSV/Parquet table through pandas.

``data: {builtin: digits}`` (digits, breast_cancer, wine, iris, diabetes), or
``data: {path: file.csv, target: y, time: date, groups: store, drop: [id], strict_time: false,
categorical: [region]}``.
A ``time`` column orders the rows (for time-series splits) and is not a feature: rows are sorted
by it, or, with ``strict_time: true``, unsorted or repeated timestamps are refused. The
``categorical`` columns become pandas ``category`` columns, for an estimator that takes them
as they are (HistGradientBoosting).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hpo.plugins import ConfigError, check_keys, did_you_mean

BUILTINS = ("digits", "breast_cancer", "wine", "iris", "diabetes")
_TABLE_KEYS = ("path", "target", "time", "groups", "drop", "strict_time", "categorical")


@dataclass
class Dataset:
    """Features, target and optional groups, ready for a trainer."""

    X: Any
    y: Any
    groups: Any = None
    #: Where the data came from, for messages and MLflow params.
    source: str = ""
    feature_names: list[str] = field(default_factory=list)
    #: The feature columns of pandas ``category`` dtype (``data.categorical``); a trainer that
    #: needs numbers checks it is empty.
    categorical: list[str] = field(default_factory=list)


def load_data(
    spec: Any, *, base: Path | None = None, encoded_later: bool = False, allow_categorical: bool = False
) -> Dataset:
    """Load the ``data:`` block of a config.

    Args:
        spec: ``{builtin: NAME}`` or ``{path: FILE, target: COLUMN, ...}`` (see the module doc).
        base: The folder relative paths are taken from (the config's).
        encoded_later: Whether the estimator encodes non-numeric features itself (a Pipeline);
            otherwise a non-numeric feature column is an error.
        allow_categorical: Whether the trainer passes ``categorical`` columns on as pandas
            ``category`` columns (the sklearn trainer, which checks its estimator takes them);
            otherwise listing any is an error, as a trainer that needs numbers would fail later.

    Raises:
        ConfigError: One line naming the key: a missing file or column, a bad value.
    """
    if not isinstance(spec, Mapping):
        raise ConfigError(
            key="data", message=f"expected {{builtin: NAME}} or {{path: FILE, target: COLUMN}}, got {spec!r}"
        )
    if "builtin" in spec:
        extra = sorted(set(spec) - {"builtin"})
        if extra:
            raise ConfigError(key="data", message=f"unknown key {extra[0]!r} with builtin data")
        return load_builtin(spec["builtin"])
    check_keys(spec, ("builtin",) + _TABLE_KEYS, "data")
    for key in ("path", "target"):
        if key not in spec:
            raise ConfigError(key="data", message=f"missing key {key!r} (or use builtin: {'|'.join(BUILTINS)})")
    if spec.get("categorical") and not allow_categorical:
        raise ConfigError(
            key="data.categorical",
            message=f"this trainer needs numeric features, got categorical columns {spec['categorical']!r}; "
            "encode them as numbers in the file, or use the sklearn trainer (HistGradientBoosting or a Pipeline)",
        )
    return load_table(base=base, encoded_later=encoded_later, **dict(spec))


def load_builtin(name: Any) -> Dataset:
    """One of scikit-learn's bundled sets, as a DataFrame and a Series."""
    if name not in BUILTINS:
        raise ConfigError(
            key="data.builtin",
            message=f"unknown data set {name!r}, expected one of {', '.join(BUILTINS)}{did_you_mean(name, BUILTINS)}",
        )
    from sklearn import datasets

    X, y = getattr(datasets, f"load_{name}")(return_X_y=True, as_frame=True)
    return Dataset(X, y, source=f"builtin:{name}", feature_names=list(X.columns))


def _column(frame: Any, column: Any, key: str, path: Path) -> str:
    if not isinstance(column, str) or column not in frame.columns:
        hint = did_you_mean(column, frame.columns)
        columns = ", ".join(map(str, frame.columns[:20]))
        raise ConfigError(
            key=f"data.{key}", message=f"column {column!r} is not in {path.name} (columns: {columns}){hint}"
        )
    return column


def load_table(
    *,
    path: Any,
    target: Any,
    time: Any = None,
    groups: Any = None,
    drop: Any = None,
    strict_time: Any = False,
    categorical: Any = None,
    base: Path | None = None,
    encoded_later: bool = False,
) -> Dataset:
    """A CSV or Parquet table through pandas (see :func:`load_data`)."""
    import pandas as pd

    if not isinstance(path, (str, Path)) or not str(path):
        raise ConfigError(key="data.path", message=f"expected a file path, got {path!r}")
    try:
        file = Path(path).expanduser()
    except RuntimeError as err:  # ~user that does not exist
        raise ConfigError(key="data.path", message=f"{path!r}: {err}") from None
    if not file.is_absolute() and base is not None:
        file = base / file
    if not file.is_file():
        raise ConfigError(key="data.path", message=f"file {str(file)!r} does not exist")
    suffix = file.suffix.lower()
    if suffix not in (".csv", ".parquet", ".pq"):
        raise ConfigError(key="data.path", message=f"expected a .csv or .parquet file, got {file.name!r}")
    if not isinstance(strict_time, bool):
        raise ConfigError(key="data.strict_time", message=f"expected true or false, got {strict_time!r}")
    try:
        frame = pd.read_csv(file) if suffix == ".csv" else pd.read_parquet(file)
    except Exception as err:  # pandas raises many kinds; all mean "cannot read"
        first = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise ConfigError(key="data.path", message=f"cannot read {file.name!r}: {first}") from None
    target = _column(frame, target, "target", file)
    if drop is None:
        drop = []
    if isinstance(drop, str) or not isinstance(drop, list):
        raise ConfigError(key="data.drop", message=f"expected a list of columns, got {drop!r}")
    for column in drop:
        _column(frame, column, "drop", file)
    if time is not None:
        time = _column(frame, time, "time", file)
        stamps = frame[time]
        if not pd.api.types.is_numeric_dtype(stamps) and not pd.api.types.is_datetime64_any_dtype(stamps):
            try:
                with warnings.catch_warnings():  # "could not infer format": the error says it all
                    warnings.simplefilter("ignore", UserWarning)
                    stamps = pd.to_datetime(stamps)
            except (ValueError, TypeError) as err:
                raise ConfigError(
                    key="data.time", message=f"column {time!r} is neither numeric nor dates: {err}"
                ) from None
        if strict_time:
            repeated = stamps[stamps.duplicated()]
            if len(repeated):
                raise ConfigError(
                    key="data.time",
                    message=f"column {time!r} repeats the timestamp {repeated.iloc[0]!s} (strict_time is on)",
                )
            if not stamps.is_monotonic_increasing:
                row = int(
                    (stamps.diff() < pd.Timedelta(0) if hasattr(stamps, "dt") else stamps.diff() < 0)
                    .to_numpy()
                    .argmax()
                )
                raise ConfigError(
                    key="data.time",
                    message=f"column {time!r} is not sorted: row {row} ({stamps.iloc[row]!s}) comes "
                    f"after {stamps.iloc[row - 1]!s} (strict_time is on)",
                )
        else:
            # Time-series splits rely on row order: put the rows in time order first.
            order = stamps.argsort(kind="stable").to_numpy()
            frame = frame.iloc[order].reset_index(drop=True)
    group_values = None
    if groups is not None:
        groups = _column(frame, groups, "groups", file)
        group_values = frame[groups].to_numpy()
    y = frame[target]
    if y.isna().any():
        raise ConfigError(key="data.target", message=f"column {target!r} has {int(y.isna().sum())} missing values")
    features = frame.drop(columns=[c for c in [target, time, groups, *drop] if c is not None])
    if features.shape[1] == 0:
        raise ConfigError(
            key="data", message=f"no feature columns left in {file.name!r} after target, time, groups and drop"
        )
    categorical = _categorical(frame, categorical, file, {target: "the target", time: "the time", groups: "the groups"})
    for column in categorical:
        if column in drop:
            raise ConfigError(
                key="data.categorical", message=f"column {column!r} is dropped (data.drop), not a feature"
            )
        # Categories from every row, so each fold and the refit see the same ones.
        features[column] = features[column].astype("category")
    if not encoded_later:
        for column in features.columns:
            if column in categorical:
                continue
            if not (pd.api.types.is_numeric_dtype(features[column]) or pd.api.types.is_bool_dtype(features[column])):
                raise ConfigError(
                    key="data",
                    message=f"feature column {column!r} is not numeric ({features[column].dtype}); list it in "
                    "data.categorical (for HistGradientBoosting), drop it (data.drop) or use a Pipeline estimator "
                    "that encodes it",
                )
    return Dataset(
        features,
        y,
        group_values,
        source=str(file),
        feature_names=[str(c) for c in features.columns],
        categorical=categorical,
    )


def _categorical(frame: Any, columns: Any, path: Path, roles: dict[Any, str]) -> list[str]:
    """The ``data.categorical`` columns, checked: a list of feature columns, each once."""
    if columns is None:
        return []
    if isinstance(columns, str) or not isinstance(columns, list):
        raise ConfigError(key="data.categorical", message=f"expected a list of columns, got {columns!r}")
    for column in columns:
        _column(frame, column, "categorical", path)
        if column in roles:
            raise ConfigError(
                key="data.categorical", message=f"column {column!r} is {roles[column]} column, not a feature"
            )
        if columns.count(column) > 1:
            raise ConfigError(key="data.categorical", message=f"column {column!r} is listed twice in {columns!r}")
    return list(columns)
