"""Cross-validation splitters by name, mapped onto scikit-learn's ``model_selection``.

Each name builds a scikit-learn splitter (nothing is re-implemented); its folds are computed once
per trainer, so every trial of a study is scored on the same folds.

What each guarantees (scikit-learn's semantics):

- ``kfold``: every row is tested exactly once; ``shuffle`` mixes rows first (seeded).
- ``stratified``: like kfold, each fold keeps the class proportions of ``y``.
- ``timeseries``: rows stay in their order; each fold trains only on rows *before* its test
  window, skips ``gap`` rows between them (against leakage from lagged features), and tests on
  the next ``test_size`` rows; ``max_train_size`` caps the training window.
- ``group``: no group appears on both sides of a fold (needs ``groups``).
- ``stratified_group``: like group, keeping class proportions as far as groups allow.

:func:`split_test` holds a test set out before any fold is computed, by the same rules: a time
series gives its last rows, a stratified split keeps the class proportions, and no group lies
on both sides.
"""

from __future__ import annotations

import inspect
import math
import numbers
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from hpo.plugins import ConfigError, Registry, did_you_mean, name_and_options

if TYPE_CHECKING:
    import numpy as np

#: ``cv: NAME`` -> the splitter class; built with the other keys (``seed`` is its
#: ``random_state``). Any ``package.module:attr`` naming a splitter class works too.
SPLITTERS = Registry(
    "splitter",
    {
        "kfold": "sklearn.model_selection:KFold",
        "stratified": "sklearn.model_selection:StratifiedKFold",
        "timeseries": "sklearn.model_selection:TimeSeriesSplit",
        "group": "sklearn.model_selection:GroupKFold",
        "stratified_group": "sklearn.model_selection:StratifiedGroupKFold",
    },
)
_NEED_GROUPS = ("group", "stratified_group")


def make_splitter(cv: Any, *, classifier: bool, groups: Any = None) -> Any:
    """Build a scikit-learn splitter.

    Args:
        cv: A splitter object (anything with ``split``), an int (stratified k-fold for
            classifiers, k-fold otherwise, as in scikit-learn), a name (``kfold``,
            ``stratified``, ``timeseries``, ``group``, ``stratified_group``) or a
            ``package.module:attr`` naming a splitter class, or a mapping
            ``{name: ..., **options}``. A shuffle without a seed uses seed 0, so a resumed study
            sees the same folds.
        classifier: Whether the estimator is a classifier (for an int ``cv``).
        groups: The groups, if any (``group`` and ``stratified_group`` need them).

    Raises:
        ConfigError: An unknown name or option, a bad value, or groups missing.
    """
    from sklearn import model_selection

    if not isinstance(cv, (str, Mapping)) and hasattr(cv, "split"):  # str has .split too
        return cv
    if isinstance(cv, int) and not isinstance(cv, bool):
        if cv < 2:
            raise ConfigError(f"expected at least 2 folds, got {cv!r}", key="cv")
        cls = model_selection.StratifiedKFold if classifier else model_selection.KFold
        return cls(n_splits=cv)
    name, options = name_and_options(cv, "cv")
    name = SPLITTERS.canonical(name, "cv")
    cls = SPLITTERS.load(name, "cv")
    parameters = inspect.signature(cls).parameters
    allowed = [p for p in parameters if p != "random_state"] + (["seed"] if "random_state" in parameters else [])
    for key in options:
        if key not in allowed:
            hint = did_you_mean(key, allowed, f"; allowed: {', '.join(allowed)}")
            raise ConfigError(f"unknown option for splitter {name!r}{hint}", key=f"cv.{key}")
    if name in _NEED_GROUPS and groups is None:
        raise ConfigError(f"splitter {name!r} needs groups (data: groups: COLUMN, or groups=...)", key="cv")
    if "gap" in options and (
        isinstance(options["gap"], bool) or not isinstance(options["gap"], int) or options["gap"] < 0
    ):
        raise ConfigError(f"expected a non-negative number of rows, got {options['gap']!r}", key="cv.gap")
    kwargs = {k: v for k, v in options.items() if k != "seed"}
    if options.get("shuffle"):
        kwargs["random_state"] = options.get("seed", 0)
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"{name}: {err}", key="cv") from None


def compute_folds(splitter: Any, X: Any, y: Any, groups: Any) -> list[tuple[Any, Any]]:
    """The (train, test) index arrays of every fold, computed once.

    Raises:
        ConfigError: The splitter cannot split this data (e.g. more folds than rows).
    """
    try:
        folds = list(splitter.split(X, y, groups))
    except ValueError as err:
        raise ConfigError(key="cv", message=f"cannot split the data with {splitter!r}: {err}") from None
    if len(folds) < 1:
        raise ConfigError(key="cv", message=f"{splitter!r} produced no folds")
    return folds


def split_test(
    X: Any,
    y: Any,
    fraction: Any,
    *,
    seed: int = 0,
    stratify: bool = False,
    time_order: bool = False,
    groups: Any = None,
    key: str = "test_fraction",
) -> tuple[np.ndarray, np.ndarray]:
    """Hold out a test set before the search: the (train, test) row indices, each sorted.

    The held-out size is ``ceil(fraction * rows)``, as scikit-learn rounds it. The rules, the
    first that applies:

    - ``time_order``: the last rows are the test set, nothing is shuffled (a time series is
      tested on its future);
    - ``groups`` given: scikit-learn's ``GroupShuffleSplit`` (seeded), so no group lies on both
      sides; ``fraction`` is then a fraction of the groups;
    - ``stratify``: ``train_test_split(..., stratify=y)`` (seeded), keeping the class proportions;
    - otherwise a seeded random split (``train_test_split``).

    Args:
        X: The features (only their number of rows is read).
        y: The target (its classes, for ``stratify``).
        fraction: The share of the rows to hold out, in (0, 0.5].
        seed: The shuffle's seed: the same data and seed give the same test set (on resume).
        stratify: Keep the class proportions of ``y`` on both sides.
        time_order: The rows are in time order: the test set is the last rows.
        groups: Group labels: no group on both sides.
        key: The setting the errors name (``trainer.test_fraction`` in a config).

    Raises:
        ConfigError: ``fraction`` is not a number in (0, 0.5], or the data cannot be split so
            (a class too small to stratify, too few rows or groups).
    """
    import numpy as np
    from sklearn.model_selection import GroupShuffleSplit, train_test_split

    if isinstance(fraction, bool) or not isinstance(fraction, numbers.Real) or not 0 < float(fraction) <= 0.5:
        raise ConfigError(key=key, message=f"expected a number in (0, 0.5], got {fraction!r}")
    n = len(y)
    if len(X) != n:
        raise ConfigError(key=key, message=f"X has {len(X)} rows and y {n}: cannot hold rows out of both")
    n_test = math.ceil(float(fraction) * n)
    if n - n_test < 1:
        raise ConfigError(key=key, message=f"holding out {fraction!r} of {n} rows leaves none to search on")
    rows = np.arange(n)
    try:
        if time_order:
            train, test = rows[: n - n_test], rows[n - n_test :]
        elif groups is not None:
            train, test = next(
                GroupShuffleSplit(n_splits=1, test_size=fraction, random_state=seed).split(rows, groups=groups)
            )
        else:
            labels = _host(y) if stratify else None
            train, test = train_test_split(rows, test_size=fraction, random_state=seed, stratify=labels)
    except ValueError as err:
        # E.g. "The least populated class in y has only 1 member, which is too few. ..."
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ConfigError(key=key, message=f"cannot hold out {fraction!r} of {n} rows: {first}") from None
    return np.sort(train), np.sort(test)


def _host(data: Any) -> Any:
    """A torch tensor as a numpy array on the CPU (stratifying reads its classes); anything else
    as it is."""
    if hasattr(data, "detach") and hasattr(data, "cpu"):
        return data.detach().cpu().numpy()
    return data
