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
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

from hpo.plugins import ConfigError, Registry, did_you_mean, name_and_options

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
